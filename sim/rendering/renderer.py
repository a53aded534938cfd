"""Which PyBullet renderer draws the cameras: EGL (OpenGL on the GPU, headless) where a GPU is present, else
TinyRenderer (CPU, always there).

Why automatic: TinyRenderer costs milliseconds per frame per camera on a CPU and is the bottleneck of camera
collection; EGL renders the same scene in a fraction of that, but only where a GPU (and its driver) exists. The
choice is made once per process: ``FLYWHEEL_RENDERER=tiny|egl|auto`` overrides it (``egl`` falls back to tiny,
with the reason, when the plugin cannot load). EGL images differ from TinyRenderer's (another rasteriser), so
the renderer is recorded with a dataset's camera settings.
"""
from __future__ import annotations

import glob
import os
from functools import lru_cache

import pybullet as p

TINY, EGL = "tiny", "egl"
ENV_VAR = "FLYWHEEL_RENDERER"


def gpu_present() -> bool:
    """A GPU device node this process could render on (NVIDIA's or a DRM render node)."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dri/renderD*"))


@lru_cache(maxsize=None)
def egl_plugin_path() -> str | None:
    """The EGL renderer plugin PyBullet's wheel ships (``eglRenderer``), or None."""
    import importlib.util

    spec = importlib.util.find_spec("eglRenderer")
    return spec.origin if spec is not None and spec.origin else None


def choose_renderer(requested: str | None = None) -> str:
    """``tiny`` or ``egl``: ``requested`` or ``$FLYWHEEL_RENDERER`` (``auto`` by default: EGL when a GPU is present
    and the plugin exists, TinyRenderer otherwise). ValueError for an unknown name."""
    name = (requested or os.environ.get(ENV_VAR) or "auto").lower()
    if name not in ("auto", TINY, EGL):
        raise ValueError(f"{ENV_VAR}={name!r} is not a renderer; use tiny, egl or auto")
    if name == TINY:
        return TINY
    if name == EGL or gpu_present():
        return EGL if egl_plugin_path() else TINY
    return TINY


class RendererHandle:
    """The renderer of one PyBullet client: loads the EGL plugin into it when EGL is chosen (falling back to
    TinyRenderer if loading fails) and unloads it on `close`."""

    def __init__(self, client: int, requested: str | None = None):
        self.client = client
        self.name = choose_renderer(requested)
        self.plugin = -1
        self.fallback_reason: str | None = None
        if self.name == EGL:
            self.plugin = p.loadPlugin(egl_plugin_path(), "_eglRendererPlugin", physicsClientId=client)
            if self.plugin < 0:
                self.name, self.fallback_reason = TINY, "the EGL renderer plugin did not load (no usable GPU driver)"

    @property
    def pybullet_renderer(self) -> int:
        return p.ER_BULLET_HARDWARE_OPENGL if self.name == EGL else p.ER_TINY_RENDERER

    def close(self) -> None:
        if self.plugin >= 0:
            try:
                p.unloadPlugin(self.plugin, physicsClientId=self.client)
            except p.error:
                pass
            self.plugin = -1
