"""One kinematic chain of a URDF in numpy: forward kinematics, Jacobians and damped least-squares IK, for the
ready-pose and standing-pose searches of `robots add` (no simulator needed)."""
from __future__ import annotations

import math

import numpy as np

from flywheel.robots.urdf import URDFModel


# ---- kinematics on one chain --------------------------------------------------------------------------
def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s, v = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    return np.array([[c + x * x * v, x * y * v - z * s, x * z * v + y * s],
                     [y * x * v + z * s, c + y * y * v, y * z * v - x * s],
                     [z * x * v - y * s, z * y * v + x * s, c + z * z * v]])


class Chain:
    """The joints from the root to one link, with fast FK and an analytic position Jacobian."""

    def __init__(self, model: URDFModel, link: str, dofs: list[str], base: np.ndarray):
        self.model, self.link, self.base = model, link, base
        self.joints = model.chain(link)
        self.dofs = [d for d in dofs if any(j.name == d for j in self.joints)]
        self._col = {d: i for i, d in enumerate(self.dofs)}

    def fk(self, q: dict[str, float], point=np.zeros(3)):
        t = self.base.copy()
        frames = []
        for j in self.joints:
            t = t @ j.origin
            if j.type in ("revolute", "continuous", "prismatic"):
                axis_w = t[:3, :3] @ j.axis
                frames.append((j.name, t[:3, 3].copy(), axis_w, j.type == "prismatic"))
                value = float(self.model.joint_value(j, q))
                if j.type == "prismatic":
                    m = np.eye(4)
                    m[:3, 3] = j.axis * value
                    t = t @ m
                elif value:
                    m = np.eye(4)
                    m[:3, :3] = _rot(j.axis, value)
                    t = t @ m
        tip = t[:3, :3] @ point + t[:3, 3]
        return t, tip, frames

    def jacobian(self, tip: np.ndarray, frames) -> np.ndarray:
        jac = np.zeros((6, len(self.dofs)))
        for name, pos, axis, prismatic in frames:
            col = self._col.get(name)
            if col is None:
                continue
            if prismatic:
                jac[:3, col] = axis
            else:
                jac[:3, col] = np.cross(axis, tip - pos)
                jac[3:, col] = axis
        return jac

    def ik(self, q: dict[str, float], limits: dict[str, tuple[float, float]], target: np.ndarray, point=np.zeros(3),
           target_rot: np.ndarray | None = None, iters: int = 60, tol: float = 0.01) -> tuple[dict[str, float], float]:
        """Damped least squares towards a position (and orientation), clipped to the limits."""
        q = dict(q)
        err_norm = float("inf")
        for _ in range(iters):
            t, tip, frames = self.fk(q, point)
            err = target - tip
            err_norm = float(np.linalg.norm(err))
            if target_rot is not None:
                r_err = target_rot @ t[:3, :3].T
                angle_err = 0.5 * np.array([r_err[2, 1] - r_err[1, 2], r_err[0, 2] - r_err[2, 0], r_err[1, 0] - r_err[0, 1]])
                if err_norm < tol and np.linalg.norm(angle_err) < 0.05:
                    break
                jac = self.jacobian(tip, frames)
                e = np.concatenate([err, 0.3 * angle_err])
            else:
                if err_norm < tol:
                    break
                jac = self.jacobian(tip, frames)[:3]
                e = err
            dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(jac.shape[0]), e)
            scale = np.max(np.abs(dq)) / 0.3 if len(dq) else 0
            if scale > 1:
                dq /= scale
            for name, d in zip(self.dofs, dq):
                lo, hi = limits[name]
                q[name] = float(np.clip(q[name] + d, lo, hi))
        return q, err_norm


