"""The demo stage writes only its own folder, and leaves nothing behind when killed."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from catdog.synthetic import MARKER, generate_demo
from catdog_dev.repo import Repo


def test_the_demo_folder_carries_its_mark_and_is_replaced_on_the_next_run(tmp_path):
    out = tmp_path / "demo"
    first = generate_demo(out, 6, seed=0)
    assert (out / MARKER).is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER] + [p.name for p in first])
    second = generate_demo(out, 2, seed=0)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER] + [p.name for p in second])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.parametrize("out_dir", [".", "src", "stages"])
def test_the_stage_run_by_hand_refuses_the_project_or_any_folder_it_did_not_write(tmp_path, out_dir):
    repo = Repo.create(tmp_path / "project", demo={"out_dir": out_dir, "n_images": 4},
                       data={"train_dir": out_dir, "test_dir": out_dir})
    before = repo.digest(".git/HEAD", "dvc.yaml", "src", "stages")
    proc = repo.run("python", "stages/demo.py", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"demo: error: demo.out_dir: {out_dir} is a folder not written "
                                  "by this pipeline (it has no .catdog-demo file); refusing")
    assert len(proc.stderr.splitlines()) == 1
    assert repo.digest(".git/HEAD", "dvc.yaml", "src", "stages") == before
    assert repo.run("git", "status", "--porcelain").stdout == ""


def test_a_killed_demo_leaves_staging_that_git_ignores_and_the_next_run_removes(tmp_path):
    repo = Repo.create(tmp_path / "project", demo={"n_images": 4000})
    raw = repo.root / "data/raw"
    proc = subprocess.Popen(["python", "stages/demo.py"], cwd=repo.root, env=repo.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not [p for p in raw.glob(".demo.*.tmp") if len(os.listdir(p)) > 5]:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (staging,) = raw.glob(".demo.*.tmp")
    assert not (raw / "demo").exists()
    assert repo.run("git", "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert repo.run("git", "check-ignore", str(staging.relative_to(repo.root))).returncode == 0
    repo.set_params(demo={"n_images": 4})
    repo.run("python", "stages/demo.py")
    assert sorted(p.name for p in raw.iterdir()) == ["demo"]
    assert len(list((raw / "demo").glob("*.*g"))) == 4
