"""Joint-space motion planning for experts whose straight-line motion collides (reaching past a shelf board, into a
drawer, around a wall), instead of ever more hand-placed waypoints.

RRT-Connect (Kuffner & LaValle 2000) grows a tree from the start and one from the goal, each reaching for a random
configuration and then trying to connect to the other; the path found is shortened by random shortcutting. Every
random number comes from the `numpy.random.Generator` passed in, and the search is bounded by iterations, never by
time, so a seed gives the same path on any machine at any load.

Collisions are checked through the `Scene` (`JointSpaceChecker`): the planned joints are teleported and PyBullet's
closest-point query is asked about the links they move (and any body the hand holds) against the obstacles; the world
is saved before and restored after, and closest-point queries leave the solver's contact caches alone, so planning
changes no episode. Self-collision is checked on request (``self_collision=True``: every pair with a moving link,
except pairs already touching at the start).

OMPL (PyPI ``ompl`` 2.0.1) installs and plans here, but its random numbers are seeded process-wide (``RNG.setSeed``,
which warns that seeding after the first planner is not deterministic) and its ``solve`` is bounded by seconds; both
break "same seed, same episode, whatever ran before in the process", so flywheel keeps this planner.

Use::

    plan = plan_joint_path(scene, robot, q_start, q_goal, obstacles=[shelf.body, wall.body], hand="right_hand",
                           rng=np.random.default_rng(seed))
    if plan.ok:
        for q in interpolate(plan.path, max_step=0.05): ...   # full joint vectors, start and goal included
    plan = plan_to_pose(scene, robot, "right_hand", target_pos, target_orn, obstacles, rng)  # IK, then the above
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from flywheel.sim import transforms as tf

IsFree = Callable[[np.ndarray], bool]


@dataclass(frozen=True)
class PlannerSettings:
    max_iterations: int = 2000  # tree extensions before giving up
    step: float = 0.2  # the longest edge (rad, joint-space norm) a tree grows at once
    # largest change of any joint (rad) between two collision checks along an edge; a link `reach` m from the joint
    # moves up to resolution * reach between checks, so keep that near the checker's margin (0.015 * 0.8 m = 12 mm)
    resolution: float = 0.015
    shortcut_rounds: int = 100


@dataclass
class Plan:
    path: list[np.ndarray] | None  # waypoints, start and goal included; None when no path was found
    reason: str  # "" when found, else why not, in one line
    iterations: int = 0
    checks: int = 0  # collision checks made

    @property
    def ok(self) -> bool:
        return self.path is not None


# ---- the search (pure numpy; collisions come from `is_free`) -----------------------------------------------------
def edge_free(a: np.ndarray, b: np.ndarray, is_free: IsFree, resolution: float) -> bool:
    """Whether the straight joint-space segment a -> b is free, checked at most `resolution` apart (a not checked)."""
    n = int(np.ceil(np.max(np.abs(b - a)) / resolution))
    return all(is_free(a + (b - a) * (k / n)) for k in range(1, n + 1))


class _Tree:
    def __init__(self, root: np.ndarray, capacity: int):
        self.nodes = np.empty((capacity + 1, root.size))
        self.nodes[0] = root
        self.parent = [-1]

    def __len__(self) -> int:
        return len(self.parent)

    def add(self, q: np.ndarray, parent: int) -> int:
        self.nodes[len(self.parent)] = q
        self.parent.append(parent)
        return len(self.parent) - 1

    def nearest(self, q: np.ndarray) -> int:
        d = self.nodes[:len(self.parent)] - q
        return int(np.argmin(np.einsum("ij,ij->i", d, d)))

    def branch(self, i: int) -> list[np.ndarray]:
        """Root ... node i."""
        out = []
        while i >= 0:
            out.append(self.nodes[i].copy())
            i = self.parent[i]
        return out[::-1]


_TRAPPED, _ADVANCED, _REACHED = 0, 1, 2


def _extend(tree: _Tree, target: np.ndarray, edge: Callable[[np.ndarray, np.ndarray], bool], step: float):
    i = tree.nearest(target)
    q_near = tree.nodes[i]
    d = target - q_near
    dist = float(np.linalg.norm(d))
    q_new = target.copy() if dist <= step else q_near + d * (step / dist)
    if not edge(q_near, q_new):
        return _TRAPPED, -1
    return (_REACHED if dist <= step else _ADVANCED), tree.add(q_new, i)


def rrt_connect(start: Sequence[float], goal: Sequence[float], lower: Sequence[float], upper: Sequence[float],
                is_free: IsFree, rng: np.random.Generator, settings: PlannerSettings = PlannerSettings()) -> Plan:
    """A collision-free path start -> goal in the box [lower, upper], shortcut; deterministic for an `rng` state."""
    start, goal = np.asarray(start, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    counter = _Counted(is_free)
    for name, q in (("start", start), ("goal", goal)):
        if np.any(q < lower - 1e-9) or np.any(q > upper + 1e-9):
            return Plan(None, f"the {name} is outside the joint limits")
        if not counter(q):
            return Plan(None, f"the {name} configuration is in collision", checks=counter.n)

    def edge(a, b):
        return edge_free(a, b, counter, settings.resolution)

    if edge(start, goal):
        return Plan([start, goal], "", 0, counter.n)
    trees = [_Tree(start, settings.max_iterations * 4), _Tree(goal, settings.max_iterations * 4)]
    for it in range(1, settings.max_iterations + 1):
        a, b = trees[0], trees[1]
        status, new = _extend(a, rng.uniform(lower, upper), edge, settings.step)
        if status != _TRAPPED:
            q_new = a.nodes[new].copy()
            while True:  # connect: b grows towards q_new until it reaches it or is blocked
                status_b, new_b = _extend(b, q_new, edge, settings.step)
                if status_b != _ADVANCED:
                    break
            if status_b == _REACHED:
                path = a.branch(new) + b.branch(new_b)[::-1][1:]
                if not np.array_equal(path[0], start):
                    path = path[::-1]
                path = shortcut(path, edge, rng, settings.shortcut_rounds)
                return Plan(path, "", it, counter.n)
        trees.reverse()
    return Plan(None, f"no path found in {settings.max_iterations} iterations", settings.max_iterations, counter.n)


class _Counted:
    def __init__(self, is_free: IsFree):
        self.is_free, self.n = is_free, 0

    def __call__(self, q: np.ndarray) -> bool:
        self.n += 1
        return bool(self.is_free(q))


def shortcut(path: list[np.ndarray], edge: Callable[[np.ndarray, np.ndarray], bool], rng: np.random.Generator,
             rounds: int) -> list[np.ndarray]:
    """Random shortcutting: join two random waypoints directly when the segment between them is free."""
    path = [q.copy() for q in path]
    for _ in range(rounds):
        if len(path) < 3:
            break
        i, j = sorted(int(k) for k in rng.choice(len(path), size=2, replace=False))
        if j - i > 1 and edge(path[i], path[j]):
            path = path[:i + 1] + path[j:]
    return path


def interpolate(path: Sequence[np.ndarray], max_step: float) -> list[np.ndarray]:
    """Waypoints no joint moves more than `max_step` between (for a controller that follows them)."""
    out = [np.asarray(path[0], dtype=np.float64).copy()]
    for a, b in zip(path, path[1:]):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        n = max(1, int(np.ceil(np.max(np.abs(b - a)) / max_step)))
        out += [a + (b - a) * (k / n) for k in range(1, n + 1)]
    return out


def path_length(path: Sequence[np.ndarray]) -> float:
    return float(sum(np.linalg.norm(np.asarray(b) - np.asarray(a)) for a, b in zip(path, path[1:])))


# ---- collisions through the Scene --------------------------------------------------------------------------------
class JointSpaceChecker:
    """``checker(q)``: whether joints `joints` (PyBullet indices) of `body` at `q` keep the links they move, and the
    bodies in `attached` (held by a link, moving with it), at least `margin` from every body in `obstacles`.

    Use inside ``with checker.session():`` which saves the world and restores it afterwards."""

    def __init__(self, scene, body: int, joints: Sequence[int], obstacles: Sequence[int], margin: float = 0.01,
                 attached: Sequence[tuple[int, int]] = (), self_collision: bool = False):
        self.scene, self.body, self.joints = scene, body, list(joints)
        self.obstacles, self.margin = [o for o in obstacles if o != body], margin
        self.attached = list(attached)  # (held body, link of `body` holding it)
        parents = scene.link_parents(body)
        planned = set(self.joints)

        def moves(link: int) -> bool:
            while link >= 0:
                if link in planned:
                    return True
                link = parents[link]
            return False
        self.links = [k for k in range(len(parents)) if moves(k)]
        self.self_collision = self_collision
        self._self_pairs: list[tuple[int, int]] = []
        self._grip: list[tuple[int, int, np.ndarray, np.ndarray]] = []

    @contextlib.contextmanager
    def session(self) -> Iterator[JointSpaceChecker]:
        scene = self.scene
        state = scene.save_state()
        try:
            self._grip = []
            for held, link in self.attached:  # where each held body sits in its link's frame, now
                lp, lo = (np.asarray(v, dtype=np.float64) for v in scene.link_pose(self.body, link))
                bp, bo = (np.asarray(v, dtype=np.float64) for v in scene.body_pose(held))
                inv = tf.quat_conj(lo)
                self._grip.append((held, link, tf.quat_rotate(inv, bp - lp), tf.quat_mul(inv, bo)))
            if self.self_collision:
                self._self_pairs = self._pairs_free_now()
            yield self
        finally:
            scene.restore_state(state)
            scene.remove_state(state)

    def _pairs_free_now(self) -> list[tuple[int, int]]:
        """Self-collision pairs to watch: a link the planned joints move against any other link, except pairs
        already within the margin now (neighbours, links welded together: MoveIt's "allowed collisions" idea)."""
        moving, scene, body = set(self.links), self.scene, self.body
        links = [-1, *range(scene.num_links(body))]
        return [(a, b) for i, a in enumerate(links) for b in links[i + 1:]
                if (a in moving or b in moving) and not scene.near(body, body, self.margin, a, b)]

    def __call__(self, q: np.ndarray) -> bool:
        scene, body = self.scene, self.body
        scene.set_joint_positions(body, self.joints, q)
        for held, link, rel_pos, rel_orn in self._grip:
            lp, lo = (np.asarray(v, dtype=np.float64) for v in scene.link_pose(body, link))
            scene.set_body_pose(held, (lp + tf.quat_rotate(lo, rel_pos)).tolist(), tf.quat_mul(lo, rel_orn).tolist())
        for a, b in self._self_pairs:
            if scene.near(body, body, self.margin, a, b):
                return False
        for obstacle in self.obstacles:
            if scene.near(body, obstacle, self.margin):  # something of the body is close: which links?
                if any(scene.near(body, obstacle, self.margin, link) for link in self.links):
                    return False
            for held, *_ in self._grip:
                if held != obstacle and scene.near(held, obstacle, self.margin):
                    return False
        return True


def plan_joint_path(scene, robot, q_start: Sequence[float], q_goal: Sequence[float], obstacles: Sequence[int],
                    rng: np.random.Generator, hand: str | None = None, dofs: Sequence[int] | None = None,
                    margin: float = 0.01, attached: Sequence[int] = (), self_collision: bool = False,
                    settings: PlannerSettings = PlannerSettings()) -> Plan:
    """A collision-free joint path for a `flywheel.sim.robot.Robot` from `q_start` to `q_goal` (full joint vectors).

    Only the dofs of `hand`'s arm (`robot.ik_dofs(hand)`), or `dofs`, move; the others keep their `q_start` values.
    `attached`: bodies the hand holds (they move with its link and must miss the obstacles too). `self_collision`:
    also keep the moving links off the robot's other links (a humanoid's arm across its torso; slower). The path's
    waypoints are full joint vectors; pass them through `interpolate` for a controller."""
    q_start, q_goal = np.asarray(q_start, dtype=np.float64), np.asarray(q_goal, dtype=np.float64)
    if dofs is None:
        dofs = robot.ik_dofs(hand if hand is not None else robot.hands[0])
    dofs = np.asarray(dofs, dtype=np.int64)
    single = {jt.dof_slice.start for jt in robot.joints if jt.dof_slice.stop - jt.dof_slice.start == 1}
    missing = [int(d) for d in dofs if int(d) not in single]
    if missing:
        raise ValueError(f"dofs {missing} belong to spherical joints, which the planner does not handle")
    link = None
    if attached:
        link = robot.ee_links[robot.ee_names.index(hand if hand is not None else robot.hands[0])]
    checker = JointSpaceChecker(scene, robot.body, _single_dof_joints(robot, dofs), obstacles, margin,
                                [(b, link) for b in attached], self_collision)
    with checker.session():
        plan = rrt_connect(q_start[dofs], q_goal[dofs], robot.lower[dofs], robot.upper[dofs], checker, rng, settings)
    if plan.path is not None:
        full = []
        for sub in plan.path:
            q = q_start.copy()
            q[dofs] = sub
            full.append(q)
        plan.path = full
    return plan


def _single_dof_joints(robot, dofs: np.ndarray) -> list[int]:
    joint_of = {jt.dof_slice.start: jt.index for jt in robot.joints if jt.dof_slice.stop - jt.dof_slice.start == 1}
    return [joint_of[int(d)] for d in dofs]


def solve_ik(scene, robot, hand: str, target_pos: Sequence[float], target_orn: Sequence[float] | None = None,
             q_seed: Sequence[float] | None = None, iterations: int = 300,
             tolerance: float = 0.003) -> np.ndarray | None:
    """A full joint vector that puts `hand`'s tool point at `target_pos` (and `target_orn`, for 6-dof arms) within
    `tolerance` m, or None. `robot.ik_step` iterated on teleported joints inside a saved state: the world, and the
    motors' targets, are as they were afterwards. Deterministic: no random restarts."""
    q = np.asarray(robot.joint_state()[0] if q_seed is None else q_seed, dtype=np.float64).copy()
    dofs = robot.ik_dofs(hand)
    joints = _single_dof_joints(robot, dofs)
    target_pos = np.asarray(target_pos, dtype=np.float64)
    orn = None if target_orn is None else np.asarray(target_orn, dtype=np.float64)
    with scene.saved_state():
        for _ in range(iterations):
            scene.set_joint_positions(robot.body, joints, q[dofs])
            pos, cur = robot.ee_world_pose(hand)
            if np.linalg.norm(pos - target_pos) < tolerance and (
                    orn is None or len(dofs) < 6 or np.linalg.norm(tf.orientation_error(cur, orn)) < 10 * tolerance):
                return q
            q = robot.ik_step(q, hand, target_pos, orn, pose=(pos, cur))
    return None


def plan_to_pose(scene, robot, hand: str, target_pos: Sequence[float], target_orn: Sequence[float] | None,
                 obstacles: Sequence[int], rng: np.random.Generator, q_start: Sequence[float] | None = None,
                 **kwargs) -> Plan:
    """`solve_ik` for the goal, then `plan_joint_path` from `q_start` (default: the robot's joints now)."""
    q_start = np.asarray(robot.joint_state()[0] if q_start is None else q_start, dtype=np.float64)
    q_goal = solve_ik(scene, robot, hand, target_pos, target_orn, q_seed=q_start)
    if q_goal is None:
        return Plan(None, "no joint configuration reaches the target pose (inverse kinematics did not converge)")
    return plan_joint_path(scene, robot, q_start, q_goal, obstacles, rng, hand=hand, **kwargs)
