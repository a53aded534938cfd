"""The development corpus of humanoids: real models from `example-robot-data` plus variants of our generator.

`flywheel robots add` must turn any humanoid URDF into a robot that stands, reaches with both hands, grasps and
balances. This module names the models that promise is measured on (`scripts/humanoid_table.py` writes the README
table, `tests/test_humanoid_corpus.py` runs a few seeds of each). The real models come from the PyPI package
`example-robot-data` (a test extra; the corpus simply omits them where it is not installed); the variants are
written by `flywheel.robots.humanoid_urdf` into a folder the caller gives, so no network is needed at run time.
Nothing here is tuned per model: entries are a path and the package folder their `package://` URIs name.
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.robots.humanoid_urdf import generate_humanoid_urdf

ERD_DIST = "example-robot-data"
ERD_SHARE = "cmeel.prefix/share/example-robot-data"  # where the cmeel wheel installs the robots
# The humanoids example-robot-data ships, one URDF each (the reduced, box-free variants the package loads by default).
ERD_HUMANOIDS = {
    "talos": "robots/talos_data/robots/talos_reduced.urdf",
    "icub": "robots/icub_description/robots/icub_reduced.urdf",
    "romeo": "robots/romeo_description/urdf/romeo.urdf",
    "g1": "robots/g1_description/urdf/g1_29dof_with_hand_rev_1_0.urdf",
    "simple_humanoid": "robots/simple_humanoid_description/urdf/simple_humanoid.urdf",
}
# Generator variants: sizes, masses, arm degrees of freedom, hands and ankles a real humanoid may differ in.
GENERATED = {
    "gen_small": {"height": 1.3, "mass": 35.0},
    "gen_tall_heavy": {"height": 1.9, "mass": 90.0},
    "gen_arm6": {"arm_dof": 6},
    "gen_bare_hands": {"grippers": False},
    "gen_no_ankle_roll": {"ankle_roll": False},
}


@dataclass(frozen=True)
class CorpusRobot:
    name: str
    urdf: Path
    package_dirs: dict[str, Path] = field(default_factory=dict)  # package name -> folder, for `--package-dir`
    source: str = ""  # where it comes from, for the table

    def package_dir_args(self) -> list[str]:
        """`--package-dir NAME=PATH` values for `flywheel robots add`."""
        return [f"{k}={v}" for k, v in self.package_dirs.items()]


def erd_root() -> Path | None:
    """The installed `example-robot-data` share folder, or None when the package is absent."""
    try:
        dist = importlib.metadata.distribution(ERD_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    root = Path(str(dist.locate_file(ERD_SHARE)))
    return root if root.is_dir() else None


def erd_humanoids() -> list[CorpusRobot]:
    root = erd_root()
    if root is None:
        return []
    out = []
    for name, rel in ERD_HUMANOIDS.items():
        path = root / rel
        if path.is_file():
            out.append(CorpusRobot(name, path, {ERD_DIST: root}, f"example-robot-data {rel.split('/')[-1]}"))
    return out


def generated_humanoids(folder: Path) -> list[CorpusRobot]:
    """Write the generator variants into `folder` (deterministic text) and name them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, kwargs in GENERATED.items():
        path = folder / f"{name}.urdf"
        text = generate_humanoid_urdf(**kwargs).replace('robot name="flywheel_humanoid"', f'robot name="{name}"')
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        out.append(CorpusRobot(name, path, {}, f"humanoid_urdf({args})"))
    return out


def corpus(folder: Path) -> list[CorpusRobot]:
    """Every humanoid of the development corpus available here (generated ones are written under `folder`)."""
    return erd_humanoids() + generated_humanoids(folder)
