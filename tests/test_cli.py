"""A command that runs out of memory or is interrupted ends with one line, not a traceback."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def start(script: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(SRC)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_running_out_of_memory_is_one_line():
    def limit_memory():  # 2 GB of address space: the 80 GB array below cannot be had
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = start("import numpy as np\nfrom catdog.cli import run_stage\n"
                 "run_stage('train', lambda: np.ones(10**10))", preexec_fn=limit_memory)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.startswith("train: error: out of memory; lower the sizes in params.yaml")
    assert len(err.splitlines()) == 1


def test_ctrl_c_is_one_line_and_status_130():
    proc = start("import time\nfrom catdog.cli import run_stage\n"
                 "print('started', flush=True)\nrun_stage('train', lambda: time.sleep(60))")
    assert proc.stdout.readline() == "started\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == "train: interrupted; no output was left half-written\n"
