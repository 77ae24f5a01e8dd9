"""A grid sweep fanned out over two machines through a shared Git remote and a DVC remote."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from catdog_dev.repo import PROJECT, Repo, SMALL

pytestmark = pytest.mark.pipeline

SWEEP = str(PROJECT / "scripts/sweep.sh")
GRID = ["-S", "train.hidden_size=3,5", "-S", "train.learning_rate=0.01,0.05"]


def clone(origin: Path, root: Path) -> Repo:
    repo = Repo(root)
    subprocess.run(["git", "clone", "-q", str(origin), str(root)], check=True, env=repo.env)
    repo.env["PYTHONPATH"] = str(root / "src")
    return repo


def stages_run(output: str) -> list[str]:
    """The stages a run computed, less check_params (it checks params.yaml whenever it changes)."""
    return [s for s in re.findall(r"Running stage '([^']+)'", output) if s != "check_params"]


def sweep(repo: Repo, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return repo.run("bash", SWEEP, *args, check=check)


def experiment_rows(repo: Repo) -> list[dict]:
    """Every experiment of HEAD: name, the swept params and the test accuracy."""
    rows = []
    for commit in json.loads(repo.dvc("exp", "show", "--json").stdout):
        for exp in commit.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                train = data["params"]["params.yaml"]["data"]["train"]
                rows.append({"name": rev["name"], "hidden_size": train["hidden_size"],
                             "learning_rate": train["learning_rate"],
                             "accuracy": data["metrics"]["metrics/evaluate.json"]["data"]["accuracy"]})
    return rows


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, Path]:
    """A bare Git repository holding the project and its dvc.lock, whose DVC remote is an
    empty local folder: the lock names results that nobody has stored yet."""
    base = tmp_path_factory.mktemp("sweep")
    project = Repo.create(base / "project", **SMALL, data={"image_size": 16})
    project.dvc("remote", "add", "-d", "shared", str(base / "dvc-remote"))
    project.repro()
    project.commit("share results through a DVC remote")
    subprocess.run(["git", "clone", "-q", "--bare", str(project.root), str(base / "origin.git")],
                   check=True)
    return {"base": base, "origin": base / "origin.git"}


def test_two_runners_share_a_grid_and_a_third_clone_collects_it(shared):
    base, origin = shared["base"], shared["origin"]
    first = clone(origin, base / "runner1")
    second = clone(origin, base / "runner2")

    params = (first.root / "params.yaml").read_text()
    one = sweep(first, "--part", "1/2", "--prefix", "grid", *GRID)
    # The sweep put back the workspace it found: the committed params, nothing to commit.
    assert (first.root / "params.yaml").read_text() == params
    assert first.run("git", "status", "--porcelain").stdout == ""
    assert "sweep: workspace put back as it was before the sweep" in one.stdout
    assert stages_run(one.stdout)[:3] == ["demo", "ingest", "featurize"]
    two = sweep(second, "--part", "2/2", "--prefix", "grid", *GRID)
    # The second machine fetched what the first stored: it ran only training, evaluation and
    # prediction.
    ran = set(stages_run(two.stdout))
    assert ran == {"train", "evaluate", "predict"}, two.stdout
    for stage in ("demo", "ingest", "featurize"):
        assert f"Stage '{stage}' didn't change, skipping" in two.stdout, two.stdout
    # What it fetched is what the first machine computed, byte for byte.
    assert second.digest("data/processed") == first.digest("data/processed")

    collector = clone(origin, base / "collector")
    names = [f"grid-{i}" for i in range(1, 5)]
    collector.dvc("exp", "pull", "origin", *names)
    rows = experiment_rows(collector)
    assert sorted(r["name"] for r in rows) == names
    assert {(r["hidden_size"], r["learning_rate"]) for r in rows} == {
        (h, lr) for h in (3, 5) for lr in (0.01, 0.05)}
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
    table = collector.dvc("exp", "show", "--md", "--only-changed").stdout
    assert all(name in table for name in names) and "accuracy" in table


def test_the_grid_is_numbered_the_same_on_every_machine(tmp_path):
    repo = Repo(tmp_path)
    listing = sweep(repo, "--list", "-S", "a=1,2", "-S", "b=x,y,z").stdout.splitlines()
    assert listing[0] == "1\ta=1 b=x" and listing[-1] == "6\ta=2 b=z" and len(listing) == 6


def test_make_sweep_passes_a_grid_through_without_running_any_of_it(tmp_path):
    """ARGS reaches scripts/sweep.sh as words: no `;`, `$(...)`, quote or pattern in it runs."""
    make = ["make", "-C", str(PROJECT), "-o", ".venv/.installed", "sweep"]
    hostile = "--list -S a=1;touch${IFS}pwned1 -S b=$(touch${IFS}pwned2),`touch${IFS}pwned3`,'[x]',\"q\""
    proc = subprocess.run([*make, f"ARGS={hostile}"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listing = [line for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert listing[0] == "1\ta=1;touch${IFS}pwned1 b=$(touch${IFS}pwned2)" and len(listing) == 4
    assert listing[3] == "4\ta=1;touch${IFS}pwned1 b=\"q\""
    refused = subprocess.run([*make, "ARGS=-S a=1 ; touch pwned4"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert refused.returncode != 0 and "usage: scripts/sweep.sh" in refused.stderr
    for name in ("pwned1", "pwned2", "pwned3", "pwned4"):
        assert not (tmp_path / name).exists() and not (PROJECT / name).exists()


@pytest.mark.parametrize("args, message", [
    (["--part", "3/2", "-S", "a=1"], "--part must be K/N"),
    (["-S", "a=1,,2"], "-S must be KEY=V1,V2"),
    (["--prefix", "no spaces", "-S", "a=1"], "--prefix may hold"),
])
def test_bad_sweep_options_are_named(tmp_path, args, message):
    proc = sweep(Repo(tmp_path), *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr
