"""A `dvc exp run` killed with SIGKILL takes its stage with it; the next run works and the
user's changes stay where they were. The real `dvc`, the real signal."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from catdog_dev.repo import BIN, Repo

pytestmark = [pytest.mark.pipeline,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's prctl")]


def children(pid: int) -> dict[int, str]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {int(line.split(None, 1)[0]): line.split(None, 1)[1] for line in out.splitlines()}


def train_stage(pid: int) -> int | None:
    """The Python process running stages/train.py below `pid`: its child, or its grandchild
    when the shell DVC starts the command with stays in between."""
    for child, args in children(pid).items():
        if "stages/train.py" in args:
            return child if "python" in args.split()[0] else train_stage(child)
    return None


def alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# delay 0: dvc dies while the stage is still starting (before it can ask to end with it);
# 3: well into training. DVC runs the command with $SHELL: bash execs it, dash (the /bin/sh
# used where SHELL is unset) stays between dvc and the stage.
@pytest.mark.parametrize("delay, shell", [(0, "/bin/sh"), (3, "/bin/sh"), (3, "/bin/bash")])
def test_a_killed_exp_run_takes_its_stage_with_it_and_the_next_run_works(repo, tmp_path, delay,
                                                                          shell):
    work = repo.copy(tmp_path / "killed")
    work.env["SHELL"] = shell
    work.set_params(train={"iterations": 10**6})  # far longer than the test waits
    (work.root / "notes.txt").write_text("the user's own file\n")
    run = subprocess.Popen([str(BIN / "dvc"), "exp", "run"], cwd=work.root, env=work.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL)
    stage = None
    try:
        assert wait_for(lambda: train_stage(run.pid) is not None, 120)
        stage = train_stage(run.pid)
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert wait_for(lambda: not alive(stage), 10), "the train stage outlived the dvc that ran it"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if stage is not None and alive(stage):
            os.kill(stage, signal.SIGKILL)

    # The user changes their mind and runs again: it works, and their changes are in place.
    work.set_params(train={"iterations": 30})
    proc = work.dvc("exp", "run", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work.root / "notes.txt").read_text() == "the user's own file\n"
    params = yaml.safe_load((work.root / "params.yaml").read_text())
    lock = yaml.safe_load((work.root / "dvc.lock").read_text())["stages"]["train"]
    assert params["train"]["iterations"] == lock["params"]["params.yaml"]["train.iterations"] == 30
    model = next(o for o in lock["outs"] if o["path"] == "models/model.npz")
    assert hashlib.md5((work.root / "models/model.npz").read_bytes()).hexdigest() == model["md5"]
    assert work.dvc("status").stdout.strip() in ("", "Data and pipelines are up to date.")
