"""Predict against ingest on the same photos: photos per second and peak memory.

    python benchmarks/predict_speed.py FOLDER [--count 12500] [--size 64] [--archive] [--repeat 3]

Takes COUNT photos of FOLDER (spread over its sorted names; labelled `cat.N.jpg` / `dog.N.jpg`,
e.g. the unpacked dogs-vs-cats-21k-96px.tar, or dogs-vs-cats-2k taken again and again until
there are COUNT) and links them twice into a scratch folder: under their own names for ingest
(repeats in subfolders r1/, r2/ ...), and as `1.jpg` ... `COUNT.jpg` as in Kaggle's test1.zip
for predict (the same bytes). Each runs in its own process, as a user runs it: (a) the baseline,
ingest of the labelled photos as the ingest stage does it (`catdog.dataset.ingest` on every
core, then its arrays and manifest written); (b) `catdog predict` of the numbered photos with
`--submission`, using a model of the tutorial's shape for SIZE x SIZE photos; with --archive
also (c) predict of the numbered photos packed as test1.zip. Reports photos per second (wall
time of the process, start-up included), the ratio to ingest, and each process's peak resident
memory, best of REPEAT runs taken in turn; the target is predict >= ingest and predict's peak <=
500 MB.
Nothing here is part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from catdog.labels import is_image_name
from catdog.model import Model, save_model
from catdog.network import initialize_parameters
from catdog_dev.measure import run_child

TARGET_RSS_MB = 500
# What the ingest stage does: read, then write its arrays and manifest (as predict writes its CSVs).
INGEST = """
import sys
import numpy as np
from catdog.dataset import ingest
from catdog.params import DataParams
from catdog.storage import save_npz, write_csv
folder, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
manifest, splits = ingest(DataParams(train_dir=folder, test_dir=folder, image_size=size),
                          progress=False)
for name, split in splits.items():
    save_npz(f"{out}/{name}.npz", images=split.images, labels=split.labels,
             paths=np.array(split.paths, dtype=str))
write_csv(f"{out}/manifest.csv", manifest)
"""


def timed(args: list[str]) -> tuple[float, float, float]:
    """Run a process; (wall seconds, its CPU seconds, its own peak resident memory in MB)."""
    run = run_child(args)
    return run.seconds, run.cpu_seconds, run.peak_rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=12_500)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--archive", action="store_true", help="also predict from a zip")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = sorted(p for p in Path(args.folder).iterdir() if is_image_name(p))
    # Spread over the sorted names, so that a small count still holds cats and dogs.
    photos = found[::max(1, len(found) // args.count)][:args.count]
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    scratch = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    try:
        labelled, numbered = scratch / "labelled", scratch / "test1"
        numbered.mkdir()
        for i in range(args.count):
            photo = photos[i % len(photos)]
            copy = labelled / f"r{i // len(photos)}" / photo.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            os.link(photo, copy)
            os.link(photo, numbered / f"{i + 1}.jpg")
        model = scratch / "model.npz"
        n_x = 3 * args.size * args.size
        save_model(model, Model(initialize_parameters(n_x, 10, 1, seed=1), args.size))
        python = sys.executable
        commands = {"predict (folder)": [
            python, "-m", "catdog", "predict", str(numbered), "--model", str(model),
            "--csv", str(scratch / "p.csv"), "--submission", str(scratch / "s.csv")]}
        if args.archive:
            with zipfile.ZipFile(scratch / "test1.zip", "w") as z:
                for number in range(1, args.count + 1):
                    z.write(numbered / f"{number}.jpg", f"test1/{number}.jpg")
            commands["predict (test1.zip)"] = [
                python, "-m", "catdog", "predict", str(scratch / "test1.zip"), "--model",
                str(model), "--submission", str(scratch / "s2.csv")]
        commands["ingest (baseline)"] = [python, "-c", INGEST, str(labelled), str(args.size),
                                         str(scratch)]
        runs: dict[str, tuple[float, float, float]] = {}
        for _ in range(args.repeat):  # in turn, so that a busy spell slows each alike
            for name, command in commands.items():
                seconds, cpu, peak = timed(command)
                best = runs.get(name, (seconds, cpu, peak))
                runs[name] = (min(seconds, best[0]), min(cpu, best[1]), max(peak, best[2]))
        rows = sum(1 for _ in open(scratch / "s.csv")) - 1
        if rows != args.count:
            raise SystemExit(f"the submission has {rows} rows, expected {args.count}")
        base_wall, base_cpu = runs["ingest (baseline)"][:2]
        print(f"{args.count} photos, {args.size}x{args.size}, {os.cpu_count()} cores; best of "
              f"{args.repeat}; on a busy machine the CPU seconds are the steadier figure")
        for name, (seconds, cpu, peak) in runs.items():
            print(f"  {name:20s} {seconds:6.2f} s wall ({args.count / seconds:5.0f} photos/s, "
                  f"x{base_wall / seconds:.2f} of ingest), {cpu:6.2f} CPU s ({args.count / cpu:5.0f} "
                  f"photos per CPU s, x{base_cpu / cpu:.2f}), peak RSS {peak:.0f} MB")
        predict_peak = max(peak for name, (*_, peak) in runs.items() if name.startswith("predict"))
        ok = runs["predict (folder)"][0] <= runs["ingest (baseline)"][0] and predict_peak <= TARGET_RSS_MB
        print(f"target (predict at least ingest's rate, peak <= {TARGET_RSS_MB} MB): "
              f"{'met' if ok else 'MISSED'}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
