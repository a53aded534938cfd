"""What a retargeting source must carry, and reading it: any LeRobot v3.0 dataset with hand poses, a gripper signal
and object poses, flywheel's own or a foreign one described by a mapping file.

A flywheel dataset needs nothing more: the hand is the canonical ``observation.ee`` slot that moves most, the gripper
is the commanded opening in ``action.ee`` (else the measured one in ``observation.ee``), the objects are the
``<object>.x/.y/.z`` (and ``.qx .qy .qz .qw``) entries of ``observation.environment_state``, the task and robot come
from ``meta/flywheel.json`` and each episode's scene from its seed. A foreign dataset says where those are in a TOML
mapping file (``--mapping``; the README shows one); without seeds its scenes are drawn from ``--seed``.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.canonical import EE_ACTION_KEY, EE_GRIPPER, EE_OBS_KEY, ENV_STATE_KEY, HANDS, ee_action_offset, ee_obs_offset
from flywheel.collectors.collection.segments import Frames, Segment, parse_frames, quat_yaws, split

SUBTASK_KEY = "subtask_index"


class RetargetError(ValueError):
    """Bad input to retarget (a missing source, a source without hand poses, an unknown robot...): one line."""


@dataclass
class Columns:
    """Where one source keeps what retargeting reads (indices into its columns)."""

    hand_column: str = EE_OBS_KEY
    hand_position: list[int] | None = None  # None: the canonical slot of the hand that moves most
    hand_orientation: list[int] | None = None
    gripper_column: str | None = None  # None: action.ee's gripper of that hand, else observation.ee's
    gripper_index: int | None = None
    gripper_invert: bool = False  # the source's gripper reads 1 = closed
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> column, position, orientation
    task: str | None = None
    robot: str | None = None


def read_mapping(path: str | os.PathLike) -> Columns:
    """A mapping file (TOML) saying where a foreign dataset keeps its hand, gripper and objects."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise RetargetError(f"{p}: no such mapping file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise RetargetError(f"{p}: not a readable TOML mapping file ({err})") from None

    def ints(table: dict, key: str, where: str, n: int) -> list[int] | None:
        v = table.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != n or not all(isinstance(x, int) and x >= 0 for x in v):
            raise RetargetError(f"{p}: {where}.{key} must be {n} column indices, got {v!r}")
        return v

    hand, grip = data.get("hand", {}), data.get("gripper", {})
    cols = Columns(hand_column=hand.get("column", EE_OBS_KEY), hand_position=ints(hand, "position", "hand", 3),
                   hand_orientation=ints(hand, "orientation", "hand", 4), gripper_column=grip.get("column"),
                   gripper_index=grip.get("index"), gripper_invert=bool(grip.get("closed_is_one", False)),
                   task=data.get("task"), robot=data.get("robot"))
    if (cols.hand_position is None) != (cols.hand_orientation is None):
        raise RetargetError(f"{p}: hand needs both position (3 indices) and orientation (4, quaternion x y z w)")
    if cols.gripper_column is not None and not isinstance(cols.gripper_index, int):
        raise RetargetError(f"{p}: gripper.index must be the column index of the gripper opening")
    for name, obj in (data.get("objects") or {}).items():
        if not isinstance(obj, dict) or "column" not in obj:
            raise RetargetError(f"{p}: objects.{name} needs a column and position = [3 indices]")
        cols.objects[name] = {"column": obj["column"], "position": ints(obj, "position", f"objects.{name}", 3),
                              "orientation": ints(obj, "orientation", f"objects.{name}", 4)}
        if cols.objects[name]["position"] is None:
            raise RetargetError(f"{p}: objects.{name}.position is missing (3 column indices)")
    return cols


