import importlib.util
import os
import sys
from pathlib import Path

import pytest


os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture
def toy_task():
    """tests/toy_task.py loaded as a user's module would be (by file, outside flywheel); forgotten afterwards."""
    from flywheel.collectors.policies import experts
    from flywheel.sim import registration

    path = Path(__file__).with_name("toy_task.py")
    spec = importlib.util.spec_from_file_location("toy_task", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_task"] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        registration.unregister_task("toy_point")
        experts.EXPERTS.pop("toy_point", None)
        sys.modules.pop("toy_task", None)


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A private user robots folder (XDG_CONFIG_HOME) and no FLYWHEEL_ROBOTS_PATH."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FLYWHEEL_ROBOTS_PATH", raising=False)
    return tmp_path / "config" / "flywheel" / "robots"
