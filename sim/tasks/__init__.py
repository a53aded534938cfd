"""Tasks by name. A task is a small dataclass; its parameters are recorded in every dataset."""
from __future__ import annotations

import dataclasses

from flywheel.sim.tasks.balance import BalanceTask
from flywheel.sim.tasks.base import StepResult, Task, TaskNotApplicable
from flywheel.sim.tasks.pick_place import PickPlaceTask
from flywheel.sim.tasks.reach import ReachTask

TASKS: dict[str, type[Task]] = {"reach": ReachTask, "pick_place": PickPlaceTask, "balance": BalanceTask}


def make_task(name: str, **params) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available tasks: {', '.join(TASKS)}")
    try:
        return TASKS[name](**params)
    except TypeError:
        fields = [f.name for f in dataclasses.fields(TASKS[name]) if f.name not in ("name", "params")]
        raise ValueError(f"task {name!r} got unknown parameters {sorted(params)}; it takes: {', '.join(fields)}") from None


def task_params(task: Task) -> dict:
    """The task's parameters as plain data, for `meta/flywheel.json`."""
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name != "params"}


__all__ = ["TASKS", "BalanceTask", "PickPlaceTask", "ReachTask", "StepResult", "Task", "TaskNotApplicable",
           "make_task", "task_params"]
