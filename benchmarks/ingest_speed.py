"""Ingest speed on real photos: the straightforward sequential loop against the project's ingest.

    python benchmarks/ingest_speed.py [FOLDER] [--repeat N]

(a) baseline: `cv2.imread` + `cv2.resize(..., INTER_CUBIC)`, one file after another, as a
    plain script would do it; (b) `catdog.dataset.ingest` with all cores; (c) the same with
    `fast_decode`. Both (a) and (b) run in this process on the same files. Ingest's pixels must
    equal `cv2.imread` + `catdog.images.resize_image` (OpenCV's cubic algorithm in integers,
    the same on every CPU), and lie within 1 of the baseline's (OpenCV's SIMD rounding).
    Prints images per second and the ratios. Needs a folder of photos
    (default: ../shared/data/dogs-vs-cats-2k); nothing here is part of the test suite.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from catdog.dataset import ingest
from catdog.images import resize_image
from catdog.labels import is_image_name, label_from_path
from catdog.params import DataParams
from catdog_dev.measure import best_of

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dogs-vs-cats-2k"


def sequential(paths: list[str], size: int) -> np.ndarray:
    images = np.zeros((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        images[i] = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (size, size),
                               interpolation=cv2.INTER_CUBIC)
    return images


def project(folder: str, size: int, fast: bool, workers: int = 0):
    params = DataParams(train_dir=folder, test_dir=folder, image_size=size, workers=workers,
                        fast_decode=fast)
    manifest, splits = ingest(params, progress=False)
    return manifest, splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    folder = os.path.normpath(args.folder)
    paths = sorted(str(p.as_posix()) for p in Path(folder).rglob("*")
                   if p.is_file() and is_image_name(p) and label_from_path(p) is not None)
    n = len(paths)
    print(f"{n} labelled photos in {folder}; {os.cpu_count()} cores; best of {args.repeat}")

    # Warm the page cache so that every contender reads from memory.
    for p in paths:
        Path(p).read_bytes()
    t_seq, baseline = best_of(args.repeat, lambda: sequential(paths, args.size))
    t_one, _ = best_of(args.repeat, lambda: project(folder, args.size, False, workers=1))
    t_all, (manifest, splits) = best_of(args.repeat, lambda: project(folder, args.size, False))
    t_fast, _ = best_of(args.repeat, lambda: project(folder, args.size, True))

    # Same pixels: every photo the project used equals the baseline's, row for row.
    index = {p: i for i, p in enumerate(paths)}
    used = splits["train"].paths + splits["test"].paths
    ours = np.concatenate([splits["train"].images, splits["test"].images])
    order = [index[p] for p in used]
    expected = np.stack([resize_image(cv2.imread(paths[i], cv2.IMREAD_COLOR), args.size)
                         for i in order])
    identical = np.array_equal(ours, expected)
    apart = int(np.abs(ours.astype(int) - baseline[order]).max())
    skipped = manifest[manifest.status == "skipped"]
    print(f"photos used {len(used)}, skipped {len(skipped)}"
          + "".join(f"\n  skipped {r.path}: {r.reason}" for r in skipped.itertuples()))
    print(f"pixels identical to imread + catdog's cubic resize: {identical}; "
          f"at most {apart} apart from the sequential loop's (cv2.resize)")
    rows = [("sequential imread + resize", t_seq), ("ingest, 1 worker", t_one),
            ("ingest, all cores", t_all), ("ingest, all cores, fast_decode", t_fast)]
    print(f"{'':34s} {'seconds':>8s} {'images/s':>9s} {'vs sequential':>14s}")
    for name, t in rows:
        print(f"{name:34s} {t:8.2f} {n / t:9.1f} {t_seq / t:13.2f}x")
    if not identical or apart > 1:
        raise SystemExit("pixel arrays differ")


if __name__ == "__main__":
    main()
