"""Infer a `RobotSpec` from a URDF: every value is a guess with a reason, written next to it in the spec.

What is inferred, and from what:

* **actuated joints**: revolute, continuous, prismatic and spherical joints; fixed, floating and planar
  joints and joints whose limits have zero range stay passive; joints with a URDF ``<mimic>`` tag follow
  their leader through the spec's ``[mimic]`` table instead of being commanded.
* **kind**: from the kinematic tree: its tips (leaf links), the names along the chains that lead to
  them (leg, foot, wheel, finger, hand...) and where the tips are in the zero pose.
* **end-effectors**: hands are the tips of spatial chains (three or more joints that move a point in
  3-D); a hand with fingers is the link the finger joints branch from, its tool centre between the
  fingertips. Feet are the tips of legs. Left and right come from names, else from the side the tip is on.
* **grippers**: the joints below a hand; open is the limit that spreads the fingertips apart.
* **home**: inside the limits; arms get a ready pose found by searching for the pose from which the
  reach task's targets are reachable; legged robots stand with each foot under its hip, and the base
  height comes from the lowest point of the collision shapes in that pose.
* **gains**: force limits from the URDF's effort limits, or from the gravity load of the links each
  joint carries when the URDF gives none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.robots.spec import KINDS
from flywheel.robots.urdf import URDFModel, matrix_to_quat
from flywheel.robots.infer_parts import (_arm_joints, _fingertips, _generic_rank, _glob_escape, _gripper, _hand_of,
                                         _is_finger_joint, _min_rotation, _quat_from_axes, _snap, _Tip, _tips, _trunk)
from flywheel.robots.infer_poses import (GRAVITY, REACH_BOX, _gravity_load, _lever, _link_lows_geometry, _pb_mass,
                                         _quat_matrix, _ready_pose, _standing_pose, link_lows)
from flywheel.robots.hands import power_grasp
from flywheel.robots.kinematic_chain import Chain
from flywheel.robots.limbs import leg_groups as leg_groups_of, one_hand_per_limb
from flywheel.robots.naming import (ARM_WORDS, FINGER_WORDS, HAND_WORDS, HEAD_WORDS, LEG_WORDS, WHEEL_WORDS, front_of,
                                    SENSOR_WORDS, has_word, side_of, spec_name)

ARM_KP, LEG_KP, DEFAULT_KD = 0.3, 0.5, 1.0
EFFORT_MARGIN = 5.0  # force limit / static gravity load when the URDF gives no effort: PyBullet's motors need headroom

@dataclass
class Guess:
    field: str  # the spec field it is about ("kind", "home", "end_effectors.right_hand", ...)
    text: str


@dataclass
class Inference:
    model: URDFModel
    spec: dict[str, Any]  # what spec_from_dict takes (and the TOML writer writes)
    guesses: list[Guess] = field(default_factory=list)

    def notes_for(self, prefix: str) -> list[str]:
        return [g.text for g in self.guesses if g.field == prefix]



def infer_spec(model: URDFModel, name: str | None = None, kind: str | None = None,
               fixed_base: bool | None = None, compute_base_height: bool = True,
               inertia_from_file: bool = True) -> Inference:
    """The spec flywheel guesses for `model`, with a note for every guess (see the module docstring)."""
    guesses: list[Guess] = []

    def guess(field_name: str, text: str) -> None:
        guesses.append(Guess(field_name, text))

    for note in model.notes:
        guess("model", note)

    # -- joints -------------------------------------------------------------------------------------
    actuated, mimic, passive = [], {}, []
    for j in model.topological_joints:
        if not j.movable:
            if j.type in ("floating", "planar"):
                passive.append(j.name)
                guess("joints", f"{j.name}: a {j.type} joint cannot be driven by a PyBullet motor; left passive")
            continue
        if j.zero_range:
            passive.append(j.name)
            guess("joints", f"{j.name}: limits have zero range ({j.lower:g}); treated as fixed, not actuated")
            continue
        if j.mimic is not None:
            leader, mult, off = model.resolve_mimic(j.name)
            lj = model.joints[leader]
            if lj.movable and not lj.zero_range and lj.type != "spherical" and j.type in ("revolute", "prismatic", "continuous"):
                mimic[j.name] = {"joint": leader, "multiplier": mult, "offset": off}
                continue
            guess("joints", f"{j.name}: mimics {j.mimic.joint!r}, which is not actuated; actuated on its own instead")
        actuated.append(j)
    actuated_names = [j.name for j in actuated]
    limits = {j.name: j.range() for j in model.joints.values()}
    q_zero = {j.name: float(np.clip(0.0, *j.range())) for j in actuated if j.type != "spherical"}
    guess("joints", f"{len(actuated)} actuated joint(s) in tree order"
          + (f"; {len(mimic)} mimic joint(s) follow their leaders through [mimic]" if mimic else "")
          + (f"; passive: {', '.join(passive)}" if passive else ""))
    continuous = [j.name for j in actuated if j.type == "continuous"]
    if continuous:
        shown = ", ".join(continuous[:4]) + (f" and {len(continuous) - 4} more" if len(continuous) > 4 else "")
        guess("joints", f"{len(continuous)} continuous joint(s) ({shown}): commanded within [-pi, pi]")
    for j in actuated:
        if j.type in ("revolute", "prismatic") and not j.limited:
            lo, hi = j.range()
            guess("joints", f"{j.name}: no limits in the URDF; commanded within [{lo:g}, {hi:g}]")

    # -- the tree: tips, legs, wheels, hands -------------------------------------------------------
    poses = model.fk(q_zero)
    tips = _tips(model, poses)
    root_pos = poses[model.root][:3, 3]
    wheels = [j for j in actuated if j.type == "continuous" and (
        has_word([j.name, j.child], WHEEL_WORDS)
        or (model.links[j.child].collisions and all(g.kind in ("cylinder", "sphere") for g in model.links[j.child].collisions)
            and not model.child_joints[j.child] and not has_word([j.name, j.child], LEG_WORDS + FINGER_WORDS)))]
    wheel_links = {j.child for j in wheels}
    trunk = _trunk(model)
    pinned = model.root.lower() in ("world", "world_link", "map") and model.links[model.root].mass == 0
    # Legs: from the tree first (chains from the body down to the lowest links), names second (flywheel.robots.limbs).
    leg_groups, legs_how = leg_groups_of(model, poses, tips, wheel_links, floating=fixed_base is not True and not pinned)
    n_legs = len(leg_groups)

    # Down: where the feet (or wheels) are, relative to the base. URDFs are meant to be z-up, not all are.
    down = np.array([0.0, 0.0, -1.0])
    ground_points = [g[0].position for g in leg_groups.values()]
    if len(ground_points) >= 2:
        dirs = [(p - root_pos) / np.linalg.norm(p - root_pos) for p in ground_points if np.linalg.norm(p - root_pos) > 1e-6]
        mean = np.mean(dirs, axis=0) if dirs else np.zeros(3)
        consistent = len(dirs) == len(ground_points) and all(float(d @ mean) > 0.6 * np.linalg.norm(mean) for d in dirs)
        if consistent and np.linalg.norm(mean) > 0.6 and float(mean @ np.array([0, 0, -1.0])) < 0.7 * np.linalg.norm(mean):
            down = _snap(mean / np.linalg.norm(mean))

    # Kind.
    if kind is None:
        if n_legs >= 4:
            kind, why = "quadruped", f"{n_legs} legs ({', '.join(sorted(t.link for g in leg_groups.values() for t in g[:1]))})"
        elif n_legs in (2, 3) and len(wheels) < 2:
            kind, why = "humanoid", f"{n_legs} legs ({', '.join(sorted(t.link for g in leg_groups.values() for t in g[:1]))})"
        if kind in ("quadruped", "humanoid"):
            why += f", found from {legs_how}"
        elif len(wheels) >= 2:
            kind, why = "mobile", f"{len(wheels)} wheel joint(s): {', '.join(j.name for j in wheels)}"
        else:
            kind, why = None, ""
        if kind is None:
            fingers = {j.name for j in model.topological_joints if _is_finger_joint(model, j)}
            below_finger = set()
            for j in model.topological_joints:  # parents first
                if j.name in fingers or (j.parent in model.parent_joint and model.parent_joint[j.parent].name in below_finger):
                    below_finger.add(j.name)
            finger_tips = [t for t in tips if any(j.name in fingers for j in t.chain)]
            arm_dofs = [j for j in actuated if j.name not in below_finger]
            if finger_tips and len(arm_dofs) < 3:
                kind, why = "hand", f"finger joints ({', '.join(t.link for t in finger_tips)}) and no arm"
            else:
                kind, why = "arm", "a fixed chain of joints with no legs or wheels"
        guess("kind", f"{kind}: {why}")
    elif kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    else:
        guess("kind", f"{kind}: given on the command line")

    # Base: fixed for arms and hands and for URDFs pinned to a 'world' link.
    if fixed_base is None:
        fixed_base = pinned or kind in ("arm", "hand")
        guess("fixed_base", f"{'fixed' if fixed_base else 'floating'}: "
              + ("the URDF's root link is 'world'" if pinned else f"{kind}s are usually "
                 + ("bolted down" if fixed_base else "free to move")))
    else:
        guess("fixed_base", f"{'fixed' if fixed_base else 'floating'}: given on the command line")

    # Orientation: rotate a y-up (or otherwise tilted) model so its feet point down.
    orientation = np.array([0.0, 0.0, 0.0, 1.0])
    world_r = np.eye(3)
    if not np.allclose(down, [0, 0, -1]) and not fixed_base:
        fronts = [t.position for g in leg_groups.values() for t in g if front_of(t.names) == "front"]
        backs = [t.position for g in leg_groups.values() for t in g if front_of(t.names) == "back"]
        if fronts and backs:
            fwd = np.mean(fronts, axis=0) - np.mean(backs, axis=0)
            fwd = _snap(fwd - down * float(fwd @ down))
            if np.linalg.norm(fwd - down * float(fwd @ down)) > 1e-6:
                orientation = np.array(_quat_from_axes(fwd, -down))
        if orientation[3] == 1.0 and not orientation[:3].any():
            r = _min_rotation(down, np.array([0, 0, -1.0]))
            orientation = np.array(matrix_to_quat(r))
        world_r = _quat_matrix(orientation)
        guess("base_orientation", f"the feet point along {np.round(down, 3).tolist()} in the URDF's frame (not -z): "
              f"the base is turned by quaternion {np.round(orientation, 4).tolist()} so they point down")
    base_t = np.eye(4)
    base_t[:3, :3] = world_r

    def world(p):
        return world_r @ (np.asarray(p) - root_pos)

    # -- hands and grippers ------------------------------------------------------------------------
    leg_links = {t.link for g in leg_groups.values() for t in g}
    hands: list[dict[str, Any]] = []
    seen_hands = set()
    for t in tips:
        if t.link in leg_links or t.link in wheel_links or has_word(t.names[:2], WHEEL_WORDS):
            continue
        hand_link, gripper_joints = _hand_of(model, t, trunk, poses), []
        if hand_link != t.link:
            gripper_joints = [j.name for j in model.topological_joints
                              if j.parent in model.subtree(hand_link) and j.name in actuated_names and j.type != "spherical"]
        if hand_link in seen_hands:
            continue
        seen_hands.add(hand_link)
        names = []
        for j in reversed(model.chain(hand_link)):
            names += [j.child, j.name]
        arm = _arm_joints(model, hand_link, actuated_names)
        hands.append({"link": hand_link, "tip": t, "names": names or [hand_link], "arm": arm, "gripper": gripper_joints,
                      "spherical": any(j.type == "spherical" for j in model.chain(hand_link))})
    # Head and sensor tips are not hands.
    hands = [h for h in hands if not ((has_word(h["names"][:4], HEAD_WORDS) or has_word(h["names"][:2], SENSOR_WORDS))
                                      and not h["gripper"])]
    hands = one_hand_per_limb(model, poses, hands)

    q_home = dict(q_zero)
    grippers: dict[str, dict[str, Any]] = {}
    end_effectors: dict[str, dict[str, Any]] = {}
    hand_info: dict[str, dict[str, Any]] = {}

    # Which hands are usable: the arm moves the hand in 3-D (position Jacobian of rank 3).
    usable = []
    for h in hands:
        if h["link"] == model.root:
            guess("end_effectors", f"{h['link']}: the base link cannot be an end-effector in the runtime "
                  "(PyBullet keeps no link state for the base); add a fixed child link as the hand to use it")
            continue
        chain = Chain(model, h["link"], [a for a in h["arm"] if model.joints[a].type != "spherical"], base_t)
        rank = _generic_rank(chain, q_home, limits)
        if h["spherical"]:
            rank = 3  # ball joints move it in 3-D
        if rank >= 3 or (kind == "hand" and h["gripper"]):
            usable.append(h)
        else:
            guess("end_effectors", f"{h['link']}: not a hand: its {len(chain.dofs)} joint(s) move it in {rank} dimension(s) only")
    if kind in ("quadruped",) and usable:
        usable = [h for h in usable if has_word(h["names"], ARM_WORDS + FINGER_WORDS + HAND_WORDS)]
    usable.sort(key=lambda h: (-len(h["arm"]), h["link"]))
    distinct: list[dict[str, Any]] = []  # two tips of one gripper are one hand: keep a hand per arm
    for h in usable:
        if not any(set(h["arm"]) & set(o["arm"]) for o in distinct):
            distinct.append(h)
    usable = distinct + [h for h in usable if h not in distinct]
    # Sides: names first, then which side of the body the hand is on (+y is left in a z-up, x-forward frame).
    assigned: dict[str, dict[str, Any]] = {}
    for h in usable[:2]:
        side = side_of(h["names"])
        if side is None and len(usable) >= 2:
            side = "left" if world(poses[h["link"]][:3, 3])[1] > 0 else "right"
        slot = f"{side or 'right'}_hand"
        if slot in assigned:
            slot = "left_hand" if slot == "right_hand" else "right_hand"
        assigned[slot] = h
    assigned = {slot: assigned[slot] for slot in ("right_hand", "left_hand") if slot in assigned}
    for slot, h in assigned.items():
        info = {"link": h["link"]}
        if h["arm"]:
            info["ik_joints"] = h["arm"]
        hand_info[slot] = h
        end_effectors[slot] = info
        guess(f"end_effectors.{slot}", f"link {h['link']!r}: "
              + (f"where the finger joints branch ({', '.join(h['gripper'])})" if h["gripper"] else "the tip of the chain")
              + (f", moved by {len(h['arm'])} joint(s)" if h["arm"] else "")
              + (f"; side from {'names' if side_of(h['names']) else 'position'}" if len(assigned) > 1 else ""))
    for extra in usable[2:]:
        guess("end_effectors", f"{extra['link']}: a third hand-like tip; only right_hand and left_hand are canonical")

    for slot, h in hand_info.items():
        if not h["gripper"]:
            continue
        g = power_grasp(model, h["link"], _gripper(model, h, q_home, limits, mimic, actuated_names), q_home, limits)
        if not g["joints"]:
            continue
        grippers[slot] = {"joints": g["joints"], "open": g["open"], "closed": g["closed"]}
        for jn, value in zip(g["joints"], g["open"]):
            q_home[jn] = value
        if g["offset"] is not None:
            end_effectors[slot]["offset"] = [round(float(v), 4) + 0.0 for v in g["offset"]]
            guess(f"end_effectors.{slot}", f"offset {end_effectors[slot]['offset']}: the tool centre, between the fingertips "
                  f"({', '.join(g['tips'])}) when open")
        guess(f"grippers.{slot}", g["why"])

    # -- feet ----------------------------------------------------------------------------------------
    feet: dict[str, str] = {}
    if leg_groups:
        groups = sorted(leg_groups.values(), key=lambda g: g[0].link)
        feet_tips = [g[0] for g in groups]
        if kind == "quadruped":
            fronts = [t for t in feet_tips if front_of(t.names) == "front"] or \
                     sorted(feet_tips, key=lambda t: -float(world(t.position)[0]))[:2]
            candidates, label = fronts, "front feet (only two feet are canonical)"
        else:
            candidates, label = feet_tips, "leg tips"
        sides = {t.link: side_of(t.names) or ("left" if world(t.position)[1] > 0 else "right") for t in candidates[:2]}
        for t in sorted(candidates[:2], key=lambda t: sides[t.link] != "right"):
            side = sides[t.link]
            slot = f"{side}_foot"
            if slot in feet.values() or slot in end_effectors:
                continue
            end_effectors[slot] = {"link": t.link}
            feet[t.link] = slot
            guess(f"end_effectors.{slot}", f"link {t.link!r}: {label}")

    # -- home pose ------------------------------------------------------------------------------------
    home_note = "every joint at 0 (clipped into its limits)"
    if kind in ("quadruped", "humanoid") and leg_groups and not fixed_base:
        home_note = _standing_pose(model, leg_groups, q_home, limits, actuated_names, base_t)
    arm_slots = [s for s in end_effectors if s.endswith("_hand") and hand_info[s]["arm"] and not hand_info[s]["spherical"]]
    if arm_slots:  # arms, and the arms of humanoids and mobile manipulators
        arm_note = _ready_pose(model, [hand_info[s] for s in arm_slots], [end_effectors[s] for s in arm_slots],
                               q_home, limits, base_t)
        home_note = arm_note if home_note.startswith("every joint at 0") else f"{home_note}; {arm_note}"
    home = {}
    for j in actuated:
        if j.type == "spherical":
            continue
        value = float(np.clip(round(float(q_home.get(j.name, 0.0)), 4), *limits[j.name]))  # rounding stays inside
        if abs(value) > 1e-12:
            home[j.name] = value
    guess("home", home_note)

    # -- gains ---------------------------------------------------------------------------------------
    total_mass = sum(_pb_mass(model, l) for l in model.links if l != model.root or not fixed_base)
    gains_by_joint: dict[str, tuple[float, float, float]] = {}
    leg_joint_names = {j.name for g in leg_groups.values() for t in g for j in t.chain}
    missing_effort, low_effort = [], []
    all_poses = model.fk(q_home)
    for j in [*actuated, *(model.joints[f] for f in mimic)]:
        load = _gravity_load(model, j, all_poses)
        if j.name in leg_joint_names and not fixed_base and n_legs:
            load = max(load, total_mass * GRAVITY / n_legs * _lever(model, j, all_poses))
        if j.effort and j.effort > 0:
            force = float(j.effort)
            if force < load:
                low_effort.append(f"{j.name} ({force:g} < ~{load:.3g})")
        else:
            force = max(1.0, EFFORT_MARGIN * load)
            missing_effort.append(j.name)
        kp = LEG_KP if j.name in leg_joint_names else ARM_KP
        gains_by_joint[j.name] = (kp, DEFAULT_KD, float(f"{force:.4g}"))
    gains = []
    for values in sorted(set(gains_by_joint.values()), key=lambda v: (-v[2], v[0])):
        names = [n for n, v in gains_by_joint.items() if v == values]
        gains.append({"joints": [_glob_escape(n) for n in names], "kp": values[0], "kd": values[1], "max_force": values[2]})
    guess("gains", "max_force from the URDF's <limit effort>" + (
        f"; no effort given for {', '.join(missing_effort)}: {EFFORT_MARGIN:g}x the gravity load they carry" if missing_effort else "")
        + f"; kp {ARM_KP}" + (f" ({LEG_KP} for legs)" if leg_joint_names & set(gains_by_joint) else "") + f", kd {DEFAULT_KD}")
    if low_effort:
        guess("gains", "effort limits below the estimated gravity load (the hold check will tell): " + ", ".join(low_effort))

    # -- friction --------------------------------------------------------------------------------
    friction = []
    fingertip_links = sorted({t for slot in grippers for t in _fingertips(model, hand_info[slot]["link"])})
    if fingertip_links:
        friction.append({"links": fingertip_links, "lateral": 1.5, "spinning": 0.01})
        guess("friction", f"fingertips {', '.join(fingertip_links)}: lateral 1.5, spinning 0.01 so grasps hold")
    foot_links = sorted({g[0].link for g in leg_groups.values()})
    if foot_links and not fixed_base:
        friction.append({"links": foot_links, "lateral": 1.0})
        guess("friction", f"feet {', '.join(foot_links)}: lateral 1.0 so standing does not slip")

    # -- the spec, base height ----------------------------------------------------------------------
    spec: dict[str, Any] = {
        "name": name or spec_name(model),
        "description": f"Inferred by 'flywheel robots add' from {model.path.name}; every guess is commented, edit and run 'flywheel robots check'.",
        "model": str(model.path),
        "kind": kind,
        "fixed_base": bool(fixed_base),
        "joints": actuated_names,
    }
    if not inertia_from_file:
        spec["inertia_from_file"] = False
        guess("inertia_from_file", "false: PyBullet computes each link's inertia from its collision shapes (asked on the command line)")
    if not np.allclose(orientation, [0, 0, 0, 1]):
        spec["base_orientation"] = [round(float(v), 6) for v in orientation]
    moving = {l for j in model.joints.values() if j.movable for l in model.subtree(j.child)}
    if compute_base_height:
        lows, how = link_lows(model, spec.get("base_orientation", (0, 0, 0, 1)), q_home, mimic, inertia_from_file)
    else:
        lows, how = _link_lows_geometry(model, q_home, base_t), "from the primitive collision shapes in the home pose"
    low_all = min(lows.values(), default=0.0)
    low_moving = min((z for l, z in lows.items() if l in moving), default=0.0)
    # a hand must be able to go down to the reach task's lowest targets without its links hitting the floor
    hand_room = min((z for slot, h in hand_info.items() for l, z in lows.items() if l in model.subtree(h["link"])),
                    default=float("inf")) - REACH_BOX[2] - 0.01
    if not fixed_base:
        height = -low_all + 0.001
        spec["base_height"] = round(height, 4)
        guess("base_height", f"{height:.3f} m: the lowest point of the robot ({how}) touches the floor")
        if kind == "humanoid" and height > 2.2:
            guess("scale", f"the base stands {height:.2f} m high, tall for a humanoid: if the model is drawn at another "
                  "scale, add scale = <factor> to the spec (and run 'flywheel robots add' again to re-infer heights)")
    elif low_moving < -1e-4 or hand_room < 0:
        lift = round(max(-low_moving + 0.002, -hand_room), 4)
        spec["base_position"] = [0.0, 0.0, lift]
        why = (f"moving links reach {low_moving:.3f} m, under the floor" if low_moving < -1e-4 else
               f"the hand's links would hit the floor {REACH_BOX[2]:g} m below its home position")
        guess("base_position", f"raised {lift:.3f} m: in the home pose {why} ({how})")
    spec["home"] = home
    if end_effectors:
        spec["end_effectors"] = end_effectors
    if grippers:
        spec["grippers"] = grippers
    if mimic:
        spec["mimic"] = mimic
        guess("mimic", "from the URDF's <mimic> tags (PyBullet ignores them; the runtime drives followers)")
    spec["gains"] = gains
    if friction:
        spec["friction"] = friction
    if not end_effectors:
        guess("end_effectors", "none found: tasks that need a hand (reach, pick_place) will not accept this robot")
    guess("self_collision", "self-collision stays off (PyBullet's default), so adjacent links never collide")
    return Inference(model, spec, guesses)


