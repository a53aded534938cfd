"""Small pose helpers in numpy (quaternions scalar-last, PyBullet's order), so hot paths avoid client calls."""
from __future__ import annotations

import numpy as np


def _scalars(x):
    """The components of a small float64 vector as Python floats (same IEEE doubles, ~20x cheaper to do
    arithmetic on than numpy scalars), or ``x`` itself when it is not float64 so numpy keeps its own rules."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        return x.tolist()
    return x


def _float_list(x):
    """``x`` as Python floats when that changes no arithmetic: a float64 array, or a tuple/list of Python
    floats (PyBullet's). None otherwise (float32 components must keep numpy's promotion rules)."""
    t = type(x)
    if t is np.ndarray:
        return x.tolist() if x.dtype == np.float64 else None
    if (t is tuple or t is list) and all(type(c) is float for c in x):
        return x
    return None


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa, fb = _float_list(a), _float_list(b)
    if fa is not None and fb is not None:
        a, b = fa, fb
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def quat_conj(q: np.ndarray) -> np.ndarray:
    x, y, z, w = _scalars(q[:4]) if type(q) is np.ndarray else q[:4]
    return np.array([-x, -y, -z, w])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vector(s) v (..., 3) by unit quaternion q."""
    v = np.asarray(v, dtype=np.float64)
    if v.shape == (3,):
        # One vector (the hot path): the same float64 operations as the array form below, in the same order
        # (np.cross is a1*b2 - a2*b1, ... and float32 inputs promote exactly), so results are bit-identical.
        ux, uy, uz, w = (float(c) for c in q[:4])
        vx, vy, vz = v.tolist()
        tx, ty, tz = 2.0 * (uy * vz - uz * vy), 2.0 * (uz * vx - ux * vz), 2.0 * (ux * vy - uy * vx)
        return np.array([vx + w * tx + (uy * tz - uz * ty),
                         vy + w * ty + (uz * tx - ux * tz),
                         vz + w * tz + (ux * ty - uy * tx)])
    u = np.asarray(q[:3])
    w = q[3]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q[3] < 0:
        q = -q
    s = np.linalg.norm(q[:3])
    if s < 1e-12:
        return 2.0 * q[:3]
    angle = 2.0 * np.arctan2(s, q[3])
    return q[:3] / s * angle


def rotvec_to_quat(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    angle = np.linalg.norm(r)
    if angle < 1e-12:
        return np.array([0.5 * r[0], 0.5 * r[1], 0.5 * r[2], 1.0]) / np.sqrt(1 + 0.25 * angle * angle)
    axis = r / angle
    s = np.sin(angle / 2)
    return np.array([axis[0] * s, axis[1] * s, axis[2] * s, np.cos(angle / 2)])


def quat_to_euler(q: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (extrinsic x-y-z, as PyBullet's getEulerFromQuaternion)."""
    x, y, z, w = _scalars(q)
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    s = 2 * (w * y - z * x)
    if type(s) is float:  # np.clip's result for a Python float, without its array round trip (NaN passes)
        s = -1.0 if s < -1.0 else (1.0 if s > 1.0 else s)
    else:
        s = np.clip(s, -1.0, 1.0)
    pitch = np.arcsin(s)
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


def euler_to_quat(rpy: np.ndarray) -> np.ndarray:
    r, p, y = np.asarray(rpy, dtype=np.float64) / 2
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array([
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    ])


def orientation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation vector taking `current` to `target`, expressed in the world frame."""
    return quat_to_rotvec(quat_mul(target, quat_conj(current)))
