"""The daily verbs of a DVC user, run for real on a copy of the project."""
from __future__ import annotations

import io
import json
import re
import subprocess
import time

import pandas as pd
import pytest
import yaml

from catdog_dev.repo import PROJECT, Repo

pytestmark = pytest.mark.pipeline


def experiments(repo: Repo) -> list[dict]:
    """Every experiment of `dvc exp show --json`, as {name, params, metrics, state}."""
    found = []
    for commit in json.loads(repo.dvc("exp", "show", "--json").stdout):
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs", []):
                data = rev.get("data", {})
                found.append({
                    "name": rev.get("name"),
                    # Queued runs carry their executor's state; a run made in place has none.
                    "state": (exp.get("executor") or {}).get("state", "success"),
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": {k: v.get("data", {}) for k, v in (data.get("metrics") or {}).items()},
                })
    return found


def test_exp_run_with_set_params_shows_params_and_metrics_side_by_side(repo, tmp_path):
    work = repo.copy(tmp_path / "exp")
    work.dvc("exp", "run", "-S", "train.hidden_size=5", "-S", "train.learning_rate=0.05")
    (exp,) = experiments(work)
    assert exp["params"]["train"]["hidden_size"] == 5
    assert exp["params"]["train"]["learning_rate"] == 0.05
    assert 0 <= exp["metrics"]["metrics/evaluate.json"]["accuracy"] <= 1
    table = work.dvc("exp", "show", "--only-changed", "--no-pager", "--md").stdout
    assert "train.hidden_size" in table and "train.learning_rate" in table
    assert "final_cost" in table  # a metric that moves with these params


def test_a_queued_grid_runs_all_six_and_the_best_can_be_promoted(repo, tmp_path):
    work = repo.copy(tmp_path / "grid")
    work.dvc("exp", "run", "--queue", "-S", "train.hidden_size=5,10,20",
             "-S", "train.learning_rate=0.01,0.1")
    work.dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 300
    while True:
        runs = experiments(work)
        if len(runs) == 6 and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, work.dvc("queue", "status").stdout
        time.sleep(2)
    assert all(r["state"] == "success" for r in runs), work.dvc("queue", "status").stdout
    grid = {(r["params"]["train"]["hidden_size"], r["params"]["train"]["learning_rate"]) for r in runs}
    assert grid == {(h, lr) for h in (5, 10, 20) for lr in (0.01, 0.1)}

    csv = work.dvc("exp", "show", "--csv", "--sort-by", "metrics/evaluate.json:log_loss",
                   "--sort-order", "asc").stdout
    table = pd.read_csv(io.StringIO(csv))
    table = table[table.State == "Success"]
    assert list(table.log_loss) == sorted(table.log_loss)
    best = table.iloc[0]
    work.dvc("exp", "apply", best.Experiment)
    params = yaml.safe_load((work.root / "params.yaml").read_text())
    assert params["train"]["hidden_size"] == best["train.hidden_size"]
    assert params["train"]["learning_rate"] == best["train.learning_rate"]
    work.commit("promote the best experiment")
    assert "up to date" in work.dvc("status").stdout
    work.dvc("queue", "stop", check=False)


def test_metrics_and_params_diff_between_commits_are_readable(repo, tmp_path):
    work = repo.copy(tmp_path / "diff")
    work.set_params(train={"hidden_size": 4})
    work.repro()
    work.commit("smaller hidden layer")
    params = work.dvc("params", "diff", "HEAD~1", "--md").stdout
    assert "train.hidden_size" in params and "| 10 " in params and "| 4 " in params
    metrics = work.dvc("metrics", "diff", "HEAD~1", "--md").stdout
    assert "metrics/evaluate.json" in metrics and "accuracy" in metrics
    assert "np.float" not in metrics


def test_plots_show_and_diff_render_one_html_page(repo, tmp_path):
    work = repo.copy(tmp_path / "plots")
    work.dvc("plots", "show", "-o", "plots_now")
    page = (work.root / "plots_now" / "index.html").read_text()
    for title in ("Training cost", "Accuracy during training", "ROC curve", "Precision-recall",
                  "Confusion matrix", "mistakes.png"):
        assert title in page, title
    work.set_params(train={"learning_rate": 0.05})
    work.repro()
    work.commit("faster learning")
    work.dvc("plots", "diff", "HEAD~1", "-o", "plots_diff")
    page = (work.root / "plots_diff" / "index.html").read_text()
    assert "HEAD~1" in page and "workspace" in page


def test_a_second_clone_restores_every_output_from_a_remote_without_running_a_stage(repo, tmp_path):
    work = repo.copy(tmp_path / "first")
    work.dvc("remote", "add", "-d", "shared", str(tmp_path / "remote"))
    work.commit("share the cache")
    work.dvc("push", "--run-cache")
    second = Repo(tmp_path / "second")
    subprocess.run(["git", "clone", "-q", str(work.root), str(second.root)], check=True,
                   env=work.env)
    second.env["PYTHONPATH"] = str(second.root / "src")
    second.dvc("pull")
    ran, proc = second.repro("--pull")
    assert ran == [], proc.stdout
    assert "up to date" in second.dvc("status").stdout
    assert second.digest("models", "data/processed") == work.digest("models", "data/processed")


def test_predict_gives_the_probability_the_evaluate_stage_gave(repo, tmp_path):
    confusion = pd.read_csv(repo.root / "metrics/confusion.csv")
    photo = confusion.iloc[0]
    out = tmp_path / "predictions.csv"
    proc = repo.run("python", "-m", "catdog", "predict", photo.path, "--csv", str(out))
    path, label, p_dog = proc.stdout.strip().split("\t")
    assert path == photo.path and label in ("cat", "dog")
    assert float(p_dog) == pytest.approx(photo.p_dog, rel=1e-5, abs=1e-7)
    written = pd.read_csv(out)
    assert written.p_dog.iloc[0] == pytest.approx(photo.p_dog, rel=1e-5, abs=1e-7)
    assert label == ("dog" if photo.p_dog > 0.5 else "cat")


def test_predict_takes_folders_and_reports_bad_files_in_its_exit_status(repo, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    photos = sorted(repo.root.glob("data/raw/demo/*.*g"))[:3]  # .jpg and .png
    for p in photos:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_text("not a photo")
    proc = repo.run("python", "-m", "catdog", "predict", str(folder), check=False)
    assert proc.returncode == 1
    assert len(proc.stdout.strip().splitlines()) == 3
    assert "broken.jpg" in proc.stderr
    good = repo.run("python", "-m", "catdog", "predict", *map(str, photos))
    assert good.returncode == 0 and len(good.stdout.strip().splitlines()) == 3


def test_the_ci_workflow_parses_and_runs_commands_that_exist():
    workflow = yaml.safe_load((PROJECT / ".github/workflows/pipeline.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the diffs against main need its history
    script = "\n".join(s.get("run", "") for s in steps)
    makefile = (PROJECT / "Makefile").read_text()
    for target in re.findall(r"make ([\w-]+)", script):
        assert f"\n{target}:" in makefile, target
    assert "dvc metrics diff main --md" in script and "dvc params diff main --md" in script
    assert "GITHUB_STEP_SUMMARY" in script
    assert "make check-repro" in script  # reproduces, and checks the result against dvc.lock
    readme = (PROJECT / "README.md").read_text()
    assert "make repro" in readme and "make test" in readme
