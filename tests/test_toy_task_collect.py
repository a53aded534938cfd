"""A new task is one module, even for the Ray collectors: tests/toy_task.py registers a task and its expert, and
`flywheel collect` runs it on Ray workers (which import that module themselves) with no other edit."""
from __future__ import annotations

import gymnasium as gym

from flywheel import datasets
from flywheel.cli import main as cli_main
from flywheel.collectors.policies import expert


def test_a_task_in_one_module_collects_on_ray_workers(toy_task, tmp_path, capsys):
    env = gym.make("flywheel/ToyPoint-v0", robot="panda")
    try:
        assert env.spec.max_episode_steps == 12 and type(expert("toy_point", env)).__name__ == "ToyPointExpert"
    finally:
        env.close()
    out = tmp_path / "toy"
    rc = cli_main(["collect", "--task", "toy_point", "--robot", "panda", "-n", "6", "--workers", "2", "--out", str(out),
                   "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert datasets.validate(out) == []
    ds = datasets.open(out)
    assert ds.num_episodes == 6 and ds.task == "touch the point in front of the hand"
    assert ds.episodes.column("success").to_pylist() == [True] * 6  # the module's expert ran on the workers
