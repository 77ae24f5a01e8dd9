"""From folders of photos to labelled uint8 image stacks and a manifest.

Every file found under the folders gets one manifest row: `ok`, or `skipped` with a reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from catdog.errors import CatdogError
from catdog.images import LABEL_NAMES, ImageError, is_image_name, label_from_path, read_image
from catdog.params import DataParams, require_folders

MANIFEST_COLUMNS = ["path", "split", "label", "status", "reason"]


class IngestError(CatdogError):
    """No usable data: nothing is written."""


@dataclass
class Split:
    """One split's images in sorted path order."""

    images: np.ndarray  # (m, size, size, 3) uint8, BGR
    labels: np.ndarray  # (m,) uint8, cat = 0, dog = 1
    paths: list[str]


def list_files(folder: str | os.PathLike) -> list[tuple[str, str]]:
    """Every entry under `folder` that is not a folder we descend into, as (path, note) in
    sorted order; note is "" for a regular entry or why it is not descended into."""
    found: list[tuple[str, str]] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs:
            path = os.path.join(root, name)
            if os.path.islink(path):
                # Not followed: a link back up the tree would make the walk endless.
                found.append((path, "link to a folder, not followed"))
        found.extend((os.path.join(root, name), "") for name in files)
    return sorted((Path(p).as_posix(), note) for p, note in found)


def stratified_test_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Choose round(fraction * n_c) examples of each class c for the test split (at least one,
    and at least one left for training when the class has two or more), reproducibly."""
    rng = np.random.RandomState(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in range(len(LABEL_NAMES)):
        members = np.flatnonzero(labels == label)
        n = len(members)
        if n < 2:
            continue
        n_test = min(max(1, int(round(fraction * n))), n - 1)
        mask[members[rng.permutation(n)[:n_test]]] = True
    return mask


def ingest(data: DataParams, progress: bool = True) -> tuple[pd.DataFrame, dict[str, Split]]:
    """Read the photos under data.train_dir (and data.test_dir) into labelled uint8 stacks.

    Returns the manifest (one row per file found) and the "train" and "test" splits.
    """
    require_folders(data)
    entries = [(path, note, "train") for path, note in list_files(data.train_dir)]
    if data.test_dir:
        entries += [(path, note, "test") for path, note in list_files(data.test_dir)]

    size = data.image_size
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    rows = []
    kept: list[int] = []  # row index of each decoded image, in `images` order
    bar = tqdm(entries, desc="ingest", unit="file", disable=None if progress else True)
    for path, note, split in bar:
        label = label_from_path(path)
        row = {"path": path, "split": split, "label": "", "status": "skipped", "reason": note}
        if not note:
            if not is_image_name(path):
                row["reason"] = "not an image file (by its extension)"
            elif label is None:
                row["reason"] = "no label: neither file name nor folder says cat or dog"
            else:
                row["label"] = LABEL_NAMES[label]
                try:
                    images[len(kept)] = read_image(path, size)
                except ImageError as exc:
                    row["reason"] = str(exc)
                else:
                    row["status"], row["reason"] = "ok", ""
                    kept.append(len(rows))
        rows.append(row)

    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    images = images[: len(kept)]
    labels = np.array([LABEL_NAMES.index(rows[i]["label"]) for i in kept], dtype=np.uint8)
    split_of = np.array([rows[i]["split"] for i in kept], dtype=object)
    if not data.test_dir:
        test = stratified_test_mask(labels, data.test_fraction, data.split_seed)
        split_of[test] = "test"
        manifest.loc[kept, "split"] = split_of

    _check_usable(labels, split_of, data)
    splits = {}
    for name in ("train", "test"):
        chosen = np.flatnonzero(split_of == name)
        splits[name] = Split(images[chosen], labels[chosen], [rows[kept[i]]["path"] for i in chosen])
    return manifest, splits


def _check_usable(labels: np.ndarray, split_of: np.ndarray, data: DataParams) -> None:
    where = f"data.train_dir={data.train_dir!r}" + (
        f", data.test_dir={data.test_dir!r}" if data.test_dir else "")
    if len(labels) == 0:
        raise IngestError(f"no usable images found ({where}); see the reasons printed above")
    for name in ("train", "test"):
        in_split = labels[split_of == name]
        for label, label_name in enumerate(LABEL_NAMES):
            if not np.any(in_split == label):
                raise IngestError(f"the {name} split has no usable {label_name} images ({where})")


def summary(manifest: pd.DataFrame) -> str:
    """Counts a user wants to see after ingest: found, used per split and class, skipped per reason."""
    ok = manifest[manifest.status == "ok"]
    lines = [f"files found: {len(manifest)}, used: {len(ok)}"]
    for (split, label), n in ok.groupby(["split", "label"]).size().items():
        lines.append(f"  {split:5s} {label}: {n}")
    skipped = manifest[manifest.status == "skipped"]
    for reason, n in skipped.groupby("reason").size().items():
        lines.append(f"  skipped, {reason}: {n}")
    return "\n".join(lines)
