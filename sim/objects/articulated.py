"""Articulated fixtures: generated URDFs (drawer, lidded box, door, button, slider). Registered in the next step."""
