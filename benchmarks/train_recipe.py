"""The recommended recipe for real photos: what the train stage costs, beside PyTorch CPU.

    python benchmarks/train_recipe.py --photos /tmp/dogs-vs-cats-21k-96px \
        [--test-photos ../shared/data/dogs-vs-cats-2k] [--torch-python /tmp/torchvenv/bin/python]

A copy of the project with the recipe of the Makefile's PHOTOS_RECIPE (what `make photos` runs)
is prepared under the temp folder and `dvc repro featurize` run there (not timed, kept for the
next run, which copies in the code it measures). Then the train stage runs as `dvc repro` runs
it, in its own process: wall time, training time per epoch, time to the best epoch and peak
resident memory. With a Python that can import torch (optional, never a dependency of the
project), the same network, batch size, optimizer, schedule, augmentation and per-epoch metrics
run in PyTorch on the same arrays, also in their own process. Both use the same number of
threads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The PyTorch worker runs this file with another Python, which has numpy and torch only: the
# project's helpers are imported where they are used.
PROJECT = Path(__file__).resolve().parents[1]


def recipe() -> dict[str, str]:
    text = (PROJECT / "Makefile").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("PHOTOS_RECIPE :="))
    return dict(item.split("=", 1) for item in line.split(":=", 1)[1].split())


def as_yaml_value(text: str):
    import yaml

    return yaml.safe_load(text)


def prepare(photos: Path, test_photos: Path | None, threads: int) -> Path:
    """A project copy with the recipe, featurized (cached by settings)."""
    from catdog_dev.repo import Repo

    settings = {**recipe(), "data.train_dir": str(photos.resolve()),
                "data.test_dir": str((test_photos or photos).resolve()),  # same folder: a split
                "train.threads": str(threads)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / "catdog-bench" / f"recipe-{key}"
    if not (root / "data/processed/train.npz").exists():
        sections: dict[str, dict] = {}
        for name, value in settings.items():
            section, key_name = name.split(".")
            sections.setdefault(section, {})[key_name] = as_yaml_value(value)
        if root.exists():
            import shutil

            shutil.rmtree(root)
        repo = Repo.create(root, **sections)
        repo.repro("featurize")
    else:
        Repo(root).refresh_code()  # the featurized data is kept; the code is this checkout's
    return root


def run_measured(cmd: list[str], cwd: Path, env: dict) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) of that process alone, and its output."""
    from catdog_dev.measure import run_child

    run = run_child(cmd, cwd=cwd, env=env)
    return run.seconds, run.peak_rss, run.stdout + run.stderr


