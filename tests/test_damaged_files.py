"""A damaged array or model file: one line naming it and how to rebuild it, and the rebuild
works with the hard-link cache, where the file and its cache copy are one."""
from __future__ import annotations

import hashlib
import os
import stat

import pytest
import yaml

from catdog_dev.repo import BIN, Repo

pytestmark = pytest.mark.pipeline


def flip_a_byte(path) -> None:
    """Bit rot: one byte changed in place, in the middle of the file, its times unchanged."""
    before = os.stat(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with open(path, "r+b") as f:
        f.seek(before.st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))
    os.chmod(path, stat.S_IMODE(before.st_mode))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def recorded_md5(work: Repo, path: str) -> str:
    lock = yaml.safe_load((work.root / "dvc.lock").read_text())["stages"]
    return next(o["md5"] for s in lock.values() for o in s.get("outs", []) if o["path"] == path)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("damaged,stage,reader", [
    ("data/processed/train.npz", "featurize", "train"),
    ("models/model.npz", "train", "evaluate"),
])
def test_a_damaged_file_is_named_in_one_line_and_rebuilt(repo, tmp_path, damaged, stage, reader):
    work = repo.copy(tmp_path / "damaged")
    work.dvc("checkout", "--relink")  # the copy broke the links: outputs as links to the cache again
    target = work.root / damaged
    good = recorded_md5(work, damaged)
    cache = work.root / ".dvc/cache/files/md5" / good[:2] / good[2:]
    if target.stat().st_ino != cache.stat().st_ino:
        pytest.skip("this file system gives no hard links: the copy in the cache is separate")
    flip_a_byte(target)
    assert md5(cache) != good  # one file: the cache copy is damaged too
    assert work.dvc("status").stdout.strip() == "Data and pipelines are up to date."

    ran, proc = work.repro("-f", "-s", reader, check=False)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.startswith(f"{reader}: error:")]
    assert len(lines) == 1 and damaged in lines[0], proc.stderr
    assert f"is damaged" in lines[0] and f"python -m catdog rebuild {damaged}" in lines[0]
    assert "Traceback" not in proc.stderr

    # The recovery the message gives.
    proc = work.run(str(BIN / "python"), "-m", "catdog", "rebuild", damaged, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Running stage '{stage}'" in proc.stdout
    assert md5(target) == good and md5(cache) == good
    ran, _ = work.repro()
    assert stage not in ran
    assert work.dvc("status").stdout.strip() == "Data and pipelines are up to date."
    assert md5(work.root / "models/model.npz") == md5(repo.root / "models/model.npz")
