"""Tasks by name. A task is a small dataclass that registers itself (`register_task`); its parameters are
recorded in every dataset.

Importing this package registers the built-in tasks (in this order, which is the order `task_names()` lists);
none of them imports PyBullet, so `import flywheel` stays free of the simulator.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

# isort: off  (registration order = listing order)
from flywheel.sim.tasks.base import StepResult, Task, TaskNotApplicable
from flywheel.sim.tasks.reach import ReachTask
from flywheel.sim.tasks.pick_place import PickPlaceTask
from flywheel.sim.tasks.balance import BalanceTask
# isort: on
from flywheel.sim.registration import register_task, task_names, task_registration


def task_class(name: str) -> type[Task]:
    """The registered class of task `name` (KeyError listing the available tasks)."""
    return task_registration(name).task_class


def make_task(name: str, **params) -> Task:
    cls = task_class(name)
    try:
        return cls(**params)
    except TypeError:
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in ("name", "params")]
        raise ValueError(f"task {name!r} got unknown parameters {sorted(params)}; it takes: {', '.join(fields)}") from None


def task_params(task: Task) -> dict:
    """The task's parameters as plain data, for `meta/flywheel.json`."""
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name != "params"}


class _TaskClasses(Mapping):
    """Read-only name -> class view of the registry, for code written against the old `TASKS` table."""

    def __getitem__(self, name: str) -> type[Task]:
        return task_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(task_names())

    def __len__(self) -> int:
        return len(task_names())


TASKS: Mapping[str, type[Task]] = _TaskClasses()  # deprecated: use task_names() / task_class(name)

__all__ = ["TASKS", "BalanceTask", "PickPlaceTask", "ReachTask", "StepResult", "Task", "TaskNotApplicable",
           "make_task", "register_task", "task_class", "task_names", "task_params", "task_registration"]
