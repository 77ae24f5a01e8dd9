"""`make photos`: the recommended recipe as a real `dvc exp run`, on the small demo photos."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline_repo import PROJECT


def recipe() -> dict[str, str]:
    text = (PROJECT / "Makefile").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("PHOTOS_RECIPE :="))
    return dict(item.split("=", 1) for item in line.split(":=", 1)[1].split())


def test_make_photos_runs_the_recipe_as_an_experiment_and_predict_agrees(repo, tmp_path):
    copy = repo.copy(tmp_path / "project")
    (copy.root / "Makefile").write_text((PROJECT / "Makefile").read_text())
    bin_dir = Path(sys.executable).parent
    copy.run("make", "photos", "PHOTOS=data/raw/demo", "STAMP=", f"BIN={bin_dir}")
    params = yaml.safe_load((copy.root / "params.yaml").read_text())
    for key, value in recipe().items():
        section, name = key.split(".")
        assert str(params[section][name]).lower() == value.lower(), key
    assert params["data"]["train_dir"] == str(copy.root / "data/raw/demo")
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
