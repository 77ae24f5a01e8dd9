"""What a newcomer runs first: the README's library example, `make bench`, `.ci/run`."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from catdog_dev.photos import write_photo
from catdog_dev.repo import PROJECT

VENV_BIN = Path(sys.executable).parent


def readme_python(section: str) -> str:
    """The ```python block of a README section."""
    readme = (PROJECT / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", body, re.S)
    return block


@pytest.mark.pipeline
def test_the_readme_library_example_runs_as_written(repo):
    proc = repo.run("python", "-c", readme_python("The network as a library"))
    cost, own_accuracy, accuracy = map(float, re.findall(r"(?:cost|accuracy) ([\d.]+)", proc.stdout))
    assert 0 < cost < 0.6932  # below log 2, where it starts
    assert 0.5 <= own_accuracy <= 1
    # The model it loads is the pipeline's: the same accuracy the train stage recorded.
    recorded = json.loads((repo.root / "metrics/train.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(recorded, abs=5e-4)


@pytest.mark.pipeline
def test_the_readme_library_example_works_whatever_the_image_size(repo, tmp_path):
    work = repo.copy(tmp_path / "small")
    work.set_params(data={"image_size": 16})  # 768 inputs, as `make photos` at 16 px would give
    work.repro()
    proc = work.run("python", "-c", readme_python("The network as a library"))
    assert "trained model: training-set accuracy" in proc.stdout


def test_make_bench_on_a_fresh_clone_takes_the_photo_folder_as_a_variable(tmp_path, rng):
    clone = tmp_path / "catdog"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
    # The clone's Makefile with this environment (no second install): -o keeps make from
    # rebuilding the environment's stamp. The training benchmark (minutes, no photos) is only
    # started, to see that the target reaches it.
    make = ["make", "-C", str(clone), "-o", ".venv/.installed", f"BIN={VENV_BIN}",
            "TRAIN_BENCH_ARGS=--help"]
    proc = subprocess.run([*make, "bench"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "ingest benchmark skipped" in proc.stdout and "PHOTOS=" in proc.stdout
    assert "usage: train_speed.py" in proc.stdout
    photos = tmp_path / "photos"
    for i in range(4):
        write_photo(photos / f"cat.{i}.jpg", rng)
        write_photo(photos / f"dog.{i}.jpg", rng)
    proc = subprocess.run([*make, f"PHOTOS={photos}", "INGEST_BENCH_ARGS=--repeat 1", "bench"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'benchmarks/ingest_speed.py "$PHOTOS"' in proc.stdout  # the path, never spliced in
    missing = subprocess.run([*make, f"PHOTOS={tmp_path}/nowhere", "bench"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "is not a folder" in missing.stderr


def test_ci_run_sets_the_git_author_without_writing_any_git_config(tmp_path):
    """.ci/run with `make` standing in for `make test` (one commit, as the tests make):
    the commit gets an author and the home folder gets no git config."""
    home, bin_dir, work = tmp_path / "home", tmp_path / "bin", tmp_path / "work"
    for folder in (home, bin_dir, work):
        folder.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (bin_dir / "make").write_text(f"#!/bin/sh\nexec git -C {work} commit -q --allow-empty -m test\n")
    (bin_dir / "make").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run([str(PROJECT / ".ci/run")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    author = subprocess.run(["git", "-C", str(work), "log", "-1", "--format=%an <%ae>"],
                            capture_output=True, text=True, env=env).stdout
    assert author == "CI <ci@example.invalid>\n"
    assert sorted(p.name for p in home.iterdir()) == []


@pytest.mark.pipeline  # the slow tier: it waits 17 s for two ticks
def test_a_long_quiet_make_step_prints_a_line_every_few_seconds_on_a_log():
    tick = str(PROJECT / "scripts/tick.sh")
    proc = subprocess.run([tick, "step", "sleep", "17"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ["step: still running, 8 s", "step: still running, 16 s"]
    failed = subprocess.run([tick, "step", "sh", "-c", "exit 3"], capture_output=True, text=True)
    assert failed.returncode == 3 and failed.stdout == ""
    makefile = (PROJECT / "Makefile").read_text()
    assert "$(TICK) install $(PIP) -r requirements.txt" in makefile
    assert makefile.count("$(TICK) bench python benchmarks/") == 2
    for target in ("repro", "test", "sweep", "photos", "plots"):  # each can run past 10 s
        assert f"$(TICK) {target} " in makefile, target
