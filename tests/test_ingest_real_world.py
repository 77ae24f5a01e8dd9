"""Ingest on the kinds of files real photo folders contain, each made here by the test."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import catdog.images
from catdog.dataset import IngestError, ingest
from catdog_dev.photos import data_params, write_photo


def smooth_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (7, 7), 0)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 EXIF segment holding only the orientation tag right after SOI."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    payload = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def encode(suffix: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


@pytest.fixture
def base(tmp_path, rng) -> Path:
    """Four plain photos of each class, so a split always has both."""
    folder = tmp_path / "train"
    for i in range(4):
        write_photo(folder / f"cat.{i}.jpg", rng)
        write_photo(folder / f"dog.{i}.jpg", rng)
    return folder


def run(folder: Path, **changes):
    manifest, splits = ingest(data_params(folder, **changes), progress=False)
    rows = {os.path.relpath(p, folder): r for p, r in zip(manifest.path, manifest.to_dict("records"))}
    return rows, splits, manifest


def test_broken_files_are_skipped_with_their_reason(base):
    jpeg = encode(".jpg", smooth_picture(300, 320))
    (base / "cat.10.jpg").write_bytes(b"")
    (base / "cat.11.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    (base / "dog.10.png").write_bytes(encode(".png", smooth_picture(50, 50))[:300])
    (base / "dog.11.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    (base / "cat.12.jpg").write_bytes(b"\0\0\0\x18ftypheic" + bytes(200))
    (base / "dog.12.jpg").write_bytes(os.urandom(500))
    rows, splits, _ = run(base)
    assert rows["cat.10.jpg"]["reason"] == "empty file"
    assert rows["cat.11.jpg"]["reason"] == "truncated JPEG (the file ends early)"
    assert rows["dog.10.png"]["reason"] == "truncated PNG (the file ends early)"
    assert rows["dog.11.jpg"]["reason"] == "an HTML or XML page, not an image"
    assert "HEIC" in rows["cat.12.jpg"]["reason"]
    assert rows["dog.12.jpg"]["reason"] == "not an image format OpenCV can decode"
    assert sum(len(s.labels) for s in splits.values()) == 8


def test_a_truncated_jpeg_is_caught_even_where_imread_would_fill_it_grey(base, tmp_path):
    jpeg = encode(".jpg", smooth_picture(300, 320))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg[: len(jpeg) * 2 // 3])
    assert cv2.imread(str(cut)) is not None  # the lenient reader returns a partly grey picture
    (base / "dog.9.jpg").write_bytes(cut.read_bytes())
    rows, _, _ = run(base)
    assert rows["dog.9.jpg"]["status"] == "skipped"


def test_unusual_pixel_formats_are_converted_and_said_so(base, tmp_path):
    picture = smooth_picture(40, 60)
    cv2.imwrite(str(base / "cat.20.png"), picture[..., 0])                           # grayscale
    cv2.imwrite(str(base / "cat.21.png"), np.dstack([picture, np.full((40, 60), 200, np.uint8)]))
    cv2.imwrite(str(base / "cat.22.png"), picture.astype(np.uint16) * 257)           # 16-bit
    Image.fromarray(picture[..., ::-1]).convert("P").save(base / "dog.20.png")        # palette
    Image.fromarray(picture[..., ::-1]).convert("CMYK").save(base / "dog.21.jpg")     # CMYK
    cv2.imwrite(str(base / "dog.22.jpg"), picture[..., 0])                            # grey JPEG
    (base / "dog.23.jpg").write_bytes(with_exif_orientation(encode(".jpg", picture), 6))
    rows, splits, _ = run(base, image_size=8)
    expected = {
        "cat.20.png": "grayscale to BGR", "cat.21.png": "RGBA to BGR",
        "cat.22.png": "16-bit to 8-bit", "dog.20.png": "palette to BGR",
        "dog.21.jpg": "CMYK to BGR", "dog.22.jpg": "grayscale to BGR",
        "dog.23.jpg": "rotated by EXIF orientation 6",
    }
    for name, words in expected.items():
        assert rows[name]["status"] == "ok", (name, rows[name]["reason"])
        assert words in rows[name]["converted"], name
    # What is used is what OpenCV's colour reader gives for the same file.
    all_paths = splits["train"].paths + splits["test"].paths
    all_images = np.concatenate([splits["train"].images, splits["test"].images])
    for name in expected:
        path = (base / name).as_posix()
        reference = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (8, 8), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_array_equal(all_images[all_paths.index(path)], reference)
    rotated = cv2.imread((base / "dog.23.jpg").as_posix(), cv2.IMREAD_COLOR)
    assert rotated.shape[:2] == (60, 40)


def test_very_large_and_tiny_images_are_used(base):
    cv2.imwrite(str(base / "cat.30.jpg"), np.full((6000, 8000, 3), 90, np.uint8))
    cv2.imwrite(str(base / "dog.30.png"), np.full((1, 1, 3), 200, np.uint8))
    cv2.imwrite(str(base / "dog.31.png"), np.full((300, 2, 3), 10, np.uint8))
    rows, splits, _ = run(base)
    for name in ("cat.30.jpg", "dog.30.png", "dog.31.png"):
        assert rows[name]["status"] == "ok", rows[name]["reason"]
    images = dict(zip(splits["train"].paths + splits["test"].paths,
                      np.concatenate([splits["train"].images, splits["test"].images])))
    assert (images[(base / "dog.30.png").as_posix()] == 200).all()
    assert images[(base / "cat.30.jpg").as_posix()].shape == (16, 16, 3)


def test_extensions_of_any_case_are_images_and_other_files_are_not(base, rng):
    for name in ("cat.40.JPG", "cat.41.jpeg", "dog.40.PNG", "dog.41.bmp", "dog.42.webp"):
        write_photo(base / name, rng)
    (base / "Thumbs.db").write_bytes(os.urandom(64))
    (base / ".DS_Store").write_bytes(os.urandom(64))
    (base / "README.txt").write_text("cats and dogs")
    rows, _, _ = run(base)
    for name in ("cat.40.JPG", "cat.41.jpeg", "dog.40.PNG", "dog.41.bmp", "dog.42.webp"):
        assert rows[name]["status"] == "ok", (name, rows[name]["reason"])
    for name in ("Thumbs.db", ".DS_Store", "README.txt"):
        assert rows[name]["reason"] == "not an image file (by its extension)"


def test_labels_are_never_guessed(base, rng):
    for name in ("image_1.jpg", "hotdog.1.jpg", "catalog.jpg", "dogs_and_cats/cat.3.jpg"):
        write_photo(base / name, rng)
    rows, _, _ = run(base)
    for name in ("image_1.jpg", "hotdog.1.jpg", "catalog.jpg"):
        assert rows[name]["reason"].startswith("no label"), name
    assert rows["dogs_and_cats/cat.3.jpg"]["label"] == "cat"
    assert rows["dogs_and_cats/cat.3.jpg"]["status"] == "ok"


def test_duplicates_are_kept_once_and_train_test_leakage_is_removed(base, tmp_path, rng):
    (base / "cat.50.jpg").write_bytes((base / "cat.0.jpg").read_bytes())
    (base / "sub").mkdir()
    (base / "sub" / "dog.50.jpg").write_bytes((base / "cat.1.jpg").read_bytes())  # label clash
    test_dir = tmp_path / "test"
    write_photo(test_dir / "cat.100.jpg", rng)
    write_photo(test_dir / "dog.100.jpg", rng)
    (test_dir / "dog.101.jpg").write_bytes((base / "dog.2.jpg").read_bytes())
    manifest, splits = ingest(data_params(base, test_dir), progress=False)
    reason = dict(zip(manifest.path, manifest.reason))
    assert reason[(base / "cat.50.jpg").as_posix()] == f"duplicate of {(base / 'cat.0.jpg').as_posix()}"
    assert reason[(base / "cat.0.jpg").as_posix()] == ""
    assert "different label" in reason[(base / "cat.1.jpg").as_posix()]
    assert "different label" in reason[(base / "sub" / "dog.50.jpg").as_posix()]
    assert reason[(test_dir / "dog.101.jpg").as_posix()].startswith("leakage: same bytes as train photo")
    assert [os.path.basename(p) for p in splits["test"].paths] == ["cat.100.jpg", "dog.100.jpg"]


def test_unreadable_files_folders_and_links_are_skipped_without_hanging(base, monkeypatch, rng):
    secret = base / "cat.60.jpg"
    secret.write_bytes((base / "cat.0.jpg").read_bytes() + b"x")
    locked = base / "locked"
    write_photo(locked / "dog.61.jpg", rng)
    if os.geteuid() == 0:  # root reads anything: make these refuse the way the OS would
        real_open, real_scandir = os.open, os.scandir

        def guarded_open(path, *args, **kwargs):
            if os.fspath(path) == secret.as_posix():
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, *args, **kwargs)

        def guarded_scandir(path="."):
            if os.fspath(path) == locked.as_posix():
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "open", guarded_open)
        monkeypatch.setattr(os, "scandir", guarded_scandir)
    else:
        secret.chmod(0)
        locked.chmod(0)
    (base / "dog.60.jpg").symlink_to(base / "missing.jpg")
    (base / "cat.61.jpg").symlink_to(base / "cat.62.jpg")
    (base / "cat.62.jpg").symlink_to(base / "cat.61.jpg")
    (base / "loop").symlink_to(base, target_is_directory=True)
    rows, _, _ = run(base)
    assert rows["cat.60.jpg"]["reason"] == "permission denied: the file cannot be read"
    assert rows["dog.60.jpg"]["reason"] == "broken symbolic link (its target does not exist)"
    assert rows["cat.61.jpg"]["reason"] == "symbolic link loop"
    assert rows["loop"]["reason"] == "link to a folder, not followed"
    assert rows["locked"]["reason"] == "folder cannot be read: Permission denied"


def test_fast_decode_scales_big_jpegs_down_first_and_stays_close(base):
    y, x = np.mgrid[0:900, 0:1200]
    picture = np.dstack([x * 255 // 1200, y * 255 // 900, (x + y) * 255 // 2100]).astype(np.uint8)
    cv2.circle(picture, (600, 450), 300, (20, 200, 90), -1)
    cv2.imwrite(str(base / "cat.70.jpg"), picture)
    default = run(base)[1]
    fast = run(base, fast_decode=True)[1]
    for name in ("train", "test"):
        assert default[name].paths == fast[name].paths
    paths = default["train"].paths + default["test"].paths
    i = paths.index((base / "cat.70.jpg").as_posix())
    a = np.concatenate([default["train"].images, default["test"].images])[i].astype(int)
    b = np.concatenate([fast["train"].images, fast["test"].images])[i].astype(int)
    assert np.abs(a - b).mean() < 4
    assert catdog.images.reduction_for(catdog.images.read_header((base / "cat.70.jpg").read_bytes()), 16) == 8


def test_no_usable_image_left_stops_with_a_message_and_writes_nothing(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "cat.1.jpg").write_bytes(b"")
    (folder / "dog.1.jpg").write_text("<html></html>")
    with pytest.raises(IngestError, match="no usable images"):
        ingest(data_params(folder), progress=False)
