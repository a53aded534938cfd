"""Visual randomisation for cameras, seeded per episode and never touching physics.

What changes per episode: the floor's and the fixtures' (static colliding bodies: tables, shelves) colours and
procedural textures (checkers, stripes, value noise from a fixed bank made once per env), the objects' shades
(hue kept within a few degrees: instructions name colours, "the red cube"), the light's direction, intensity and
ambient/diffuse/specular mix, and each camera's eye and target (a few centimetres). Colours, textures and light
are visual-only in PyBullet and camera poses only move the picture, so an episode's numeric columns are bit for
bit those of the same seed without randomisation.

Why a stream of its own: the draws come from ``default_rng([STREAM, seed])``, not from the env's ``np_random``,
so turning randomisation on or off never shifts the physics draws of an episode, and episode k of a collection
(seed S+k) gets the same look in any worker, on resume and in `replay --camera`. `VisualRandomization.to_dict`
is what datasets record (``meta/flywheel.json`` → ``config.visual_randomization``).
"""
from __future__ import annotations

import colorsys
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pybullet as p

from flywheel.sim.camera import CameraRig, Light

STREAM = 0x56495355  # "VISU": the visual draws' own random stream, beside the env's
TEXTURE_BANK_SEED = 2026
TEXTURE_SIZE = 64


