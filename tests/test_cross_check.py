"""scripts/cross_check.sh: its probe, its report of what differs, its refusals.

The emulated machines take minutes, so here the machine is this CPU under another OpenBLAS
kernel (`--kernel`), and the report is checked on two copies written by the test.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from catdog_dev.repo import PROJECT

SCRIPT = PROJECT / "scripts/cross_check.sh"
COMPARE = PROJECT / "scripts/cross_check_compare.py"


def run(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_probe_under_another_kernel_agrees_on_everything_but_float_products():
    proc = run(SCRIPT, "--kernel", "Nehalem", "--probe")
    lines = dict(line.strip().rsplit(None, 1) for line in proc.stdout.splitlines()[1:])
    assert len(lines) == 23, proc.stdout + proc.stderr
    # The kernel changes the BLAS only: every elementwise operation and reduction is NumPy's own.
    assert {name for name, verdict in lines.items() if verdict != "same"} <= {
        "matmul random float32 (informative)", "matmul random float64 (informative)"}
    assert lines["matmul integer-valued float64 (must be exact)"] == "same"
    assert proc.returncode == (1 if "DIFFERENT" in lines.values() else 0)


def write_copy(root: Path, png_level: int, weights: np.ndarray) -> Path:
    """A copy with a demo folder of one PNG, a model, and the dvc.lock of both."""
    image = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    (root / "demo").mkdir(parents=True)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, png_level])
    assert ok
    (root / "demo/cat.0.png").write_bytes(data.tobytes())
    (root / "demo/dog.0.png").write_bytes(b"same in both")
    np.savez(root / "model.npz", W1=weights, b1=np.zeros(3))
    digests = {name: f"{hash((name, png_level, weights.tobytes())) & 0xffff:x}"
               for name in ("demo", "model.npz")}
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n"
        f"  demo:\n    outs:\n    - path: demo\n      md5: {digests['demo']}.dir\n"
        f"  train:\n    outs:\n    - path: model.npz\n      md5: {digests['model.npz']}\n")
    return root


def test_the_report_names_what_differs_inside_each_output(tmp_path):
    weights = np.linspace(-1, 1, 6).reshape(2, 3)
    host = write_copy(tmp_path / "host", 1, weights)
    changed = weights.copy()
    changed[0, 1] = np.nextafter(changed[0, 1], 2)
    target = write_copy(tmp_path / "target", 9, changed)
    proc = run(sys.executable, COMPARE, host, target, "demo", "train")
    assert proc.returncode == 1, proc.stderr
    report = proc.stdout
    assert "1 of 2 files differ (.png: 1)" in report
    assert "cat.0.png: bytes differ" in report and "decoded pixels same" in report
    assert "arrays differ: W1 (1 of 6 values" in report and "b1" not in report
    same = run(sys.executable, COMPARE, host, host, "demo", "train")
    assert same.returncode == 0 and "DIFFERENT" not in same.stdout


def test_bad_options_are_refused_with_the_option_named():
    for args, message in [(["--iterations", "0"], "--iterations must be a positive whole number"),
                          (["--stages", "train evalute"], "no stage 'evalute'"),
                          (["--kernel", "Has well"], "--kernel must be an OpenBLAS core type name")]:
        proc = run(SCRIPT, *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
