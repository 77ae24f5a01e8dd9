"""The demo's train stage as `dvc repro` runs it: this commit against an earlier one.

    python benchmarks/demo_stage.py [--baseline REV] [--rounds 3]

Both revisions are cloned under the temp folder and their pipeline run up to featurize (not
timed). Then `dvc repro --force --single-item train` runs in each, alternately, `--rounds`
times: process start, imports, loading the arrays, training, writing, DVC's hashing and lock
file — what a user waits for. Each side runs its own committed params and stage command (the
baseline's may pin a BLAS kernel), with this checkout's .venv. Printed: the best wall time of
each and their ratio.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def checkout(rev: str, root: Path) -> dict:
    """A clone of `rev` in `root`, run up to featurize; returns the environment to run it in."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(root / "src"), "DVC_NO_ANALYTICS": "1"}
    if not root.exists():
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(root)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=root, check=True)
    subprocess.run([str(BIN / "dvc"), "repro", "featurize"], cwd=root, env=env, check=True,
                   capture_output=True)
    return env


def timed_train(root: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "dvc"), "repro", "--force", "--single-item", "train"], cwd=root,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="0205cd8",
                        help="the revision to compare with (default: before exact arithmetic)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, check=True,
                          capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.gettempdir()) / "catdog-bench" / "demo-stage"
    sides = {}
    for name, rev in (("baseline", args.baseline), ("this commit", here)):
        root = work / name.replace(" ", "-")
        sides[name] = (rev, root, checkout(rev, root))
    best = {name: float("inf") for name in sides}
    for _ in range(args.rounds):
        for name, (_, root, env) in sides.items():
            best[name] = min(best[name], timed_train(root, env))
    print(f"{os.cpu_count()} cores; dvc repro --force --single-item train, best of {args.rounds}")
    for name, (rev, _, _) in sides.items():
        print(f"  {name:12s} {rev:10s} {best[name]:6.2f} s")
    print(f"  ratio {best['this commit'] / best['baseline']:.2f}x the baseline's time")


if __name__ == "__main__":
    main()
