"""From folders or archives of photos to labelled uint8 image stacks and a manifest.

Every file found under the folders, and every member of the archives, gets one manifest row:
`ok`, or `skipped` with a reason. Decoding runs on all cores; the result does not depend on the
number of workers or on the order in which they finish, because each photo's pixels go to the
row fixed by its sorted position.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from catdog.archives import Archive, Member, is_archive_name, member_path, open_archive
from catdog.errors import CatdogError
from catdog.images import (LABEL_NAMES, MB, ImageError, Limits, Photo, is_image_name,
                           label_from_path, load_photo, photo_from_bytes)
from catdog.params import DataParams, require_folders

CHUNK = 16             # photos per decoding task
_CHUNK_BYTES = 4 << 20  # encoded bytes per task read from an archive, at most (but one photo)
MANIFEST_COLUMNS = ["path", "split", "label", "status", "reason", "converted"]


class IngestError(CatdogError):
    """No usable data. `manifest`, when there is one, says what became of every file."""

    def __init__(self, message: str, manifest: pd.DataFrame | None = None):
        super().__init__(message)
        self.manifest = manifest


@dataclass
class Split:
    """One split's images in sorted path order."""

    images: np.ndarray  # (m, size, size, 3) uint8, BGR
    labels: np.ndarray  # (m,) uint8, cat = 0, dog = 1
    paths: list[str]


@dataclass
class _Entry:
    """One file or archive member found, and what became of it."""

    path: str               # as the manifest shows it: a file path or `archive:member`
    split: str
    label: int | None = None
    reason: str = ""        # why it is skipped; "" while usable
    converted: str = ""
    digest: str = ""
    file: str = ""          # the file to open, for a photo in a folder
    archive: int = -1       # which archive holds it, for an archive member
    member: Member | None = None


