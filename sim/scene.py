"""`Scene`: one PyBullet physics client in DIRECT mode, owned by one environment.

Never the global default client: every call names `physicsClientId`, so several environments in one
process (or one Ray worker) cannot see or disturb each other's bodies. Tasks, experts and robot checks
ask the scene (bodies, poses, constraints, contacts, saved states) instead of calling PyBullet, so the
simulator stays behind one wrapper in `flywheel.sim` (panda-gym's `self.sim.create_box(...)` idea).
Values pass through unchanged (PyBullet's own tuples), so moving a call here changes no arithmetic.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

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
        self._touched: set[tuple[int, int]] = set()  # links changed through change_dynamics since the last restore
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

    # ---- bodies ------------------------------------------------------------------------------------
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

    def compound_boxes(self, half_extents: Sequence, offsets: Sequence, position, color=(0.6, 0.6, 0.6, 1.0),
                       mass: float = 0.0, orientation=(0, 0, 0, 1)) -> int:
        """One body made of boxes (`half_extents[i]` centred at `offsets[i]` from `position`): a table
        with a pedestal is one body, so it has one pose and one set of contacts. Static unless given a mass."""
        cid, n = self.client, len(half_extents)
        col = p.createCollisionShapeArray([p.GEOM_BOX] * n, halfExtents=half_extents, collisionFramePositions=offsets,
                                          physicsClientId=cid)
        vis = p.createVisualShapeArray([p.GEOM_BOX] * n, halfExtents=half_extents, visualFramePositions=offsets,
                                       rgbaColors=[color] * n, physicsClientId=cid)
        return p.createMultiBody(mass, col, vis, position, orientation, physicsClientId=cid)

    def body_pose(self, body: int) -> tuple[tuple, tuple]:
        """(position, orientation) of a body's base in the world, as PyBullet returns them."""
        return p.getBasePositionAndOrientation(body, physicsClientId=self.client)

    def body_velocity(self, body: int) -> tuple[tuple, tuple]:
        """(linear, angular) velocity of a body's base in the world."""
        return p.getBaseVelocity(body, physicsClientId=self.client)

    def set_body_pose(self, body: int, position, orientation) -> None:
        """Teleport a body's base (reset time, markers): no physics runs in between."""
        p.resetBasePositionAndOrientation(body, position, orientation, physicsClientId=self.client)

    def set_body_velocity(self, body: int, linear=(0.0, 0.0, 0.0), angular=(0.0, 0.0, 0.0)) -> None:
        p.resetBaseVelocity(body, list(linear), list(angular), physicsClientId=self.client)

    def change_dynamics(self, body: int, link: int = -1, **properties) -> None:
        """PyBullet's changeDynamics (mass, lateralFriction, spinningFriction, ...) for one link (-1: the base)."""
        p.changeDynamics(body, link, physicsClientId=self.client, **properties)
        self._touched.add((body, link))  # what `restore_dynamics` must look at

    def link_masses(self, body: int) -> list[tuple[int, float]]:
        """(link, mass) of every link of a body, the base (-1) first."""
        cid = self.client
        return [(link, p.getDynamicsInfo(body, link, physicsClientId=cid)[0])
                for link in range(-1, p.getNumJoints(body, physicsClientId=cid))]

    def welded_links(self, body: int, link: int) -> set[int]:
        """A link and every link welded to it by fixed joints (a sphere hand on an MJCF forearm, a URDF wrist)."""
        cid = self.client
        links, grew = {link}, True
        while grew:
            grew = False
            for j in range(p.getNumJoints(body, physicsClientId=cid)):
                info = p.getJointInfo(body, j, physicsClientId=cid)
                if info[2] == p.JOINT_FIXED and info[16] in links and j not in links:
                    links.add(j)
                    grew = True
        return links

    # ---- forces, constraints, contacts --------------------------------------------------------------
    def push_base(self, body: int, force) -> None:
        """A world-frame force at a body's base position for the next substep (PyBullet clears it after one)."""
        cid = self.client
        pos, _ = p.getBasePositionAndOrientation(body, physicsClientId=cid)
        p.applyExternalForce(body, -1, force, pos, p.WORLD_FRAME, physicsClientId=cid)

    def weld(self, body: int, link: int, child: int, child_pos, child_orn, child_link: int = -1) -> int:
        """Fix `child` (its base, or `child_link`) to `body`'s `link` where it is now (world pose `child_pos`,
        `child_orn` of the child's centre of mass: `link_com_pose`): a grasp assist. Returns the constraint, for
        `remove_constraint`."""
        cid = self.client
        if link < 0:  # a base: its pose is its inertial frame's
            base = p.getBasePositionAndOrientation(body, physicsClientId=cid)
            local_pos, local_orn = p.multiplyTransforms(*p.invertTransform(*base), child_pos, child_orn)
        else:
            st = p.getLinkState(body, link, physicsClientId=cid)
            # constraint frames are relative to the link's inertial frame: world -> link frame -> inertial frame
            rel = p.multiplyTransforms(*p.invertTransform(st[4], st[5]), child_pos, child_orn)
            local_pos, local_orn = p.multiplyTransforms(*p.invertTransform(st[2], st[3]), *rel)
        return p.createConstraint(body, link, child, child_link, p.JOINT_FIXED, [0, 0, 0], local_pos, [0, 0, 0],
                                  local_orn, physicsClientId=cid)

    def remove_constraint(self, constraint: int) -> None:
        p.removeConstraint(constraint, physicsClientId=self.client)

    def contact_links(self, body: int, other: int) -> list[int]:
        """The links of `body` that touch `other` now (one entry per contact point)."""
        return [c[3] for c in p.getContactPoints(body, other, physicsClientId=self.client)]

    # ---- objects, fixtures and joints (flywheel.sim.objects, flywheel.sim.planning) ---------------------------
    def cylinder(self, radius: float, height: float, position, mass: float = 0.0, color=(0.6, 0.6, 0.6, 1.0),
                 orientation=(0, 0, 0, 1)) -> int:
        """An upright cylinder body (axis z, centred on `position`); mass 0 makes it static."""
        cid = self.client
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=height, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=color, physicsClientId=cid)
        return p.createMultiBody(mass, col, vis, position, orientation, physicsClientId=cid)

    def ball(self, radius: float, position, mass: float = 0.0, color=(0.6, 0.6, 0.6, 1.0)) -> int:
        """A solid sphere body (unlike `sphere`, which is a visual-only marker); mass 0 makes it static."""
        cid = self.client
        col = p.createCollisionShape(p.GEOM_SPHERE, radius=radius, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_SPHERE, radius=radius, rgbaColor=color, physicsClientId=cid)
        return p.createMultiBody(mass, col, vis, position, physicsClientId=cid)

    def remove_body(self, body: int) -> None:
        p.removeBody(body, physicsClientId=self.client)

    def num_links(self, body: int) -> int:
        """Links besides the base (= joints, PyBullet numbers a link by the joint above it)."""
        return p.getNumJoints(body, physicsClientId=self.client)

    def aabb(self, body: int, link: int | None = None) -> tuple[tuple, tuple]:
        """World axis-aligned box (min, max) of one link, or with `link` None of the whole body (all links)."""
        cid = self.client
        links = [link] if link is not None else range(-1, p.getNumJoints(body, physicsClientId=cid))
        boxes = [p.getAABB(body, k, physicsClientId=cid) for k in links]
        return (tuple(min(b[0][i] for b in boxes) for i in range(3)), tuple(max(b[1][i] for b in boxes) for i in range(3)))

    def set_color(self, body: int, color, link: int | None = None) -> None:
        """Repaint one link, or with `link` None every link, of a body (visual only: physics never reads it; a
        texture, if any, is kept and tinted), for colours drawn per episode."""
        cid = self.client
        for k in ([link] if link is not None else range(-1, p.getNumJoints(body, physicsClientId=cid))):
            p.changeVisualShape(body, k, rgbaColor=list(color), physicsClientId=cid)

    def joints_by_name(self, body: int) -> dict[str, int]:
        cid = self.client
        return {p.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j
                for j in range(p.getNumJoints(body, physicsClientId=cid))}

    def links_by_name(self, body: int) -> dict[str, int]:
        cid = self.client
        return {p.getJointInfo(body, j, physicsClientId=cid)[12].decode(): j
                for j in range(p.getNumJoints(body, physicsClientId=cid))}

    def base_inertial_offset(self, body: int) -> tuple:
        """Where the base's centre of mass sits in its URDF link frame: body poses (`body_pose`, `set_body_pose`) are
        those of the centre of mass, not of the link frame a model is drawn in."""
        return p.getDynamicsInfo(body, -1, physicsClientId=self.client)[3]

    def joint_axis(self, body: int, joint: int) -> tuple:
        """A joint's axis in its child link's frame (the URDF axis)."""
        return p.getJointInfo(body, joint, physicsClientId=self.client)[13]

    def link_parents(self, body: int) -> list[int]:
        """The parent link of every link (-1: the base)."""
        cid = self.client
        return [p.getJointInfo(body, j, physicsClientId=cid)[16] for j in range(p.getNumJoints(body, physicsClientId=cid))]

    def joint_position(self, body: int, joint: int) -> float:
        return p.getJointState(body, joint, physicsClientId=self.client)[0]

    def set_joint_positions(self, body: int, joints: Sequence[int], values: Sequence[float]) -> None:
        """Teleport joints (zero velocity); motors keep their targets. Reset time, and collision checks that are
        undone by `saved_state`."""
        cid = self.client
        for j, q in zip(joints, values):
            p.resetJointState(body, j, float(q), 0.0, physicsClientId=cid)

    def joint_motor(self, body: int, joint: int, force: float, position: float | None = None,
                    velocity: float = 0.0, position_gain: float | None = None) -> None:
        """A joint motor of at most `force`: towards `position` (a spring-like return when `force` is small), or,
        with `position` None, towards `velocity` (velocity 0 with a small force: joint friction that holds a
        drawer where it was left)."""
        cid = self.client
        if position is None:
            p.setJointMotorControl2(body, joint, p.VELOCITY_CONTROL, targetVelocity=velocity, force=force,
                                    physicsClientId=cid)
        else:
            extra = {} if position_gain is None else {"positionGain": position_gain}
            p.setJointMotorControl2(body, joint, p.POSITION_CONTROL, targetPosition=position, force=force,
                                    physicsClientId=cid, **extra)

    def link_pose(self, body: int, link: int) -> tuple[tuple, tuple]:
        """World (position, orientation) of a link's own frame (-1: the base), forward kinematics fresh."""
        cid = self.client
        if link < 0:
            return p.getBasePositionAndOrientation(body, physicsClientId=cid)
        st = p.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=cid)
        return st[4], st[5]

    def link_com_pose(self, body: int, link: int) -> tuple[tuple, tuple]:
        """World (position, orientation) of a link's centre of mass frame (-1: the base), what `weld` takes."""
        cid = self.client
        if link < 0:
            return p.getBasePositionAndOrientation(body, physicsClientId=cid)
        st = p.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=cid)
        return st[0], st[1]

    def push_link(self, body: int, link: int, force, position=None) -> None:
        """A world-frame force on a link (at `position`, default its frame's origin) for the next substep."""
        cid = self.client
        if position is None:
            position = self.link_pose(body, link)[0]
        p.applyExternalForce(body, link, list(force), list(position), p.WORLD_FRAME, physicsClientId=cid)

    def near(self, body: int, other: int, margin: float = 0.0, link: int | None = None,
             other_link: int | None = None) -> bool:
        """Whether `body` (or one link of it) is within `margin` of `other` (or one link of it; `other` may be
        `body` itself), from the current poses. Computed on the spot (getClosestPoints): the physics' contact
        caches are left alone, so checks change no episode."""
        links = {} if link is None else {"linkIndexA": link}
        if other_link is not None:
            links["linkIndexB"] = other_link
        return bool(p.getClosestPoints(body, other, margin, physicsClientId=self.client, **links))

    # ---- saved states ------------------------------------------------------------------------------------
    def save_state(self) -> int:
        """An in-memory snapshot of the whole world (keep it: restore it with `restore_state`)."""
        return p.saveState(physicsClientId=self.client)

    def restore_state(self, state: int) -> None:
        p.restoreState(state, physicsClientId=self.client)

    def remove_state(self, state: int) -> None:
        p.removeState(state, physicsClientId=self.client)

    @contextlib.contextmanager
    def saved_state(self) -> Iterator[None]:
        """Whatever the block does to the world (teleports, resets) is undone when it ends."""
        state = p.saveState(physicsClientId=self.client)
        try:
            yield
        finally:
            p.restoreState(state, physicsClientId=self.client)
            p.removeState(state, physicsClientId=self.client)

    def forget_contacts(self, fixed_bodies: Sequence[int] = ()) -> None:
        """Drop every collision pair and contact manifold of the last episode before a `restore_state`.

        restoreState keeps them, and both their cached impulses and their order (the solver's constraint order)
        carry over, so without this an episode depends on the one before it. Lifting the bodies apart releases
        most pairs, but not the ground plane's (its box is infinite) nor a robot's own link pairs: those manifolds
        kept their old places, and the next episode differed from a new env's now and then (the MuJoCo humanoid in
        pick_place: a few previous episodes in a hundred, which ones depending on the process). So all pairs are
        dropped first (`drop_pairs`); then every body but the ground is lifted out of reach of the others and
        collision detection runs; the restore puts everything back (call `drop_pairs` again after it, so the first
        step finds the pairs its own collision pass made in a new env's order).
        """
        cid = self.client
        self.drop_pairs(fixed_bodies)
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            if body != self.plane:
                p.resetBasePositionAndOrientation(body, [0.0, 0.0, 1000.0 + 100.0 * i], [0, 0, 0, 1], physicsClientId=cid)
        p.performCollisionDetection(physicsClientId=cid)

    def drop_pairs(self, fixed_bodies: Sequence[int] = ()) -> None:
        """Rebuild every collider's broadphase proxy, which drops all its pairs and their contact manifolds.

        setCollisionFilterPair refreshes the proxies of both links it names; pairs chained in creation order refresh
        each collider last in that order, so the proxies keep their relative order (hence the sorted pair order of
        deterministicOverlappingPairs), and each pair is given the value its group/mask give it anyway (static with
        static off, anything else on), so what collides does not change. ``fixed_bodies``: fixed-base bodies besides
        the ground and massless bases. In a new scene there are no pairs and this changes nothing.
        """
        cid = self.client
        colliders = []
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            fixed = body == self.plane or body in fixed_bodies or p.getDynamicsInfo(body, -1, physicsClientId=cid)[0] == 0
            colliders += [(body, link, fixed and link == -1) for link in range(-1, p.getNumJoints(body, physicsClientId=cid))]
        for (body_a, link_a, static_a), (body_b, link_b, static_b) in zip(colliders, colliders[1:]):
            p.setCollisionFilterPair(body_a, body_b, link_a, link_b, int(not (static_a and static_b)), physicsClientId=cid)

    def dynamics(self) -> dict[tuple[int, int], tuple]:
        """Every body's and link's changeDynamics values (mass, friction, inertia, restitution, rolling, spinning)."""
        cid, out = self.client, {}
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            for link in range(-1, p.getNumJoints(body, physicsClientId=cid)):
                out[body, link] = self._dynamics_of(body, link)
        return out

    def dynamics_of(self, body: int, link: int = -1) -> tuple:
        """(mass, lateral friction, local inertia diagonal, restitution, rolling, spinning friction) of one link."""
        return self._dynamics_of(body, link)

    def _dynamics_of(self, body: int, link: int) -> tuple:
        d = p.getDynamicsInfo(body, link, physicsClientId=self.client)
        return (d[0], d[1], tuple(d[2]), d[5], d[6], d[7])

    def restore_dynamics(self, initial: dict[tuple[int, int], tuple]) -> None:
        """Put back what changeDynamics changed since ``initial`` (a `dynamics` snapshot): restoreState restores poses
        and velocities only, so a mass or friction an episode randomised (pick_place's cube, parked in the next
        episode) would carry over. Only links changed through `change_dynamics` are read, and only changed values are
        set: a new env's first episode is untouched."""
        cid = self.client
        for body, link in sorted(self._touched):
            before = initial.get((body, link))
            if before is not None and self._dynamics_of(body, link) != before:
                mass, friction, inertia, restitution, rolling, spinning = before
                p.changeDynamics(body, link, mass=mass, lateralFriction=friction, localInertiaDiagonal=list(inertia),
                                 restitution=restitution, rollingFriction=rolling, spinningFriction=spinning,
                                 physicsClientId=cid)
        self._touched.clear()

    def close(self) -> None:
        if self.client is not None and self.client >= 0:
            try:
                p.disconnect(physicsClientId=self.client)
            except p.error:
                pass
            self.client = -1

    def __del__(self):
        self.close()
