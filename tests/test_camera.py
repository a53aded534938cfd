"""Cameras in the env, without Ray: the camera rate (only kept frames are rendered, the frames in between repeat),
the renderer choice (TinyRenderer here, where there is no GPU), simplified visual meshes (physics bit for bit
unchanged, pictures close), robot-mounted cameras placed by rule, segmentation, and visual randomisation
(deterministic per seed, physics untouched)."""
import dataclasses
import math

import numpy as np
import pytest

from flywheel import robots
from flywheel.sim.env import RobotTaskEnv
from flywheel.sim.rendering import renderer as rendering
from flywheel.sim.rendering.meshes import render_spec, triangle_count
from flywheel.sim.rendering.mounts import mounted_cameras


def _rollout(env, seed, steps):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    zero = np.zeros(env.action_space.shape, np.float32)
    for _ in range(steps):
        obs, *_ = env.step(zero)
        out.append(obs)
    return out


def test_camera_hz_renders_only_kept_frames_and_repeats_between():
    env = RobotTaskEnv("panda", "reach", camera="front", camera_size=32, camera_hz=5)  # control 20 Hz: every 4th step
    calls = []
    render = env.cameras.render
    env.cameras.render = lambda: calls.append(1) or render()
    steps = 10
    obs = _rollout(env, 0, steps)
    env.close()
    assert len(calls) == math.ceil((steps + 1) / 4)  # observations 0, 4, 8 rendered
    frames = [o["images"]["front"] for o in obs]
    for t in range(steps + 1):
        np.testing.assert_array_equal(frames[t], frames[t - t % 4])


def test_renderer_falls_back_to_tinyrenderer_without_a_gpu(monkeypatch):
    monkeypatch.delenv(rendering.ENV_VAR, raising=False)
    if rendering.gpu_present():
        pytest.skip("this machine has a GPU: the automatic choice is EGL")
    assert rendering.choose_renderer() == rendering.TINY
    monkeypatch.setenv(rendering.ENV_VAR, "tiny")
    assert rendering.choose_renderer() == rendering.TINY
    with pytest.raises(ValueError, match="FLYWHEEL_RENDERER='vulkan' is not a renderer"):
        rendering.choose_renderer("vulkan")
    env = RobotTaskEnv("panda", "reach", camera="front", camera_size=16)
    assert env.cameras.renderer.name == rendering.TINY
    env.close()


def test_simplified_meshes_keep_physics_and_pictures(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path))
    spec = robots.get("panda")
    simple = render_spec(spec, 8000)
    assert simple.model_path() != spec.model_path()
    assert triangle_count(simple.model_path()) <= 8800 < triangle_count(spec.model_path())
    assert render_spec(spec, 8000).model_path() == simple.model_path()  # cached
    stock = RobotTaskEnv("panda", "pick_place", camera="front", camera_size=64, visual_triangles=None)
    light = RobotTaskEnv("panda", "pick_place", camera="front", camera_size=64, visual_triangles=8000)
    state = RobotTaskEnv("panda", "pick_place")
    a, b, c = (_rollout(e, 5, 6) for e in (stock, light, state))
    for e in (stock, light, state):
        e.close()
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(y["state"], z["state"])
        np.testing.assert_array_equal(x["state"], y["state"])
        assert np.abs(x["images"]["front"].astype(int) - y["images"]["front"]).mean() < 4


def test_mounted_cameras_by_rule_for_robots_without_cameras():
    for name, expected in (("panda", {"wrist"}), ("flywheel_humanoid", {"head", "right_wrist", "left_wrist"})):
        spec = dataclasses.replace(robots.get(name), cameras=())
        env = RobotTaskEnv(spec, "pick_place")
        cams = mounted_cameras(spec, env.robot)
        env.close()
        assert {c.name for c in cams} == expected
        env = RobotTaskEnv(spec, "pick_place", camera=sorted(expected), camera_size=48, segmentation=True)
        obs, _ = env.reset(seed=1)
        for cam in expected:  # each sees something: not one flat colour, and more than the background
            assert obs["images"][cam].std() > 3
            assert len(np.unique(obs["segmentation"][cam])) >= 2
        env.close()
    own = robots.get("flywheel_humanoid")  # a spec's own cameras win over the rule
    env = RobotTaskEnv(own, "pick_place")
    assert [c for c in mounted_cameras(own, env.robot) if c.name == "head"] == [c for c in own.cameras if c.name == "head"]
    env.close()


def test_segmentation_marks_the_robot_and_the_objects():
    env = RobotTaskEnv("panda", "pick_place", camera="front", camera_size=96, segmentation=True)
    obs, _ = env.reset(seed=2)
    seg = obs["segmentation"]["front"]
    assert seg.dtype == np.int32 and seg.shape == (96, 96)
    assert env.robot.body in set(np.unique(seg).tolist())
    assert env.observation_space["segmentation"]["front"].contains(seg)
    env.close()


def test_visual_randomisation_is_deterministic_per_seed_and_leaves_physics_alone():
    kw = dict(camera="front", camera_size=48, visual_randomization=True)
    a, b = RobotTaskEnv("panda", "pick_place", **kw), RobotTaskEnv("panda", "pick_place", **kw)
    plain = RobotTaskEnv("panda", "pick_place", camera="front", camera_size=48)
    _rollout(b, 99, 2)  # b has a different history: the look must not depend on it
    ra, rb, rp = _rollout(a, 7, 3), _rollout(b, 7, 3), _rollout(plain, 7, 3)
    assert a.unwrapped.visual_draw == b.unwrapped.visual_draw
    for x, y, z in zip(ra, rb, rp):
        np.testing.assert_array_equal(x["images"]["front"], y["images"]["front"])
        np.testing.assert_array_equal(x["state"], z["state"])
        np.testing.assert_array_equal(x["environment_state"], z["environment_state"])
    assert np.abs(ra[0]["images"]["front"].astype(int) - rp[0]["images"]["front"]).mean() > 5
    draw7 = a.visual_draw
    _rollout(a, 8, 0)
    assert a.visual_draw != draw7 and set(draw7) == {"floor", "fixtures", "objects", "light", "camera_jitter"}
    for e in (a, b, plain):
        e.close()


def test_links_named_like_cameras_get_a_camera():
    from types import SimpleNamespace

    spec = dataclasses.replace(robots.get("panda"), cameras=())
    fake = SimpleNamespace(link_index={"base": -1, "d435_cam": 2, "front_camera_link": 3, "camera_color_optical_frame": 4},
                           hands=[])
    cams = {c.name: c for c in mounted_cameras(spec, fake)}
    assert set(cams) == {"d435_cam", "front_camera_link"}  # optical frames are not camera mounts
    assert cams["front_camera_link"].link == "front_camera_link" and cams["front_camera_link"].target == (1.0, 0.0, 0.0)