def catdog_run(root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root / "src"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    wall, rss, output = run_measured([sys.executable, "stages/train.py"], root, env)
    match = re.search(r"train: (\d+) iterations .* in ([\d.]+) s", output)
    epochs, seconds = int(match.group(1)), float(match.group(2))
    train = json.loads((root / "metrics/train.json").read_text())
    subprocess.run([sys.executable, "stages/evaluate.py"], cwd=root, env=env, check=True,
                   capture_output=True)
    evaluate = json.loads((root / "metrics/evaluate.json").read_text())
    return {"epochs": epochs, "train_seconds": seconds, "wall": wall, "rss": rss,
            "per_epoch": seconds / epochs, "best_epoch": train.get("best_iteration"),
            "to_best": seconds * (train.get("best_iteration", epochs - 1) + 1) / epochs,
            "validation_accuracy": train.get("validation_accuracy"),
            "test_accuracy": evaluate["accuracy"]}


def torch_run(torch_python: str, root: Path, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": ""}
    wall, rss, output = run_measured(
        [torch_python, str(Path(__file__).resolve()), "--torch-worker", str(root),
         "--threads", str(threads)], root, env)
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "wall": wall, "rss": rss}


# ---- the PyTorch side: numpy and torch only ------------------------------------------------
def torch_worker(root: Path, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    settings = recipe()
    h = int(settings["train.hidden_size"])
    batch = int(settings["train.batch_size"])
    epochs = int(settings["train.iterations"])
    lr, wd = float(settings["train.learning_rate"]), float(settings["train.weight_decay"])
    shift = int(settings["train.augment_shift"])
    fraction = float(settings["train.validation_fraction"])
    start = time.perf_counter()

    def load(name):
        with np.load(root / f"data/processed/{name}.npz") as data:
            X, Y = data["X"], data["Y"][0]
        rows = X.T if X.dtype == np.uint8 else np.rint(X.T * 255).astype(np.uint8)
        return np.ascontiguousarray(rows), Y.astype(np.float32)

    rows, Y = load("train")
    test_rows, Y_test = load("test")
    rng = np.random.default_rng(0)
    held = rng.permutation(len(Y))[: int(round(fraction * len(Y)))]
    keep = np.setdiff1d(np.arange(len(Y)), held)
    val_rows, Y_val, rows, Y = rows[held], Y[held], rows[keep], Y[keep]
    pixels = rows.astype(np.float64) / 255
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    std[std < 1e-6] = 1
    del pixels
    mean_t, std_t = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    n_x = rows.shape[1]
    s = int(round((n_x / 3) ** 0.5))
    model = torch.nn.Sequential(torch.nn.Linear(n_x, h), torch.nn.Tanh(), torch.nn.Linear(h, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: (1 + np.cos(np.pi * e / epochs)) / 2)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def inputs(batch_rows):
        return (torch.from_numpy(batch_rows).float() / 255 - mean_t) / std_t

    def augment(batch_rows):
        k = len(batch_rows)
        images = batch_rows.reshape(k, s, s, 3)
        flip = rng.random(k) < 0.5
        images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
        padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        dy, dx = rng.integers(-shift, shift + 1, size=(2, k))
        r = shift + dy[:, None] + np.arange(s)
        c = shift + dx[:, None] + np.arange(s)
        return padded[np.arange(k)[:, None, None], r[:, :, None], c[:, None, :]].reshape(k, n_x)

    def evaluate(rows_, Y_):
        with torch.no_grad():
            z = torch.cat([model(inputs(rows_[i:i + 4096]))[:, 0] for i in range(0, len(rows_), 4096)])
            return float(loss_fn(z, torch.from_numpy(Y_))), float(((z > 0).numpy() == (Y_ == 1)).mean())

    setup = time.perf_counter() - start
    best, history, times = (np.inf, -1), [], []
    for epoch in range(epochs):
        t = time.perf_counter()
        order = rng.permutation(len(Y))
        for i in range(0, len(Y), batch):
            idx = order[i:i + batch]
            x = inputs(augment(rows[idx]))
            loss = loss_fn(model(x)[:, 0], torch.from_numpy(Y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        metrics = [evaluate(r, y) for r, y in ((rows, Y), (val_rows, Y_val), (test_rows, Y_test))]
        history.append(metrics)
        if metrics[1][0] < best[0]:
            best = (metrics[1][0], epoch)
        times.append(time.perf_counter() - t)
    seconds = sum(times)
    print(json.dumps({"epochs": epochs, "train_seconds": seconds, "per_epoch": seconds / epochs,
                      "setup_seconds": setup, "best_epoch": best[1],
                      "to_best": sum(times[: best[1] + 1]),
                      "validation_accuracy": history[best[1]][1][1],
                      "test_accuracy": history[best[1]][2][1]}))


def machine_rates(h: int, n_x: int, threads: int) -> tuple[float, float]:
    """(float32 multiply-adds per second at the training products' shape on `threads` cores,
    bytes per second of memory bandwidth), measured here and now."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    W = rng.random((h, n_x), np.float32)
    F = rng.random((64, n_x), np.float32)    # one chunk of examples, as the solver takes it
    with threadpool_limits(1):
        W @ F.T
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < 1.0:
            W @ F.T
            n += 1
        per_core = n * h * n_x * 64 / (time.perf_counter() - start)
    big = np.ones(256 << 20, np.uint8)
    out = np.empty_like(big)
    np.copyto(out, big)
    start = time.perf_counter()
    for _ in range(4):
        np.copyto(out, big)
    bandwidth = 4 * 2 * big.nbytes / (time.perf_counter() - start)  # read + write
    return per_core * threads, bandwidth


def roofline(root: Path, m: int, n_x: int, threads: int) -> dict:
    """What one epoch of the recipe must do at least: its products' multiply-adds (forward and
    backward over the training photos, a forward pass over every set for the per-epoch
    metrics) and its reads of the uint8 pixels, against this machine's measured rates."""
    settings = recipe()
    h = int(settings["train.hidden_size"])
    m_val = round(float(settings["train.validation_fraction"]) * m)
    with np.load(root / "data/processed/test.npz") as data:
        m_test = data["Y"].shape[1]
    m_train = m - m_val
    macs = 2 * h * n_x * m_train + h * n_x * (m_train + m_val + m_test)
    pixels = n_x * (m_train + (m_train + m_val + m_test))
    rate, bandwidth = machine_rates(h, n_x, threads)
    return {"macs": macs, "bytes": pixels, "rate": rate, "bandwidth": bandwidth,
            "limit": max(macs / rate, pixels / bandwidth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--test-photos", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch-python", default=sys.executable,
                        help="a Python that can import torch (default: this one)")
    parser.add_argument("--torch-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.threads)
    if args.photos is None:
        parser.error("--photos is required")
    root = prepare(args.photos, args.test_photos, args.threads)
    with np.load(root / "data/processed/train.npz") as data:
        m, n_x = data["Y"].shape[1], data["X"].shape[0]
    print(f"recipe: {' '.join(f'{k}={v}' for k, v in recipe().items())}")
    print(f"training photos: {m} ({n_x} inputs; uint8 pixels {m * n_x / 1e6:.0f} MB), "
          f"{args.threads} threads\n")
    rows = [("catdog (train stage)", catdog_run(root))]
    has_torch = subprocess.run([args.torch_python, "-c", "import torch"],
                               capture_output=True).returncode == 0
    if has_torch:
        rows.append(("PyTorch CPU", torch_run(args.torch_python, root, args.threads)))
    else:
        print("(PyTorch not importable by --torch-python: its column is left out)\n")
    print("| | epochs | per epoch | to best epoch | training | whole stage | peak RSS "
          "| best epoch | validation acc | test acc |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows:
        print(f"| {name} | {r['epochs']} | {r['per_epoch']:.2f} s | {r['to_best']:.1f} s "
              f"| {r['train_seconds']:.1f} s | {r['wall']:.1f} s | {r['rss'] / 2**20:.0f} MB "
              f"| {r['best_epoch']} | {r['validation_accuracy']:.4f} | {r['test_accuracy']:.4f} |")
    line = roofline(root, m, n_x, args.threads)
    print(f"\nroofline of one epoch: {line['macs'] / 1e9:.1f} G multiply-adds at "
          f"{line['rate'] / 1e9:.1f} G/s (float32, the products' shape, {args.threads} cores) = "
          f"{line['macs'] / line['rate']:.2f} s; {line['bytes'] / 1e9:.2f} GB of pixels at "
          f"{line['bandwidth'] / 1e9:.1f} GB/s = {line['bytes'] / line['bandwidth']:.2f} s; "
          f"limit {line['limit']:.2f} s, catdog at {rows[0][1]['per_epoch'] / line['limit']:.2f}x it")


if __name__ == "__main__":
    main()
