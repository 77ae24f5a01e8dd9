"""From folders or archives of photos to labelled uint8 image stacks and a manifest.

Every file found under the folders, and every member of the archives, gets one manifest row:
`ok`, or `skipped` with a reason. Decoding runs on all cores; the result does not depend on the
number of workers or on the order in which they finish, because each photo's pixels go to the
row fixed by its sorted position.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import pandas as pd
from tqdm import tqdm

from catdog.archives import Archive, ArchiveLimits, Member, member_path, open_archive
from catdog.errors import CatdogError
from catdog.images import MB, ImageError, Limits, Photo, load_photo, photo_from_bytes
from catdog.labels import LABEL_NAMES, is_image_name, label_from_path, printable
from catdog.params import DataParams, is_archive_name, require_folders
from catdog.split import stratified_mask

CHUNK = 16             # photos per decoding task
_CHUNK_BYTES = 4 << 20  # encoded bytes per task read from an archive, at most (but one photo)
_TRIM_EVERY = 2048  # photos stacked between two hand-backs of freed memory: 24 MB at 64 x 64
MANIFEST_COLUMNS = ["path", "split", "label", "status", "reason", "converted"]
T = TypeVar("T")


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
    image: np.ndarray | None = None  # (size, size, 3) uint8 once decoded


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
    """The test split: `held_out_count` of each class (at least one, and at least one left
    for training when the class has two or more), by a RandomState seeded with `seed`."""
    return stratified_mask(labels, fraction, np.random.RandomState(seed))


NOT_AN_IMAGE = "not an image file (by its extension)"
NO_LABEL = "no label: neither file name nor folder says cat or dog"
_CHANGED = "archive member not found again when its bytes were read (the archive changed)"


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


def _sources(data: DataParams) -> list[tuple[str, str, str]]:
    """(key, path, split) of each photo source ingest reads."""
    sources = [("data.train_dir", data.train_dir, "train")]
    if not data.split_train:
        sources.append(("data.test_dir", data.test_dir, "test"))
    return sources


def image_limits(data: DataParams) -> Limits:
    """The data.max_* bounds on one photo file and on the pixels its header declares."""
    return Limits(data.max_file_mb * MB, data.max_pixels)


def archive_limits(data: DataParams) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=data.max_file_mb * MB,
                         max_total=int(data.max_archive_gb * (1 << 30)),
                         max_header=data.max_header_kb * 1024,
                         max_seconds=data.max_member_seconds)


def _photo_name(labelled: bool) -> Callable[[str], bool]:
    """Whether a member is worth reading: named like a (labelled, if asked) photo."""
    return lambda name: is_image_name(name) and (not labelled or label_from_path(name) is not None)


def _scan_archive(archive: Archive, index: int, split: str, labelled: bool, read: bool,
                  found: list[_Entry]) -> Iterator[tuple[_Entry, bytes]]:
    """One pass over the archive: an entry per member appended to `found`, and, when `read`,
    each photo's entry with its bytes."""
    shown = printable(archive.path)
    wanted = _photo_name(labelled) if read else (lambda name: False)
    for member, got in archive.scan(wanted):
        entry = _judge(_Entry(member_path(shown, printable(member.name)), split,
                              label_from_path(member.name), member.note, archive=index,
                              member=member), member.name, labelled)
        found.append(entry)
        if isinstance(got, str):
            entry.reason = got
        elif got is not None and not entry.reason:
            yield entry, got


def _keep_last_of_each_name(entries: list[_Entry]) -> None:
    """Unpacking keeps the last of several members that land on one path; so does ingest.
    The archive's entries are then put in sorted path order."""
    last = {e.member.key: e for e in entries}
    for e in entries:
        if not e.reason and last[e.member.key] is not e:
            e.reason = "a later member of the archive has the same name (unpacking keeps that one)"
            e.image = None
    entries.sort(key=lambda e: (e.path, e.member.position))


