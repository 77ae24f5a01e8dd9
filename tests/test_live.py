"""Training progress while a run is going: `dvc exp show` reports the latest recorded step."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time

import pandas as pd
import pytest

from catdog.live import Heartbeat, Progress
from catdog_dev.repo import BIN, Repo

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
                if live and "progress" in live:
                    steps.append(live["step"])
    return steps


def test_a_finished_run_shows_one_cost_and_one_accuracy_the_models(repo):
    """After the run the live file keeps only the step reached: `dvc exp show` and
    `dvc metrics diff` list no second cost or accuracy beside final_cost and evaluate's."""
    live = json.loads((repo.root / LIVE).read_text())
    cost = pd.read_csv(repo.root / "metrics/cost.csv").iloc[-1]
    assert live == {"step": cost.iteration}
    shown = repo.dvc("metrics", "show", "--json").stdout
    columns = re.findall(r'"(\w+)":', shown)
    for name in ("cost", "test_accuracy", "train_accuracy", "test_loss"):
        assert name not in columns, name


def test_while_training_the_progress_keys_say_what_they_are(tmp_path):
    progress = Progress(str(tmp_path / "live"))
    progress(10, {"cost": 0.5, "test_accuracy": 0.75})
    during = json.loads((tmp_path / "live/metrics.json").read_text())
    assert during == {"progress": {"cost": 0.5, "test_accuracy": 0.75}, "step": 10}
    assert "timestamp" not in (tmp_path / "live/metrics.json").read_text()
    progress.finish()
    assert json.loads((tmp_path / "live/metrics.json").read_text()) == {"step": 10}


class Log(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_log_that_is_not_a_terminal_gets_a_line_at_least_every_ten_seconds():
    now = [0.0]
    log = Log(tty=False)
    beat = Heartbeat(300, stream=log, clock=lambda: now[0])
    for epoch in range(1, 301):
        now[0] += 0.7  # seconds per epoch
        beat(epoch, 0.25)
    lines = log.getvalue().splitlines()
    times = [float(re.search(r"(\d+) s elapsed", line)[1]) for line in lines]
    gaps = [b - a for a, b in zip([0, *times], [*times, 210])]  # 300 epochs end at 210 s
    assert len(lines) > 20 and max(gaps) <= 10
    assert lines[0] == "train: epoch 12/300, cost 0.250000, 8 s elapsed, about 202 s to go"
    quiet = Log(tty=True)
    beat = Heartbeat(300, stream=quiet, clock=lambda: now[0])
    now[0] += 100
    beat(1, 0.25)
    assert quiet.getvalue() == ""  # on a terminal the progress bar says it


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
