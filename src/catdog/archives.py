"""Photos inside .zip, .tar, .tar.gz and .tgz archives, read like files without unpacking.

Nothing is ever written to disk, and an archive is read once, front to back: every member is
decompressed at most once, whatever the compression. The work is bounded before any byte is
read (`ArchiveLimits`): a member's own bytes (`data.max_file_mb`, whatever it claims), the bytes
decompressed from the whole archive (`data.max_archive_gb`), the body of a tar long-name or
PAX header (`data.max_header_kb`) and the time spent on one member (`data.max_member_seconds`).
Members that are not plain files (folders aside), whose names would escape an unpacking
folder (absolute, `..`), that are encrypted or that claim more than the limit are listed with
the reason they are not read.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import posixpath
import stat
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Callable, Iterator

from catdog.errors import CatdogError

_MB = 1 << 20
_CHUNK = 1 << 20  # bytes decompressed between two looks at the clock
_ZERO_BLOCK = bytes(tarfile.BLOCKSIZE)
_TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


class ArchiveError(CatdogError):
    """An archive that cannot be read at all, or not within the limits; the message names
    the file (and the param when a limit was reached)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on the work one archive may cause, each checked before the bytes are read."""

    max_bytes: int = 100 * _MB         # one member's bytes (data.max_file_mb)
    max_total: int = 20 * 1024 * _MB   # bytes decompressed from the archive (data.max_archive_gb)
    max_header: int = 1 * _MB          # body of one tar long-name or PAX header (data.max_header_kb)
    max_seconds: float = 60.0          # decompressing one member (data.max_member_seconds)


@dataclass
class Member:
    """One entry of an archive that is not a folder."""

    name: str       # as stored (undecodable bytes kept as surrogates)
    position: int   # index in the archive's own order
    size: int       # bytes the archive says it holds
    note: str = ""  # why it is not read; "" when it can be

    @property
    def key(self) -> str:
        """The path it unpacks to: `./a/b.jpg`, `a//b.jpg` and `a/b.jpg` are one file."""
        return normalized_name(self.name)


def normalized_name(name: str) -> str:
    """The path a safe member unpacks to (unsafe names are kept as they are, to be shown)."""
    if unsafe_name(name):
        return name
    return posixpath.normpath(name.replace("\\", "/"))


def unsafe_name(name: str) -> bool:
    """True for names that would land outside the folder they are unpacked into."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or (len(posix) > 1 and posix[1] == ":") or ".." in posix.split("/")


def _oversize(size: int, max_bytes: int) -> str:
    return (f"archive member of {size / _MB:.1f} MB, more than the {max_bytes / _MB:g} MB "
            f"limit (data.max_file_mb): not read")


# What `scan` yields for a member: its bytes, why they could not be read, or None when they
# were not wanted or the member's note says why not.
Scanned = tuple[Member, "bytes | str | None"]


