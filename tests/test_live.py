"""Training progress while a run is going: `dvc exp show` reports the latest recorded step."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from pipeline_repo import BIN, Repo

pytestmark = pytest.mark.pipeline

LIVE = "metrics/live/metrics.json"


def running_steps(repo: Repo) -> list[int]:
    """The live step of every experiment `dvc exp show` lists as running."""
    steps = []
    for commit in json.loads(repo.dvc("exp", "show", "--json").stdout):
        for exp in commit.get("experiments") or []:
            if (exp.get("executor") or {}).get("state") != "running":
                continue
            for rev in exp["revs"]:
                live = ((rev.get("data") or {}).get("metrics") or {}).get(LIVE, {}).get("data")
                if live:
                    steps.append(live["step"])
    return steps


def test_the_live_summary_is_the_last_recorded_iteration(repo):
    live = json.loads((repo.root / LIVE).read_text())
    accuracy = pd.read_csv(repo.root / "metrics/accuracy.csv").iloc[-1]
    cost = pd.read_csv(repo.root / "metrics/cost.csv").iloc[-1]
    assert live["step"] == accuracy.iteration == cost.iteration
    assert live["test_accuracy"] == pytest.approx(accuracy.test, abs=1e-12)
    assert live["train_accuracy"] == pytest.approx(accuracy.train, abs=1e-12)
    assert live["cost"] == pytest.approx(cost.cost, rel=1e-9)
    assert "timestamp" not in (repo.root / LIVE).read_text()


def test_exp_show_reports_the_step_of_a_running_experiment(repo, tmp_path):
    work = repo.copy(tmp_path / "live")
    iterations = 10_000_000  # far more than the test waits for: it stops the run itself
    run = subprocess.Popen([str(BIN / "dvc"), "exp", "run", "-S", f"train.iterations={iterations}"],
                           cwd=work.root, env=work.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 120
        while len(set(seen)) < 2:
            assert run.poll() is None, "the experiment stopped by itself"
            assert time.monotonic() < deadline, f"no live step shown; saw {seen}"
            seen += running_steps(work)
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    # Two different steps seen while it ran, both short of the end: progress, not a final result.
    assert all(0 <= s < iterations - 1 for s in seen)
    assert seen == sorted(seen)


def test_a_kill_never_leaves_the_progress_file_empty(tmp_path):
    """A writer killed with SIGKILL at 10 moments: the file is always whole JSON."""
    script = ("import sys\nfrom catdog.live import Progress\nprogress = Progress('live')\n"
              "print('ready', flush=True)\n"
              "for i in range(10**9):\n    progress(i, {'cost': 1.0 / (i + 1), 'train_accuracy': 0.5})\n")
    seen = 0
    for attempt in range(10):
        proc = subprocess.Popen([str(BIN / "python"), "-c", script], cwd=tmp_path,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.02 + 0.03 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        text = (tmp_path / "live/metrics.json").read_text()
        assert text.endswith("}\n"), f"attempt {attempt}: {text!r}"
        seen = max(seen, json.loads(text)["step"])
    assert seen > 0
