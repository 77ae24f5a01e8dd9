"""Shared fixtures: small photo folders written by the tests themselves."""
from __future__ import annotations

import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from catdog.params import DataParams
from pipeline_repo import Repo

# A runner may start the suite with SIGINT ignored (a background job of a non-interactive
# shell). Children inherit an ignored signal, so the Ctrl-C tests would test nothing; a
# handled one is reset to the default in every child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Small enough for seconds per run, large enough for every stage to have real work.
SMALL = {
    "demo": {"n_images": 40, "seed": 3},
    "train": {"iterations": 60, "cost_every": 7},
}


def write_photo(path: Path, rng: np.random.Generator, height: int = 40, width: int = 50) -> Path:
    """A random colour picture, encoded by its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def photo_folder(tmp_path: Path, rng: np.random.Generator) -> Path:
    """10 cats and 10 dogs named the Kaggle way."""
    folder = tmp_path / "photos"
    for i in range(10):
        write_photo(folder / f"cat.{i}.jpg", rng)
        write_photo(folder / f"dog.{i}.png", rng)
    return folder


def data_params(train_dir: Path | str, test_dir: Path | str = "", **changes) -> DataParams:
    """No test_dir: split train_dir."""
    values = dict(train_dir=str(train_dir), test_dir=str(test_dir or train_dir), test_fraction=0.2,
                  split_seed=0, image_size=16, workers=2, fast_decode=False, max_file_mb=100,
                  max_pixels=100_000_000)
    values.update(changes)
    return DataParams(**values)


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> Repo:
    """The project copied into a temporary git repository after one `dvc repro`, committed.
    Tests that change it work on a copy (`repo.copy(tmp_path / "x")`)."""
    repo = Repo.create(tmp_path_factory.mktemp("pipeline") / "project", **SMALL)
    ran, _ = repo.repro()
    assert ran == ["check_params", "demo", "ingest", "featurize", "train", "evaluate", "predict"]
    repo.commit("first run")
    return repo
