"""Cameras: RGB, depth and segmentation per camera, rendered by TinyRenderer (CPU) or EGL (GPU, chosen
automatically, see `flywheel.sim.rendering.renderer`).

What is reused between frames: every projection matrix, and the view matrix of every world camera (recomputed
once per episode, after the episode's pose jitter); only cameras on a moving link recompute their view per
frame. The light (direction, colour, intensity) is set per episode by visual randomisation and passed with
every frame. Only frames that are kept are rendered: the env calls `render` at the camera rate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pybullet as p

from flywheel.robots.spec import Camera
from flywheel.sim import transforms as tf
from flywheel.sim.rendering.renderer import RendererHandle


@dataclass
class RenderedCamera:
    spec: Camera
    link_index: int | None  # None: fixed in the world
    projection: list
    view: list | None  # cached for world cameras
    jitter: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(3), np.zeros(3)))  # eye, target


@dataclass
class Light:
    """TinyRenderer's light, as getCameraImage takes it (None: PyBullet's default)."""

    direction: tuple[float, float, float] | None = None
    color: tuple[float, float, float] | None = None
    ambient: float | None = None
    diffuse: float | None = None
    specular: float | None = None

    def kwargs(self) -> dict:
        out = {}
        if self.direction is not None:
            out["lightDirection"] = list(self.direction)
        if self.color is not None:
            out["lightColor"] = list(self.color)
        if self.ambient is not None:
            out["lightAmbientCoeff"] = float(self.ambient)
        if self.diffuse is not None:
            out["lightDiffuseCoeff"] = float(self.diffuse)
        if self.specular is not None:
            out["lightSpecularCoeff"] = float(self.specular)
        return out


class CameraRig:
    def __init__(self, client: int, body: int, cameras: list[Camera], link_index: dict[str, int], depth: bool = False,
                 segmentation: bool = False, renderer: str | None = None):
        self.client, self.body, self.depth, self.segmentation = client, body, depth, segmentation
        self.renderer = RendererHandle(client, renderer)
        self.light = Light()
        self._light_kwargs: dict = {}
        self.cameras = []
        for cam in cameras:
            projection = p.computeProjectionMatrixFOV(cam.fov, cam.width / cam.height, cam.near, cam.far)
            link = link_index[cam.link] if cam.link else None
            view = None if link is not None else p.computeViewMatrix(cam.position, cam.target, cam.up)
            self.cameras.append(RenderedCamera(cam, link, projection, view))

    def names(self) -> list[str]:
        return [c.spec.name for c in self.cameras]

    def set_look(self, light: Light | None = None, jitter: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """One episode's light and per-camera (eye, target) offsets in metres (world cameras: world frame; cameras
        on a link: the link's frame). World cameras' views are recomputed here, once for the episode."""
        self.light = light or Light()
        self._light_kwargs = self.light.kwargs()
        jitter = jitter or {}
        for cam in self.cameras:
            eye, target = jitter.get(cam.spec.name, (np.zeros(3), np.zeros(3)))
            cam.jitter = (np.asarray(eye, float), np.asarray(target, float))
            if cam.link_index is None:
                s = cam.spec
                cam.view = p.computeViewMatrix((np.asarray(s.position) + cam.jitter[0]).tolist(),
                                               (np.asarray(s.target) + cam.jitter[1]).tolist(), s.up)

    def _view(self, cam: RenderedCamera) -> list:
        if cam.view is not None:
            return cam.view
        if cam.link_index == -1:
            pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        else:
            st = p.getLinkState(self.body, cam.link_index, computeForwardKinematics=1, physicsClientId=self.client)
            pos, orn = st[4], st[5]
        pos, orn = np.asarray(pos), np.asarray(orn)
        eye = pos + tf.quat_rotate(orn, np.asarray(cam.spec.position) + cam.jitter[0])
        target = pos + tf.quat_rotate(orn, np.asarray(cam.spec.target) + cam.jitter[1])
        up = tf.quat_rotate(orn, np.asarray(cam.spec.up))
        return p.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())

    def render(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """RGB images (uint8 H x W x 3) and, when asked, depth in metres (float32 H x W x 1) and segmentation
        (int32 H x W: the PyBullet body id seen at each pixel, -1 for background)."""
        rgb, depth, seg = {}, {}, {}
        flags = 0 if self.segmentation else p.ER_NO_SEGMENTATION_MASK
        renderer = self.renderer.pybullet_renderer
        for cam in self.cameras:
            s = cam.spec
            _, _, pixels, zbuf, mask = p.getCameraImage(s.width, s.height, self._view(cam), cam.projection,
                                                        renderer=renderer, flags=flags, physicsClientId=self.client,
                                                        **self._light_kwargs)
            rgb[s.name] = np.asarray(pixels, dtype=np.uint8).reshape(s.height, s.width, 4)[:, :, :3].copy()
            if self.depth:
                z = np.asarray(zbuf, dtype=np.float32).reshape(s.height, s.width, 1)
                depth[s.name] = (s.far * s.near / (s.far - (s.far - s.near) * z)).astype(np.float32)
            if self.segmentation:
                seg[s.name] = np.asarray(mask, dtype=np.int32).reshape(s.height, s.width).copy()
        return rgb, depth, seg

    def render_uncached(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The rendering baseline `flywheel bench` compares `render` with: every frame recomputes the view and
        projection matrices and reads back the full TinyRenderer image, segmentation mask included. RGB only."""
        rgb = {}
        for cam in self.cameras:
            s = cam.spec
            view = p.computeViewMatrix(s.position, s.target, s.up) if cam.link_index is None else self._view(cam)
            projection = p.computeProjectionMatrixFOV(s.fov, s.width / s.height, s.near, s.far)
            _, _, pixels, _, _ = p.getCameraImage(s.width, s.height, view, projection, renderer=p.ER_TINY_RENDERER,
                                                  physicsClientId=self.client)
            rgb[s.name] = np.asarray(pixels, dtype=np.uint8).reshape(s.height, s.width, 4)[:, :, :3].copy()
        return rgb, {}, {}

    def close(self) -> None:
        self.renderer.close()
