"""Photos inside .zip, .tar, .tar.gz and .tgz archives, read like files without unpacking.

Nothing is ever written to disk: a member's bytes are read into memory, at most
`max_bytes` of them, whatever size the member claims. Members that are not plain files
(folders aside), whose names would escape an unpacking folder (absolute, `..`), that are
encrypted or that claim more than the limit are listed with the reason they are not read.
"""
from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterator

from catdog.errors import CatdogError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_MB = 1 << 20


class ArchiveError(CatdogError):
    """An archive that cannot be read at all; the message names the file."""


def is_archive_name(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class Member:
    """One entry of an archive that is not a folder."""

    name: str       # as stored (undecodable bytes kept as surrogates)
    position: int   # index in the archive's own order
    size: int       # bytes the archive says it holds
    note: str = ""  # why it is not read; "" when it can be


def unsafe_name(name: str) -> bool:
    """True for names that would land outside the folder they are unpacked into."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or (len(posix) > 1 and posix[1] == ":") or ".." in posix.split("/")


def _oversize(size: int, max_bytes: int) -> str:
    return (f"archive member of {size / _MB:.1f} MB, more than the {max_bytes / _MB:g} MB "
            f"limit (data.max_file_mb): not read")


class Archive:
    """Base of the two kinds; use `open_archive`."""

    path: str

    def members(self, max_bytes: int) -> list[Member]:
        """Every entry but folders, in the archive's order, each with a note when unreadable."""
        raise NotImplementedError

    def read(self, members: list[Member], max_bytes: int) -> Iterator[tuple[Member, bytes | str]]:
        """(member, its bytes) or (member, why it cannot be read), in the archive's order so
        that compressed streams are read once, front to back."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _note(self, name: str, size: int, max_bytes: int) -> str:
        if unsafe_name(name):
            return "unsafe member name (absolute or containing '..'): not read"
        if size > max_bytes:
            return _oversize(size, max_bytes)
        return ""


class _Zip(Archive):
    def __init__(self, path: str):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise ArchiveError(f"{path}: not a readable zip archive (truncated or damaged?): {exc}") from None

    def members(self, max_bytes: int) -> list[Member]:
        found = []
        for position, info in enumerate(self._zip.infolist()):
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            note = self._note(info.filename, info.file_size, max_bytes)
            if not note and info.flag_bits & 0x1:
                note = "encrypted archive member (needs a password): not read"
            elif not note and stat.S_ISLNK(mode):
                note = "symbolic link inside the archive, not followed"
            elif not note and mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                note = "not a regular file inside the archive: not read"
            found.append(Member(info.filename, position, info.file_size, note))
        return found

    def read(self, members: list[Member], max_bytes: int) -> Iterator[tuple[Member, bytes | str]]:
        infos = self._zip.infolist()
        for member in sorted(members, key=lambda m: infos[m.position].header_offset):
            try:
                with self._zip.open(infos[member.position]) as f:
                    # Never more than the claim (checked against the limit) and one byte: a
                    # member inflating past its claim is cut off there and fails its CRC.
                    data = f.read(min(member.size, max_bytes) + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError,
                    OSError) as exc:
                yield member, f"damaged archive member: {exc}"
                continue
            yield member, (_oversize(len(data), max_bytes) if len(data) > max_bytes else data)

    def close(self) -> None:
        self._zip.close()


class _Tar(Archive):
    def __init__(self, path: str):
        self.path = path
        try:
            self._tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ArchiveError(f"{path}: not a readable tar archive (truncated or damaged?): {exc}") from None
        self._infos: list[tarfile.TarInfo] = []

    def members(self, max_bytes: int) -> list[Member]:
        try:
            self._infos = self._tar.getmembers()
            # tarfile takes a file cut off between members for a shorter archive; a complete
            # one ends with two zero blocks.
            self._tar.fileobj.seek(self._tar.offset)
            end = self._tar.fileobj.read(2 * tarfile.BLOCKSIZE)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ArchiveError(f"{self.path}: truncated or damaged tar archive: {exc}") from None
        if end != bytes(2 * tarfile.BLOCKSIZE):
            raise ArchiveError(f"{self.path}: truncated tar archive (it ends without the "
                               f"end-of-archive marker)")
        found = []
        for position, info in enumerate(self._infos):
            if info.isdir():
                continue
            note = self._note(info.name, info.size if info.isreg() else 0, max_bytes)
            if not note and (info.issym() or info.islnk()):
                note = "link inside the archive, not followed"
            elif not note and not info.isreg():
                note = "not a regular file inside the archive (device or FIFO): not read"
            found.append(Member(info.name, position, info.size, note))
        return found

    def read(self, members: list[Member], max_bytes: int) -> Iterator[tuple[Member, bytes | str]]:
        for member in sorted(members, key=lambda m: self._infos[m.position].offset_data):
            info = self._infos[member.position]
            try:
                f = self._tar.extractfile(info)
                data = f.read(min(info.size, max_bytes + 1))
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                raise ArchiveError(f"{self.path}: truncated or damaged tar archive at "
                                   f"{member.name!r}: {exc}") from None
            if len(data) < info.size and len(data) <= max_bytes:
                raise ArchiveError(f"{self.path}: truncated tar archive: {member.name!r} ends early")
            yield member, data

    def close(self) -> None:
        self._tar.close()


def open_archive(path: str | os.PathLike) -> Archive:
    """Open a .zip, .tar, .tar.gz or .tgz archive for reading; ArchiveError if it is not one."""
    path = os.fspath(path)
    if path.lower().endswith(".zip"):
        return _Zip(path)
    return _Tar(path)


def member_path(archive: str, name: str) -> str:
    """How a member is named in the manifest: `archive.zip:folder/name.jpg`."""
    return f"{archive}:{PurePosixPath(name.replace(os.sep, '/')).as_posix()}"
