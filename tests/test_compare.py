"""`make compare`: the experiments in one readable table; what `make photos` refuses.
(`make photos` on a folder with an awkward name, then `make compare`: tests/test_recipe.py.)"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catdog.compare import MAX_COLUMNS, experiment_rows, render, table
from catdog_dev.repo import PROJECT, Repo


def make(work: Repo, *args: str) -> subprocess.CompletedProcess:
    """The copy's Makefile with this environment (-o: no second install)."""
    return work.run("make", "-s", "-o", ".venv/.installed", f"BIN={Path(sys.executable).parent}",
                    *args, check=False)


@pytest.fixture
def work(repo, tmp_path) -> Repo:
    work = repo.copy(tmp_path / "work")
    for name in ("Makefile", "scripts"):
        src = PROJECT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work.root / name)
    work.commit("make targets")
    return work


@pytest.mark.pipeline
def test_make_photos_refuses_what_it_cannot_pass_in_one_line(work, tmp_path):
    for path, message in [(tmp_path / "nowhere", "does not exist"),
                          (tmp_path / "back\\slash", "holds '\\\\'")]:
        if "slash" in path.name:
            path.mkdir()
        proc = make(work, "photos", f"PHOTOS={path}")
        assert proc.returncode != 0
        (line,) = [l for l in proc.stderr.splitlines() if l.startswith("photos: error:")]
        assert message in line and str(path) in line.replace("\\\\", "\\")
    assert "usage: make photos PHOTOS=" in make(work, "photos").stderr


@pytest.mark.pipeline
def test_compare_lists_what_differs_between_experiments(work):
    for hidden in (3, 5):
        work.dvc("exp", "run", "-S", f"train.hidden_size={hidden}", "-S", "train.learning_rate=0.05")
    out = make(work, "compare", "SORT=test_log_loss").stdout.splitlines()
    assert out[0] == "every experiment, unlike the baseline: train.learning_rate=0.05"
    assert out[1].split() == ["Experiment", "hidden_size", "test_accuracy", "test_log_loss", "roc_auc"]
    losses = [float(line.split()[3]) for line in out[3:]]
    assert [line.split()[1] for line in out[2:]][0] == "10" and losses == sorted(losses)
    assert len(out) == 5  # the baseline and the two experiments


def test_the_table_keeps_to_twelve_columns_and_says_what_it_left_out():
    def rev(name, **params):
        return {"rev": name * 7, "name": name, "data": {
            "params": {"params.yaml": {"data": {"train": params, "data": {"train_dir": "/home/me/photos"}}}},
            "metrics": {"metrics/evaluate.json": {"data": {"accuracy": 0.5, "log_loss": 0.7}},
                        "metrics/live/metrics.json": {"data": {"step": 9}}}}}
    base = rev("main", **{f"p{i:02d}": 0 for i in range(20)})
    exps = [rev(f"e{j}", **{f"p{i:02d}": j + i for i in range(20)}) for j in range(3)]
    shown = table(experiment_rows([{"rev": "workspace", "data": {}},
                                   {**base, "experiments": [{"revs": exps}]}]))
    assert len(shown["header"]) == MAX_COLUMNS
    assert shown["header"][-2:] == ["test_accuracy", "test_log_loss"]
    assert shown["left_out"] == [f"train.p{i:02d}" for i in range(9, 20)]
    assert [row[0].strip() for row in shown["body"]] == ["main", "e0", "e1", "e2"]
    text = render(shown["header"], shown["body"])
    assert "/" not in text.splitlines()[0] and "step" not in text
