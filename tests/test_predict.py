"""`python -m catdog predict` at the edges: odd file names, empty folders, no model, bad model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from catdog.model import Model, save_model
from catdog.network import initialize_parameters
from conftest import write_photo

SRC = Path(__file__).resolve().parents[1] / "src"


def catdog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "catdog", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with models/model.npz: a small untrained network for 16x16 photos."""
    params = initialize_parameters(n_x=16 * 16 * 3, n_h=4, n_y=1, seed=2)
    params["W1"] *= 50  # large enough weights that photos get clearly different probabilities
    save_model(tmp_path / "models/model.npz", Model(params, image_size=16))
    return tmp_path


def rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_a_file_name_cannot_forge_a_row(project, rng):
    folder = project / "photos"
    plain = write_photo(folder / "plain.jpg", rng)
    forged = folder / "a\nforged.jpg\tdog\t1.000000\\.jpg"
    forged.write_bytes(plain.read_bytes())
    proc = catdog("predict", str(folder), "--csv", "out.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    (first, second) = rows(proc.stdout)
    assert first[0] == f"{folder}/a\\nforged.jpg\\tdog\\t1.000000\\\\.jpg"
    assert second[0] == f"{folder}/plain.jpg"
    assert first[1:] == second[1:]  # the same photo, so the same label and probability
    written = pd.read_csv(project / "out.csv")
    assert written.path.tolist() == [first[0], second[0]]


def test_a_name_that_is_not_utf8_is_classified_and_shown_escaped(project, rng):
    folder = project / "photos"
    plain = write_photo(folder / "plain.png", rng)
    with open(os.fsencode(folder) + b"/cat\xff.png", "wb") as f:
        f.write(plain.read_bytes())
    proc = catdog("predict", str(folder), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert [r[0] for r in rows(proc.stdout)] == [f"{folder}/cat\\xff.png", f"{folder}/plain.png"]


def test_an_empty_folder_is_an_error_saying_so(project):
    (project / "empty").mkdir()
    proc = catdog("predict", "empty", cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("predict: error: no photos in empty (looked for files ending in ")
    assert len(proc.stderr.splitlines()) == 1


def test_a_folder_without_photos_beside_photos_is_reported(project, rng):
    write_photo(project / "some/cat.1.jpg", rng)
    (project / "none").mkdir()
    proc = catdog("predict", "some", "none", cwd=project)
    assert proc.returncode == 1
    assert len(rows(proc.stdout)) == 1
    assert proc.stderr == "predict: no photos in none\n"


def test_outside_the_project_it_says_where_it_looked_and_how_to_name_the_model(project, tmp_path, rng):
    elsewhere = tmp_path / "elsewhere"
    photo = write_photo(elsewhere / "cat.1.jpg", rng)
    proc = catdog("predict", str(photo), cwd=elsewhere)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"predict: error: no model at {elsewhere}/models/model.npz ")
    assert "--model" in proc.stderr and len(proc.stderr.splitlines()) == 1
    named = catdog("predict", str(photo), "--model", str(project / "models/model.npz"), cwd=elsewhere)
    assert named.returncode == 0 and len(rows(named.stdout)) == 1


def test_a_damaged_model_is_one_line(project, rng):
    photo = write_photo(project / "cat.1.jpg", rng)
    model = project / "models/model.npz"
    model.write_bytes(model.read_bytes()[:200])  # cut short, as by a failed copy
    proc = catdog("predict", str(photo), cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("predict: error: ") and "model.npz" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_help_is_printed_and_exits_zero(project):
    proc = catdog("--help", cwd=project)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: python -m catdog COMMAND") and "predict" in proc.stdout
    sub = catdog("predict", "--help", cwd=project)
    assert sub.returncode == 0 and "--model" in sub.stdout
    wrong = catdog("train", cwd=project)
    assert wrong.returncode == 2 and "unknown command 'train'" in wrong.stderr