def _open_source(key: str, path: str, files: bool, bounds: ArchiveLimits) -> Archive | None:
    """The archive `path` names (opened), or None for a folder or, with `files`, a photo file."""
    if os.path.isdir(path):
        return None
    if is_archive_name(path):
        return open_archive(path, bounds)
    if files:
        return None
    raise IngestError(f"{key}: {path!r} is a file, not a folder or a .zip, .tar, "
                      f".tar.gz or .tgz archive of photos")


def find_entries(sources: list[tuple[str, str, str]], limits: Limits, archives: list[Archive],
                 labelled: bool = True, files: bool = False,
                 bounds: ArchiveLimits | None = None) -> list[_Entry]:
    """One entry per file under each (key, path, split) source's folder or member of its
    archive (opened into `archives`, which the caller closes; only names are read, each
    archive once within `bounds`). With `files`, a source that is neither is one photo file;
    otherwise it is refused naming `key`. Without `labelled`, photos whose names say no class
    are kept (label None)."""
    bounds = bounds or ArchiveLimits(max_bytes=limits.max_bytes)
    entries = []
    for key, path, split in sources:
        archive = _open_source(key, path, files, bounds)
        if archive is not None:
            archives.append(archive)
            found: list[_Entry] = []
            for _ in _scan_archive(archive, len(archives) - 1, split, labelled, False, found):
                pass
            _keep_last_of_each_name(found)
            entries += found
        elif os.path.isdir(path):
            entries += _folder_entries(path, split, labelled)
        else:
            entries.append(_Entry(printable(path), split, label_from_path(path), file=path))
    return entries


def require_labelled(data: DataParams) -> None:
    """Refuse a photo folder or archive in which photos are found but no name says cat or
    dog (Kaggle's test1.zip), before ingest runs: such photos are for predict, not ingest.
    Only names are read; a source that does not exist is left to the path checks."""
    limits = image_limits(data)
    for key, path, split in _sources(data):
        if not os.path.exists(path) or not (os.path.isdir(path) or is_archive_name(path)):
            continue
        archives: list[Archive] = []
        try:
            photos = [e for e in find_entries([(key, path, split)], limits, archives,
                                              bounds=archive_limits(data))
                      if e.reason in ("", NO_LABEL)]
        finally:
            for archive in archives:
                archive.close()
        if photos and all(e.reason == NO_LABEL for e in photos):
            raise IngestError(
                f"{key}: none of the {len(photos)} photos in {path!r} is labelled (its name or "
                f"folder saying cat or dog), e.g. {photos[0].path}; to classify unlabeled photos "
                f"use `catdog predict {path}` or the predict stage (set predict.photos)")


def _decoded(work: Iterable[tuple[T, _Entry, bytes | None]], size: int, fast_decode: bool,
             limits: Limits, workers: int, progress: bool, desc: str, total: int | None = None,
             ahead: int = 0) -> Iterator[list[tuple[T, Photo]]]:
    """Decode each (tag, entry, bytes) of `work` (bytes None: open the entry's file),
    yielding small batches of (tag, photo) as they are done; an entry that cannot be
    decoded gets its reason and is left out.

    OpenCV's decoders and resize release the GIL, so threads use every core without copying
    pixels between processes. Photos go out in small batches to keep the per-task overhead
    low; at most a few batches are in flight, so archive bytes read ahead of the decoders, and
    the photos decoded and not yet taken, stay a few megabytes whatever the number of photos.
    `ahead` more batches may wait, for a caller that takes them slowly.
    """
    def decode(batch: list[tuple[T, _Entry, bytes | None]]) -> list[tuple[T, Photo]]:
        done = []
        for tag, entry, raw in batch:
            try:
                photo = (load_photo(entry.file, size, fast_decode, limits) if raw is None
                         else photo_from_bytes(raw, size, fast_decode, limits))
            except ImageError as exc:
                entry.reason = str(exc)
            else:
                done.append((tag, photo))
        return done

    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=total, desc=desc, unit="photo", disable=None if progress else True) as bar:
        pending: deque = deque()

        def taken(waiting: int) -> Iterator[list[tuple[T, Photo]]]:
            while len(pending) > waiting:
                n, future = pending.popleft()
                yield future.result()
                bar.update(n)

        batch: list[tuple[T, _Entry, bytes | None]] = []
        held = 0
        for item in work:
            batch.append(item)
            held += len(item[2] or b"")
            if len(batch) == CHUNK or held >= _CHUNK_BYTES:
                pending.append((len(batch), pool.submit(decode, batch)))
                batch, held = [], 0
                yield from taken(2 * workers + ahead)
        if batch:
            pending.append((len(batch), pool.submit(decode, batch)))
        yield from taken(0)


