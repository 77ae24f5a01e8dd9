"""`make photos`: the recommended recipe as a real `dvc exp run`, on the small demo photos in a
folder whose name holds every character a shell, make or `dvc exp run -S` would read as its
own; then `make compare`."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from catdog_dev.repo import PROJECT

pytestmark = pytest.mark.pipeline

AWKWARD = "my photos; $HOME $(id) `id`, [1] {a} 'q' \"d\" #x"


def recipe() -> dict[str, str]:
    text = (PROJECT / "Makefile").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("PHOTOS_RECIPE :="))
    return dict(item.split("=", 1) for item in line.split(":=", 1)[1].split())


def test_make_photos_runs_the_recipe_as_an_experiment_and_predict_agrees(repo, tmp_path):
    copy = repo.copy(tmp_path / "project")
    (copy.root / "Makefile").write_text((PROJECT / "Makefile").read_text())
    shutil.copytree(PROJECT / "scripts", copy.root / "scripts")
    photos = tmp_path / AWKWARD
    shutil.copytree(copy.root / "data/raw/demo", photos, ignore=shutil.ignore_patterns(".catdog*"))
    bin_dir = Path(sys.executable).parent
    make = ["make", "-s", "STAMP=", f"BIN={bin_dir}"]
    copy.run(*make, "photos", f"PHOTOS={photos}")
    assert not (copy.root / "uid=0(root)").exists()
    params = yaml.safe_load((copy.root / "params.yaml").read_text())
    for key, value in recipe().items():
        section, name = key.split(".")
        assert str(params[section][name]).lower() == value.lower(), key
    # Recorded relative to the project: no machine's folder in params.yaml or the tables.
    assert params["data"]["train_dir"] == os.path.relpath(photos, copy.root)
    assert params["data"]["test_dir"] == params["data"]["train_dir"]  # a split of the photos
    shown = json.loads(copy.dvc("exp", "show", "--json").stdout)
    workspace = next(row for row in shown if row["rev"] == "workspace")
    assert workspace["data"]["params"]["params.yaml"]["data"]["train"]["optimizer"] == "adam"

    train = json.loads((copy.root / "metrics/train.json").read_text())
    losses = pd.read_csv(copy.root / "metrics/loss.csv")
    assert losses.validation.notna().all()
    best = losses.validation.idxmin()
    assert train["best_iteration"] == losses.iteration[best]
    assert train["validation_loss"] == losses.validation[best]
    with np.load(copy.root / "models/model.npz") as model:
        assert str(model["input_scaling"]) == "standardize"
        assert model["W1"].shape == (int(recipe()["train.hidden_size"]), 3 * 32 * 32)

    # predict applies the model's preprocessing: the probability evaluate gave each test photo
    confusion = pd.read_csv(copy.root / "metrics/confusion.csv")
    photos = confusion.path.tolist()[:5]
    copy.run(sys.executable, "-m", "catdog", "predict", *photos, "--csv", "predicted.csv")
    predicted = pd.read_csv(copy.root / "predicted.csv")
    assert predicted.path.tolist() == photos
    np.testing.assert_allclose(predicted.p_dog, confusion.p_dog[:5], rtol=1e-6)

    # make compare: the recipe's settings named once, a folder by its name, the kept model's metrics.
    out = copy.run(*make, "compare").stdout.splitlines()
    assert out[0].startswith("every experiment, unlike the baseline: ")
    assert f"data.train_dir={AWKWARD}" in out[0] and "train.hidden_size=192" in out[0]
    assert out[1].split() == ["Experiment", "test_accuracy", "test_log_loss", "roc_auc", "validation_loss"]
    evaluate = json.loads((copy.root / "metrics/evaluate.json").read_text())
    assert out[3].split()[1] == f"{evaluate['accuracy']:.4g}"
