"""`Scene`: one PyBullet physics client in DIRECT mode, owned by one environment.

Never the global default client: every call names `physicsClientId`, so several environments in one
process (or one Ray worker) cannot see or disturb each other's bodies.
"""
from __future__ import annotations

import pybullet as p
import pybullet_data

PHYSICS_HZ = 240


class Scene:
    def __init__(self, physics_hz: int = PHYSICS_HZ, gravity: float = -9.81):
        self.client = p.connect(p.DIRECT)
        if self.client < 0:
            raise RuntimeError("could not start a PyBullet DIRECT client")
        self.physics_hz = physics_hz
        self.timestep = 1.0 / physics_hz
        self._step = p.stepSimulation
        p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        p.setTimeStep(self.timestep, physicsClientId=self.client)
        p.setGravity(0, 0, gravity, physicsClientId=self.client)
        # Deterministic solver: fixed iterations and no randomised constraint ordering.
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1, numSolverIterations=50, physicsClientId=self.client)
        self.plane = p.loadURDF("plane.urdf", physicsClientId=self.client)
        self.sim_time = 0.0

    def step(self, n: int = 1) -> None:
        step, cid = self._step, self.client
        for _ in range(n):
            step(physicsClientId=cid)
        self.sim_time += n * self.timestep

    def load_urdf(self, path: str, position=(0, 0, 0), orientation=(0, 0, 0, 1), fixed: bool = False, **kw) -> int:
        return p.loadURDF(str(path), position, orientation, useFixedBase=fixed, physicsClientId=self.client, **kw)

    def box(self, half_extents, position, mass: float = 0.0, color=(0.6, 0.6, 0.6, 1.0), collide: bool = True,
            orientation=(0, 0, 0, 1)) -> int:
        """A primitive box body; mass 0 makes it static. `collide=False` gives a visual-only marker."""
        cid = self.client
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half_extents, physicsClientId=cid) if collide else -1
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half_extents, rgbaColor=color, physicsClientId=cid)
        return p.createMultiBody(mass, col, vis, position, orientation, physicsClientId=cid)

    def sphere(self, radius: float, position, color=(0.1, 0.8, 0.1, 0.6)) -> int:
        """A visual-only sphere (goal markers): no collision, no mass, so it never changes the physics."""
        vis = p.createVisualShape(p.GEOM_SPHERE, radius=radius, rgbaColor=color, physicsClientId=self.client)
        return p.createMultiBody(0.0, -1, vis, position, physicsClientId=self.client)

    def close(self) -> None:
        if self.client is not None and self.client >= 0:
            try:
                p.disconnect(physicsClientId=self.client)
            except p.error:
                pass
            self.client = -1

    def __del__(self):
        self.close()
