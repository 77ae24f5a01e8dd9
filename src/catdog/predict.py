"""Classify new photos with a trained model, preprocessed exactly as in training."""
from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from catdog.dataset import list_files
from catdog.errors import CatdogError
from catdog.images import IMAGE_SUFFIXES, ImageError, is_image_name, load_photo
from catdog.model import Model, load_model
from catdog.storage import write_csv

BATCH = 256  # photos per forward pass
DEFAULT_MODEL = "models/model.npz"
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


class PredictError(CatdogError):
    """Nothing to classify, or no usable model."""


def printable(path: str) -> str:
    r"""`path` on one line: backslash, tab, newline and other unprintable characters written
    as `\\`, `\t`, `\n`, `\xNN`, `\uNNNN`, and bytes of a name that is not UTF-8 as `\xNN`,
    so that a file name can never forge a row of the output."""
    out = []
    for ch in path:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """Named files as given; folders searched recursively for image files, in sorted order.
    Also returns the folders in which no image file was found."""
    found, empty = [], []
    for path in paths:
        if os.path.isdir(path):
            photos = [p for p, note in list_files(path) if not note and is_image_name(p)]
            found += photos
            if not photos:
                empty.append(path)
        else:
            found.append(path)
    return found, empty


def open_model(path: str) -> Model:
    """The model at `path`, or a one-line error saying where it was looked for."""
    if not Path(path).is_file():
        where = os.path.abspath(path)
        hint = (" (the default, relative to the current folder)" if path == DEFAULT_MODEL else "")
        raise PredictError(
            f"no model at {printable(where)}{hint}; run from the project's folder after "
            f"`dvc repro`, or pass the model file with --model PATH")
    try:
        return load_model(path)
    except CatdogError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise PredictError(f"cannot read the model {printable(path)}: {exc}") from None


def predict_files(model: Model, paths: list[str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Probability of dog for each readable photo, and (path, reason) for the others; paths
    as `printable` writes them."""
    rows, failures = [], []
    for start in range(0, len(paths), BATCH):
        batch, images = [], []
        for path in paths[start:start + BATCH]:
            try:
                images.append(load_photo(path, model.image_size).image)
                batch.append(path)
            except ImageError as exc:
                failures.append((printable(path), str(exc)))
        if batch:
            p_dog = model.probabilities_of_images(np.stack(images))
            rows += [(printable(path), model.label_names[int(p > 0.5)], float(p))
                     for path, p in zip(batch, p_dog)]
    return pd.DataFrame(rows, columns=["path", "label", "p_dog"]), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catdog predict",
                                     description="Say whether each photo shows a cat or a dog.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="trained model (default: %(default)s in the current folder)")
    parser.add_argument("--csv", metavar="FILE", help="also write path,label,p_dog to FILE")
    args = parser.parse_args(argv)
    model = open_model(args.model)
    paths, empty = expand(args.paths)
    if not paths:
        raise PredictError(f"no photos in {', '.join(printable(f) for f in empty)} (looked for "
                           f"files ending in {', '.join(sorted(IMAGE_SUFFIXES))})")
    for folder in empty:
        print(f"predict: no photos in {printable(folder)}", file=sys.stderr)
    predictions, failures = predict_files(model, paths)
    for row in predictions.itertuples(index=False):
        print(f"{row.path}\t{row.label}\t{row.p_dog:.6f}")
    for path, reason in failures:
        print(f"predict: skipped {path}: {reason}", file=sys.stderr)
    if args.csv:
        write_csv(args.csv, predictions)
    return 1 if failures or empty or predictions.empty else 0
