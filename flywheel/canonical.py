"""The canonical cross-embodiment layout, defined once for every layer (robots, sim, datasets, collectors).

Every robot, whatever its joints, reports its hands in the same slots of ``observation.ee`` and is
commanded through the same slots of ``action.ee``; a policy trained on one robot reads another's data
only because all layers agree on these names, widths and offsets. So they live here, in a module that
imports nothing, and nobody writes ``slot * 8``: ask `ee_obs_offset` / `ee_action_offset` / `ee_slice`.
"""
from __future__ import annotations

from typing import Any

# ---- end-effectors -------------------------------------------------------------------------------
HANDS = ("right_hand", "left_hand")  # the canonical slots of observation.ee / action.ee, in slot order
FEET = ("right_foot", "left_foot")
END_EFFECTORS = HANDS + FEET  # every name a robot spec may give an end-effector

# ---- per-hand fields and widths -------------------------------------------------------------------
EE_POSE_FIELDS = ("x", "y", "z", "qx", "qy", "qz", "qw", "gripper")  # base frame, quaternion scalar last
EE_ACTION_FIELDS = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")  # delta pose + absolute gripper
EE_OBS_WIDTH = len(EE_POSE_FIELDS)  # 8
EE_ACTION_WIDTH = len(EE_ACTION_FIELDS)  # 7
EE_GRIPPER = EE_ACTION_WIDTH - 1  # index of the gripper inside one hand's action (and 7 inside its pose)

GRIPPER_OPEN = 1.0
GRIPPER_CLOSED = 0.0

# ---- dataset features -------------------------------------------------------------------------------
EE_OBS_KEY = "observation.ee"
EE_MASK_KEY = "observation.ee_mask"
EE_ACTION_KEY = "action.ee"
CANONICAL_KEYS = (EE_OBS_KEY, EE_MASK_KEY, EE_ACTION_KEY)

# Object and goal state, as LeRobot names it (its ACT and Diffusion policies read observation.state,
# observation.environment_state and images, nothing else): tasks observe ``environment_state`` (objects) and
# ``goal``; datasets store both in ``observation.environment_state`` (objects first, then ``goal.*``).
ENV_STATE_OBS = "environment_state"
GOAL_OBS = "goal"
ENV_STATE_KEY = "observation.environment_state"
# Flywheel format 1 (datasets written before the rename) stored these two columns instead.
LEGACY_ENV_STATE_KEY = "observation.env_state"
LEGACY_GOAL_KEY = "observation.goal"
EE_OBS_DIM = len(HANDS) * EE_OBS_WIDTH  # 16
EE_MASK_DIM = len(HANDS)  # 2
EE_ACTION_DIM = len(HANDS) * EE_ACTION_WIDTH  # 14


def hand_slot(hand: str) -> int:
    """The slot of a canonical hand (0 = right, 1 = left); KeyError-like ValueError for other names."""
    try:
        return HANDS.index(hand)
    except ValueError:
        raise ValueError(f"{hand!r} is not a canonical hand; use one of {', '.join(HANDS)}") from None


def ee_obs_offset(hand: str) -> int:
    """Where ``hand``'s ``[x, y, z, qx, qy, qz, qw, gripper]`` starts inside ``observation.ee``."""
    return hand_slot(hand) * EE_OBS_WIDTH


def ee_action_offset(hand: str) -> int:
    """Where ``hand``'s ``[dx, dy, dz, droll, dpitch, dyaw, gripper]`` starts inside ``action.ee``."""
    return hand_slot(hand) * EE_ACTION_WIDTH


def ee_slice(hand: str, *, action: bool = False) -> slice:
    """Where ``hand`` lives inside ``observation.ee`` (or ``action.ee`` with ``action=True``)."""
    start = ee_action_offset(hand) if action else ee_obs_offset(hand)
    return slice(start, start + (EE_ACTION_WIDTH if action else EE_OBS_WIDTH))


def ee_observation_names() -> list[str]:
    """Names of the 16 ``observation.ee`` slots: ``right_hand.x`` ... ``left_hand.gripper``."""
    return [f"{ee}.{f}" for ee in HANDS for f in EE_POSE_FIELDS]


def ee_mask_names() -> list[str]:
    """Names of the 2 ``observation.ee_mask`` slots, one per canonical hand."""
    return list(HANDS)


def ee_action_names() -> list[str]:
    """Names of the 14 ``action.ee`` slots: ``right_hand.dx`` ... ``left_hand.gripper``."""
    return [f"{ee}.{f}" for ee in HANDS for f in EE_ACTION_FIELDS]


def canonical_features() -> dict[str, dict[str, Any]]:
    """The three cross-embodiment dataset features, identical for every robot."""
    return {
        EE_OBS_KEY: {"dtype": "float32", "shape": [EE_OBS_DIM], "names": ee_observation_names()},
        EE_MASK_KEY: {"dtype": "float32", "shape": [EE_MASK_DIM], "names": ee_mask_names()},
        EE_ACTION_KEY: {"dtype": "float32", "shape": [EE_ACTION_DIM], "names": ee_action_names()},
    }
