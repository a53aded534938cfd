"""Policies: scripted experts, random, replay and learned, all behind `reset(seed)` / `act(observation)`."""
from flywheel.collectors.policies.base import Policy, RandomPolicy, ReplayPolicy
from flywheel.collectors.policies.experts import EXPERTS, BalanceExpert, PickPlaceExpert, ReachExpert, expert

__all__ = ["EXPERTS", "BalanceExpert", "PickPlaceExpert", "Policy", "RandomPolicy", "ReachExpert", "ReplayPolicy", "expert"]
