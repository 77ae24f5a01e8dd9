"""Hostile archives, each built small here: the work they cause is bounded before it is done."""
from __future__ import annotations

import bz2
import gzip
import io
import os
import subprocess
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

from catdog.archives import ArchiveError
from catdog.dataset import ingest
from catdog_dev.photos import data_params, write_photo

MB = 1 << 20
GB = 1 << 30


@pytest.fixture
def photos(tmp_path, rng) -> dict[str, bytes]:
    folder = tmp_path / "photos"
    return {p.name: p.read_bytes() for p in
            [write_photo(folder / f"{kind}.{i}.jpg", rng) for i in range(4) for kind in ("cat", "dog")]}


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """One raw tar header block declaring `size` bytes, whatever follows it."""
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.GNU_FORMAT)


def tar_bytes(photos: dict[str, bytes], before: bytes = b"") -> bytes:
    """`before` (raw tar blocks), then the photos, then the end-of-archive marker."""
    out = io.BytesIO()
    out.write(before)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in photos.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % tarfile.BLOCKSIZE)


def compress(path: Path, raw: bytes) -> Path:
    """bz2 under a plain .tar name (any compression is read under any tar name), else gzip."""
    path.write_bytes(bz2.compress(raw, 1) if path.name.endswith(".tar") else gzip.compress(raw, 1))
    return path


@pytest.mark.parametrize("name", ["bomb.tar.gz", "bomb.tar"])
@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_huge_long_name_or_pax_header_is_refused_before_it_is_read(tmp_path, photos, name, kind):
    # The header's body is really there: 64 MB that tarfile would read into memory whole.
    body = b"a" * (64 * MB)
    archive = compress(tmp_path / name, tar_bytes(photos, header("././@LongLink", len(body), kind)
                                                  + padded(body)))
    assert archive.stat().st_size < MB
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"bomb\.tar(\.gz)?: a tar (long-name|PAX) header "
                                               r"declares 64\.0 MB, more than the 1024 KB limit "
                                               r"\(data\.max_header_kb\)"):
            ingest(data_params(archive), progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


def test_an_archive_declaring_more_than_the_total_is_refused_before_reading(tmp_path, photos):
    # 100 GB declared by a 20-byte-long archive: refused at the header, not found truncated later.
    archive = compress(tmp_path / "huge.tar.gz", header("zeros.bin", 100 * GB))
    with pytest.raises(ArchiveError, match=r"huge\.tar\.gz: member 'zeros\.bin' would take the "
                                           r"bytes decompressed from the archive past 20 GB "
                                           r"\(data\.max_archive_gb\)"):
        ingest(data_params(archive), progress=False)


@pytest.mark.parametrize("name", ["zeros.tar.gz", "zeros.tar"])
def test_the_total_bound_counts_members_that_are_only_passed_over(tmp_path, photos, name):
    zeros = 48 * MB  # not a photo: never kept, but decompressed to reach the photos after it
    archive = compress(tmp_path / name, tar_bytes(photos, header("zeros.bin", zeros) + bytes(zeros)))
    with pytest.raises(ArchiveError, match=r"member 'zeros\.bin' would take .* past 0\.03125 GB"):
        ingest(data_params(archive, max_archive_gb=1 / 32), progress=False)
    manifest, splits = ingest(data_params(archive, max_archive_gb=1 / 16), progress=False)
    assert len(splits["train"].labels) + len(splits["test"].labels) == len(photos)


def test_a_member_slow_to_decompress_stops_ingest_naming_the_param(tmp_path, photos):
    zeros = 96 * MB
    archive = compress(tmp_path / "slow.tar", tar_bytes(photos, header("zeros.bin", zeros) + bytes(zeros)))
    start = time.monotonic()
    with pytest.raises(ArchiveError, match=r"slow\.tar: member 'zeros\.bin' took more than "
                                           r"0\.02 s to decompress \(data\.max_member_seconds\)"):
        ingest(data_params(archive, max_member_seconds=0.02), progress=False)
    assert time.monotonic() - start < 5


def _bytes_read() -> int:
    return int(dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())["rchar"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
# the bz2 one (under a .tar name) takes seconds, 4x the gzip one: the slow tier
@pytest.mark.parametrize("name", ["noise.tar.gz", pytest.param("noise.tar", marks=pytest.mark.pipeline)])
def test_a_compressed_archive_is_read_once_front_to_back(tmp_path, photos, name):
    # Random bytes do not compress: the archive is as large as what it holds.
    noise = os.urandom(8 * MB)
    archive = compress(tmp_path / name, tar_bytes(photos, header("noise.bin", len(noise)) + noise)
                       + b"")
    size = archive.stat().st_size
    before = _bytes_read()
    manifest, _ = ingest(data_params(archive, workers=1), progress=False)
    read = _bytes_read() - before
    assert (manifest.status == "ok").sum() == len(photos)
    assert size <= read < 1.25 * size


def test_names_that_unpack_to_one_path_are_one_photo(tmp_path, photos, rng):
    cat, dog = (write_photo(tmp_path / f"{n}.jpg", rng).read_bytes() for n in ("cat", "dog"))
    members = {**photos, "./cat.0.jpg": cat, "pets//dog.0.jpg": photos["dog.0.jpg"],
               "pets/dog.0.jpg": dog}
    archive = tmp_path / "photos.tar"
    archive.write_bytes(tar_bytes(members))
    manifest, splits = ingest(data_params(archive), progress=False)
    for path in (f"{archive}:cat.0.jpg", f"{archive}:pets/dog.0.jpg"):
        rows = manifest[manifest.path == path]
        assert list(rows.status) == ["skipped", "ok"], path
        assert rows.reason.iloc[0].startswith("a later member of the archive has the same name")
    assert len(splits["train"].paths) + len(splits["test"].paths) == len(photos) + 1


def test_the_decode_buffer_holds_the_photos_not_every_member(tmp_path, photos):
    # 3000 members that are not photos; at 512 pixels a buffer row for each would be 2.3 GB.
    members = {**photos, **{f"notes/{i}.txt": b"x" for i in range(3000)}}
    archive = tmp_path / "many.tar"
    archive.write_bytes(tar_bytes(members))
    script = f"""
import resource
from catdog_dev.photos import data_params
from catdog.dataset import ingest
vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize')][0].split()[1]) * 1024
limit = vm + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
manifest, splits = ingest(data_params({str(archive)!r}, image_size=512, workers=1), progress=False)
print((manifest.status == 'ok').sum())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).parent, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == str(len(photos))
