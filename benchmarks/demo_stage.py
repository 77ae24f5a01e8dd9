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
import tempfile
from pathlib import Path

from catdog_dev.measure import run_child
from catdog_dev.repo import BIN, PROJECT, Repo


def checkout(rev: str, root: Path) -> Repo:
    """A clone of `rev` in `root`, run up to featurize."""
    if not root.exists():
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(root)], check=True)
    repo = Repo(root)
    repo.run("git", "fetch", "-q", "origin")  # a clone kept from an earlier run learns new commits
    repo.run("git", "checkout", "-q", rev)
    repo.dvc("repro", "featurize")
    return repo


def timed_train(repo: Repo) -> float:
    return run_child([str(BIN / "dvc"), "repro", "--force", "--single-item", "train"],
                     cwd=repo.root, env=repo.env).seconds


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
        for name, (_, _, repo) in sides.items():
            best[name] = min(best[name], timed_train(repo))
    print(f"{os.cpu_count()} cores; dvc repro --force --single-item train, best of {args.rounds}")
    for name, (rev, _, _) in sides.items():
        print(f"  {name:12s} {rev:10s} {best[name]:6.2f} s")
    print(f"  ratio {best['this commit'] / best['baseline']:.2f}x the baseline's time")


if __name__ == "__main__":
    main()
