"""`python -m catdog predict` at the edges: odd file names, empty folders, no model, bad model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catdog.model import Model, save_model
from catdog.network import initialize_parameters
from catdog_dev.photos import write_photo

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


@pytest.mark.pipeline  # the slow tier: three start-ups of python -m catdog
def test_help_is_printed_and_exits_zero(project):
    proc = catdog("--help", cwd=project)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: python -m catdog COMMAND") and "predict" in proc.stdout
    sub = catdog("predict", "--help", cwd=project)
    assert sub.returncode == 0 and "--model" in sub.stdout
    wrong = catdog("train", cwd=project)
    assert wrong.returncode == 2 and "unknown command 'train'" in wrong.stderr


# ---- archives, submissions, thresholds ---------------------------------------------------------
def numbered_photos(folder: Path, rng, numbers=(1, 2, 10, 100, 12)) -> list[Path]:
    return [write_photo(folder / f"{n}.jpg", rng) for n in numbers]


def archive(folder: Path, kind: str) -> Path:
    """`folder` packed as `folder.<kind>`, members named `<folder name>/<file>`."""
    import shutil
    fmt = {"zip": "zip", "tar": "tar", "tar.gz": "gztar", "tgz": "gztar"}[kind]
    made = shutil.make_archive(str(folder), fmt, root_dir=folder.parent, base_dir=folder.name)
    if kind == "tgz":
        made = os.replace(made, f"{folder}.tgz") or f"{folder}.tgz"
    return Path(made)


# zip in the fast tier, the other kinds in the slow one (two start-ups of python -m catdog each)
@pytest.mark.parametrize("kind", ["zip", *(pytest.param(kind, marks=pytest.mark.pipeline)
                                          for kind in ("tar", "tar.gz", "tgz"))])
def test_an_archive_is_classified_like_the_folder_it_holds(project, rng, kind):
    numbered_photos(project / "test1", rng)
    packed = archive(project / "test1", kind)
    from_folder = catdog("predict", "test1", cwd=project)
    from_archive = catdog("predict", packed.name, cwd=project)
    assert from_archive.returncode == 0, from_archive.stderr
    folder_rows, archive_rows = rows(from_folder.stdout), rows(from_archive.stdout)
    assert [r[0] for r in archive_rows] == [f"{packed.name}:test1/{n}.jpg" for n in (1, 10, 100, 12, 2)]
    assert [r[1:] for r in archive_rows] == [r[1:] for r in folder_rows]


def test_an_unsafe_archive_member_is_refused_as_ingest_refuses_it(project, rng):
    import zipfile
    photo = write_photo(project / "1.jpg", rng)
    with zipfile.ZipFile(project / "evil.zip", "w") as z:
        z.write(photo, "test1/1.jpg")
        z.write(photo, "../2.jpg")
    proc = catdog("predict", "evil.zip", cwd=project)
    assert proc.returncode == 1 and len(rows(proc.stdout)) == 1
    assert proc.stderr == ("predict: skipped evil.zip:../2.jpg: unsafe member name (absolute or "
                           "containing '..'): not read\n")


def test_a_submission_has_numeric_ids_in_numeric_order_and_the_probability_of_dog(project, rng):
    numbered_photos(project / "test1", rng)
    packed = archive(project / "test1", "zip")
    proc = catdog("predict", packed.name, "--csv", "pred.csv", "--submission", "sub.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    text = (project / "sub.csv").read_text()
    assert text.splitlines()[0] == "id,label"
    sub = pd.read_csv(project / "sub.csv")
    assert sub.id.tolist() == [1, 2, 10, 12, 100]
    pred = pd.read_csv(project / "pred.csv")
    by_id = {int(p.rsplit("/", 1)[1].split(".")[0]): v for p, v in zip(pred.path, pred.p_dog)}
    assert sub.label.tolist() == [by_id[i] for i in sub.id]
    assert 0 < sub.label.min() < sub.label.max() < 1  # probabilities, not cat/dog


def test_a_submission_refuses_a_name_without_a_number_before_reading_photos(project, rng):
    numbered_photos(project / "test1", rng)
    write_photo(project / "test1/cat.7.jpg", rng)
    proc = catdog("predict", "test1", "--submission", "sub.csv", cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("predict: error: a submission needs photos named by number, like "
                           "Kaggle's 1.jpg ... 12500.jpg; test1/cat.7.jpg is not (1 of 6 photos "
                           "are not)\n")
    assert not (project / "sub.csv").exists()


def lock_evaluated(project: Path, threshold: float, model: Path | None = None) -> None:
    """A dvc.lock saying evaluate ran on `model` (default: the project's) with `threshold`."""
    import hashlib
    model = model or project / "models/model.npz"
    (project / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  evaluate:\n    cmd: python stages/evaluate.py\n    deps:\n"
        f"    - path: models/model.npz\n      md5: {hashlib.md5(model.read_bytes()).hexdigest()}\n"
        f"    params:\n      params.yaml:\n        evaluate.threshold: {threshold}\n")


@pytest.mark.pipeline  # the slow tier: five start-ups of python -m catdog
def test_the_threshold_is_the_evaluated_one_unless_given(project, rng):
    numbered_photos(project / "p", rng, numbers=range(1, 13))

    def labels(*args):
        proc = catdog("predict", "p", "--csv", "out.csv", *args, cwd=project)
        assert proc.returncode == 0, proc.stderr
        out = pd.read_csv(project / "out.csv")
        return list(zip(out.label, out.p_dog))

    default = labels()
    probabilities = sorted(p for _, p in default)
    # A threshold that calls some photos otherwise than 0.5 does.
    middle = (probabilities[0] + probabilities[1]) / 2 if probabilities[1] < 0.5 else (
        probabilities[-1] + probabilities[-2]) / 2
    assert all((label == "dog") == (p > 0.5) for label, p in default)
    assert labels("--threshold", repr(middle)) != default
    assert all((label == "dog") == (p > middle) for label, p in labels("--threshold", repr(middle)))
    lock_evaluated(project, middle)
    assert all((label == "dog") == (p > middle) for label, p in labels())
    lock_evaluated(project, middle, model=project / "p/1.jpg")  # the lock records another file
    assert all((label == "dog") == (p > 0.5) for label, p in labels())
    bad = catdog("predict", "p", "--threshold", "1.5", cwd=project)
    assert bad.returncode == 2 and "--threshold: must be a number between 0 and 1" in bad.stderr


def test_flip_averaging_is_the_mean_of_the_photo_and_its_mirror_image(project, rng):
    import cv2
    photo = write_photo(project / "p/a.png", rng)
    cv2.imwrite(str(project / "p/b.png"), cv2.imread(str(photo))[:, ::-1])
    plain = pd.read_csv(project / "x.csv") if catdog(
        "predict", "p", "--csv", "x.csv", cwd=project).returncode == 0 else None
    flipped = catdog("predict", "p", "--csv", "y.csv", "--flip-average", cwd=project)
    assert flipped.returncode == 0, flipped.stderr
    averaged = pd.read_csv(project / "y.csv")
    assert plain.p_dog[0] != plain.p_dog[1]
    # A photo and its mirror image have one averaged probability: the mean of the two.
    assert averaged.p_dog[0] == pytest.approx((plain.p_dog[0] + plain.p_dog[1]) / 2, rel=1e-6)
    assert averaged.p_dog[1] == pytest.approx(averaged.p_dog[0], rel=1e-6)


def test_the_decoding_thread_count_does_not_change_the_predictions(project, rng):
    numbered_photos(project / "p", rng, numbers=range(1, 40))
    one = catdog("predict", "p", "--workers", "1", cwd=project)
    three = catdog("predict", "p", "--workers", "3", cwd=project)
    assert one.returncode == 0 and one.stdout == three.stdout and len(rows(one.stdout)) == 39


# ---- whatever happens to stdout, and what a model file may hold --------------------------------
def test_the_csv_is_written_when_the_reader_of_stdout_has_gone(project, rng):
    numbered_photos(project / "p", rng)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "catdog", "predict", "p", "--csv", "out.csv"],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    proc.stdout.close()  # as `| head -1` does once it has its line: no reader left
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 0, stderr
    assert stderr == ""
    assert len(pd.read_csv(project / "out.csv")) == 5


