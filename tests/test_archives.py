"""Photos read straight from .zip, .tar and .tar.gz archives, each made here by the test."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from catdog.archives import ArchiveError, unsafe_name
from catdog.dataset import IngestError, ingest
from catdog.params import ParamsError
from catdog.storage import save_npz
from catdog_dev.photos import data_params, write_photo

KINDS = ["zip", "tar", "tar.gz"]


def pack(folder: Path, archive: Path, prefix: str = "") -> Path:
    """Every file under `folder`, named `prefix` + its relative path, in sorted order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, prefix + p.relative_to(folder).as_posix())
    else:
        with tarfile.open(archive, "w:gz" if archive.name.endswith("gz") else "w") as t:
            for p in files:
                t.add(p, prefix + p.relative_to(folder).as_posix())
    return archive


def add_members(archive: Path, members: dict[str, bytes]) -> None:
    """Write an archive holding exactly these members (names taken as given)."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive, "w") as z:
            for name, data in members.items():
                z.writestr(zipfile.ZipInfo(name), data)
    else:
        with tarfile.open(archive, "w:gz" if archive.name.endswith("gz") else "w") as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))


def run(source: Path, **changes):
    manifest, splits = ingest(data_params(source, **changes), progress=False)
    return dict(zip(manifest.path, manifest.to_dict("records"))), splits, manifest


@pytest.fixture
def folder(tmp_path, rng) -> Path:
    folder = tmp_path / "photos"
    for i in range(5):
        write_photo(folder / f"cat.{i}.jpg", rng, 30 + i, 40)
        write_photo(folder / f"dog.{i}.png", rng, 35, 30 + i)
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_an_archive_gives_the_pixels_labels_and_split_of_its_unpacked_folder(folder, tmp_path, kind):
    archive = pack(folder, tmp_path / f"photos.{kind}", prefix="train/")
    _, from_folder, _ = run(folder)
    rows, from_archive, manifest = run(archive)
    assert list(manifest.path) == [f"{archive.as_posix()}:train/{name}" for name in
                                   sorted(p.name for p in folder.iterdir())]
    assert set(manifest.status) == {"ok"}
    for name in ("train", "test"):
        np.testing.assert_array_equal(from_archive[name].images, from_folder[name].images)
        np.testing.assert_array_equal(from_archive[name].labels, from_folder[name].labels)
        assert [p.rsplit("/", 1)[1] for p in from_archive[name].paths] == \
               [p.rsplit("/", 1)[1] for p in from_folder[name].paths]


@pytest.mark.parametrize("kind", KINDS)
def test_labels_come_from_folders_inside_the_archive(tmp_path, rng, kind):
    folder = tmp_path / "PetImages"
    for i in range(3):
        write_photo(folder / "Cat" / f"{i}.jpg", rng)
        write_photo(folder / "Dog" / f"{i}.jpg", rng)
    (folder / "Dog" / "Thumbs.db").write_bytes(b"\0" * 8)
    rows, splits, _ = run(pack(folder, tmp_path / f"PetImages.{kind}", prefix="PetImages/"))
    label = {p.split(":", 1)[1]: r["label"] for p, r in rows.items() if r["status"] == "ok"}
    assert label == {f"PetImages/{c}/{i}.jpg": c.lower() for c in ("Cat", "Dog") for i in range(3)}
    thumbs = next(r for p, r in rows.items() if p.endswith("Thumbs.db"))
    assert thumbs["reason"] == "not an image file (by its extension)"


def smooth_jpeg(height: int = 300, width: int = 320) -> bytes:
    picture = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (height, width, 3),
                                                                 dtype=np.uint8), (7, 7), 0)
    return cv2.imencode(".jpg", picture)[1].tobytes()


@pytest.mark.parametrize("kind", KINDS)
def test_broken_members_are_skipped_with_the_reasons_files_get(folder, tmp_path, kind):
    jpeg, png = smooth_jpeg(), cv2.imencode(".png", np.full((50, 50, 3), 7, np.uint8))[1].tobytes()
    members = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    members.update({
        "cat.10.jpg": b"",
        "cat.11.jpg": jpeg[: len(jpeg) * 2 // 3],
        "dog.10.png": png[:60],
        "dog.11.jpg": b"<!DOCTYPE html><html><body>404</body></html>",
        "cat.12.jpg": b"\0\0\0\x18ftypheic" + bytes(200),
        "image_1.jpg": jpeg,
        "notes.txt": b"cats",
        "cat.13.jpg": members["cat.0.jpg"],  # a copy
    })
    archive = tmp_path / f"photos.{kind}"
    add_members(archive, members)
    rows, splits, _ = run(archive)
    reason = {p.split(":", 1)[1]: r["reason"] for p, r in rows.items()}
    assert reason["cat.10.jpg"] == "empty file"
    assert reason["cat.11.jpg"] == "truncated JPEG (the file ends early)"
    assert reason["dog.10.png"] == "truncated PNG (the file ends early)"
    assert reason["dog.11.jpg"] == "an HTML or XML page, not an image"
    assert "HEIC" in reason["cat.12.jpg"]
    assert reason["image_1.jpg"].startswith("no label")
    assert reason["notes.txt"] == "not an image file (by its extension)"
    assert reason["cat.13.jpg"] == f"duplicate of {archive.as_posix()}:cat.0.jpg"
    assert sum(len(s.labels) for s in splits.values()) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_names_and_oversized_members_are_refused_and_nothing_is_written(tmp_path, folder, kind):
    members = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    members["../cat.20.jpg"] = members["cat.1.jpg"] + b"1"
    members["/etc/cat.21.jpg"] = members["cat.1.jpg"] + b"2"
    members["a/../../dog.20.jpg"] = members["dog.1.png"] + b"3"
    members["dog.21.jpg"] = bytes(3 << 20)  # 3 MB, over a 2 MB limit
    archive = tmp_path / "work" / f"photos.{kind}"
    archive.parent.mkdir()
    add_members(archive, members)
    before = sorted(p for p in tmp_path.rglob("*"))
    rows, _, _ = run(archive, max_file_mb=2)
    reason = {p.split(":", 1)[1]: r["reason"] for p, r in rows.items()}
    for name in ("../cat.20.jpg", "/etc/cat.21.jpg", "a/../../dog.20.jpg"):
        assert reason[name] == "unsafe member name (absolute or containing '..'): not read", name
    assert reason["dog.21.jpg"].startswith("archive member of 3.0 MB, more than the 2 MB limit")
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_a_member_that_inflates_past_its_claimed_size_is_cut_off_and_refused(tmp_path, folder):
    archive = tmp_path / "bomb.zip"
    members = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("cat.30.jpg", bytes(50 << 20))  # 50 MB of zeros, about 50 KB deflated
    # Make the member claim 1000 bytes in both of its headers, as a zip bomb would.
    raw = bytearray(archive.read_bytes())
    name = b"cat.30.jpg"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            name_len = int.from_bytes(raw[start + size_at + 4:start + size_at + 6], "little")
            offset = 30 if signature == b"PK\x03\x04" else 46
            if raw[start + offset:start + offset + name_len] == name:
                raw[start + size_at:start + size_at + 4] = (1000).to_bytes(4, "little")
            start += 4
    archive.write_bytes(bytes(raw))
    rows, splits, _ = run(archive, max_file_mb=1)
    bomb = rows[f"{archive.as_posix()}:cat.30.jpg"]
    assert bomb["status"] == "skipped" and bomb["reason"].startswith("damaged archive member")
    assert sum(len(s.labels) for s in splits.values()) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_links_and_special_members_of_a_tar_or_zip_get_rows(tmp_path, folder, kind):
    archive = pack(folder, tmp_path / f"photos.{kind}")
    if kind == "zip":
        with zipfile.ZipFile(archive, "a") as z:
            link = zipfile.ZipInfo("cat.40.jpg")
            link.external_attr = (0o120777 << 16)
            z.writestr(link, "/dev/zero")
    else:
        mode = "a" if kind == "tar" else None
        if mode is None:  # appending to a compressed tar is not possible: rebuild it
            with tarfile.open(archive) as t:
                old = [(m, t.extractfile(m).read()) for m in t.getmembers()]
            archive.unlink()
            with tarfile.open(archive, "w:gz") as t:
                for m, data in old:
                    t.addfile(m, io.BytesIO(data))
                _add_specials(t)
        else:
            with tarfile.open(archive, "a") as t:
                _add_specials(t)
    rows, _, _ = run(archive)
    reason = {p.split(":", 1)[1]: r["reason"] for p, r in rows.items()}
    if kind == "zip":
        assert reason["cat.40.jpg"] == "symbolic link inside the archive, not followed"
    else:
        assert reason["cat.40.jpg"] == "link inside the archive, not followed"
        assert reason["dog.40.jpg"] == "not a regular file inside the archive (device or FIFO): not read"


def _add_specials(t: tarfile.TarFile) -> None:
    link = tarfile.TarInfo("cat.40.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/dev/zero"
    fifo = tarfile.TarInfo("dog.40.jpg")
    fifo.type = tarfile.FIFOTYPE
    t.addfile(link)
    t.addfile(fifo)


def test_an_encrypted_zip_member_gets_a_row(tmp_path, folder):
    archive = pack(folder, tmp_path / "photos.zip")
    raw = bytearray(archive.read_bytes())
    # Set the "encrypted" flag of cat.0.jpg in both headers (its bytes stay as they are).
    name = b"cat.0.jpg"
    for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            if raw[start + name_at:start + name_at + len(name)] == name:
                raw[start + flag_at] |= 1
            start += 4
    archive.write_bytes(bytes(raw))
    rows, _, _ = run(archive)
    assert rows[f"{archive.as_posix()}:cat.0.jpg"]["reason"] == \
        "encrypted archive member (needs a password): not read"


@pytest.mark.parametrize("make,words", [
    (lambda p: p.write_bytes(b"this is not a zip file at all"), "not a readable zip archive"),
    (lambda p: p.write_bytes(p.with_suffix(".good").read_bytes()[:-40]), "not a readable zip archive"),
])
def test_a_bad_zip_is_named_in_one_error(tmp_path, folder, make, words):
    pack(folder, tmp_path / "photos.good")  # ".good" packs as tar; rewrite as zip below
    good = tmp_path / "photos.good"
    good.unlink()
    with zipfile.ZipFile(good, "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
    bad = tmp_path / "photos.zip"
    make(bad)
    with pytest.raises(ArchiveError, match=rf"{bad.as_posix()}: {words}"):
        run(bad)


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_a_truncated_tar_is_named_in_one_error(tmp_path, folder, kind):
    good = pack(folder, tmp_path / f"good.{kind}").read_bytes()
    bad = tmp_path / f"photos.{kind}"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ArchiveError, match=rf"{bad.as_posix()}: (truncated|not a readable)"):
        run(bad)


def test_a_file_that_is_not_an_archive_is_named(tmp_path, folder):
    photo = folder / "cat.0.jpg"
    with pytest.raises(ParamsError, match=r"data.train_dir: '.*cat\.0\.jpg' is a file, not a folder or a \.zip"):
        ingest(data_params(photo), progress=False)


def test_leakage_between_an_archive_and_a_test_folder_is_found(tmp_path, folder, rng):
    archive = pack(folder, tmp_path / "train.zip")
    test = tmp_path / "test"
    for name in ("cat.100.jpg", "dog.100.jpg"):
        write_photo(test / name, rng)
    (test / "cat.101.jpg").write_bytes((folder / "cat.3.jpg").read_bytes())  # in the archive too
    manifest, splits = ingest(data_params(archive, test), progress=False)
    reason = dict(zip(manifest.path, manifest.reason))
    assert reason[(test / "cat.101.jpg").as_posix()] == \
        f"leakage: same bytes as train photo {archive.as_posix()}:cat.3.jpg, removed from test"
    assert len(splits["train"].labels) == 10 and len(splits["test"].labels) == 2


def test_a_repeated_member_name_keeps_the_last_as_unpacking_would(tmp_path, folder, rng):
    archive = tmp_path / "photos.tar"
    other = write_photo(tmp_path / "other.jpg", rng)
    with tarfile.open(archive, "w") as t:
        for p in sorted(folder.iterdir()):
            t.add(p, p.name)
        t.add(other, "cat.0.jpg")  # a second cat.0.jpg, with other bytes
    rows, splits, manifest = run(archive)
    first, last = manifest[manifest.path == f"{archive.as_posix()}:cat.0.jpg"].to_dict("records")
    assert first["reason"].startswith("a later member of the archive has the same name")
    assert last["status"] == "ok"


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_outputs_do_not_depend_on_the_number_of_workers(tmp_path, rng, kind):
    folder = tmp_path / "many"
    for i in range(40):
        write_photo(folder / f"{'cat' if i % 3 else 'dog'}s/{i}.png", rng, 20 + i, 50 - i)
    source = folder if kind == "folder" else pack(folder, tmp_path / f"many.{kind}")
    results = []
    for workers in (1, 2, 5):
        manifest, splits = ingest(data_params(source, workers=workers), progress=False)
        out = tmp_path / f"w{workers}.npz"
        save_npz(out, **{f"{k}_images": s.images for k, s in splits.items()},
                 **{f"{k}_labels": s.labels for k, s in splits.items()})
        results.append((out.read_bytes(), manifest.to_csv()))
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("name,unsafe", [
    ("cat.1.jpg", False), ("train/cat.1.jpg", False), ("a..b/cat.jpg", False),
    ("../cat.1.jpg", True), ("/cat.1.jpg", True), ("a/../../cat.jpg", True),
    ("C:/cat.jpg", True), ("..\\cat.jpg", True),
])
def test_unsafe_names_are_told_apart(name, unsafe):
    assert unsafe_name(name) is unsafe
