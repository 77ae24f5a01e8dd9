"""Training speed and memory: the project's solvers against a plain float64 implementation.

    python benchmarks/train_speed.py [--sizes 2000,6000,20000] [--hidden 10,64] [--iterations 30]
                                     [--run-iterations 2000]

For each (m, h): the baseline is the six equations written out plainly in float64 on X held
whole (n_x, m), as a straightforward script would; the project is `catdog.training.train` on
the training set loaded the way the train stage loads it. Both start from the same weights
and data. Each contender runs in its own process so its peak resident memory is its own.

`--iterations` are timed; the whole-run time for `--run-iterations` is setup (loading,
precomputation) plus that many times the measured time per iteration (every iteration costs
the same). Pass `--iterations 2000` to time whole runs outright. The cost curves are compared
over the first 300 timed iterations (maximum relative difference). Data: synthetic demo faces drawn at
64x64, cached in the temp folder; nothing here is part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catdog_dev.measure import run_child

CACHE = Path(tempfile.gettempdir()) / "catdog-bench"
EVAL_EVERY = 50  # the default train.eval_every
STABLE = 300     # iterations over which cost curves are compared


def make_features(m: int) -> Path:
    """data/processed-style train.npz with m synthetic 64x64 faces (cached)."""
    from catdog.features import save_features
    from catdog.images import resize_image
    from catdog.synthetic import draw_animal

    path = CACHE / f"train-{m}-uint8.npz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        images = np.empty((m, 64, 64, 3), np.uint8)
        labels = np.arange(m) % 2
        for i in range(m):
            images[i] = resize_image(draw_animal(int(labels[i]), np.random.default_rng([7, i])), 64)
        save_features(path, images, labels, np.array([f"{i}" for i in range(m)]))
    return path


def baseline(path: Path, h: int, iterations: int, learning_rate: float, seed: int) -> dict:
    """The equations as written, float64, X whole in memory."""
    start = time.perf_counter()
    data = np.load(path)
    X, Y = data["X"].astype(np.float64), data["Y"].astype(np.float64)
    X = X / 255  # the exact p / 255 of the plain pipeline, in float64
    rng = np.random.RandomState(seed)
    W1 = rng.randn(h, X.shape[0]) * 0.01
    W2 = rng.randn(1, h) * 0.01
    b1, b2 = np.zeros((h, 1)), np.zeros((1, 1))
    m = X.shape[1]
    setup = time.perf_counter() - start
    costs = []
    start = time.perf_counter()
    for _ in range(iterations):
        Z1 = np.dot(W1, X) + b1
        A1 = np.tanh(Z1)
        Z2 = np.dot(W2, A1) + b2
        A2 = 1 / (1 + np.exp(-Z2))
        costs.append(float(-np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m))
        dZ2 = A2 - Y
        dW2 = np.dot(dZ2, A1.T) / m
        db2 = np.sum(dZ2, axis=1, keepdims=True) / m
        dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
        dW1 = np.dot(dZ1, X.T) / m
        db1 = np.sum(dZ1, axis=1, keepdims=True) / m
        W1, b1 = W1 - learning_rate * dW1, b1 - learning_rate * db1
        W2, b2 = W2 - learning_rate * dW2, b2 - learning_rate * db2
    return {"setup": setup, "loop": time.perf_counter() - start, "costs": costs}


def project(path: Path, h: int, iterations: int, learning_rate: float, seed: int,
            dtype: str, solver: str, run_iterations: int, arithmetic: str = "auto") -> dict:
    """What the train stage does: stream the set in as uint8, train with the chosen solver."""
    import pandas  # noqa: F401  (the stage imports it; count its memory too)

    from catdog.features import load_split
    from catdog.parallel import Workers, blas_threads
    from catdog.params import TrainParams
    from catdog.training import make_solver

    # The settings of a whole run: the solver is chosen for all of its iterations.
    settings = TrainParams(hidden_size=h, learning_rate=learning_rate, iterations=run_iterations,
                           seed=seed, dtype=dtype, solver=solver, arithmetic=arithmetic)

    def build(examples, held_out=None):
        held = {} if held_out is None else {"test": held_out}
        return make_solver(settings, examples, Y.astype(dtype), held, workers)[0]

    start = time.perf_counter()
    examples, Y, _ = load_split(path)
    load = time.perf_counter() - start
    workers = Workers(0)
    with blas_threads(1):  # as in training: all parallelism is over fixed chunks
        engine = build(examples)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        costs = [engine.step(learning_rate)[0] for _ in range(iterations)]
        loop = time.perf_counter() - start
        # What recording test accuracy costs: a held-out set of m / 4 examples, given to the
        # solver when it is built and evaluated every EVAL_EVERY iterations in a whole run.
        held_out, _, _ = load_split(make_features(max(1, examples.m // 4)))
        del engine  # one Gram matrix at a time, as in the train stage
        start = time.perf_counter()
        engine = build(examples, held_out)
        extra_setup = time.perf_counter() - start - (setup - load)
        start = time.perf_counter()
        for _ in range(5):
            engine.logits("test")
        per_eval = (time.perf_counter() - start) / 5
    workers.close()
    return {"setup": setup, "loop": loop, "costs": costs, "solver": engine.name,
            "arithmetic": "exact" if engine.exact else "fast",
            "eval_extra": extra_setup + per_eval * -(-run_iterations // EVAL_EVERY)}


def torch_autograd(path: Path, h: int, iterations: int, learning_rate: float, seed: int) -> dict:
    import torch

    start = time.perf_counter()
    data = np.load(path)
    X = torch.from_numpy(np.ascontiguousarray(data["X"], dtype=np.float32) / np.float32(255))
    Y = torch.from_numpy(data["Y"].astype(np.float32))
    rng = np.random.RandomState(seed)
    W1 = torch.tensor(rng.randn(h, X.shape[0]) * 0.01, dtype=torch.float32, requires_grad=True)
    W2 = torch.tensor(rng.randn(1, h) * 0.01, dtype=torch.float32, requires_grad=True)
    b1 = torch.zeros((h, 1), requires_grad=True)
    b2 = torch.zeros((1, 1), requires_grad=True)
    setup = time.perf_counter() - start
    costs = []
    start = time.perf_counter()
    for _ in range(iterations):
        Z2 = W2 @ torch.tanh(W1 @ X + b1) + b2
        cost = torch.nn.functional.binary_cross_entropy_with_logits(Z2, Y)
        costs.append(float(cost))
        for p in (W1, b1, W2, b2):
            p.grad = None
        cost.backward()
        with torch.no_grad():
            for p in (W1, b1, W2, b2):
                p -= learning_rate * p.grad
    return {"setup": setup, "loop": time.perf_counter() - start, "costs": costs}


def worker(args: argparse.Namespace) -> None:
    path = make_features(args.m)
    if args.worker == "baseline":
        out = baseline(path, args.h, args.iterations, args.learning_rate, args.seed)
    elif args.worker == "torch":
        out = torch_autograd(path, args.h, args.iterations, args.learning_rate, args.seed)
    else:
        out = project(path, args.h, args.iterations, args.learning_rate, args.seed,
                      args.dtype, args.solver, args.run_iterations, args.arithmetic)
    print(json.dumps(out))


def run(kind: str, m: int, h: int, args: argparse.Namespace) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", kind, "--m", str(m), "--h", str(h),
           "--iterations", str(args.iterations), "--learning-rate", str(args.learning_rate),
           "--dtype", args.dtype, "--solver", args.solver, "--arithmetic", args.arithmetic,
           "--run-iterations", str(args.run_iterations)]
    proc = run_child(cmd, check=False)
    if proc.returncode != 0:
        if kind == "torch" and "No module named 'torch'" in proc.stderr:
            return None
        raise SystemExit(f"{kind} m={m} h={h} failed:\n{proc.stderr}")
    # The worker's own peak memory, not counting this process's at the time it started.
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "peak_rss_mb": proc.peak_rss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,6000,20000")
    parser.add_argument("--hidden", default="10,64")
    parser.add_argument("--iterations", type=int, default=30, help="timed iterations")
    parser.add_argument("--run-iterations", type=int, default=2000, help="iterations of a whole run")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--arithmetic", default="auto", choices=("auto", "exact", "fast"),
                        help="train.arithmetic (default: auto, as params.yaml)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--torch", action="store_true", help="also time PyTorch's CPU autograd")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--m", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--h", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    print(f"{os.cpu_count()} cores; {args.iterations} timed iterations; whole run = setup + "
          f"{args.run_iterations} x per-iteration; project dtype {args.dtype}, solver {args.solver}, "
          f"{args.arithmetic} arithmetic")
    header = (f"{'m':>6s} {'h':>3s} {'solver':>13s} | {'base ms/it':>10s} {'proj ms/it':>10s} "
              f"{'base run s':>10s} {'proj run s':>10s} {'ratio':>6s} | {'rel diff 300':>12s} | "
              f"{'base MB':>8s} {'proj MB':>8s} {'uint8 MB':>8s} | {'test acc +':>10s}")
    print(header)
    for m in (int(s) for s in args.sizes.split(",")):
        # Made here, so that no worker's peak memory includes making its data.
        make_features(m)
        make_features(max(1, m // 4))
        for h in (int(s) for s in args.hidden.split(",")):
            base, proj = run("baseline", m, h, args), run("project", m, h, args)
            per_b = base["loop"] / args.iterations
            per_p = proj["loop"] / args.iterations
            run_b = base["setup"] + per_b * args.run_iterations
            run_p = proj["setup"] + per_p * args.run_iterations
            # Compared over the first STABLE iterations: once full-batch descent starts to
            # oscillate, any change in the order of floating-point sums (even between two
            # plain implementations) is amplified, so later costs are not comparable.
            diff = np.max(np.abs(np.array(proj["costs"][:STABLE]) - base["costs"][:STABLE])
                          / np.abs(base["costs"][:STABLE]))
            kind = f"{proj['solver']}/{proj['arithmetic']}"
            print(f"{m:6d} {h:3d} {kind:>13s} | {1e3 * per_b:10.2f} {1e3 * per_p:10.2f} "
                  f"{run_b:10.1f} {run_p:10.1f} {run_b / run_p:5.1f}x | {diff:12.2e} | "
                  f"{base['peak_rss_mb']:8.0f} {proj['peak_rss_mb']:8.0f} {m * 12288 / 2**20:8.0f} | "
                  f"{100 * proj['eval_extra'] / run_p:9.1f}%",
                  flush=True)
            if args.torch:
                tor = run("torch", m, h, args)
                if tor is None:
                    print("       PyTorch is not installed in this environment: skipped")
                    args.torch = False
                else:
                    per_t = tor["loop"] / args.iterations
                    print(f"       torch autograd float32: {1e3 * per_t:.2f} ms/it, "
                          f"project is {per_t / per_p:.1f}x faster per iteration")


if __name__ == "__main__":
    main()
