"""What a collection run is asked to do (`CollectConfig`), what it reports (`CollectSummary`) and how it fails.

One dataclass holds every option of `flywheel collect` with its default, checks it before any work starts,
and says which options change the data (`data_config`), so resume can compare them.
"""
from __future__ import annotations

import math
import os
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

MAX_SEED = 2**63 - 1  # seeds are stored as int64 in the dataset
MAX_EPISODES = 2**31 - 1  # episode indices are int64, but a run's ledger holds a byte per episode in memory


class CollectError(ValueError):
    """Bad input or a run that cannot go on; the message says what to do. (A ValueError: the CLI prints it.)"""


class CollectInterrupted(KeyboardInterrupt):
    """Ctrl-C during collection: workers were stopped, what they had was flushed, the dataset is resumable."""

    def __init__(self, out: str, staged: int, requested: int):
        super().__init__(f"interrupted: {staged} of {requested} episodes are staged in {out}")
        self.out, self.staged, self.requested = out, staged, requested


@dataclass
class CollectSummary:
    """What one `collect` call did. ``episodes_per_s`` counts this run's new episodes over its collection time."""

    dataset: str
    requested: int
    episodes: int
    successes: int
    success_rate: float
    frames: int
    elapsed: float
    episodes_per_s: float
    attempted: int
    resumed: int
    restarts: int
    dropped_nonfinite: int
    dropped_crash: int
    dropped_error: int
    success_only: bool
    yield_rate: float | None
    workers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # examples of why episodes were dropped

    def __str__(self) -> str:
        return self.line()

    def line(self) -> str:
        parts = [f"{self.episodes} episodes", f"{self.frames} frames",
                 f"success {self.success_rate:.1%}", f"{self.episodes_per_s:.1f} episodes/s",
                 f"{self.elapsed:.1f} s", f"{len(self.workers)} workers", f"{self.restarts} restarts"]
        if self.resumed:
            parts.append(f"{self.resumed} resumed")
        dropped = self.dropped_nonfinite + self.dropped_crash + self.dropped_error
        if dropped:
            parts.append(f"{dropped} dropped ({self.dropped_nonfinite} non-finite, {self.dropped_error} raised, "
                         f"{self.dropped_crash} crashed their worker)")
        if self.success_only and self.yield_rate is not None:
            parts.append(f"yield {self.yield_rate:.1%} of {self.attempted} attempts")
        return "collected " + ", ".join(parts) + f" -> {self.dataset}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

