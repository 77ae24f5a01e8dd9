"""A mistake in params.yaml, or an interrupted run, loses nothing: the real `dvc repro`."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from catdog_dev.repo import BIN, Repo

pytestmark = pytest.mark.pipeline

OUTPUTS = ["data", "models", "metrics"]


def edit(repo: Repo, pattern: str, new: str) -> None:
    """Replace the first line of params.yaml matching `pattern`, as a user editing it would."""
    path = repo.root / "params.yaml"
    text, found = re.subn(rf"(?m)^{pattern}\n", new, path.read_text(), count=1)
    assert found
    path.write_text(text)


@pytest.mark.parametrize("old,new,message", [
    ("  learning_rate: .*", "  learning_rate: abc\n", "train.learning_rate must be a number, got 'abc'"),
    # A misspelt key beside the right one: no stage depends on it, so it is reported when a
    # change to a real key runs the check.
    ("  seed: 1", "  seed: 2\n  learning_rte: 0.05\n", "unknown key(s) train.learning_rte"),
    ("  seed: 1", "  seed: 4294967296\n", "train.seed must be between 0 and 4294967295"),
    ("  hidden_size: .*", "  hidden_size: 1000000000\n", "train.hidden_size 1000000000 is too large"),
    ("  out_dir: .*", "  out_dir: data/raw/mine\n",
     "demo.out_dir: data/raw/mine is a folder not written by this pipeline"),
    ("  train_dir: .*", "  train_dir: data/raw/nowhere\n",
     "data.train_dir: 'data/raw/nowhere' does not exist"),
    ("  test_dir: .*", "  test_dir: data/raw/mine/cat.1.jpg\n",
     "data.test_dir: 'data/raw/mine/cat.1.jpg' is a file, not a folder or a .zip"),
    ("  train_dir: .*", "  train_dir: /proc\n", "data.train_dir: '/proc' is in the system tree /proc"),
    ("  validation_fraction: .*", "  validation_fraction: 0.999\n",
     "train.validation_fraction must be in [0, 0.5], got 0.999"),
])
def test_a_params_mistake_stops_dvc_repro_before_any_output_is_touched(repo, tmp_path, old, new, message):
    work = repo.copy(tmp_path / "bad")
    (work.root / "data/raw/mine").mkdir()  # a folder of the user's own photos
    (work.root / "data/raw/mine/cat.1.jpg").write_bytes(b"a real photo")
    before = work.digest(*OUTPUTS)
    edit(work, old, new)
    ran, proc = work.repro(check=False)
    assert proc.returncode != 0
    assert ran == ["check_params"]
    assert f"check_params: error: " in proc.stderr + proc.stdout and message in proc.stderr + proc.stdout
    after = work.digest(*OUTPUTS)
    del before["data/params.ok"]  # the check's own output, removed by DVC before it runs
    assert after == before


def test_a_missing_key_stops_dvc_before_any_stage_runs(repo, tmp_path):
    """Every key but the thread counts is a dependency: DVC itself refuses to run without it."""
    work = repo.copy(tmp_path / "missing")
    before = work.digest(*OUTPUTS)
    edit(work, "  learning_rate: .*", "  learning_rte: 0.003\n")
    ran, proc = work.repro(check=False)
    assert proc.returncode != 0 and ran == []
    assert "Parameters 'train.learning_rate' are missing from 'params.yaml'" in proc.stderr
    del before["data/params.ok"]  # the check's own output, removed by DVC before it runs
    assert work.digest(*OUTPUTS) == before


def test_an_octal_looking_value_is_read_as_dvc_records_it(repo, tmp_path):
    work = repo.copy(tmp_path / "octal")
    edit(work, "  hidden_size: 10", "  hidden_size: 012\n")
    ran, _ = work.repro()
    assert ran == ["check_params", "train", "evaluate", "predict"]
    recorded = yaml.safe_load((work.root / "dvc.lock").read_text())["stages"]["train"]["params"]
    train = recorded["params.yaml"]
    train = train["train"] if "train" in train else {k[len("train."):]: v for k, v in train.items()}
    assert train["hidden_size"] == 12
    with np.load(work.root / "models/model.npz") as model:
        assert model["W1"].shape == (12, 12288)


def test_exp_run_with_a_small_float_trains_with_it(repo, tmp_path):
    work = repo.copy(tmp_path / "small")
    proc = work.dvc("exp", "run", "-S", "train.learning_rate=0.00001")
    assert "Running stage 'train'" in proc.stdout
    assert "learning_rate: 1e-05\n" in (work.root / "params.yaml").read_text()  # as DVC writes it
    shown = json.loads(work.dvc("exp", "show", "--json").stdout)
    (run,) = [rev for commit in shown for exp in commit.get("experiments") or [] for rev in exp["revs"]]
    assert run["data"]["params"]["params.yaml"]["data"]["train"]["learning_rate"] == 1e-05
    # The workspace holds the experiment's results. For small steps the drop of the cost is
    # proportional to the step: a thousandth of the committed run's (learning rate 0.01).
    drop = {}
    for name, root in (("small", work.root), ("committed", repo.root)):
        cost = pd.read_csv(root / "metrics/cost.csv").cost
        drop[name] = cost.iloc[0] - cost.iloc[-1]
    assert 0 < drop["small"] < drop["committed"] / 100


def wait_until_training(work: Repo, proc: subprocess.Popen) -> None:
    """Until DVC has removed train's outputs and the train stage is running."""
    deadline = time.monotonic() + 60
    while (work.root / "models/model.npz").exists() or (work.root / "metrics/train.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    # Inside the stage's loop: its first record is in the live progress file (which DVC removed
    # with the other outputs), so the stage has finished importing and loading.
    live = work.root / "metrics/live/metrics.json"
    while not (live.exists() and '"progress"' in live.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline + 60, proc.communicate()
        time.sleep(0.05)
    assert proc.poll() is None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_after_an_interrupted_repro_the_readme_recovery_brings_everything_back(repo, tmp_path, sig):
    work = repo.copy(tmp_path / "killed")
    before = work.digest(*OUTPUTS, "dvc.lock")
    work.set_params(train={"iterations": 10_000_000})
    # Its own process group, like a terminal's foreground job: Ctrl-C and kill reach DVC and
    # the stage it runs alike.
    proc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=work.root, env=work.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    wait_until_training(work, proc)
    os.killpg(proc.pid, sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # leave no stage training in the background
        raise
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "train: interrupted" in out
    assert not (work.root / "models/model.npz").exists()  # DVC removed it before running train

    # Back to the last commit: docs/reproducibility.md, "Going back".
    work.run("git", "checkout", "HEAD", "--", "params.yaml", "dvc.lock", "metrics/")
    work.dvc("checkout")
    assert "up to date" in work.dvc("status").stdout
    assert work.digest(*OUTPUTS, "dvc.lock") == before
    assert work.run("git", "status", "--porcelain").stdout == ""


def test_after_a_killed_repro_a_rerun_finishes_the_run(repo, tmp_path):
    work = repo.copy(tmp_path / "rerun")
    work.set_params(train={"iterations": 10_000_000})
    proc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=work.root, env=work.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_until_training(work, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    work.set_params(train={"iterations": 80})
    ran, _ = work.repro()
    assert ran == ["check_params", "train", "evaluate", "predict"]
    assert json.loads((work.root / "metrics/train.json").read_text())["iterations"] == 80
    ran, _ = work.repro()
    assert ran == []


def test_the_demo_folder_dvc_lock_records_is_replaced_even_without_the_mark(repo, tmp_path):
    """A workspace whose demo folder predates the mark: DVC owns that folder, so it is rerun."""
    work = repo.copy(tmp_path / "unmarked")
    (work.root / "data/raw/demo/.catdog-demo").unlink()
    work.set_params(demo={"n_images": 30})
    ran, _ = work.repro("demo")
    assert ran == ["check_params", "demo"]
    assert len(list((work.root / "data/raw/demo").glob("*.*g"))) == 30
    assert (work.root / "data/raw/demo/.catdog-demo").is_file()
