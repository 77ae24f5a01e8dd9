"""Atomic, deterministic writing of the pipeline's output files and folders.

Every output goes to a temporary file (or folder) beside its destination, named `.NAME.*.tmp`
(ignored by git), and is renamed over the destination only once it is complete, so a killed
stage never leaves a half-written output. A full disk or a read-only folder stops the stage
with one line naming the file (`StorageError`), and the temporary file is removed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from catdog.errors import CatdogError


class StorageError(CatdogError):
    """An output cannot be written (no space left, read-only folder, ...) or must not be."""


def _cannot_write(path: Path, exc: OSError) -> StorageError:
    return StorageError(f"cannot write {path}: {exc.strerror or exc}")


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it.
    `durable` flushes it to the disk first, so that it also survives a power cut."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            if durable:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            # mkstemp creates files readable by the owner only; outputs get the usual mode.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def require_replaceable(folder: str | os.PathLike, marker: str, key: str) -> None:
    """Fail naming `key` unless `folder` is absent or is a folder holding the file `marker`,
    that is, one that `replace_folder(folder, marker)` made: nothing else is ever replaced."""
    folder = Path(folder)
    if not os.path.lexists(folder):
        return
    if folder.is_symlink() or not folder.is_dir() or not (folder / marker).is_file():
        kind = "a link" if folder.is_symlink() else "a folder" if folder.is_dir() else "a file"
        raise StorageError(
            f"{key}: {folder} is {kind} not written by this pipeline (it has no {marker} file); "
            f"refusing to replace it. Name a new folder, or remove this one yourself")


@contextmanager
def replace_folder(folder: str | os.PathLike, marker: str, key: str) -> Iterator[Path]:
    """Yield a new empty folder beside `folder` holding the file `marker`; on success it
    replaces `folder` whole. Refuses (see `require_replaceable`) a folder it did not make.
    Staging folders left by a killed run are removed first."""
    folder = Path(folder)
    require_replaceable(folder, marker, key)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(folder, marker)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as exc:
        raise _cannot_write(folder, exc) from None
    old = staging.with_name(staging.name[:-len(".tmp")] + ".old.tmp")
    try:
        try:
            (staging / marker).write_text(
                f"Written by the stage that owns {key}; it replaces this folder whole.\n")
            yield staging
            # Moved aside rather than deleted first, so the folder is never half there.
            if folder.exists():
                folder.rename(old)
            staging.rename(folder)
        except OSError as exc:
            raise _cannot_write(folder, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _remove_stale_staging(folder: Path, marker: str) -> None:
    for entry in folder.parent.glob(f".{folder.name}.*.tmp"):
        if entry.is_dir() and not entry.is_symlink() and (
                (entry / marker).is_file() or not any(entry.iterdir())):
            shutil.rmtree(entry, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable)


def _plain(value: Any) -> Any:
    """Turn NumPy scalars and arrays into plain Python values for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_plain, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


ZIP64_FROM = 1 << 31  # entries this large need ZIP64 headers


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays uncompressed in NumPy's .npz layout, so that equal arrays give
    byte-identical files on every machine: entries carry a fixed date, and ZIP64 headers only
    when an entry needs them (`np.savez` forces them, and Python versions before 3.11.4 write
    them with another "version needed to extract", which changes the file's hash)."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, value in arrays.items():
                value = np.asanyarray(value)
                big = value.nbytes + 4096 >= ZIP64_FROM
                with archive.open(f"{name}.npy", "w", force_zip64=big) as entry:
                    np.lib.format.write_array(entry, value, allow_pickle=False)


# What NumPy raises for a .npz file whose bytes were changed or cut short.
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError)


def damaged(path: str | os.PathLike, exc: BaseException) -> StorageError:
    """One line naming a file whose bytes are not what was written, and how to rebuild it."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return StorageError(f"{path} is damaged ({reason}); rebuild it with "
                        f"`python -m catdog rebuild {path}`")


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except DAMAGE as exc:
        raise damaged(path, exc) from None


def text_arrays(name: str, texts: list[str]) -> dict[str, np.ndarray]:
    """Strings as two arrays for `save_npz`: `name`, their UTF-8 bytes one after another, and
    `name_ends`, where each ends. A fixed-width string array would pad every string to the
    longest, so that one long name would cost its length for every photo."""
    encoded = [t.encode("utf-8", "surrogateescape") for t in texts]
    return {name: np.frombuffer(b"".join(encoded), dtype=np.uint8),
            f"{name}_ends": np.cumsum([len(e) for e in encoded], dtype=np.int64)}


def texts_from(arrays: dict[str, np.ndarray] | Any, name: str) -> list[str]:
    """The strings `text_arrays(name, ...)` stored (or a string array written before it)."""
    data = arrays[name]
    if data.dtype.kind == "U":
        return data.tolist()
    raw, ends = data.tobytes(), arrays[f"{name}_ends"].tolist()
    return [raw[start:end].decode("utf-8", "surrogateescape")
            for start, end in zip([0, *ends[:-1]], ends)]
