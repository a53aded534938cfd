"""The layer rule of DESIGN.md, read from the source: `robots` <- `sim` <- `collectors` -> `datasets`.

Every import counts, including those inside functions (a lazy import is still a dependency): `datasets` imports no
PyBullet, Ray, `sim`, `robots` or `collectors`; `sim` imports no Ray, pyarrow or `collectors`; `robots` imports no
`sim` or `collectors`; only `sim/` imports `pybullet`; `flywheel.canonical` imports nothing but the standard library.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {  # folder -> import name (pyproject's package-dir)
    "flywheel": "flywheel",
    "robots": "flywheel.robots",
    "sim": "flywheel.sim",
    "collectors": "flywheel.collectors",
    "datasets": "flywheel.datasets",
    "seeds": "flywheel.seeds",
}
FORBIDDEN = {
    "datasets": ("pybullet", "ray", "flywheel.sim", "flywheel.robots", "flywheel.collectors"),
    "sim": ("ray", "pyarrow", "flywheel.collectors"),
    "robots": ("flywheel.sim", "flywheel.collectors"),
}
SIMULATOR = "pybullet"  # only sim/ may import it



def _module_name(folder: str, path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([LAYERS[folder], *parts]), path.name == "__init__.py"


def imports_of(folder: str, path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from a import b` counts as `a` and `a.b` (b may be a module)."""
    module, is_package = _module_name(folder, path)
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def _matches(name: str, forbidden: str) -> bool:
    return name == forbidden or name.startswith(forbidden + ".")


def violations() -> set[tuple[str, str]]:
    out = set()
    for folder in LAYERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name in imports_of(folder, path):
                rules = FORBIDDEN.get(folder, ()) + (() if folder == "sim" else (SIMULATOR,))
                out.update((rel, rule) for rule in rules if _matches(name, rule))
    return out


def test_layer_rule_holds():
    found = sorted(violations())
    assert not found, "imports that break the layer rule (DESIGN.md):\n" + "\n".join(f"  {f} imports {m}" for f, m in found)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    folder = tmp_path / "robots"
    folder.mkdir()
    (folder / "x.py").write_text("def f():\n    import pybullet as p\n    from ..sim import env\n    from . import spec\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = imports_of("robots", folder / "x.py")
    assert {"pybullet", "flywheel.sim", "flywheel.sim.env", "flywheel.robots.spec"} <= found


def test_canonical_constants_import_nothing_heavy():
    names = imports_of("flywheel", ROOT / "flywheel" / "canonical.py")
    assert {n.split(".")[0] for n in names} <= {"__future__", "typing"}, names


def test_import_flywheel_registers_the_ids_without_the_simulator():
    code = ("import sys, gymnasium, flywheel; "
            "assert {'flywheel/Reach-v0', 'flywheel/PickPlace-v0', 'flywheel/Balance-v0'} <= set(gymnasium.registry); "
            "assert 'pybullet' not in sys.modules, 'pybullet imported'; "
            "import flywheel.robots, flywheel.datasets, flywheel.robots.validate; "
            "assert 'pybullet' not in sys.modules and not [m for m in sys.modules if m.startswith('flywheel.collectors')]")
    subprocess.run([sys.executable, "-c", code], check=True)