class Archive:
    """Base of the two kinds; use `open_archive`."""

    path: str

    def __init__(self, path: str, limits: ArchiveLimits):
        self.path = path
        self.limits = limits
        self._total = 0  # bytes decompressed so far

    def scan(self, wanted: Callable[[str], bool]) -> Iterator[Scanned]:
        """Every entry but folders in the archive's order, with the bytes of those that have
        no note and whose name is `wanted`. Each scan is one pass, bounded on its own: a tar
        scanned again is decompressed again from its start."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _note(self, name: str, size: int) -> str:
        if unsafe_name(name):
            return "unsafe member name (absolute or containing '..'): not read"
        if size > self.limits.max_bytes:
            return _oversize(size, self.limits.max_bytes)
        return ""

    def _admit(self, name: str, size: int) -> None:
        """Refuse, before reading them, bytes that would take the archive past its total."""
        if self._total + size > self.limits.max_total:
            raise ArchiveError(
                f"{self.path}: member {name!r} would take the bytes decompressed from the "
                f"archive past {self.limits.max_total / (1 << 30):g} GB (data.max_archive_gb); "
                f"stopped before reading it")

    def _read(self, f: IO[bytes], name: str, size: int, keep: bool = True) -> tuple[bytes, int]:
        """Decompress at most `size` bytes of one member in chunks, within the time limit:
        (the bytes when kept, else b"", and how many there were)."""
        self._admit(name, size)
        start = time.monotonic()
        chunks, got = [], 0
        while got < size:
            chunk = f.read(min(_CHUNK, size - got))
            if not chunk:
                break
            if keep:
                chunks.append(chunk)
            got += len(chunk)
            if time.monotonic() - start > self.limits.max_seconds:
                raise ArchiveError(
                    f"{self.path}: member {name!r} took more than {self.limits.max_seconds:g} s "
                    f"to decompress (data.max_member_seconds); stopped")
        self._total += got
        return b"".join(chunks), got


class _Zip(Archive):
    def __init__(self, path: str, limits: ArchiveLimits):
        super().__init__(path, limits)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            raise ArchiveError(f"{path}: not a readable zip archive (truncated or damaged?): {exc}") from None

    def _member(self, position: int, info: zipfile.ZipInfo) -> Member:
        mode = info.external_attr >> 16
        note = self._note(info.filename, info.file_size)
        if not note and info.flag_bits & 0x1:
            note = "encrypted archive member (needs a password): not read"
        elif not note and stat.S_ISLNK(mode):
            note = "symbolic link inside the archive, not followed"
        elif not note and mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            note = "not a regular file inside the archive: not read"
        return Member(info.filename, position, info.file_size, note)

    def scan(self, wanted: Callable[[str], bool]) -> Iterator[Scanned]:
        self._total = 0
        infos = [(p, i) for p, i in enumerate(self._zip.infolist()) if not i.is_dir()]
        # Zip members are reached through the central directory: only wanted ones are read.
        for position, info in sorted(infos, key=lambda pi: pi[1].header_offset):
            member = self._member(position, info)
            if member.note or not wanted(member.name):
                yield member, None
                continue
            try:
                with self._zip.open(info) as f:
                    # Never more than the claim (checked against the limit) and one byte: a
                    # member inflating past its claim is cut off there and fails its CRC.
                    data, _ = self._read(f, member.name, member.size + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError,
                    OSError) as exc:
                yield member, f"damaged archive member: {exc}"
                continue
            yield member, (_oversize(len(data), self.limits.max_bytes)
                           if len(data) > self.limits.max_bytes else data)

    def close(self) -> None:
        self._zip.close()


class _TarHeader(tarfile.TarInfo):
    """Tar headers whose bodies (GNU long names, PAX records) are refused above the limit
    before tarfile reads them into memory; `_open_tar` makes one subclass per archive."""

    path = ""
    max_header = 0
    zero_block_seen = False

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        cls.zero_block_seen = buf == _ZERO_BLOCK
        return super().frombuf(buf, encoding, errors)

    def _refuse_large_body(self, kind: str) -> None:
        if self.size > self.max_header:
            raise ArchiveError(
                f"{self.path}: a tar {kind} header declares {self.size / _MB:.1f} MB, more than "
                f"the {self.max_header / 1024:g} KB limit (data.max_header_kb); stopped before "
                f"reading it")

    def _proc_gnulong(self, tarfile):
        self._refuse_large_body("long-name")
        return super()._proc_gnulong(tarfile)

    def _proc_pax(self, tarfile):
        self._refuse_large_body("PAX")
        return super()._proc_pax(tarfile)


class _Tar(Archive):
    def __init__(self, path: str, limits: ArchiveLimits):
        super().__init__(path, limits)
        self._header = type("_Header", (_TarHeader,), {"path": path, "max_header": limits.max_header})
        self._file: IO[bytes] | None = None
        self._tar: tarfile.TarFile | None = None
        self._scanned = False
        self._open()

    def _open(self) -> None:
        path = self.path
        try:
            self._file = _decompressed(path)
            # Stream mode: read front to back once, never seeking back (a backward seek in a
            # compressed stream decompresses it again from the start).
            self._tar = tarfile.open(fileobj=self._file, mode="r|", tarinfo=self._header,
                                     bufsize=_CHUNK)
        except ArchiveError:  # a limit reached by the first header
            self.close()
            raise
        except _TAR_ERRORS as exc:
            self.close()
            raise ArchiveError(f"{path}: not a readable tar archive (truncated or damaged?): {exc}") from None

    def _member(self, position: int, info: tarfile.TarInfo) -> Member:
        note = self._note(info.name, info.size if info.isreg() else 0)
        if not note and (info.issym() or info.islnk()):
            note = "link inside the archive, not followed"
        elif not note and not info.isreg():
            note = "not a regular file inside the archive (device or FIFO): not read"
        return Member(info.name, position, info.size, note)

    def scan(self, wanted: Callable[[str], bool]) -> Iterator[Scanned]:
        if self._scanned:  # the stream is spent: start it again
            self.close()
            self._open()
        self._scanned, self._total = True, 0
        position = 0
        while True:
            try:
                info = self._tar.next()
            except _TAR_ERRORS as exc:
                raise ArchiveError(f"{self.path}: truncated or damaged tar archive: {exc}") from None
            if info is None:
                break
            # The members list tarfile keeps would grow with every header: ours is enough.
            self._tar.members.clear()
            if info.isdir():
                position += 1
                continue
            member = self._member(position, info)
            position += 1
            has_data = info.isreg() or info.type not in tarfile.SUPPORTED_TYPES
            read = not member.note and wanted(member.name)
            data = self._pass(info, member, keep=read) if has_data and info.size else b""
            yield member, (data if read else None)
        self._require_end()

    def _pass(self, info: tarfile.TarInfo, member: Member, keep: bool) -> bytes:
        """Decompress a member's bytes once: kept when wanted, else passed over in chunks."""
        try:
            data, got = self._read(self._tar.extractfile(info), member.name, info.size, keep)
        except _TAR_ERRORS as exc:
            raise ArchiveError(f"{self.path}: truncated or damaged tar archive at "
                               f"{member.name!r}: {exc}") from None
        if got < info.size:
            raise ArchiveError(f"{self.path}: truncated tar archive: {member.name!r} ends early")
        return data

    def _require_end(self) -> None:
        # tarfile takes a file cut off between members for a shorter archive; a complete one
        # ends with two zero blocks.
        try:
            second = self._tar.fileobj.read(tarfile.BLOCKSIZE) if self._header.zero_block_seen else b""
        except _TAR_ERRORS:
            second = b""
        if second != _ZERO_BLOCK:
            raise ArchiveError(f"{self.path}: truncated tar archive (it ends without the "
                               f"end-of-archive marker)")

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
        if self._file is not None:
            self._file.close()
        self._tar = self._file = None


_COMPRESSED = ((b"\x1f\x8b", gzip.GzipFile), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))


def _decompressed(path: str) -> IO[bytes]:
    """The tar stream in `path`, decompressed if its first bytes say so (whatever its name).
    These readers inflate at most what is asked of them: tarfile's own stream reader would
    inflate each 10 KB read whole, up to gigabytes for a bzip2 run of zeros."""
    with open(path, "rb") as raw:
        magic = raw.read(6)
    for prefix, reader in _COMPRESSED:
        if magic.startswith(prefix):
            return reader(path, "rb")  # opened by name, the reader closes its file with itself
    return open(path, "rb")


def open_archive(path: str | os.PathLike, limits: ArchiveLimits = ArchiveLimits()) -> Archive:
    """Open a .zip, .tar, .tar.gz or .tgz archive for reading; ArchiveError if it is not one."""
    path = os.fspath(path)
    if path.lower().endswith(".zip"):
        return _Zip(path, limits)
    return _Tar(path, limits)


def member_path(archive: str, name: str) -> str:
    """How a member is named in the manifest: `archive.zip:folder/name.jpg`."""
    return f"{archive}:{PurePosixPath(normalized_name(name).replace(os.sep, '/')).as_posix()}"
