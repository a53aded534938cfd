"""Embodiments as data: `RobotSpec` files, the registry, URDF introspection and validation.

    >>> from flywheel import robots
    >>> robots.get("panda").joints[:2]
    ('panda_joint1', 'panda_joint2')
"""
from flywheel.robots.registry import get, list, names, search_dirs, user_robots_dir  # noqa: A004
from flywheel.robots.spec import (
    CANONICAL_END_EFFECTORS,
    HANDS,
    KINDS,
    Camera,
    EndEffector,
    GainGroup,
    Gripper,
    Mimic,
    RobotSpec,
    SpecError,
    load_spec,
    spec_from_dict,
)

__all__ = [
    "CANONICAL_END_EFFECTORS", "HANDS", "KINDS", "Camera", "EndEffector", "GainGroup", "Gripper", "Mimic",
    "RobotSpec", "SpecError", "get", "list", "load_spec", "names", "search_dirs", "spec_from_dict",
    "user_robots_dir",
]
