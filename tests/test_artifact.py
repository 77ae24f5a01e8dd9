"""The trained model as a DVC artifact: another project fetches it by name and uses it."""
from __future__ import annotations

import subprocess

import pandas as pd
import pytest
import yaml

from catdog_dev.repo import PROJECT, Repo

pytestmark = pytest.mark.pipeline


def test_the_model_is_declared_as_an_artifact():
    (name, artifact), = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["artifacts"].items()
    assert name == "catdog-classifier"
    assert artifact["path"] == "models/model.npz" and artifact["type"] == "model"
    assert artifact["desc"] and artifact["labels"]


def test_artifacts_get_fetches_a_registered_version_that_predict_accepts(repo, tmp_path):
    project = repo.copy(tmp_path / "project")
    project.dvc("remote", "add", "-d", "shared", str(tmp_path / "remote"))
    project.commit("share results")
    project.dvc("push")
    # A version is a Git tag in the model registry's format: <artifact>@v<semver>.
    project.run("git", "tag", "-a", "catdog-classifier@v1.0.0", "-m", "first release")
    # The repository it is fetched from is a plain clone: the model comes from the DVC remote.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True)
    elsewhere = Repo(tmp_path / "elsewhere")
    elsewhere.root.mkdir()
    proc = elsewhere.dvc("artifacts", "get", str(clone), "catdog-classifier")
    assert "model.npz" in proc.stdout
    fetched = elsewhere.root / "model.npz"
    assert fetched.read_bytes() == (project.root / "models/model.npz").read_bytes()

    confusion = pd.read_csv(project.root / "metrics/confusion.csv")
    photo = confusion.iloc[0]
    out = elsewhere.run("python", "-m", "catdog", "predict", "--model", str(fetched),
                        str(project.root / photo.path)).stdout
    assert float(out.strip().split("\t")[2]) == pytest.approx(photo.p_dog, rel=1e-5, abs=1e-7)
