"""The docs' way back to the last commit's results, after a run that worked and one that
failed, whether or not DVC stages what it writes (core.autostage)."""
from __future__ import annotations

import pytest

from catdog_dev.repo import Repo

pytestmark = pytest.mark.pipeline

OUTPUTS = ["data", "models", "metrics", "dvc.lock", "params.yaml"]
# docs/reproducibility.md, "Going back": from the commit, not from the index, which
# core.autostage may have filled with the run's dvc.lock.
GO_BACK = [("git", "checkout", "HEAD", "--", "params.yaml", "dvc.lock", "metrics/"), ("dvc", "checkout")]


def go_back(work: Repo) -> None:
    for command in GO_BACK:
        work.dvc(*command[1:]) if command[0] == "dvc" else work.run(*command)


@pytest.mark.parametrize("autostage", ["true", "false"])
@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_going_back_restores_the_commit(repo, tmp_path, autostage, outcome):
    work = repo.copy(tmp_path / "work")
    work.dvc("config", "core.autostage", autostage)
    work.commit(f"autostage {autostage}")
    before = work.digest(*OUTPUTS)
    # A run that finishes with other results, or one that fails in train (it diverges).
    work.set_params(train={"learning_rate": 0.02 if outcome == "succeeded" else 1e38})
    ran, proc = work.repro(check=False)
    assert "train" in ran and (proc.returncode == 0) == (outcome == "succeeded"), proc.stderr
    assert work.digest(*OUTPUTS) != before
    assert work.run("git", "status", "--porcelain").stdout != ""

    go_back(work)
    assert "up to date" in work.dvc("status").stdout
    assert work.digest(*OUTPUTS) == before
    assert work.run("git", "status", "--porcelain").stdout == ""
