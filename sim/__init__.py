"""PyBullet scenes wrapped as Gymnasium tasks: `RobotTaskEnv(robot, task)`, one API for every robot."""
from flywheel.sim.env import CONTROL_MODES, RobotTaskEnv
from flywheel.sim.tasks import TASKS, TaskNotApplicable, make_task


def make_env(task: str, robot: str = "panda", max_episode_steps: int | None = None, **kwargs):
    """`RobotTaskEnv` wrapped in Gymnasium's `TimeLimit` with the task's episode length."""
    import gymnasium as gym

    env = RobotTaskEnv(robot=robot, task=task, **kwargs)
    return gym.wrappers.TimeLimit(env, max_episode_steps or env.task.max_episode_steps)


__all__ = ["CONTROL_MODES", "TASKS", "RobotTaskEnv", "TaskNotApplicable", "make_env", "make_task"]
