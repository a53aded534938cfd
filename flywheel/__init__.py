"""flywheel: robot simulation turned into cross-embodiment training data.

The import name groups the project's folders (robots/, sim/, collectors/, datasets/, seeds/) as
subpackages so that nothing collides with other installed packages (a top-level ``datasets`` would
shadow Hugging Face's). Importing ``flywheel`` registers the Gymnasium ids ``flywheel/<Task>-v0``.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("flywheel")
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"


from flywheel.sim import registration as _registration  # gymnasium only: PyBullet loads with the first env

_registration.register_all()
