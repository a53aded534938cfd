"""The task registry: each task registers itself once, and its Gymnasium id and episode length come from there.

    @register_task("pick_place", env_id="flywheel/PickPlace-v0", max_episode_steps=200, requires=("hand", "grasp"))
    @dataclass
    class PickPlaceTask(Task): ...

One decorator records the task (name, class, Gymnasium id, episode length, what it needs of a robot) and
registers the id with Gymnasium, so a new task is one module and nothing else changes: `make_task`,
`gymnasium.make`, `flywheel collect` and the expert lookup all find it by name.

Imports nothing but Gymnasium; `register_all` imports the built-in task modules, which import no PyBullet
either, so `import flywheel` registers every id while the simulator loads with the first env.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

ENTRY_POINT = "flywheel.sim.env:RobotTaskEnv"
BUILTIN_TASKS_PACKAGE = "flywheel.sim.tasks"  # importing it registers the built-in tasks


@dataclass(frozen=True)
class TaskRegistration:
    name: str
    task_class: type
    env_id: str
    max_episode_steps: int  # in control steps (20 Hz by default)
    requires: tuple[str, ...] = ()  # what the task needs of a robot: see `flywheel.sim.tasks.base.REQUIREMENTS`


_TASKS: dict[str, TaskRegistration] = {}


def register_task(name: str, *, env_id: str, max_episode_steps: int,
                  requires: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: register a `Task` subclass under `name` and its Gymnasium id `env_id`.

    Registering the same class again (a module reloaded) replaces the entry; another class under a taken name
    or id is refused, so two modules cannot silently shadow each other.
    """
    if not isinstance(max_episode_steps, int) or max_episode_steps <= 0:
        raise ValueError(f"task {name!r}: max_episode_steps must be a positive int, got {max_episode_steps!r}")

    def decorate(cls: type) -> type:
        old = _TASKS.get(name)
        if old is not None and old.task_class.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {name!r} is already registered by {old.task_class.__module__}.{old.task_class.__qualname__}")
        taken = next((t for t in _TASKS.values() if t.env_id == env_id and t.name != name), None)
        if taken is not None:
            raise ValueError(f"Gymnasium id {env_id!r} is already registered for task {taken.name!r}")
        entry = TaskRegistration(name, cls, env_id, max_episode_steps, tuple(requires))
        _TASKS[name] = entry
        cls.registration = entry
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"task": name},
                         max_episode_steps=max_episode_steps, disable_env_checker=True)
        return cls

    return decorate


def unregister_task(name: str) -> None:
    """Forget task `name` and its Gymnasium id (tests, reloading a folder of user tasks)."""
    entry = _TASKS.pop(name, None)
    if entry is not None:
        gym.registry.pop(entry.env_id, None)
        if entry.task_class.registration is entry:
            entry.task_class.registration = None


def register_all() -> None:
    """Register the built-in tasks (and so their Gymnasium ids); `import flywheel` calls this."""
    importlib.import_module(BUILTIN_TASKS_PACKAGE)


def task_names() -> list[str]:
    """Every registered task, in registration order (built-ins first)."""
    register_all()
    return list(_TASKS)


def task_registration(name: str) -> TaskRegistration:
    """The registration of task `name`; KeyError listing the available tasks when there is none."""
    register_all()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; available tasks: {', '.join(_TASKS)}")
    return _TASKS[name]


def env_id_for(task: str) -> str:
    return task_registration(task).env_id