def test_a_full_stdout_is_one_line_and_the_csv_is_written(project, rng):
    numbered_photos(project / "p", rng)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "catdog", "predict", "p", "--csv", "out.csv"],
                              cwd=project, env=env, stdout=full, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "predict: error: cannot write to standard output: No space left on device\n"
    assert len(pd.read_csv(project / "out.csv")) == 5


def rewrite_model(path: Path, **arrays: np.ndarray) -> None:
    from catdog.storage import load_npz
    with open(path, "rb") as f:
        data = dict(np.load(f, allow_pickle=False))
    data.update(arrays)
    np.savez(path, **data)
    assert load_npz  # the module reads what savez wrote


def test_label_names_from_a_model_are_escaped_everywhere(project, rng):
    write_photo(project / "p/1.jpg", rng)
    write_photo(project / "p/2.jpg", rng)
    names = np.array(["c\tat\n/etc/passwd\tcat\t0.97", "\x1b[31mdog\x1b[0m"])
    rewrite_model(project / "models/model.npz", label_names=names)
    proc = catdog("predict", "p", "--csv", "out.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and "\x1b" not in proc.stdout
    assert all(len(line.split("\t")) == 3 for line in lines)
    assert {line.split("\t")[1] for line in lines} <= {
        "c\\tat\\n/etc/passwd\\tcat\\t0.97", "\\x1b[31mdog\\x1b[0m"}
    csv = (project / "out.csv").read_text()
    assert "\x1b" not in csv and len(csv.splitlines()) == 3


def npy_header_only(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """The start of a .npy file declaring `shape`, without its data (as a hostile file may)."""
    import io
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
    return out.getvalue()


def add_member(model: Path, name: str, data: bytes) -> None:
    import zipfile
    with zipfile.ZipFile(model, "a") as z:
        z.writestr(name, data)


def test_arrays_the_model_does_not_use_are_never_read(project, rng):
    write_photo(project / "p/1.jpg", rng)
    # Declares 3 GiB; reading it would fail (the data is absent) or fill memory.
    add_member(project / "models/model.npz", "unused.npy", npy_header_only((3 << 30,), "|u1"))
    proc = catdog("predict", "p", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert len(rows(proc.stdout)) == 1


def test_a_model_larger_than_memory_is_refused_before_it_is_read(project, rng):
    import zipfile
    write_photo(project / "p/1.jpg", rng)
    model = project / "models/model.npz"
    with zipfile.ZipFile(model) as z:
        members = {n: z.read(n) for n in z.namelist() if n != "W1.npy"}
    with zipfile.ZipFile(model, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("W1.npy", npy_header_only((1 << 40, 16 * 16 * 3)))  # 3 PB of weights
    proc = catdog("predict", "p", cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("predict: error: models/model.npz: the model needs ")
    assert "(W1 1099511627776 x 768), more than this machine's " in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("size", [0, -1])
def test_an_impossible_image_size_is_one_line(tmp_path, rng, size):
    n_x = 3 * size * size
    params = {"W1": np.ones((4, n_x), np.float32), "b1": np.zeros((4, 1), np.float32),
              "W2": np.ones((1, 4), np.float32), "b2": np.zeros((1, 1), np.float32)}
    np.savez(tmp_path / "model.npz", **params, image_size=np.array(size))
    write_photo(tmp_path / "p/1.jpg", rng)
    proc = catdog("predict", "p", "--model", "model.npz", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"predict: error: model.npz: image_size {size} is impossible (photos "
                           f"are resized to image_size x image_size pixels, at least 1)\n")
