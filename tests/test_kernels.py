"""Training gives the same model bits whichever x86-64 OpenBLAS kernel runs the products.

OpenBLAS picks its kernel by the CPU it finds, so users on other machines run other kernels;
OPENBLAS_CORETYPE forces one here. The kernel is chosen when the library loads, so each run is
a fresh interpreter. A kernel this NumPy's OpenBLAS does not carry, or one whose instructions
this CPU lacks, is left out (a tiny product under it is tried first, in its own process).
"""
from __future__ import annotations

import json
import os
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

# The kernel OpenBLAS runs once loaded, as threadpoolctl reads it (openblas_get_corename).
KERNEL_IN_USE = """
import numpy as np
from threadpoolctl import threadpool_info
a = np.arange(64.0).reshape(8, 8)
assert (a @ a == a.astype(int) @ a.astype(int)).all()
print(next(i["architecture"] for i in threadpool_info() if i["internal_api"] == "openblas"))
"""

# The train stage's library calls on the tiny set; prints the md5 of each run's model file.
TRAIN = """
import hashlib, json, sys
from catdog.features import load_split
from catdog.model import Model, save_model
from catdog.training import train
examples, Y, image_size = load_split(sys.argv[1])
digests = {}
for threads in map(int, sys.argv[3:]):
    result = train(examples, Y, hidden_size=10, learning_rate=0.003, iterations=30, seed=1,
                   dtype="float32", cost_every=10, threads=threads, progress=False)
    assert result.costs[-1] < result.costs[0], "it does not train"
    path = f"{sys.argv[2]}.{threads}.npz"
    save_model(path, Model(result.parameters, image_size, result.scaling))
    digests[threads] = hashlib.md5(open(path, "rb").read()).hexdigest()
print(json.dumps(digests))
"""


def run_python(code: str, kernel: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    return subprocess.run([sys.executable, "-c", code, *args], env={**env, "OPENBLAS_CORETYPE": kernel},
                          capture_output=True, text=True, timeout=120)


def usable_kernels() -> list[str]:
    usable = []
    for kernel in KERNELS:
        probe = run_python(KERNEL_IN_USE, kernel)
        # A crash (Illegal instruction) means this CPU cannot run the kernel; another name in use
        # means this OpenBLAS does not carry it and fell back to its own choice.
        if probe.returncode == 0 and probe.stdout.strip().lower() == kernel.lower():
            usable.append(kernel)
    return usable


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """40 synthetic photos at 16x16, as the featurize stage writes them."""
    rng = np.random.default_rng(7)
    labels = np.arange(40) % 2
    images = np.stack([resize_image(draw_animal(int(label), rng), 16) for label in labels])
    path = tmp_path_factory.mktemp("kernels") / "train.npz"
    save_features(path, images, labels, np.array([f"photo{i}.png" for i in range(40)]))
    return path


def test_every_openblas_kernel_and_thread_count_trains_the_same_model(tiny_set, tmp_path):
    kernels = usable_kernels()
    if len(kernels) < 2:
        pytest.skip(f"this machine's OpenBLAS runs fewer than two of {', '.join(KERNELS)}")
    models = {}
    for kernel in kernels:
        run = run_python(TRAIN, kernel, str(tiny_set), str(tmp_path / kernel), *map(str, THREADS))
        assert run.returncode == 0, f"training under OPENBLAS_CORETYPE={kernel} failed:\n{run.stderr}"
        for threads, digest in json.loads(run.stdout.splitlines()[-1]).items():
            models[f"{kernel}, {threads} thread(s)"] = digest
    reference = models[f"{kernels[0]}, {THREADS[0]} thread(s)"]
    differing = [run for run, digest in models.items() if digest != reference]
    assert not differing, (f"model bits differ from {kernels[0]}, {THREADS[0]} thread(s) under: "
                           + "; ".join(differing))
