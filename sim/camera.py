"""Cameras rendered with PyBullet's TinyRenderer (CPU, works in DIRECT mode, no display needed).

View matrices of world cameras and every projection matrix are computed once; only cameras attached
to a moving link recompute their view per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as p

from flywheel.robots.spec import Camera
from flywheel.sim import transforms as tf


@dataclass
class RenderedCamera:
    spec: Camera
    link_index: int | None  # None: fixed in the world
    projection: list
    view: list | None  # cached for world cameras


class CameraRig:
    def __init__(self, client: int, body: int, cameras: list[Camera], link_index: dict[str, int], depth: bool = False):
        self.client, self.body, self.depth = client, body, depth
        self.cameras = []
        for cam in cameras:
            projection = p.computeProjectionMatrixFOV(cam.fov, cam.width / cam.height, cam.near, cam.far)
            link = link_index[cam.link] if cam.link else None
            view = None if link is not None else p.computeViewMatrix(cam.position, cam.target, cam.up)
            self.cameras.append(RenderedCamera(cam, link, projection, view))

    def names(self) -> list[str]:
        return [c.spec.name for c in self.cameras]

    def _view(self, cam: RenderedCamera) -> list:
        if cam.view is not None:
            return cam.view
        if cam.link_index == -1:
            pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        else:
            st = p.getLinkState(self.body, cam.link_index, computeForwardKinematics=1, physicsClientId=self.client)
            pos, orn = st[4], st[5]
        pos, orn = np.asarray(pos), np.asarray(orn)
        eye = pos + tf.quat_rotate(orn, np.asarray(cam.spec.position))
        target = pos + tf.quat_rotate(orn, np.asarray(cam.spec.target))
        up = tf.quat_rotate(orn, np.asarray(cam.spec.up))
        return p.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())

    def render(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """RGB images (uint8 H x W x 3) and, when asked, depth in metres (float32 H x W x 1)."""
        rgb, depth = {}, {}
        for cam in self.cameras:
            s = cam.spec
            flags = p.ER_NO_SEGMENTATION_MASK
            _, _, pixels, zbuf, _ = p.getCameraImage(s.width, s.height, self._view(cam), cam.projection,
                                                     renderer=p.ER_TINY_RENDERER, flags=flags, physicsClientId=self.client)
            rgb[s.name] = np.asarray(pixels, dtype=np.uint8).reshape(s.height, s.width, 4)[:, :, :3].copy()
            if self.depth:
                z = np.asarray(zbuf, dtype=np.float32).reshape(s.height, s.width, 1)
                depth[s.name] = (s.far * s.near / (s.far - (s.far - s.near) * z)).astype(np.float32)
        return rgb, depth

    def render_uncached(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The rendering baseline `flywheel bench` compares `render` with: every frame recomputes the view and
        projection matrices and reads back the full TinyRenderer image, segmentation mask included. RGB only."""
        rgb = {}
        for cam in self.cameras:
            s = cam.spec
            view = p.computeViewMatrix(s.position, s.target, s.up) if cam.view is not None else self._view(cam)
            projection = p.computeProjectionMatrixFOV(s.fov, s.width / s.height, s.near, s.far)
            _, _, pixels, _, _ = p.getCameraImage(s.width, s.height, view, projection, renderer=p.ER_TINY_RENDERER,
                                                  physicsClientId=self.client)
            rgb[s.name] = np.asarray(pixels, dtype=np.uint8).reshape(s.height, s.width, 4)[:, :, :3].copy()
        return rgb, {}
