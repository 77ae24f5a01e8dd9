"""Classify new photos with a trained model, preprocessed exactly as in training."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from catdog.dataset import list_files
from catdog.images import ImageError, is_image_name, load_photo
from catdog.model import Model, load_model
from catdog.storage import write_csv

BATCH = 256  # photos per forward pass


def expand(paths: list[str]) -> list[str]:
    """Named files as given; folders searched recursively for image files, in sorted order."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += [p for p, note in list_files(path) if not note and is_image_name(p)]
        else:
            found.append(path)
    return found


def predict_files(model: Model, paths: list[str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Probability of dog for each readable photo, and (path, reason) for the others."""
    rows, failures = [], []
    for start in range(0, len(paths), BATCH):
        batch, images = [], []
        for path in paths[start:start + BATCH]:
            try:
                images.append(load_photo(path, model.image_size).image)
                batch.append(path)
            except ImageError as exc:
                failures.append((path, str(exc)))
        if batch:
            p_dog = model.probabilities_of_images(np.stack(images))
            rows += [(path, model.label_names[int(p > 0.5)], float(p)) for path, p in zip(batch, p_dog)]
    return pd.DataFrame(rows, columns=["path", "label", "p_dog"]), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catdog predict",
                                     description="Say whether each photo shows a cat or a dog.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders")
    parser.add_argument("--model", default="models/model.npz", help="trained model (%(default)s)")
    parser.add_argument("--csv", metavar="FILE", help="also write path,label,p_dog to FILE")
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"predict: error: no model at {args.model}; run `dvc repro` first", file=sys.stderr)
        return 2
    model = load_model(args.model)
    predictions, failures = predict_files(model, expand(args.paths))
    for row in predictions.itertuples(index=False):
        print(f"{row.path}\t{row.label}\t{row.p_dog:.6f}")
    for path, reason in failures:
        print(f"predict: skipped {path}: {reason}", file=sys.stderr)
    if args.csv:
        write_csv(args.csv, predictions)
    return 1 if failures or predictions.empty else 0
