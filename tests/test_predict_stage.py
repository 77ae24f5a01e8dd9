"""The predict stage in a real DVC repository: versioned predictions, a Kaggle submission when
the photos are numbered, unlabeled test photos refused before anything is deleted, flip
averaging recorded in the metrics."""
from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest

pytestmark = pytest.mark.pipeline

KEPT = ["data/interim", "data/processed", "models", "metrics", "predictions", "dvc.lock"]


def numbered_zip(work, name: str = "photos/test1.zip", count: int = 12) -> list[str]:
    """A zip of demo photos renamed as Kaggle numbers its test photos (test1/1.jpg ...)."""
    photos = sorted(work.root.glob("data/raw/demo/*.jpg"))[:count]
    assert len(photos) == count
    (work.root / name).parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(work.root / name, "w") as z:
        for number, photo in enumerate(photos, start=1):
            z.write(photo, f"test1/{number}.jpg")
    return [p.name for p in photos]


def test_the_default_run_predicts_the_demo_photos(repo):
    predictions = pd.read_csv(repo.root / "predictions/predictions.csv")
    demo = sorted(p.name for p in (repo.root / "data/raw/demo").glob("*.*g"))
    assert sorted(p.rsplit("/", 1)[1] for p in predictions.path) == demo
    assert set(predictions.label) <= {"cat", "dog"}
    metrics = json.loads((repo.root / "metrics/predict.json").read_text())
    assert metrics["photos"] == len(demo) and metrics["dogs"] == (predictions.p_dog > 0.5).sum()
    assert "flip_average" not in metrics
    assert not (repo.root / "predictions/submission.csv").exists()  # demo names carry no number
    assert repo.run("git", "status", "--porcelain").stdout == ""


def test_numbered_photos_give_a_submission_that_a_retrain_refreshes(repo, tmp_path):
    work = repo.copy(tmp_path / "kaggle")
    numbered_zip(work)
    work.set_params(predict={"photos": "photos/test1.zip"})
    ran, _ = work.repro()
    assert ran == ["check_params", "predict"]
    submission = pd.read_csv(work.root / "predictions/submission.csv")
    assert submission.id.tolist() == list(range(1, 13))  # 1, 2, ... 10, 11, 12: numeric order
    predictions = pd.read_csv(work.root / "predictions/predictions.csv")
    by_id = dict(zip(predictions.path.str.extract(r"/(\d+)\.jpg$")[0].astype(int), predictions.p_dog))
    assert submission.label.tolist() == [by_id[i] for i in submission.id]
    assert work.repro()[0] == []
    work.commit("predictions of the numbered photos")
    before = submission

    work.set_params(train={"learning_rate": 0.005})
    ran, _ = work.repro()
    assert ran == ["check_params", "train", "evaluate", "predict"]
    after = pd.read_csv(work.root / "predictions/submission.csv")
    assert after.id.tolist() == before.id.tolist() and not after.label.equals(before.label)
    diff = json.loads(work.dvc("metrics", "diff", "--json").stdout)
    assert "mean_p_dog" in diff["metrics/predict.json"]
    plots = json.loads(work.dvc("plots", "diff", "--json").stdout)["data"]
    histogram = plots["Predicted probability of dog (predict.photos)"]
    assert {rev for entry in histogram for rev in entry["revisions"]} == {"HEAD", "workspace"}


def test_unlabeled_test_photos_are_refused_before_anything_is_deleted(repo, tmp_path):
    work = repo.copy(tmp_path / "unlabeled")
    numbered_zip(work)
    before = work.digest(*KEPT)
    work.set_params(data={"test_dir": "photos/test1.zip"})
    ran, proc = work.repro(check=False)
    assert proc.returncode != 0 and ran == ["check_params"]
    error = [line for line in proc.stderr.splitlines() if line.startswith("check_params: error")]
    assert error == ["check_params: error: data.test_dir: none of the 12 photos in "
                     "'photos/test1.zip' is labelled (its name or folder saying cat or dog), e.g. "
                     "photos/test1.zip:test1/1.jpg; to classify unlabeled photos use `catdog "
                     "predict photos/test1.zip` or the predict stage (set predict.photos)"]
    assert work.digest(*KEPT) == before


def test_flip_averaging_is_opt_in_and_recorded_in_the_metrics(repo, tmp_path):
    work = repo.copy(tmp_path / "flip")
    model = work.digest("models")
    plain = json.loads((work.root / "metrics/evaluate.json").read_text())
    work.set_params(evaluate={"flip_average": True})
    ran, _ = work.repro()
    assert ran == ["check_params", "evaluate", "predict"]
    flipped = json.loads((work.root / "metrics/evaluate.json").read_text())
    assert flipped.pop("flip_average") is True and "flip_average" not in plain
    assert flipped["log_loss"] != plain["log_loss"]
    assert json.loads((work.root / "metrics/predict.json").read_text())["flip_average"] is True
    assert work.digest("models") == model
