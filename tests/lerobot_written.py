"""Datasets written by LeRobot itself, generated on first use (never committed) with LeRobot's own venv.

The venv is the one `shared/tools/lerobot-check` builds (LEROBOT_CHECK_VENV, else /tmp/lerobot-check-venv-0.6.1);
where it is absent the tests that need these datasets skip. The output is cached per version of the generator.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).with_name("make_lerobot_datasets.py")


def lerobot_written_datasets() -> tuple[Path, Path] | None:
    """(image dataset, video dataset) written by LeRobot, or None where LeRobot's venv is not on this machine."""
    venv = Path(os.environ.get("LEROBOT_CHECK_VENV") or Path(tempfile.gettempdir()) / "lerobot-check-venv-0.6.1")
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"flywheel-lerobot-written-{digest}"
    image, video = out / "lerobot_image", out / "lerobot_video"
    if not (image / "meta" / "info.json").exists() or not (video / "meta" / "info.json").exists():
        staging = Path(tempfile.mkdtemp(prefix="flywheel-lerobot-written-"))
        r = subprocess.run([str(python), str(SCRIPT), str(staging)], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return None
        try:
            staging.rename(out)  # atomic: a concurrent session uses whichever finished first
        except OSError:
            pass
    return (image, video) if (image / "meta" / "info.json").exists() else None