@dataclass(frozen=True)
class VisualRandomization:
    """What is randomised and by how much (the record a dataset keeps)."""

    floor_and_fixture_colors: bool = True
    textures: int = 8  # procedural textures in the bank (0: colours only); a surface is textured half the time
    object_hue_deg: float = 8.0  # objects keep their named colour: hue within +-this, saturation and value 0.75-1.15x
    light: bool = True  # direction over the upper hemisphere, intensity 0.7-1.0, ambient 0.4-0.8, diffuse 0.2-0.6
    camera_jitter_m: float = 0.02  # eye and target offsets per axis, uniform in +-this (metres)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stream": "numpy default_rng([0x56495355, episode seed])",
                "texture_bank_seed": TEXTURE_BANK_SEED}

    @classmethod
    def from_value(cls, value: "bool | dict | VisualRandomization | None") -> "VisualRandomization | None":
        """None/False: off; True: the defaults; a dict of fields (ValueError naming an unknown field)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in ("stream", "texture_bank_seed")}  # to_dict's notes
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                raise ValueError(f"visual_randomization: unknown field(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
            return cls(**value)
        raise ValueError(f"visual_randomization must be true, false or a table of settings, got {value!r}")


def episode_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([STREAM, int(seed) & 0xFFFFFFFFFFFFFFFF])


# ---- the texture bank ------------------------------------------------------------------------------
def _texture(rng: np.random.Generator, kind: int) -> np.ndarray:
    n = TEXTURE_SIZE
    a, b = rng.integers(40, 230, size=3), rng.integers(40, 230, size=3)
    y, x = np.mgrid[0:n, 0:n]
    if kind == 0:  # checker
        cell = int(rng.choice([4, 8, 16]))
        mask = ((x // cell + y // cell) % 2).astype(bool)
    elif kind == 1:  # stripes
        cell = int(rng.choice([4, 8, 16]))
        mask = ((x + (y if rng.random() < 0.5 else 0)) // cell % 2).astype(bool)
    else:  # value noise: a coarse random grid, upsampled
        coarse = rng.random((8, 8))
        fine = np.kron(coarse, np.ones((n // 8, n // 8)))
        img = (a[None, None, :] * fine[..., None] + b[None, None, :] * (1 - fine[..., None]))
        return img.astype(np.uint8)
    return np.where(mask[..., None], a[None, None, :], b[None, None, :]).astype(np.uint8)


def _write_tga(path: Path, rgb: np.ndarray) -> None:
    """An uncompressed 24-bit TGA (stb_image, which PyBullet loads textures with, reads it; no image library needed)."""
    h, w, _ = rgb.shape
    header = bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, w & 255, w >> 8, h & 255, h >> 8, 24, 0x20])
    path.write_bytes(header + np.ascontiguousarray(rgb[..., ::-1]).tobytes())


def texture_bank(client: int, count: int) -> list[int]:
    """``count`` procedural textures loaded into ``client`` (the same bank in every process: a fixed seed)."""
    if count <= 0:
        return []
    rng = np.random.default_rng(TEXTURE_BANK_SEED)
    ids = []
    with tempfile.TemporaryDirectory(prefix="flywheel-textures-") as tmp:
        for k in range(count):
            path = Path(tmp) / f"texture-{k}.tga"
            _write_tga(path, _texture(rng, k % 3))
            ids.append(p.loadTexture(os.fspath(path), physicsClientId=client))
    return ids


# ---- per-episode application ----------------------------------------------------------------------------
def _classify(client: int, robot_body: int, floor: int) -> tuple[list[int], list[tuple[int, tuple]]]:
    """(fixtures, objects with their original colour): static colliding bodies are fixtures, the rest objects."""
    fixtures, objects = [], []
    for k in range(p.getNumBodies(physicsClientId=client)):
        body = p.getBodyUniqueId(k, physicsClientId=client)
        if body in (robot_body, floor):
            continue
        shapes = p.getVisualShapeData(body, physicsClientId=client)
        if not shapes:
            continue
        mass = p.getDynamicsInfo(body, -1, physicsClientId=client)[0]
        colliding = bool(p.getCollisionShapeData(body, -1, physicsClientId=client))
        if mass == 0 and colliding:
            fixtures.append(body)
        else:
            objects.append((body, tuple(shapes[0][7])))
    return fixtures, objects


class VisualRandomizer:
    """Applies one episode's draws to a scene and a camera rig; returns what it drew (plain data)."""

    def __init__(self, client: int, robot_body: int, floor: int, rig: CameraRig, settings: VisualRandomization):
        self.client, self.rig, self.settings = client, rig, settings
        self.floor = floor
        self.fixtures, self.objects = _classify(client, robot_body, floor)
        self.textures = texture_bank(client, settings.textures)

    def _surface(self, rng, body: int) -> dict[str, Any]:
        color = [float(c) for c in rng.uniform(0.25, 0.95, size=3)] + [1.0]
        texture = int(rng.integers(len(self.textures))) if self.textures and rng.random() < 0.5 else -1
        p.changeVisualShape(body, -1, rgbaColor=color, physicsClientId=self.client,
                            textureUniqueId=self.textures[texture] if texture >= 0 else -1)
        return {"color": [round(c, 4) for c in color[:3]], "texture": texture}

    def apply(self, seed: int) -> dict[str, Any]:
        s, rng, cid = self.settings, episode_rng(seed), self.client
        drawn: dict[str, Any] = {}
        if s.floor_and_fixture_colors:
            drawn["floor"] = self._surface(rng, self.floor)
            drawn["fixtures"] = [self._surface(rng, b) for b in self.fixtures]
        shades = []
        for body, (r, g, b, a) in self.objects:
            h, sat, val = colorsys.rgb_to_hsv(r, g, b)
            h = (h + rng.uniform(-s.object_hue_deg, s.object_hue_deg) / 360.0) % 1.0
            sat, val = min(1.0, sat * rng.uniform(0.75, 1.15)), min(1.0, val * rng.uniform(0.75, 1.15))
            color = list(colorsys.hsv_to_rgb(h, sat, val)) + [a]
            p.changeVisualShape(body, -1, rgbaColor=color, physicsClientId=cid)
            shades.append([round(c, 4) for c in color[:3]])
        drawn["objects"] = shades
        light = Light()
        if s.light:
            azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(30), np.radians(85))
            direction = (np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation), np.sin(elevation))
            intensity = rng.uniform(0.7, 1.0)
            light = Light(direction=tuple(round(float(v), 4) for v in direction),
                          color=(round(float(intensity), 4),) * 3, ambient=round(float(rng.uniform(0.4, 0.8)), 4),
                          diffuse=round(float(rng.uniform(0.2, 0.6)), 4), specular=round(float(rng.uniform(0.0, 0.2)), 4))
            drawn["light"] = asdict(light)
        jitter = {}
        if s.camera_jitter_m > 0:
            for name in self.rig.names():
                j = rng.uniform(-s.camera_jitter_m, s.camera_jitter_m, size=(2, 3))
                jitter[name] = (j[0], j[1])
            drawn["camera_jitter"] = {k: [np.round(v[0], 5).tolist(), np.round(v[1], 5).tolist()] for k, v in jitter.items()}
        self.rig.set_look(light, jitter)
        return drawn