class Source:
    """An open source dataset: its episodes, seeds, task and robot, and each episode's segments."""

    def __init__(self, path: str | os.PathLike, mapping: str | os.PathLike | None = None):
        from flywheel import datasets

        self.path = Path(path).expanduser().absolute()
        if not self.path.exists():
            raise RetargetError(f"{self.path}: no such source dataset")
        self.columns = read_mapping(mapping) if mapping is not None else Columns()
        try:
            self.ds = datasets.open(self.path)
        except ValueError as err:
            raise RetargetError(str(err)) from None
        cfg = (self.ds.flywheel or {}).get("config") or {}
        self.task = self.columns.task or cfg.get("task")
        self.robot = self.columns.robot or cfg.get("robot") or self.ds.robot_type or "unknown"
        self._check()
        table = self.ds.episodes
        self.seeds = table.column("seed").to_pylist() if "seed" in table.column_names else None
        self.subtasks = self._subtask_names()

    def _check(self) -> None:
        feats, cols, where = self.ds.features, self.columns, f"{self.path}"
        if self.task is None:
            raise RetargetError(f"{where}: meta/flywheel.json names no task; give the flywheel task with --task "
                                "(or task = ... in a --mapping file)")
        needed = [cols.hand_column] + [o["column"] for o in cols.objects.values()]
        needed += [ENV_STATE_KEY] if not cols.objects else []
        needed += [cols.gripper_column] if cols.gripper_column else []
        missing = [c for c in needed if c not in feats]
        if missing:
            raise RetargetError(f"{where}: has no {missing[0]!r} column; a source needs hand poses ({EE_OBS_KEY}), a "
                                f"gripper signal and object poses ({ENV_STATE_KEY}), or a --mapping file saying where "
                                "they are")
        if not cols.objects and not parse_frames(list(feats[ENV_STATE_KEY].get("names") or []),
                                                 np.zeros((1, feats[ENV_STATE_KEY]["shape"][0]))).positions:
            raise RetargetError(f"{where}: {ENV_STATE_KEY} has no entries named <object>.x/.y/.z; name them, or give "
                                "a --mapping file with [objects.<name>]")

    def _subtask_names(self) -> list[str] | None:
        if SUBTASK_KEY not in self.ds.features:
            return None
        path = self.path / "meta" / "subtasks.parquet"
        try:
            import pyarrow.parquet as pq

            t = pq.read_table(path)
            name = next(c for c in t.column_names if c not in ("subtask_index",))
            order = np.argsort(t.column("subtask_index").to_numpy())
            return [t.column(name)[int(i)].as_py() for i in order]
        except Exception:
            return None

    def __len__(self) -> int:
        return len(self.ds)

    def seed(self, i: int) -> int | None:
        return None if self.seeds is None else int(self.seeds[i])

    def segments(self, i: int) -> list[Segment]:
        """The object-centric segments of source episode ``i``."""
        cols = self.columns
        names = [cols.hand_column] + [o["column"] for o in cols.objects.values()]
        names += [ENV_STATE_KEY] if not cols.objects else []
        names += [cols.gripper_column] if cols.gripper_column else []
        names += [c for c in (EE_ACTION_KEY, "observation.ee_mask", SUBTASK_KEY) if c in self.ds.features]
        ep = self.ds.episode(i, columns=sorted(set(names)))
        hand_values = np.asarray(ep[cols.hand_column], dtype=np.float64)
        if cols.hand_position is not None:
            pos, quat = hand_values[:, cols.hand_position], hand_values[:, cols.hand_orientation]
            grip = self._gripper(ep, None)
        else:
            hand = self._moving_hand(ep)
            o = ee_obs_offset(hand)
            pos, quat = hand_values[:, o:o + 3], hand_values[:, o + 3:o + 7]
            grip = self._gripper(ep, hand)
        frames = self._frames(ep)
        subtask = ep.get(SUBTASK_KEY) if self.subtasks is not None else None
        return split(pos, quat, grip, frames, subtask=subtask, subtask_names=self.subtasks)

    def _moving_hand(self, ep: dict[str, np.ndarray]) -> str:
        ee = np.asarray(ep[EE_OBS_KEY], dtype=np.float64)
        mask = ep.get("observation.ee_mask")
        best, length = HANDS[0], -1.0
        for k, hand in enumerate(HANDS):
            if mask is not None and float(np.asarray(mask)[0, k]) < 0.5:
                continue
            o = ee_obs_offset(hand)
            path = float(np.linalg.norm(np.diff(ee[:, o:o + 3], axis=0), axis=1).sum())
            if path > length:
                best, length = hand, path
        return best

    def _gripper(self, ep: dict[str, np.ndarray], hand: str | None) -> np.ndarray:
        cols = self.columns
        if cols.gripper_column is not None:
            g = np.asarray(ep[cols.gripper_column], dtype=np.float64).reshape(len(ep[cols.hand_column]), -1)
            g = g[:, cols.gripper_index]
            return 1.0 - g if cols.gripper_invert else g
        if hand is not None and EE_ACTION_KEY in ep:
            return np.asarray(ep[EE_ACTION_KEY], dtype=np.float64)[:, ee_action_offset(hand) + EE_GRIPPER]
        if hand is not None:
            return np.asarray(ep[EE_OBS_KEY], dtype=np.float64)[:, ee_obs_offset(hand) + 7]
        raise RetargetError(f"{self.path}: no gripper signal; add [gripper] column and index to the mapping file")

    def _frames(self, ep: dict[str, np.ndarray]) -> Frames:
        cols = self.columns
        if not cols.objects:
            names = list(self.ds.features[ENV_STATE_KEY].get("names") or [])
            return parse_frames(names, np.asarray(ep[ENV_STATE_KEY], dtype=np.float64))
        positions, yaws = {}, {}
        for name, obj in cols.objects.items():
            values = np.asarray(ep[obj["column"]], dtype=np.float64)
            positions[name] = values[:, obj["position"]]
            yaws[name] = quat_yaws(values[:, obj["orientation"]]) if obj["orientation"] is not None else None
        return Frames(positions, yaws)

    def close(self) -> None:
        self.ds.close()
