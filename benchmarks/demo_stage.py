"""The demo's train stage as `dvc repro` runs it: this commit against an earlier one.

    python benchmarks/demo_stage.py [--baseline REV] [--rounds 3]

Both revisions are cloned under the temp folder and their pipeline run up to featurize (not
timed). Then `dvc repro --force --single-item train` runs in each, alternately, `--rounds`
times: process start, imports, loading the arrays, training, writing, DVC's hashing and lock
file — what a user waits for. Each side runs its own committed params and stage command (the
baseline's may pin a BLAS kernel), with this checkout's .venv. Printed: the best wall time of
each and their ratio, and the ratio of the two runs of each round (median and range).
"""
from __future__ import annotations

import argparse
import os
import statistics
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
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, (_, _, repo) in sides.items():
            times[name].append(timed_train(repo))
    best = {name: min(t) for name, t in times.items()}
    # Each round's two runs are seconds apart: their ratio is less exposed to the machine's
    # own drift (10-15% over minutes here) than the best times are.
    ratios = sorted(b / a for a, b in zip(times["baseline"], times["this commit"]))
    print(f"{os.cpu_count()} cores; dvc repro --force --single-item train, best of {args.rounds}")
    for name, (rev, _, _) in sides.items():
        print(f"  {name:12s} {rev:10s} {best[name]:6.2f} s")
    print(f"  ratio {best['this commit'] / best['baseline']:.2f}x the baseline's time (best "
          f"against best); round by round {ratios[0]:.2f}x to {ratios[-1]:.2f}x, median "
          f"{statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
