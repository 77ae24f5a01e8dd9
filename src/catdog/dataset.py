"""From folders of photos to labelled uint8 image stacks and a manifest.

Every file found under the folders gets one manifest row: `ok`, or `skipped` with a reason.
Decoding runs on all cores; the result does not depend on the number of workers or on the
order in which they finish, because each file's pixels go to the row fixed by its sorted
position.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from catdog.errors import CatdogError
from catdog.images import LABEL_NAMES, ImageError, is_image_name, label_from_path, load_photo
from catdog.params import DataParams, require_folders

_CHUNK = 16  # files per decoding task
MANIFEST_COLUMNS = ["path", "split", "label", "status", "reason", "converted"]


class IngestError(CatdogError):
    """No usable data: nothing is written."""


@dataclass
class Split:
    """One split's images in sorted path order."""

    images: np.ndarray  # (m, size, size, 3) uint8, BGR
    labels: np.ndarray  # (m,) uint8, cat = 0, dog = 1
    paths: list[str]


@dataclass
class _Entry:
    """One file found, and what became of it."""

    path: str
    split: str
    label: int | None = None
    reason: str = ""       # why it is skipped; "" while usable
    converted: str = ""
    digest: str = ""


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
    return sorted((p.replace(os.sep, "/"), note) for p, note in found)


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


def _find(data: DataParams) -> list[_Entry]:
    entries = []
    for folder, split in ((data.train_dir, "train"), (data.test_dir, "test")):
        if not folder:
            continue
        for path, note in list_files(folder):
            entry = _Entry(path, split, label_from_path(path), note)
            if not entry.reason and not is_image_name(path):
                entry.reason = "not an image file (by its extension)"
            elif not entry.reason and entry.label is None:
                entry.reason = "no label: neither file name nor folder says cat or dog"
            entries.append(entry)
    return entries


def _decode_all(entries: list[_Entry], data: DataParams, workers: int, progress: bool) -> np.ndarray:
    """Decode every still-usable entry into row i of the returned array (i = its position)."""
    size = data.image_size
    images = np.zeros((len(entries), size, size, 3), dtype=np.uint8)
    todo = [i for i, e in enumerate(entries) if not e.reason]

    def decode(chunk: list[int]) -> int:
        for i in chunk:
            try:
                photo = load_photo(entries[i].path, size, data.fast_decode)
            except ImageError as exc:
                entries[i].reason = str(exc)
            else:
                images[i] = photo.image
                entries[i].converted = "; ".join(photo.conversions)
                entries[i].digest = photo.digest
        return len(chunk)

    # OpenCV's decoders and resize release the GIL, so threads use every core without
    # copying pixels between processes. Files go out in small chunks to keep the
    # per-task overhead low and the progress bar moving.
    chunks = [todo[k:k + _CHUNK] for k in range(0, len(todo), _CHUNK)]
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(todo), desc="ingest", unit="photo",
                 disable=None if progress else True) as bar:
        for done in pool.map(decode, chunks):
            bar.update(done)
    return images


def _drop_duplicates(entries: list[_Entry]) -> None:
    """Keep the first of each set of byte-identical photos (train before test, sorted path);
    drop every copy when the copies disagree on the label."""
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        if not entry.reason:
            groups.setdefault(entry.digest, []).append(entry)
    for copies in groups.values():
        if len(copies) == 1:
            continue
        first = copies[0]
        if len({c.label for c in copies}) > 1:
            for c in copies:
                c.reason = (f"same bytes as {', '.join(o.path for o in copies if o is not c)} "
                            f"with a different label")
            continue
        for c in copies[1:]:
            if c.split != first.split:
                c.reason = f"leakage: same bytes as {first.split} photo {first.path}, removed from {c.split}"
            else:
                c.reason = f"duplicate of {first.path}"


def ingest(data: DataParams, progress: bool = True) -> tuple[pd.DataFrame, dict[str, Split]]:
    """Read the photos under data.train_dir (and data.test_dir) into labelled uint8 stacks.

    Returns the manifest (one row per file found) and the "train" and "test" splits.
    """
    require_folders(data)
    entries = _find(data)
    workers = data.workers or os.cpu_count() or 1
    images = _decode_all(entries, data, workers, progress)
    _drop_duplicates(entries)

    kept = np.array([i for i, e in enumerate(entries) if not e.reason], dtype=np.intp)
    labels = np.array([entries[i].label for i in kept], dtype=np.uint8)
    if not data.test_dir:
        test = stratified_test_mask(labels, data.test_fraction, data.split_seed)
        for i, is_test in zip(kept, test):
            entries[i].split = "test" if is_test else "train"
    split_of = np.array([entries[i].split for i in kept])
    _check_usable(labels, split_of, data)

    splits = {}
    for name in ("train", "test"):
        chosen = split_of == name
        splits[name] = Split(images[kept[chosen]], labels[chosen],
                             [entries[i].path for i in kept[chosen]])
    return _manifest(entries), splits


def _manifest(entries: list[_Entry]) -> pd.DataFrame:
    return pd.DataFrame(
        [(e.path, e.split, "" if e.label is None else LABEL_NAMES[e.label],
          "skipped" if e.reason else "ok", e.reason, e.converted) for e in entries],
        columns=MANIFEST_COLUMNS)


def _check_usable(labels: np.ndarray, split_of: np.ndarray, data: DataParams) -> None:
    where = f"data.train_dir={data.train_dir!r}" + (
        f", data.test_dir={data.test_dir!r}" if data.test_dir else "")
    if len(labels) == 0:
        raise IngestError(f"no usable images found ({where}); see the manifest's reasons")
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
    # Group reasons that name a file ("duplicate of x.jpg") under their first words.
    kinds = skipped.reason.str.replace(r" (of|as) .*", r" \1 ...", regex=True)
    for reason, n in kinds.value_counts(sort=False).sort_index().items():
        lines.append(f"  skipped, {reason}: {n}")
    return "\n".join(lines)