def printable(path: str) -> str:
    """A path as text: bytes of a non-UTF-8 file name shown as \\xNN escapes, so that the
    manifest and every later file can be written as UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def list_files(folder: str | os.PathLike) -> list[tuple[str, str]]:
    """Every entry under `folder` that is not a folder we descend into, as (path, note) in
    sorted order; note is "" for a regular entry or why it is not descended into."""
    found: list[tuple[str, str]] = []

    def unreadable(exc: OSError) -> None:
        if exc.filename is not None and os.fspath(exc.filename) != os.fspath(folder):
            found.append((os.fspath(exc.filename), f"folder cannot be read: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=False):
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


NOT_AN_IMAGE = "not an image file (by its extension)"
NO_LABEL = "no label: neither file name nor folder says cat or dog"


def _judge(entry: _Entry, name: str, labelled: bool) -> _Entry:
    """Skip by name what cannot be a (labelled, if asked) photo; name is the file or member name."""
    if not entry.reason and not is_image_name(name):
        entry.reason = NOT_AN_IMAGE
    elif not entry.reason and labelled and entry.label is None:
        entry.reason = NO_LABEL
    return entry


def _folder_entries(folder: str, split: str, labelled: bool = True) -> list[_Entry]:
    return [_judge(_Entry(printable(path), split, label_from_path(path), note, file=path), path,
                   labelled)
            for path, note in list_files(folder)]


def _archive_entries(archive: Archive, index: int, split: str, limits: Limits,
                     labelled: bool = True) -> list[_Entry]:
    members = archive.members(limits.max_bytes)
    # Unpacking keeps the last of several members of one name; so does ingest.
    last = {m.name: m.position for m in members}
    shown = printable(archive.path)
    entries = []
    for m in members:
        entry = _Entry(member_path(shown, printable(m.name)), split, label_from_path(m.name),
                       m.note, archive=index, member=m)
        if not entry.reason and last[m.name] != m.position:
            entry.reason = "a later member of the archive has the same name (unpacking keeps that one)"
        entries.append(_judge(entry, m.name, labelled))
    return sorted(entries, key=lambda e: (e.path, e.member.position))


def _sources(data: DataParams) -> list[tuple[str, str, str]]:
    """(key, path, split) of each photo source ingest reads."""
    sources = [("data.train_dir", data.train_dir, "train")]
    if not data.split_train:
        sources.append(("data.test_dir", data.test_dir, "test"))
    return sources


def find_entries(sources: list[tuple[str, str, str]], limits: Limits, archives: list[Archive],
                 labelled: bool = True, files: bool = False) -> list[_Entry]:
    """One entry per file under each (key, path, split) source's folder or member of its
    archive (opened into `archives`, which the caller closes). With `files`, a source that is
    neither is one photo file; otherwise it is refused naming `key`. Without `labelled`,
    photos whose names say no class are kept (label None)."""
    entries = []
    for key, path, split in sources:
        if os.path.isdir(path):
            entries += _folder_entries(path, split, labelled)
        elif is_archive_name(path):
            archives.append(open_archive(path))
            entries += _archive_entries(archives[-1], len(archives) - 1, split, limits, labelled)
        elif files:
            entries.append(_Entry(printable(path), split, label_from_path(path), file=path))
        else:
            raise IngestError(f"{key}: {path!r} is a file, not a folder or a .zip, .tar, "
                              f".tar.gz or .tgz archive of photos")
    return entries


def require_labelled(data: DataParams) -> None:
    """Refuse a photo folder or archive in which photos are found but no name says cat or
    dog (Kaggle's test1.zip), before ingest runs: such photos are for predict, not ingest.
    Only names are read; a source that does not exist is left to the path checks."""
    limits = Limits(data.max_file_mb * MB, data.max_pixels)
    for key, path, split in _sources(data):
        if not os.path.exists(path) or not (os.path.isdir(path) or is_archive_name(path)):
            continue
        archives: list[Archive] = []
        try:
            photos = [e for e in find_entries([(key, path, split)], limits, archives)
                      if e.reason in ("", NO_LABEL)]
        finally:
            for archive in archives:
                archive.close()
        if photos and all(e.reason == NO_LABEL for e in photos):
            raise IngestError(
                f"{key}: none of the {len(photos)} photos in {path!r} is labelled (its name or "
                f"folder saying cat or dog), e.g. {photos[0].path}; to classify unlabeled photos "
                f"use `catdog predict {path}` or the predict stage (set predict.photos)")


def _batches(entries: list[_Entry], todo: list[int], archives: list[Archive],
             limits: Limits) -> Iterator[list[tuple[int, bytes | None]]]:
    """The photos to decode in small batches of (entry index, bytes): files are opened by
    the decoding threads (bytes None); archive members are read here, front to back."""
    files = [i for i in todo if entries[i].member is None]
    for k in range(0, len(files), CHUNK):
        yield [(i, None) for i in files[k:k + CHUNK]]
    for a, archive in enumerate(archives):
        wanted = {entries[i].member.position: i for i in todo if entries[i].archive == a}
        batch: list[tuple[int, bytes | None]] = []
        size = 0
        for member, got in archive.read([entries[i].member for i in wanted.values()],
                                        limits.max_bytes):
            i = wanted[member.position]
            if isinstance(got, str):
                entries[i].reason = got
                continue
            batch.append((i, got))
            size += len(got)
            if len(batch) == CHUNK or size >= _CHUNK_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch


def decode_batches(entries: list[_Entry], archives: list[Archive], size: int, fast_decode: bool,
                   limits: Limits, workers: int, progress: bool, desc: str = "ingest",
                   ahead: int = 0) -> Iterator[list[tuple[int, Photo]]]:
    """Decode every still-usable entry, yielding small batches of (entry index, photo) as they
    are done; an entry that cannot be decoded gets its reason and is left out.

    OpenCV's decoders and resize release the GIL, so threads use every core without copying
    pixels between processes. At most a few batches are in flight, so archive bytes read
    ahead of the decoders, and the photos decoded and not yet taken, stay a few megabytes
    whatever the number of photos. `ahead` more batches may wait, for a caller that takes
    them slowly (predict runs the network meanwhile).
    """
    todo = [i for i, e in enumerate(entries) if not e.reason]

    def decode(batch: list[tuple[int, bytes | None]]) -> list[tuple[int, Photo]]:
        done = []
        for i, raw in batch:
            try:
                photo = (load_photo(entries[i].file, size, fast_decode, limits) if raw is None
                         else photo_from_bytes(raw, size, fast_decode, limits))
            except ImageError as exc:
                entries[i].reason = str(exc)
            else:
                done.append((i, photo))
        return done

    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(todo), desc=desc, unit="photo",
                 disable=None if progress else True) as bar:
        pending: deque = deque()
        for batch in _batches(entries, todo, archives, limits):
            pending.append((len(batch), pool.submit(decode, batch)))
            while len(pending) > 2 * workers + ahead:
                n, future = pending.popleft()
                yield future.result()
                bar.update(n)
        while pending:
            n, future = pending.popleft()
            yield future.result()
            bar.update(n)


def _decode_all(entries: list[_Entry], archives: list[Archive], data: DataParams,
                limits: Limits, workers: int, progress: bool) -> np.ndarray:
    """Decode every still-usable entry into row i of the returned array (i = its position).

    Rows of skipped entries are never written, so their pages are never touched: memory
    holds the decoded photos only. The result does not depend on the order of decoding.
    """
    size = data.image_size
    images = np.zeros((len(entries), size, size, 3), dtype=np.uint8)
    for batch in decode_batches(entries, archives, size, data.fast_decode, limits, workers,
                                progress):
        for i, photo in batch:
            images[i] = photo.image
            entries[i].converted = "; ".join(photo.conversions)
            entries[i].digest = photo.digest
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
    """Read the photos of data.train_dir (and data.test_dir) into labelled uint8 stacks.

    Returns the manifest (one row per file or member found) and the "train" and "test" splits.
    Peak memory: the decoded photos, plus the smaller split once more.
    """
    require_folders(data)
    limits = Limits(data.max_file_mb * MB, data.max_pixels)
    archives: list[Archive] = []
    try:
        entries = find_entries(_sources(data), limits, archives)
        workers = data.workers or os.cpu_count() or 1
        images = _decode_all(entries, archives, data, limits, workers, progress)
    finally:
        for archive in archives:
            archive.close()
    _drop_duplicates(entries)

    kept = np.array([i for i, e in enumerate(entries) if not e.reason], dtype=np.intp)
    labels = np.array([entries[i].label for i in kept], dtype=np.uint8)
    if data.split_train:
        test = stratified_test_mask(labels, data.test_fraction, data.split_seed)
        for i, is_test in zip(kept, test):
            entries[i].split = "test" if is_test else "train"
    split_of = np.array([entries[i].split for i in kept])
    manifest = _manifest(entries)
    _check_usable(labels, split_of, data, manifest)

    stacks = _stacks(images, kept, split_of)
    return manifest, {name: Split(stacks[name], labels[split_of == name],
                                  [entries[i].path for i in kept[split_of == name]])
                      for name in ("train", "test")}


def _stacks(images: np.ndarray, kept: np.ndarray, split_of: np.ndarray) -> dict[str, np.ndarray]:
    """Each split's rows of `images` as one contiguous stack, without a second copy of all:
    the smaller split is copied out, then the larger one's rows move to the front of `images`
    in place (row k comes from row rows[k] >= k, so no row is overwritten before it moves)."""
    rows = {name: kept[split_of == name] for name in ("train", "test")}
    small, large = sorted(rows, key=lambda name: (len(rows[name]), name))
    stacks = {small: images[rows[small]]}
    order = rows[large]
    for start in range(0, len(order), 1024):
        stop = min(start + 1024, len(order))
        images[start:stop] = images[order[start:stop]]
    stacks[large] = images[:len(order)]
    return stacks


def _manifest(entries: list[_Entry]) -> pd.DataFrame:
    return pd.DataFrame(
        [(e.path, e.split, "" if e.label is None else LABEL_NAMES[e.label],
          "skipped" if e.reason else "ok", e.reason, e.converted) for e in entries],
        columns=MANIFEST_COLUMNS)


def _check_usable(labels: np.ndarray, split_of: np.ndarray, data: DataParams,
                  manifest: pd.DataFrame) -> None:
    where = f"data.train_dir={data.train_dir!r}" + (
        "" if data.split_train else f", data.test_dir={data.test_dir!r}")
    if len(labels) == 0:
        raise IngestError(f"no usable images found ({where}); see the manifest's reasons", manifest)
    for name in ("train", "test"):
        in_split = labels[split_of == name]
        for label, label_name in enumerate(LABEL_NAMES):
            if not np.any(in_split == label):
                unlabeled = ("; photos whose names say no class are for `catdog predict` or the "
                             "predict stage" if (manifest.reason == NO_LABEL).any() else "")
                raise IngestError(f"the {name} split has no usable {label_name} images ({where}); "
                                  f"see the manifest's reasons{unlabeled}", manifest)


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
