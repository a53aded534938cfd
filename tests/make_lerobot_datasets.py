"""Write tiny LeRobot-written datasets with LeRobot's own ``LeRobotDataset.create``.

Run in a venv with lerobot (the one ``shared/tools/lerobot-check`` builds)::

    /tmp/lerobot-check-venv-0.6.1/bin/python tests/make_lerobot_datasets.py OUT_DIR

Writes ``lerobot_image`` (2 tasks, 3 episodes, a 16x12 camera stored as PNG images) and ``lerobot_video`` (the
same camera as video). tests/lerobot_written.py runs it on first use and caches the output; the tests read it with
flywheel (validate, info, open, merge, train). Like shared/tools/lerobot-check/write.py, only smaller.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SVT_LOG", "1")
import numpy as np  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402

out_dir = Path(sys.argv[1]).resolve()
for camera in sys.argv[2:] or ("image", "video"):
    out = out_dir / f"lerobot_{camera}"
    if out.exists():
        sys.exit(f"{out} exists")
    H, W = (12, 16) if camera == "image" else (64, 64)  # SVT-AV1 encodes nothing smaller than 64x64
    joints = [f"joint{i}" for i in range(3)]
    features = {
        "observation.state": {"dtype": "float32", "shape": (3,), "names": joints},
        "action": {"dtype": "float32", "shape": (3,), "names": joints},
        "observation.images.front": {"dtype": camera, "shape": (H, W, 3), "names": ["height", "width", "channels"]},
    }
    ds = LeRobotDataset.create("local/" + out.name, fps=10, features=features, root=out, robot_type="lerobot_fixture_arm",
                               use_videos=camera == "video", video_backend="pyav")
    rng = np.random.default_rng(0)
    for episode, length in enumerate([6, 8, 5]):
        state = rng.normal(size=3).astype(np.float32)
        for i in range(length):
            action = (state + rng.normal(scale=0.1, size=3)).astype(np.float32)
            img = np.zeros((H, W, 3), np.uint8)
            img[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
            img[..., 1] = np.uint8(int(127 + 40 * state[0]) % 256)
            img[..., 2] = np.uint8(i * 16 % 256)
            ds.add_frame({"observation.state": state, "action": action, "task": f"reach target {episode % 2}",
                          "observation.images.front": img})
            state = action
        ds.save_episode()
    ds.finalize()
    print(f"wrote {out}: " + ", ".join(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())))
