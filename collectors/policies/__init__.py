"""Policies: scripted experts, random, replay and learned, all behind `reset(seed)` / `act(observation)`."""
from flywheel.collectors.policies.base import Policy, RandomPolicy, ReplayPolicy
from flywheel.collectors.policies.experts import EXPERTS, BalanceExpert, PickPlaceExpert, ReachExpert, expert
from flywheel.collectors.policies.learned import LearnedPolicy, PolicyMismatch, load_policy

__all__ = ["EXPERTS", "BalanceExpert", "PickPlaceExpert", "Policy", "RandomPolicy", "ReachExpert", "ReplayPolicy", "expert", "LearnedPolicy", "PolicyMismatch", "load_policy"]