@dataclass
class CollectConfig:
    """Every option of a collection run. ``policy`` is ``"expert"``, ``"random"``, a learned policy file, or a
    callable ``factory(env) -> policy`` (Python API only); ``address`` joins a Ray cluster (else a local Ray is
    started, or the one already initialised in this process is used)."""

    task: str
    robot: str = "panda"
    episodes: int = 100
    _: KW_ONLY
    out: str | os.PathLike = ""
    workers: int = 2
    seed: int = 0
    policy: Any = "expert"
    noise: float = 0.0
    success_only: bool = False
    resume: bool = False
    cameras: list[str] | tuple[str, ...] | None = None
    image_format: str = "video"  # cameras as LeRobot video (mp4) or "png" (PNG images in the Parquet)
    video_codec: str | None = None  # an encoder PyAV has (libsvtav1, libx264; av1, h264); None: AV1 if available
    camera_size: int | tuple[int, int] | list[int] | None = 224  # (height, width) or one side; None: the camera's own
    camera_hz: int = 10  # camera frames per second; divides the control rate (frames in between repeat the last)
    visual_randomization: bool | dict | None = None  # True or VisualRandomization fields: per-episode looks from the seed
    max_steps: int | None = None
    control_mode: str = "joint_pos"
    address: str | None = None
    quiet: bool = True
    episodes_per_file: int = 16
    flush_interval_s: float = 30.0
    max_restarts: int | None = None
    connect_timeout: float = 5.0
    start_timeout_s: float = 120.0
    episode_timeout_s: float | None = None  # the watchdog; None: 10x the expected episode time, at least a minute
    relabel: str | None = None
    beta: float = 0.0

    def checked(self) -> "CollectConfig":
        """A copy with every value checked and paths made absolute (workers may run elsewhere); raises CollectError."""
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_number(v):
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)

        if not isinstance(self.task, str) or not self.task:
            raise CollectError(f"--task must be a task name, got {self.task!r}")
        if not is_int(self.episodes) or not 1 <= self.episodes <= MAX_EPISODES:
            raise CollectError(f"--episodes must be a positive integer (at most {MAX_EPISODES}), got {self.episodes!r}")
        if not is_int(self.workers) or self.workers < 1:
            raise CollectError(f"--workers must be a positive integer, got {self.workers!r}")
        if not is_int(self.seed) or not 0 <= self.seed or self.seed + self.episodes - 1 > MAX_SEED:
            raise CollectError(f"--seed must be an integer from 0 to 2^63-1 minus the episode count "
                               f"(episode k uses seed+k, stored as int64), got {self.seed!r}")
        if not is_number(self.noise) or self.noise < 0:
            raise CollectError(f"--noise must be a finite number >= 0, got {self.noise!r}")
        if self.max_steps is not None and (not is_int(self.max_steps) or not 1 <= self.max_steps <= MAX_EPISODES):
            raise CollectError(f"--max-steps must be a positive integer, got {self.max_steps!r}")
        if not is_int(self.episodes_per_file) or self.episodes_per_file < 1:
            raise CollectError(f"episodes_per_file must be a positive integer, got {self.episodes_per_file!r}")
        if not is_number(self.beta) or not 0.0 <= self.beta <= 1.0:
            raise CollectError(f"--beta must be a number from 0 to 1, got {self.beta!r}")
        for name in ("flush_interval_s", "connect_timeout", "start_timeout_s", "episode_timeout_s"):
            if name == "episode_timeout_s" and self.episode_timeout_s is None:
                continue
            if not is_number(getattr(self, name)) or getattr(self, name) <= 0:
                raise CollectError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if self.image_format not in ("video", "png"):
            raise CollectError(f"--image-format must be video or png, got {self.image_format!r}")
        video_codec = None
        if self.cameras and self.image_format == "video":
            from flywheel.datasets.video import check_encoder

            try:
                video_codec = check_encoder(self.video_codec)
            except ValueError as err:
                raise CollectError(f"--video-codec: {err}") from None
        if not is_int(self.camera_hz) or self.camera_hz < 1:
            raise CollectError(f"--camera-hz must be a positive integer, got {self.camera_hz!r}")
        size = self.camera_size
        if size is not None:
            size = [size, size] if is_int(size) else list(size) if isinstance(size, (list, tuple)) else None
            if size is None or len(size) != 2 or not all(is_int(v) and 2 <= v <= 4096 for v in size) or \
                    (self.image_format == "video" and any(v % 2 for v in size)):
                raise CollectError(f"--camera-size must be one side or HEIGHTxWIDTH in pixels, 2 to 4096 (even for "
                                   f"video: yuv420p), got {self.camera_size!r}")
        visual = None
        if self.cameras and self.visual_randomization:
            from flywheel.sim.rendering.visual_random import VisualRandomization

            try:
                visual = VisualRandomization.from_value(self.visual_randomization).to_dict()
            except (ValueError, TypeError) as err:
                raise CollectError(f"--randomize-visuals: {err}") from None
        if not os.fspath(self.out):
            raise CollectError("--out is required: the dataset folder to write")
        policy = self.policy
        if isinstance(policy, (str, os.PathLike)) and os.fspath(policy) not in ("expert", "random"):
            policy = str(Path(policy).expanduser().absolute())
        return replace(self, out=Path(self.out).expanduser().absolute(), robot=_absolute_if_path(self.robot),
                       policy=policy, cameras=list(self.cameras or []), video_codec=video_codec, visual_randomization=visual,
                       camera_size=[int(v) for v in size] if size is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _absolute_if_path(robot: Any) -> str:
    text = os.fspath(robot)
    if text.endswith(".toml") or os.sep in text:  # a spec file, not a registry name (as flywheel.robots.get decides)
        return str(Path(text).expanduser().absolute())
    return text
