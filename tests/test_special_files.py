"""Files that are not plain photos — FIFOs, links to devices, huge declared sizes — are listed
with a reason and never read whole or decoded, by ingest and by predict alike."""
from __future__ import annotations

import os
import signal
import struct
import zlib

import numpy as np
import pytest

from catdog.dataset import ingest
from catdog.images import ImageError, Limits, load_photo
from catdog.model import Model
from catdog.network import initialize_parameters
from catdog.predict import predict_files
from catdog_dev.photos import data_params, write_photo


def png_declaring(width: int, height: int) -> bytes:
    """A small, complete PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4096)))
            + chunk(b"IEND", b""))


@pytest.fixture
def no_hang():
    """Fail instead of hanging forever if something blocks on a FIFO."""
    def stop(*_):
        raise TimeoutError("blocked on a special file")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def specials(tmp_path, rng):
    folder = tmp_path / "photos"
    for i in range(4):
        write_photo(folder / f"cat.{i}.jpg", rng)
        write_photo(folder / f"dog.{i}.jpg", rng)
    os.mkfifo(folder / "cat.50.jpg")
    (folder / "dog.50.jpg").symlink_to("/dev/zero")
    (folder / "cat.51.png").write_bytes(png_declaring(32000, 32000))
    (folder / "dog.51.jpg").write_bytes(b"\xff\xd8" + bytes((2 << 20) - 2))  # 2 MB
    return folder


EXPECTED = {
    "cat.50.jpg": "a named pipe (FIFO), not a regular file: not read",
    "dog.50.jpg": "a character device, not a regular file: not read",
    "cat.51.png": "PNG declaring 32000x32000 pixels, more than the limit of 100000000 "
                  "(data.max_pixels): not decoded",
    "dog.51.jpg": "2.0 MB, more than the 1 MB limit (data.max_file_mb): not read",
}


def test_ingest_lists_special_and_oversized_files_with_reasons(specials, no_hang):
    manifest, splits = ingest(data_params(specials, max_file_mb=1), progress=False)
    reason = {os.path.basename(p): r for p, r in zip(manifest.path, manifest.reason)}
    for name, words in EXPECTED.items():
        assert reason[name] == words, name
    assert sum(len(s.labels) for s in splits.values()) == 8


def test_predict_applies_the_same_checks(specials, no_hang):
    model = Model(initialize_parameters(16 * 16 * 3, 2, 1, 0), image_size=16)
    paths = sorted(str(p) for p in specials.iterdir())
    limits = Limits(max_bytes=1 << 20)
    failures = {}
    for path in paths:
        try:
            load_photo(path, 16, limits=limits)
        except ImageError as exc:
            failures[os.path.basename(path)] = str(exc)
    assert failures == EXPECTED
    predictions, skipped = predict_files(model, paths)
    reasons = {os.path.basename(p): r for p, r in skipped}
    # predict's default file-size limit (100 MB) lets the 2 MB file through to the decoder
    assert {k: reasons[k] for k in ("cat.50.jpg", "dog.50.jpg", "cat.51.png")} == \
        {k: EXPECTED[k] for k in ("cat.50.jpg", "dog.50.jpg", "cat.51.png")}
    assert len(predictions) == 8


def test_a_pixel_bound_below_a_photo_skips_it_before_decoding(tmp_path, rng):
    photo = write_photo(tmp_path / "cat.1.jpg", rng, height=40, width=50)
    with pytest.raises(ImageError, match="JPEG declaring 50x40 pixels, more than the limit of 1999"):
        load_photo(photo, 8, limits=Limits(max_pixels=1999))
    assert load_photo(photo, 8, limits=Limits(max_pixels=2000)).image.shape == (8, 8, 3)


@pytest.mark.parametrize("suffix", [".bmp", ".webp", ".tiff", ".png", ".jpg"])
def test_declared_sizes_are_read_from_every_common_header(tmp_path, rng, suffix):
    photo = write_photo(tmp_path / f"cat.1{suffix}", rng, height=40, width=50)
    with pytest.raises(ImageError, match="declaring 50x40 pixels"):
        load_photo(photo, 8, limits=Limits(max_pixels=1999))


def test_a_non_utf8_file_name_is_escaped_in_the_manifest(tmp_path, rng):
    folder = tmp_path / "photos"
    for i in range(3):
        write_photo(folder / f"cat.{i}.jpg", rng)
        write_photo(folder / f"dog.{i}.jpg", rng)
    odd = os.fsencode(folder) + b"/cat.\xe9t\xe9.jpg"
    with open(odd, "wb") as f:
        f.write((folder / "cat.0.jpg").read_bytes() + b"!")
    manifest, splits = ingest(data_params(folder), progress=False)
    row = manifest[manifest.path.str.contains("xe9")].to_dict("records")
    assert [r["path"] for r in row] == [f"{folder.as_posix()}/cat.\\xe9t\\xe9.jpg"]
    assert row[0]["status"] == "ok"
    manifest.to_csv(tmp_path / "m.csv")  # writes as UTF-8 without error
    assert sum(len(s.labels) for s in splits.values()) == 7