def decode_batches(entries: list[_Entry], archives: list[Archive], size: int, fast_decode: bool,
                   limits: Limits, workers: int, progress: bool, desc: str = "ingest",
                   ahead: int = 0) -> Iterator[list[tuple[int, Photo]]]:
    """Decode every still-usable entry found by `find_entries`, yielding small batches of
    (entry index, photo) as they are done; an entry that cannot be decoded gets its reason
    and is left out. Files are opened by the decoding threads; each archive is read once more,
    front to back, for its photos' bytes."""
    todo = [i for i, e in enumerate(entries) if not e.reason]

    def work() -> Iterator[tuple[int, _Entry, bytes | None]]:
        yield from ((i, entries[i], None) for i in todo if entries[i].member is None)
        for a, archive in enumerate(archives):
            wanted = {entries[i].member.position: i for i in todo if entries[i].archive == a}
            names = {entries[i].member.name for i in wanted.values()}
            for member, got in archive.scan(lambda name: name in names):
                i = wanted.pop(member.position, None)
                if i is None:
                    continue
                if got is None or member.name != entries[i].member.name:
                    entries[i].reason = _CHANGED
                elif isinstance(got, str):
                    entries[i].reason = got
                else:
                    yield i, entries[i], got
            for i in wanted.values():
                entries[i].reason = _CHANGED

    yield from _decoded(work(), size, fast_decode, limits, workers, progress, desc,
                        total=len(todo), ahead=ahead)


def _find_and_decode(data: DataParams, workers: int, progress: bool) -> list[_Entry]:
    """Every file and member of the sources, train's first, each source in sorted path order,
    with the pixels of the photos decoded (each archive read once, front to back)."""
    limits = image_limits(data)
    found: list[list[_Entry]] = []
    archived: list[list[_Entry]] = []

    def work() -> Iterator[tuple[_Entry, _Entry, bytes | None]]:
        for key, path, split in _sources(data):
            found.append([])
            with _open_source(key, path, False, archive_limits(data)) or nullcontext() as archive:
                if archive is None:
                    found[-1] += _folder_entries(path, split)
                    yield from ((e, e, None) for e in found[-1] if not e.reason)
                else:
                    archived.append(found[-1])
                    yield from ((e, e, raw) for e, raw in
                                _scan_archive(archive, len(archived) - 1, split, True, True,
                                              found[-1]))

    for batch in _decoded(work(), data.image_size, data.fast_decode, limits, workers, progress,
                          "ingest"):
        for entry, photo in batch:
            entry.image = photo.image
            entry.converted = "; ".join(photo.conversions)
            entry.digest = photo.digest
    for entries in archived:
        _keep_last_of_each_name(entries)
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
    copied, and the memory let go is handed back to the system every few thousand photos
    (`release_freed_memory`), so the photos are not held twice."""
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    for row, entry in enumerate(entries):
        images[row] = entry.image
        entry.image = None
        if row % _TRIM_EVERY == _TRIM_EVERY - 1:
            release_freed_memory()
    return Split(images, np.array([e.label for e in entries], dtype=np.uint8),
                 [e.path for e in entries])


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to call


def release_freed_memory() -> None:
    """Hand memory freed by Python back to the system. The photos are thousands of small
    arrays, decoded on several threads: glibc keeps what they free for later allocations, so
    without this the stack a split is copied into would come on top of them."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
