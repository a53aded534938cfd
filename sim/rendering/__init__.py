"""Rendering for cameras: simplified visual meshes, the renderer choice (EGL with a GPU, TinyRenderer otherwise),
robot-mounted camera placement and visual randomisation."""
