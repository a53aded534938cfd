"""Placeholder inertias of real URDFs repaired, not refused: dummy, sensor and camera links.

Exporters leave links with a zero tensor (iCub's ``l_ankle_2``: principal moments -1.4e-20, 0, 1.4e-20), a tiny
one, one a rounding error below zero, or no ``<inertial>`` at all on a frame without a shape (which PyBullet then
simulates as 1 kg). PyBullet simulates all of these badly or not at all, so `parse_urdf` gives them
a small positive tensor proportional to their mass and size, says so in a note, and `robots add` writes it into
the resolved copy the spec loads (`flywheel.robots.resolved_copy`). Tensors that are broken beyond rounding are
still refused by `parse_urdf`, naming the element.
"""
from __future__ import annotations

import numpy as np

from flywheel.robots.urdf import Inertial, Link, URDFModel

# Inertia tensors (kg m^2) below mass * this are a placeholder, not a body: a radius of gyration under 0.1 mm
TINY_INERTIA = 1e-8
DUMMY_MASS = 1e-3  # kg, what a shapeless frame with no <inertial> gets (PyBullet would give it 1 kg)
DUMMY_RADIUS = 0.01  # m, the size a frame without collision shapes is given for its repaired inertia


def repair_inertias(model: URDFModel) -> None:
    """Dummy, sensor and camera links with a zero, tiny or rounding-negative inertia tensor (or, with no collision
    shape, none at all) get a small positive diagonal one, proportional to their mass and size, so PyBullet
    simulates them as the exporter meant. Each repair is a note in the report; `robots add` writes the repaired
    tensors into the resolved copy of the URDF it loads."""
    moving_parent = {j.child for j in model.joints.values() if j.movable}
    for name, link in model.links.items():
        inertial = link.inertial
        if inertial is None:
            # a frame with no <inertial> and no shape (a hip's yaw-roll-pitch, an IMU or camera frame): PyBullet
            # would simulate it as 1 kg with a 1 kg m^2 inertia
            if name != model.root and not link.collisions:
                link.inertial = Inertial(DUMMY_MASS, np.eye(4), _diagonal(DUMMY_MASS, _radius(link)))
                where = "between moving joints" if name in moving_parent else "bolted to its parent"
                model.repaired[name] = f"no <inertial> on a frame {where} (PyBullet would give it 1 kg)"
            continue
        if inertial.mass <= 0:
            continue
        eig = np.linalg.eigvalsh(inertial.inertia)
        if float(np.max(np.abs(eig))) <= TINY_INERTIA * inertial.mass or eig[0] < 0:
            moments = ', '.join(f'{e:.3g}' for e in eig)
            if float(np.max(np.abs(eig))) > TINY_INERTIA * inertial.mass:  # a real tensor with a rounding error
                vals, vecs = np.linalg.eigh(inertial.inertia)
                inertial.inertia = vecs @ np.diag(np.maximum(vals, 1e-6 * float(vals[-1]))) @ vecs.T
                model.repaired[name] = f"a negative principal moment from rounding ({moments}), raised to a small positive one"
                continue
            why = "a zero inertia tensor" if np.max(np.abs(eig)) < 1e-15 else "a tiny inertia tensor"
            inertial.inertia = _diagonal(inertial.mass, _radius(link))
            model.repaired[name] = f"{why} (principal moments {moments})"
    for name, why in model.repaired.items():
        inertial = model.links[name].inertial
        model.notes.append(f"link {name!r}: {why}: repaired to mass {inertial.mass:.3g} kg, inertia diagonal "
                           f"{', '.join(f'{v:.3g}' for v in np.diag(inertial.inertia))} kg m^2 (written into the "
                           "resolved copy of the URDF that the spec loads)")


def _radius(link: Link) -> float:
    """Half the size of a link's collision shapes (or visuals), for an inertia proportional to it."""
    pts = [g.local_points() for g in (*link.collisions, *link.visuals) if g.kind != "mesh"]
    if not pts:
        return DUMMY_RADIUS
    allp = np.concatenate(pts)
    return max(DUMMY_RADIUS / 10, 0.5 * float(np.max(allp.max(axis=0) - allp.min(axis=0))))


def _diagonal(mass: float, radius: float) -> np.ndarray:
    return np.eye(3) * (0.4 * mass * radius * radius)  # a solid sphere of that radius
