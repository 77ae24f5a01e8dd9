"""Training gives the same model bits whichever x86-64 OpenBLAS kernel runs the products.

OpenBLAS picks its kernel by the CPU it finds, so users on other machines run other kernels;
OPENBLAS_CORETYPE forces one here. The kernel is chosen when the library loads, so each run is
a fresh interpreter. A kernel this NumPy's OpenBLAS does not carry, or one whose instructions
this CPU lacks, is left out (a tiny product under it is tried first, in its own process).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catdog.features import save_features
from catdog.images import resize_image
from catdog.synthetic import draw_animal

KERNELS = ("Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake")
THREADS = (1, 2)

# A product of integers, exact under any kernel; OPENBLAS_VERBOSE=2 makes OpenBLAS name the kernel
# it runs ("Core: Haswell") and an unknown name ("Core not found: ...") on stderr.
TINY_PRODUCT = """
import numpy as np
a = np.arange(64.0).reshape(8, 8)
assert (a @ a == a.astype(int) @ a.astype(int)).all()
"""

# The train stage's library calls on the tiny set; prints the md5 of each run's model file.
TRAIN = """
import hashlib, json, sys
from catdog.features import load_split
from catdog.model import Model, save_model
from catdog.params import TrainParams
from catdog.training import train
examples, Y, image_size = load_split(sys.argv[1])
digests = {}
for threads in map(int, sys.argv[4:]):
    settings = TrainParams(iterations=30, dtype=sys.argv[3], threads=threads)
    result = train(examples, Y, settings, progress=False)
    assert result.costs[-1] < result.costs[0], "it does not train"
    path = f"{sys.argv[2]}.{threads}.npz"
    save_model(path, Model(result.parameters, image_size, result.scaling))
    digests[threads] = hashlib.md5(open(path, "rb").read()).hexdigest()
print(json.dumps(digests))
"""


def run_python(code: str, kernel: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**clean, **env, "OPENBLAS_CORETYPE": kernel}, timeout=120)


@pytest.fixture(scope="module")
def kernels() -> dict[str, list[str]]:
    """The kernel each name runs here -> the names that run it (Zen runs the Haswell kernels in
    NumPy's OpenBLAS): one training run per distinct kernel."""
    runs: dict[str, list[str]] = {}
    for name in KERNELS:
        probe = run_python(TINY_PRODUCT, name, OPENBLAS_VERBOSE="2")
        # A crash (Illegal instruction) means this CPU lacks the kernel's instructions.
        if probe.returncode != 0 or "Core not found" in probe.stderr:
            continue
        core = re.search(r"Core: (\w+)", probe.stderr)
        runs.setdefault(core.group(1) if core else name, []).append(name)
    return runs


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """40 synthetic photos at 16x16, as the featurize stage writes them."""
    rng = np.random.default_rng(7)
    labels = np.arange(40) % 2
    images = np.stack([resize_image(draw_animal(int(label), rng), 16) for label in labels])
    path = tmp_path_factory.mktemp("kernels") / "train.npz"
    save_features(path, images, labels, np.array([f"photo{i}.png" for i in range(40)]))
    return path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_openblas_kernel_and_thread_count_trains_the_same_model(kernels, tiny_set, tmp_path, dtype):
    if len(kernels) < 2:
        pytest.skip(f"this machine runs fewer than two distinct OpenBLAS kernels of {', '.join(KERNELS)}")
    models = {}
    for core, names in kernels.items():
        run = run_python(TRAIN, names[0], str(tiny_set), str(tmp_path / core), dtype, *map(str, THREADS))
        assert run.returncode == 0, f"training under OPENBLAS_CORETYPE={names[0]} failed:\n{run.stderr}"
        for threads, digest in json.loads(run.stdout.splitlines()[-1]).items():
            models[f"{'/'.join(names)} ({core} kernels), {threads} thread(s)"] = digest
    groups: dict[str, list[str]] = {}
    for run, digest in models.items():
        groups.setdefault(digest, []).append(run)
    assert len(groups) == 1, f"{len(groups)} different models: " + " | ".join(
        f"md5 {digest[:8]}: {'; '.join(runs)}" for digest, runs in groups.items())
