"""The dataset card: ``README.md`` at the dataset root, as LeRobot's datasets on the Hugging Face Hub have it.

Why: the Hub's dataset viewer and ``datasets.load_dataset(ROOT)`` read the YAML front matter's ``configs``
to know which files are the rows (``data/*/*.parquet``); without it ``load_dataset`` takes every Parquet file
under the folder, ``meta/`` included, and fails on mismatched columns. The body says what a person needs
first (robot, tasks, size) and shows ``meta/info.json``, as LeRobot's own cards do.

A card is rewritten only if flywheel wrote it (its marker comment is in it): a README.md someone wrote by
hand is never replaced.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ._io import write_bytes_atomic

CARD_PATH = "README.md"
MARKER = "<!-- dataset card written by flywheel; edit it freely: once this line is removed, flywheel leaves the file alone -->"
LICENSE = "apache-2.0"  # flywheel's own licence; simulated data carries no third-party rights


def _yaml_str(s: str) -> str:
    """A YAML scalar that is always read back as this string (JSON strings are valid YAML)."""
    return json.dumps(str(s), ensure_ascii=False)


def card_text(info: dict[str, Any], tasks: Sequence[str], *, license: str = LICENSE) -> str:
    """The card's text for a dataset with ``info`` (its info.json) and ``tasks`` (every instruction)."""
    robot = info.get("robot_type") or "unknown"
    tags = ["LeRobot", "flywheel"] + ([robot] if robot != "unknown" else [])
    front = ["---", f"license: {license}", "task_categories:", "- robotics", "tags:"]
    front += [f"- {_yaml_str(t)}" for t in tags]
    front += ["configs:", "- config_name: default", "  data_files: data/*/*.parquet", "---"]
    frames, fps = info.get("total_frames", 0), info.get("fps") or 1
    body = [
        MARKER,
        "",
        f"# {robot} dataset",
        "",
        "A [LeRobot](https://github.com/huggingface/lerobot) v3.0 dataset written by flywheel (simulated with PyBullet).",
        "",
        f"- **Robot type:** `{robot}`",
        f"- **Episodes:** {info.get('total_episodes', 0)}",
        f"- **Frames:** {frames} at {fps} fps ({frames / fps:.1f} s)",
        f"- **Tasks:** {len(tasks)}",
        "",
    ]
    body += [f"  - {t}" for t in tasks[:50]] + ([f"  - ... and {len(tasks) - 50} more"] if len(tasks) > 50 else [])
    body += [
        "",
        "Load it with LeRobot (`LeRobotDataset(repo_id, root=...)`), with `datasets.load_dataset(...)` (the rows of "
        "`data/`), or with flywheel (`flywheel.datasets.open(path)`); `meta/flywheel.json` records how it was made.",
        "",
        "## Dataset structure",
        "",
        "[meta/info.json](meta/info.json):",
        "```json",
        json.dumps(info, indent=4, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(front + [""] + body)


def written_by_flywheel(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except FileNotFoundError:
        return True  # absent: ours to write
    except IsADirectoryError:
        return False


def write_card(root: str | os.PathLike, info: dict[str, Any], tasks: Sequence[str]) -> bool:
    """Write ``ROOT/README.md`` unless a card flywheel did not write is there; returns whether it was written."""
    path = Path(root) / CARD_PATH
    if path.is_symlink() or not written_by_flywheel(path):
        return False
    write_bytes_atomic(path, card_text(info, tasks).encode())
    return True
