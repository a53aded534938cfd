"""Reading a URDF's names: words for legs, feet, hands, fingers and sides, as robot makers spell them.

Names are the second source of evidence in `robots add` (the kinematic tree is the first), so the word lists
live here, in one place."""
from __future__ import annotations

import functools
import re

from flywheel.robots.urdf import URDFModel

FOOT_WORDS = ("foot", "feet", "toe", "ankle", "sole", "paw")
LEG_WORDS = FOOT_WORDS + ("leg", "legs", "hip", "thigh", "knee", "calf", "shin", "shank", "femur", "tibia", "crus")
BODY_WORDS = ("pelvis", "torso", "waist", "trunk", "chest", "spine", "abdomen")
WHEEL_WORDS = ("wheel", "caster", "tire", "tyre")
FINGER_WORDS = ("finger", "thumb", "knuckle", "claw", "jaw", "pinch", "phalanx")
GRIPPER_WORDS = ("gripper", "grip")
HAND_WORDS = ("hand", "palm", "wrist", "gripper", "tool", "tcp", "eef", "effector", "flange", "grasp")
ARM_WORDS = ("arm", "shoulder", "elbow", "wrist", "hand", "palm")
HEAD_WORDS = ("head", "neck", "camera", "eye", "lidar", "sensor", "imu")
# frames that carry a sensor, not a body: never a foot or a hand
SENSOR_WORDS = ("imu", "sensor", "camera", "optical", "depth", "rgb", "rgbd", "lidar", "laser", "gyro", "gyrometer",
                "accelerometer", "fsr", "ft", "touch", "sonar", "microphone", "speaker", "led", "antenna")
SIDE_AFFIXES = ("left", "right", "lft", "rgt", "lt", "rt", "l", "r")
SHORT_LEFT, SHORT_RIGHT = {"l", "lt", "lft"}, {"r", "rt", "rgt"}

CORNERS = {"fl": ("front", "left"), "fr": ("front", "right"), "rl": ("back", "left"), "rr": ("back", "right"),
           "bl": ("back", "left"), "br": ("back", "right"), "hl": ("back", "left"), "hr": ("back", "right"),
           "lf": ("front", "left"), "rf": ("front", "right"), "lh": ("back", "left"), "rh": ("back", "right")}




# ---- names ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def tokens(name: str) -> tuple[str, ...]:
    """'FR_hip_joint' -> ['fr', 'hip', 'joint']; 'leftFinger2' -> ['left', 'finger', '2']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", spaced)
    return tuple(t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t)


@functools.lru_cache(maxsize=8192)
def _variants(token: str) -> tuple[str, ...]:
    """A token and the same token without a glued side ('lknee', 'leftankle', 'hipl' -> 'knee', 'ankle', 'hip')."""
    out = [token]
    for affix in SIDE_AFFIXES:
        if token.startswith(affix) and len(token) - len(affix) >= 3:
            out.append(token[len(affix):])
        if token.endswith(affix) and len(token) - len(affix) >= 3:
            out.append(token[:-len(affix)])
    return tuple(out)


def has_word(names, words) -> bool:
    """Whether a name holds one of `words` as a word: a token ('Link_hip_l_pitch'), a token with a side glued to it
    ('LKnee', 'leftankle'), or for words of four letters or more the start or end of a token ('anklepitch')."""
    for name in ([names] if isinstance(names, str) else names):
        variants = [v for t in tokens(name) for v in _variants(t)]
        for w in words:
            for v in variants:
                if v == w or (len(w) >= 4 and (v.startswith(w) or v.endswith(w))):
                    return True
    return False


def side_of(names) -> str | None:
    """'left' / 'right' from names, nearest-to-the-tip name first; None when names do not say."""
    for name in names:
        low, toks = name.lower(), tokens(name)
        left = "left" in low or any(t in SHORT_LEFT for t in toks)
        right = "right" in low or any(t in SHORT_RIGHT for t in toks)
        if left != right:
            return "left" if left else "right"
        for t in toks:
            if t in CORNERS:
                return CORNERS[t][1]
    return None


def front_of(names) -> str | None:
    for name in names:
        low, toks = name.lower(), tokens(name)
        if "front" in low or "fore" in toks:
            return "front"
        if any(w in low for w in ("rear", "back", "hind")):
            return "back"
        for t in toks:
            if t in CORNERS:
                return CORNERS[t][0]
    return None


def spec_name(model: URDFModel) -> str:
    """A registry name from the URDF: the robot's name unless it is generic, else the file or folder name."""
    generic = {"", "robot", "model", "urdf", "physics", "default", "my_robot", "untitled"}
    for cand in (model.name, model.path.stem, model.path.parent.name):
        clean = re.sub(r"[^A-Za-z0-9_-]+", "_", cand).strip("_-")
        if clean.lower() not in generic:
            return clean
    return "robot"


