"""`make demo`: collect a small real dataset with the scripted expert and show what it holds.

Runs the Ray collector locally (2 workers) on Panda reach and pick_place, validates each dataset,
and prints where it is, its size, success rate and features; then a few seeded episodes per task on the
project's humanoid.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_data")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()

    from flywheel.collectors import collect
    from flywheel.datasets import open as open_dataset

    for task in ("reach", "pick_place"):
        root = out / f"panda_{task}"
        if root.exists():
            shutil.rmtree(root)
        summary = collect(task=task, robot="panda", episodes=args.episodes, workers=2, out=root, seed=0, quiet=True)
        ds = open_dataset(root)
        print(f"\n{task} on panda -> {root}")
        print(f"  {summary}")
        print(f"  episodes {len(ds)}, frames {ds.num_frames}, features: {', '.join(sorted(ds.features))}")
    print("\nRead it with LeRobot, pandas, DuckDB or Polars, e.g.:")
    print(f"  python -c \"import pandas as pd; print(pd.read_parquet('{out / 'panda_reach' / 'data'}').head())\"")
    print(f"  flywheel dataset info {out / 'panda_reach'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
