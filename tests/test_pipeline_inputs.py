"""Every photo the pipeline reads is a DVC dependency: the real `dvc repro` on a temporary repo."""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from catdog_dev.photos import write_photo

pytestmark = pytest.mark.pipeline

AFTER_INGEST = ["ingest", "featurize", "train", "evaluate", "predict"]


def test_a_change_to_the_test_photos_reruns_ingest_and_nothing_else_does(repo, tmp_path):
    work = repo.copy(tmp_path / "testdir")
    rng = np.random.default_rng(5)
    test = work.root / "photos" / "test"
    for i in range(3):
        write_photo(test / f"cat.{i}.jpg", rng)
        write_photo(test / f"dog.{i}.png", rng)
    work.set_params(data={"test_dir": "photos/test"})
    ran, _ = work.repro()
    assert ran == ["check_params", *AFTER_INGEST]  # a params change: the check runs first
    manifest = pd.read_csv(work.root / "data/interim/manifest.csv")
    assert (manifest.split == "test").sum() == 6 and manifest.path.str.startswith("photos/test/").sum() == 6
    assert work.repro()[0] == []

    write_photo(test / "dog.0.png", rng)  # new pixels for one test photo
    ran, _ = work.repro()
    assert ran[:1] == ["ingest"]
    (work.root / "photos" / "notes.txt").write_text("not read by ingest")
    (work.root / "README.md").write_text("changed")
    assert work.repro()[0] == []
    assert "up to date" in work.dvc("status").stdout


def test_a_change_inside_a_test_archive_reruns_ingest(repo, tmp_path):
    work = repo.copy(tmp_path / "testzip")
    rng = np.random.default_rng(6)
    photos = [write_photo(tmp_path / "src" / f"{c}.{i}.jpg", rng) for c in ("cat", "dog") for i in range(3)]
    archive = work.root / "photos" / "test.zip"
    archive.parent.mkdir()

    def zip_photos():
        with zipfile.ZipFile(archive, "w") as z:
            for p in photos:
                z.write(p, f"test/{p.name}")

    zip_photos()
    work.set_params(data={"test_dir": "photos/test.zip"})
    assert work.repro()[0] == ["check_params", *AFTER_INGEST]
    manifest = pd.read_csv(work.root / "data/interim/manifest.csv")
    assert set(manifest.loc[manifest.split == "test", "path"]) == {f"photos/test.zip:test/{p.name}" for p in photos}
    assert work.repro()[0] == []
    write_photo(photos[0], rng)
    zip_photos()
    assert work.repro()[0][:1] == ["ingest"]
