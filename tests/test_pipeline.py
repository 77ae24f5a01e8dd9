"""End to end: the real `dvc repro` on a copy of the project in a temporary git repository."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from catdog.storage import load_npz

pytestmark = pytest.mark.pipeline

OUTPUTS = ["data/raw/demo", "data/interim", "data/processed", "models", "metrics", "predictions",
           "dvc.lock"]


def test_outputs_exist_with_the_declared_shapes(repo):
    root = repo.root
    manifest = pd.read_csv(root / "data/interim/manifest.csv")
    # Every photo, and the demo stage's mark, which is listed but is not an image.
    photos = manifest[manifest.path != "data/raw/demo/.catdog-demo"]
    assert len(photos) == 40 and set(photos.status) == {"ok"} and len(manifest) == 41
    assert sorted(photos.split.value_counts().items()) == [("test", 8), ("train", 32)]
    for split, m in (("train", 32), ("test", 8)):
        arrays = load_npz(root / f"data/processed/{split}.npz")
        assert arrays["X"].shape == (12288, m) and arrays["Y"].shape == (1, m)
        assert arrays["X"].dtype == np.uint8 and float(arrays["scale"]) == 1 / 255
        images = load_npz(root / f"data/interim/{split}.npz")["images"]
        assert images.shape == (m, 64, 64, 3) and images.dtype == np.uint8
    model = load_npz(root / "models/model.npz")
    assert model["W1"].shape == (10, 12288) and model["W2"].shape == (1, 10)
    assert int(model["image_size"]) == 64 and str(model["channel_order"]) == "BGR"
    train = json.loads((root / "metrics/train.json").read_text())
    assert train["iterations"] == 60 and {"final_cost", "accuracy"} <= set(train)
    cost = pd.read_csv(root / "metrics/cost.csv")
    assert list(cost.columns) == ["iteration", "cost"]
    assert cost.iteration.tolist() == [0, 7, 14, 21, 28, 35, 42, 49, 56, 59]
    evaluate = json.loads((root / "metrics/evaluate.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "log_loss", "roc_auc",
            "tp", "fp", "tn", "fn"} <= set(evaluate)
    assert evaluate["tp"] + evaluate["fp"] + evaluate["tn"] + evaluate["fn"] == 8
    roc = pd.read_csv(root / "metrics/roc.csv")
    assert list(roc.columns) == ["fpr", "tpr"] and roc.iloc[-1].tolist() == [1.0, 1.0]
    confusion = pd.read_csv(root / "metrics/confusion.csv")
    assert list(confusion.columns) == ["path", "actual", "predicted", "p_dog"]
    assert len(confusion) == 8
    accuracy = pd.read_csv(root / "metrics/accuracy.csv")
    assert list(accuracy.columns) == ["iteration", "train", "validation", "test"]
    assert accuracy.iteration.tolist() == [0, 50, 59]  # eval_every 50, and the last iteration
    assert accuracy.train.iloc[-1] == pytest.approx(train["accuracy"], abs=0.1)
    pr = pd.read_csv(root / "metrics/pr.csv")
    assert list(pr.columns) == ["recall", "precision"] and pr.recall.iloc[-1] == 1.0
    assert (root / "metrics/mistakes.png").read_bytes().startswith(b"\x89PNG")


def test_a_second_repro_does_nothing(repo):
    ran, proc = repo.repro()
    assert ran == []
    assert "up to date" in repo.dvc("status").stdout
    assert repo.run("git", "status", "--porcelain").stdout == ""


def test_a_learning_rate_change_reruns_train_and_evaluate_only(repo, tmp_path):
    work = repo.copy(tmp_path / "lr")
    work.set_params(train={"learning_rate": 0.005})
    ran, _ = work.repro()
    # check_params reads the whole file; its unchanged output reruns nothing downstream.
    assert ran == ["check_params", "train", "evaluate", "predict"]
    diff = work.dvc("metrics", "diff", "--json").stdout
    changed = json.loads(diff)
    assert "final_cost" in changed["metrics/train.json"]
    params = json.loads(work.dvc("params", "diff", "--json").stdout)
    change = params["params.yaml"]["train.learning_rate"]
    committed = yaml.safe_load((repo.root / "params.yaml").read_text())["train"]["learning_rate"]
    assert (change["old"], change["new"]) == (committed, 0.005)


def test_thread_counts_leave_the_pipeline_up_to_date(repo, tmp_path):
    """train.threads and data.workers change the speed, never a result: no stage reruns."""
    work = repo.copy(tmp_path / "threads")
    work.set_params(train={"threads": 1}, data={"workers": 3})
    assert "up to date" in work.dvc("status").stdout
    ran, _ = work.repro()
    assert ran == []


def test_a_forced_rerun_gives_byte_identical_outputs(repo, tmp_path):
    work = repo.copy(tmp_path / "again")
    before = work.digest(*OUTPUTS)
    ran, _ = work.repro("-f")
    assert ran == ["check_params", "demo", "ingest", "featurize", "train", "evaluate", "predict"]
    assert work.digest(*OUTPUTS) == before


def test_a_bad_param_stops_the_stage_and_keeps_earlier_outputs(repo, tmp_path):
    work = repo.copy(tmp_path / "bad")
    kept = work.digest("data/processed")
    work.set_params(train={"hidden_size": 0})
    ran, proc = work.repro(check=False)
    assert proc.returncode != 0
    assert "train.hidden_size must be at least 1" in proc.stderr + proc.stdout
    assert work.digest("data/processed") == kept


def test_divergence_fails_naming_the_learning_rate_and_writes_no_model(repo, tmp_path):
    work = repo.copy(tmp_path / "diverge")
    (work.root / "models/model.npz").unlink()
    work.set_params(train={"learning_rate": 1e38})
    proc = work.run("python", "stages/train.py", check=False)
    assert proc.returncode == 1
    assert "train.learning_rate" in proc.stderr
    assert not (work.root / "models/model.npz").exists()
