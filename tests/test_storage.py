import os
import shutil
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catdog.storage import (
    StorageError,
    atomic_path,
    damaged,
    load_npz,
    replace_folder,
    save_npz,
    text_arrays,
    texts_from,
    write_csv,
    write_json,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_npz_files_are_byte_identical_for_equal_arrays(tmp_path):
    arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "Y": np.ones((1, 4))}
    save_npz(tmp_path / "a.npz", **arrays)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["X"], arrays["X"])


def test_json_takes_numpy_scalars_and_refuses_nan(tmp_path):
    write_json(tmp_path / "m.json", {"a": np.float32(0.5), "n": np.int64(3)})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": 0.5,\n  "n": 3\n}\n'
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"a": float("nan")})
    assert not (tmp_path / "bad.json").exists()


# --- full disks and read-only folders, for real: a small tmpfs in a private mount namespace ---

SRC = Path(__file__).resolve().parents[1] / "src"


def in_mount_namespace(folder: Path, setup: str, script: str) -> subprocess.CompletedProcess:
    """Mount a 256 KB tmpfs on `folder`, run the shell `setup`, then `script` in Python."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {folder}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not allow a private tmpfs mount")
    shell = (f"mount -t tmpfs -o size=256k tmpfs {folder} && {setup} && "
             f"PYTHONPATH={SRC} {sys.executable} -c \"$0\"")
    return subprocess.run(["unshare", "-rm", "sh", "-c", shell, textwrap.dedent(script)],
                          capture_output=True, text=True)


def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_old_file(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = in_mount_namespace(disk, "true", f"""
        import os, numpy as np
        from catdog.cli import run_stage
        from catdog.storage import save_npz
        save_npz("{disk}/model.npz", W=np.ones(10))
        before = open("{disk}/model.npz", "rb").read()
        def main():
            try:
                save_npz("{disk}/model.npz", W=np.ones(100_000))  # 800 KB on a 256 KB disk
            finally:
                assert open("{disk}/model.npz", "rb").read() == before
                assert os.listdir("{disk}") == ["model.npz"], os.listdir("{disk}")
        run_stage("train", main)
        """)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == f"train: error: cannot write {disk}/model.npz: No space left on device\n"


def test_a_read_only_folder_is_one_line_naming_the_file(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = in_mount_namespace(disk, f"mkdir {disk}/metrics && mount -o remount,ro {disk}", f"""
        from catdog.cli import run_stage
        from catdog.storage import write_json
        run_stage("evaluate", lambda: write_json("{disk}/metrics/evaluate.json", {{"a": 1}}))
        """)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"evaluate: error: cannot write {disk}/metrics/evaluate.json: "
                           "Read-only file system\n")


# --- folders replaced whole, and only when this code made them ---


def fill(folder: Path, marker: str, names: list[str]) -> None:
    with replace_folder(folder, marker, "demo.out_dir") as staging:
        for name in names:
            (staging / name).write_text(name)


def test_a_folder_is_replaced_whole_only_if_it_holds_the_mark(tmp_path):
    out = tmp_path / "out"
    fill(out, ".mark", ["a", "b"])
    fill(out, ".mark", ["c"])
    assert sorted(p.name for p in out.iterdir()) == [".mark", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind


@pytest.mark.parametrize("kind", ["folder", "file", "link"])
def test_anything_else_is_refused_and_left_as_it_was(tmp_path, kind):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "cat.1.jpg").write_text("precious")
    out = {"folder": mine, "file": mine / "cat.1.jpg", "link": tmp_path / "link"}[kind]
    if kind == "link":
        out.symlink_to(mine)
    with pytest.raises(StorageError, match=rf"demo.out_dir: {out} is a {kind} not written by this "
                                           r"pipeline \(it has no .mark file\); refusing"):
        fill(out, ".mark", ["x"])
    assert (mine / "cat.1.jpg").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "photos"][kind != "link":]


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / ".out.k1ll3d00.tmp"   # as tempfile.mkdtemp names them
    stale.mkdir()
    (stale / ".mark").write_text("")
    (stale / "cat.0.jpg").write_text("half")
    empty = tmp_path / ".out.3mpty000.tmp"
    empty.mkdir()
    foreign = tmp_path / ".out.n0tmine0.tmp"
    foreign.mkdir()
    (foreign / "keep").write_text("someone else's")
    fill(out, ".mark", ["a"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.n0tmine0.tmp", "out"]


def test_outputs_get_the_usual_mode_not_owner_only(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def test_an_output_in_a_missing_folder_creates_the_folder(tmp_path):
    write_text(tmp_path / "new" / "deeper" / "a.txt", "x")
    assert (tmp_path / "new" / "deeper" / "a.txt").read_text() == "x"


def test_small_npz_entries_carry_no_zip64_headers(tmp_path):
    # ZIP64 local headers need version 4.5 to extract (and Pythons differ in how they write
    # them); plain ones need 2.0 and carry no extra field.
    save_npz(tmp_path / "a.npz", X=np.arange(10), Y=np.ones((3, 3)))
    raw = (tmp_path / "a.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        for info in archive.infolist():
            header = raw[info.header_offset:info.header_offset + 30]
            assert header[:4] == b"PK\x03\x04" and info.compress_type == zipfile.ZIP_STORED
            version_needed, = struct.unpack("<H", header[4:6])
            extra_length, = struct.unpack("<H", header[28:30])
            assert (version_needed, extra_length) == (20, 0), info.filename


def test_texts_round_trip_whatever_their_bytes(tmp_path):
    texts = ["cat.1.jpg", "", "chat_été/photo ñ.png", "bad\udcffbyte.jpg", "x"]
    arrays = text_arrays("paths", texts)
    # UTF-8 bytes: é and ñ take two each, the escaped byte one
    assert list(arrays["paths_ends"]) == [9, 9, 9 + 23, 9 + 23 + 12, 9 + 23 + 12 + 1]
    save_npz(tmp_path / "t.npz", **arrays)
    assert texts_from(load_npz(tmp_path / "t.npz"), "paths") == texts


def test_texts_written_as_a_string_array_are_still_read():
    assert texts_from({"paths": np.array(["a.jpg", "bé.png"])}, "paths") == ["a.jpg", "bé.png"]


def test_csv_has_no_index_column(tmp_path):
    write_csv(tmp_path / "a.csv", pd.DataFrame({"id": [1, 2], "label": ["cat", "dog"]}))
    assert (tmp_path / "a.csv").read_bytes() == b"id,label\n1,cat\n2,dog\n"


def test_a_dangling_link_in_place_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "out"
    folder.symlink_to(tmp_path / "nowhere")
    with pytest.raises(StorageError, match="is a link not written by this pipeline"):
        with replace_folder(folder, "MARK", "out"):
            pass
    assert folder.is_symlink()


@pytest.mark.parametrize("content", [b"", b"not an archive\n"])
def test_a_damaged_npz_is_one_line_with_the_way_to_rebuild(tmp_path, content):
    path = tmp_path / "a.npz"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=r"a\.npz is damaged \(.+\); rebuild it with") as caught:
        load_npz(path)
    assert "\n" not in str(caught.value)


def test_the_damage_reason_is_one_line_and_never_empty():
    assert "(bad header on two lines)" in str(damaged("x.npz", ValueError("bad header\n  on two\tlines")))
    assert "(EOFError)" in str(damaged("x.npz", EOFError()))
