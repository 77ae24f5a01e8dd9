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

import numpy as np
import pandas as pd
from tqdm import tqdm

from catdog.archives import ArchiveLimits, Member, is_archive_name, member_path, open_archive
from catdog.errors import CatdogError
from catdog.images import (LABEL_NAMES, MB, ImageError, Limits, is_image_name, label_from_path,
                           load_photo, photo_from_bytes)
from catdog.params import DataParams, require_folders

_CHUNK = 16            # photos per decoding task
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
    member: Member | None = None
    image: np.ndarray | None = None  # (size, size, 3) uint8 once decoded


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


def _judge(entry: _Entry, name: str) -> _Entry:
    """Skip by name what cannot be a labelled photo; name is the file or member name."""
    if not entry.reason and not is_image_name(name):
        entry.reason = "not an image file (by its extension)"
    elif not entry.reason and entry.label is None:
        entry.reason = "no label: neither file name nor folder says cat or dog"
    return entry


def _folder_entries(folder: str, split: str) -> list[_Entry]:
    return [_judge(_Entry(printable(path), split, label_from_path(path), note, file=path), path)
            for path, note in list_files(folder)]


def _sources(data: DataParams) -> list[tuple[str, str, str]]:
    """(key, path, split) of each photo source ingest reads."""
    sources = [("train_dir", data.train_dir, "train")]
    if not data.split_train:
        sources.append(("test_dir", data.test_dir, "test"))
    return sources


def archive_limits(data: DataParams) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=data.max_file_mb * MB,
                         max_total=int(data.max_archive_gb * (1 << 30)),
                         max_header=data.max_header_kb * 1024,
                         max_seconds=data.max_member_seconds)


def _wanted(name: str) -> bool:
    """A member worth reading: named like a labelled photo."""
    return is_image_name(name) and label_from_path(name) is not None


class _Decoder:
    """Decodes photos on every core as they are found, each into its entry's `image`.

    OpenCV's decoders and resize release the GIL, so threads use every core without copying
    pixels between processes. Photos go out in small batches to keep the per-task overhead
    low; at most a few batches wait at a time, so archive bytes read ahead of the decoders
    stay a few megabytes.
    """

    def __init__(self, pool: ThreadPoolExecutor, bar: tqdm, data: DataParams, limits: Limits,
                 workers: int):
        self.pool, self.bar, self.data, self.limits, self.workers = pool, bar, data, limits, workers
        self.pending: deque = deque()
        self.batch: list[tuple[_Entry, bytes | None]] = []
        self.size = 0

    def add(self, entry: _Entry, raw: bytes | None) -> None:
        """Decode `entry` from `raw`, or from its file when raw is None."""
        self.batch.append((entry, raw))
        self.size += len(raw or b"")
        if len(self.batch) == _CHUNK or self.size >= _CHUNK_BYTES:
            self._submit()

    def _submit(self) -> None:
        if self.batch:
            self.pending.append(self.pool.submit(self._decode, self.batch))
            self.batch, self.size = [], 0
        while len(self.pending) > 2 * self.workers:
            self.bar.update(self.pending.popleft().result())

    def finish(self) -> None:
        self._submit()
        while self.pending:
            self.bar.update(self.pending.popleft().result())

    def _decode(self, batch: list[tuple[_Entry, bytes | None]]) -> int:
        size, fast = self.data.image_size, self.data.fast_decode
        for entry, raw in batch:
            try:
                photo = (load_photo(entry.file, size, fast, self.limits) if raw is None
                         else photo_from_bytes(raw, size, fast, self.limits))
            except ImageError as exc:
                entry.reason = str(exc)
            else:
                entry.image = photo.image
                entry.converted = "; ".join(photo.conversions)
                entry.digest = photo.digest
        return len(batch)


def _scan_archive(path: str, split: str, limits: ArchiveLimits, decoder: _Decoder) -> list[_Entry]:
    """One pass over the archive: an entry per member, the photos handed to the decoder."""
    shown = printable(path)
    entries = []
    with open_archive(path, limits) as archive:
        for member, got in archive.scan(_wanted):
            entry = _judge(_Entry(member_path(shown, printable(member.name)), split,
                                  label_from_path(member.name), member.note, member=member),
                           member.name)
            if isinstance(got, str):
                entry.reason = got
            elif got is not None and not entry.reason:
                decoder.add(entry, got)
            entries.append(entry)
    return entries


def _keep_last_of_each_name(entries: list[_Entry]) -> None:
    """Unpacking keeps the last of several members that land on one path; so does ingest."""
    last = {e.member.key: e for e in entries}
    for e in entries:
        if not e.reason and last[e.member.key] is not e:
            e.reason = "a later member of the archive has the same name (unpacking keeps that one)"
            e.image = None


def _find_and_decode(data: DataParams, workers: int, progress: bool) -> list[_Entry]:
    """Every file and member of the sources, train's first, each source in sorted path order,
    with the pixels of the photos decoded."""
    limits = Limits(data.max_file_mb * MB, data.max_pixels)
    found: list[list[_Entry]] = []
    archived: list[list[_Entry]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(desc="ingest", unit="photo", disable=None if progress else True) as bar:
        decoder = _Decoder(pool, bar, data, limits, workers)
        try:
            for key, path, split in _sources(data):
                if os.path.isdir(path):
                    found.append(_folder_entries(path, split))
                    for entry in found[-1]:
                        if not entry.reason:
                            decoder.add(entry, None)
                elif is_archive_name(path):
                    found.append(_scan_archive(path, split, archive_limits(data), decoder))
                    archived.append(found[-1])
                else:
                    raise IngestError(f"data.{key}: {path!r} is a file, not a folder or a .zip, "
                                      f".tar, .tar.gz or .tgz archive of photos")
        finally:
            decoder.finish()
    for entries in archived:
        _keep_last_of_each_name(entries)
        entries.sort(key=lambda e: (e.path, e.member.position))
    return [entry for entries in found for entry in entries]


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
    Peak memory: the decoded photos (only those, however many other files there are) and a
    batch or two of encoded bytes.
    """
    require_folders(data)
    workers = data.workers or os.cpu_count() or 1
    entries = _find_and_decode(data, workers, progress)
    _drop_duplicates(entries)
    kept = [e for e in entries if not e.reason]
    for e in entries:
        if e.reason:
            e.image = None

    labels = np.array([e.label for e in kept], dtype=np.uint8)
    if data.split_train:
        test = stratified_test_mask(labels, data.test_fraction, data.split_seed)
        for e, is_test in zip(kept, test):
            e.split = "test" if is_test else "train"
    split_of = np.array([e.split for e in kept])
    manifest = _manifest(entries)
    _check_usable(labels, split_of, data, manifest)
    return manifest, {name: _stack([e for e in kept if e.split == name], data.image_size)
                      for name in ("train", "test")}


def _stack(entries: list[_Entry], size: int) -> Split:
    """One split's photos as one contiguous stack; each photo's own array is let go as it is
    copied, so the photos are not held twice."""
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    for row, entry in enumerate(entries):
        images[row] = entry.image
        entry.image = None
    return Split(images, np.array([e.label for e in entries], dtype=np.uint8),
                 [e.path for e in entries])


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
                raise IngestError(f"the {name} split has no usable {label_name} images ({where}); "
                                  f"see the manifest's reasons", manifest)


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
