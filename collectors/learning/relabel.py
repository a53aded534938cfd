"""DAgger relabelling: the learned policy drives, the scripted expert labels every state it visits.

    policy = RelabelingPolicy(learner, expert("reach", env), beta=0.2)
    policy.reset(seed)
    action = policy.act(obs)   # what drives the env (the learner's, or the expert's with probability beta)
    policy.label               # the expert's action at obs: what the dataset stores as `action`
    policy.label_ee            # the expert's action.ee when it is known (end-effector control), else None

How a recorder uses it (the whole contract): after ``act``, store ``policy.label`` as the frame's
``action`` when the policy has a ``label`` attribute, and ``policy.label_ee`` (when not None) as its
``action.ee``; everything else (observations, rewards, success) is what the driving action produced.
`relabel_frames` does the same after the fact, from the labels kept for the episode.

The expert is queried at every step, also when the learner's action drives, so a stateful expert
(pick-and-place phases) follows the episode; its phases are decided by the state, so it can label any
state a learner reaches. The beta coin is seeded from the episode seed: same seed, same episode.
"""
from __future__ import annotations

from typing import Any

import numpy as np

BETA_STREAM = 0xDA66E7  # keeps the beta coin independent of other per-episode random streams


class RelabelingPolicy:
    """Learner drives (or, with probability ``beta`` per step, the expert); the expert's action is the label."""

    def __init__(self, learner, teacher, beta: float = 0.0, canonical_labels: bool | None = None):
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.learner, self.teacher, self.beta = learner, teacher, float(beta)
        self.name = f"dagger:{getattr(learner, 'name', 'learner')}"
        # In end-effector control the env action *is* action.ee, so the expert's label is both.
        self.canonical_labels = canonical_labels
        self.rng = np.random.default_rng()
        self.label: np.ndarray | None = None
        self.label_ee: np.ndarray | None = None
        self.labels: list[np.ndarray] = []
        self.expert_drove: list[bool] = []

    @classmethod
    def for_env(cls, env, task: str, learner, beta: float = 0.0) -> "RelabelingPolicy":
        """Relabel with the scripted expert of ``task`` (noise-free) on ``env``."""
        from flywheel.collectors.policies import expert

        u = env.unwrapped
        return cls(learner, expert(task, env, noise=0.0), beta=beta, canonical_labels=u.control_mode == "ee_delta")

    def reset(self, seed: int | None = None) -> None:
        self.learner.reset(seed)
        self.teacher.reset(seed)
        self.rng = np.random.default_rng(None if seed is None else [int(seed), BETA_STREAM])
        self.label = self.label_ee = None
        self.labels, self.expert_drove = [], []

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        label = np.asarray(self.teacher.act(observation), dtype=np.float32).copy()
        drive = np.asarray(self.learner.act(observation), dtype=np.float32)
        by_expert = self.beta > 0.0 and self.rng.random() < self.beta
        self.label = label
        self.label_ee = label if self.canonical_labels else None
        self.labels.append(label)
        self.expert_drove.append(bool(by_expert))
        return label.copy() if by_expert else drive

    def relabel(self, frames: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Put this episode's expert labels into its recorded ``frames`` (see `relabel_frames`)."""
        return relabel_frames(frames, self)


TEACHERS = ("expert",)


class RelabelingFactory:
    """``factory(env) -> RelabelingPolicy``: ``policy`` (a learned policy file, ``"random"``, or a factory) drives,
    the task's scripted expert labels. Picklable, so `collect` can ship it to every Ray worker.
    """

    def __init__(self, policy: Any, task: str, beta: float = 0.0, teacher: str = "expert"):
        if teacher not in TEACHERS:
            raise ValueError(f"unknown relabelling teacher {teacher!r}; use one of {', '.join(TEACHERS)}")
        if policy == "expert":
            raise ValueError("relabelling the expert with itself changes nothing; deploy a learned policy (--policy FILE)")
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.policy, self.task, self.beta, self.teacher = policy, task, float(beta), teacher

    def __call__(self, env) -> RelabelingPolicy:
        from flywheel.collectors.collection.worker import build_policy

        return RelabelingPolicy.for_env(env, self.task, build_policy(self.policy, self.task, env), beta=self.beta)


def relabel_frames(frames: dict[str, np.ndarray], policy: RelabelingPolicy) -> dict[str, np.ndarray]:
    """Replace the recorded ``action`` (and ``action.ee`` where labels are canonical) with the expert's labels.

    ``frames`` are one episode's frames recorded while ``policy`` drove it; returns ``frames``, modified.
    """
    if "action" not in frames:
        return frames
    n = len(frames["action"])
    if n != len(policy.labels):
        raise ValueError(f"episode has {n} frames but the relabelling policy kept {len(policy.labels)} labels")
    if n:
        labels = np.stack(policy.labels).astype(np.float32)
        frames["action"] = labels.reshape(frames["action"].shape)
        if policy.canonical_labels and "action.ee" in frames and frames["action.ee"].shape == labels.shape:
            frames["action.ee"] = labels.copy()
    return frames
