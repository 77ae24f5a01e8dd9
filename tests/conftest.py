"""Shared fixtures: small photo folders written by the tests themselves, the project run once.
The helpers they are built from are in catdog_dev, which tests import like any package."""
from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from catdog_dev.photos import write_photo
from catdog_dev.repo import SMALL, Repo

# A runner may start the suite with SIGINT ignored (a background job of a non-interactive
# shell). Children inherit an ignored signal, so the Ctrl-C tests would test nothing; a
# handled one is reset to the default in every child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> Repo:
    """The project copied into a temporary git repository after one `dvc repro`, committed.
    Tests that change it work on a copy (`repo.copy(tmp_path / "x")`)."""
    repo = Repo.create(tmp_path_factory.mktemp("pipeline") / "project", **SMALL)
    ran, _ = repo.repro()
    assert ran == ["check_params", "demo", "ingest", "featurize", "train", "evaluate", "predict"]
    repo.commit("first run")
    return repo
