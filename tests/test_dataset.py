import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from catdog.dataset import IngestError, ingest, list_files, require_labelled, stratified_test_mask
from catdog.features import flatten
from catdog.images import read_image
from catdog_dev.photos import data_params, write_photo


def test_every_file_gets_one_manifest_row(photo_folder, rng):
    (photo_folder / "Thumbs.db").write_bytes(b"\x00" * 10)
    (photo_folder / "README.txt").write_text("photos")
    (photo_folder / "cat.99.jpg").write_bytes(b"")
    (photo_folder / "dog.98.jpg").write_text("<html>oops</html>")
    write_photo(photo_folder / "image_1.jpg", rng)
    write_photo(photo_folder / "hotdog.1.jpg", rng)
    write_photo(photo_folder / "nested" / "cats" / "7.jpg", rng)

    manifest, splits = ingest(data_params(photo_folder), progress=False)

    on_disk = sorted(p.relative_to(photo_folder).as_posix()
                     for p in photo_folder.rglob("*") if p.is_file())
    listed = sorted(os.path.relpath(p, photo_folder).replace(os.sep, "/") for p in manifest.path)
    assert listed == on_disk
    by_name = {os.path.basename(p): row for p, row in zip(manifest.path, manifest.to_dict("records"))}
    assert by_name["Thumbs.db"]["reason"].startswith("not an image file")
    assert by_name["README.txt"]["status"] == "skipped"
    assert by_name["cat.99.jpg"]["reason"] == "empty file"
    assert by_name["dog.98.jpg"]["reason"] == "an HTML or XML page, not an image"
    assert by_name["image_1.jpg"]["reason"].startswith("no label")
    assert by_name["hotdog.1.jpg"]["reason"].startswith("no label")
    assert by_name["7.jpg"]["status"] == "ok" and by_name["7.jpg"]["label"] == "cat"
    assert (manifest.status == "ok").sum() == 21
    assert sum(len(s.labels) for s in splits.values()) == 21


def test_split_is_stratified_seeded_and_in_sorted_path_order(photo_folder):
    manifest, splits = ingest(data_params(photo_folder, test_fraction=0.3), progress=False)
    test = splits["test"]
    assert np.bincount(test.labels, minlength=2).tolist() == [3, 3]
    assert np.bincount(splits["train"].labels, minlength=2).tolist() == [7, 7]
    assert test.paths == sorted(test.paths) and splits["train"].paths == sorted(splits["train"].paths)
    assert set(manifest.loc[manifest.split == "test", "path"]) == set(test.paths)
    again = ingest(data_params(photo_folder, test_fraction=0.3), progress=False)[1]["test"]
    assert again.paths == test.paths
    other = ingest(data_params(photo_folder, test_fraction=0.3, split_seed=5), progress=False)[1]["test"]
    assert other.paths != test.paths


def test_images_are_the_read_image_pixels_with_matching_labels(photo_folder):
    _, splits = ingest(data_params(photo_folder), progress=False)
    train = splits["train"]
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (16, 16, 3)
    for image, label, path in zip(train.images, train.labels, train.paths):
        np.testing.assert_array_equal(image, read_image(path, 16))
        assert label == (1 if os.path.basename(path).startswith("dog") else 0)


def test_a_separate_test_folder_is_used_as_is(photo_folder, tmp_path, rng):
    test_dir = tmp_path / "test"
    write_photo(test_dir / "cat.100.jpg", rng)
    write_photo(test_dir / "dog.100.jpg", rng)
    manifest, splits = ingest(data_params(photo_folder, test_dir), progress=False)
    assert len(splits["train"].labels) == 20
    assert [os.path.basename(p) for p in splits["test"].paths] == ["cat.100.jpg", "dog.100.jpg"]


def test_no_usable_image_stops_ingest(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here")
    with pytest.raises(IngestError, match="no usable images"):
        ingest(data_params(folder), progress=False)


def test_one_class_missing_stops_ingest(tmp_path, rng):
    for i in range(5):
        write_photo(tmp_path / "photos" / f"cat.{i}.jpg", rng)
    with pytest.raises(IngestError, match="no usable dog images"):
        ingest(data_params(tmp_path / "photos"), progress=False)


def test_a_folder_link_is_listed_not_followed(photo_folder):
    (photo_folder / "loop").symlink_to(photo_folder, target_is_directory=True)
    notes = dict(list_files(photo_folder))
    assert notes[(photo_folder / "loop").as_posix()] == "link to a folder, not followed"


def test_stratified_test_mask_keeps_one_of_each_class_on_both_sides():
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    mask = stratified_test_mask(labels, 0.1, 0)
    assert mask[labels == 0].sum() == 1 and mask[labels == 1].sum() == 1


def test_flatten_matches_the_column_per_image_layout():
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    X, Y = flatten(images, np.array([1, 0]))
    assert X.shape == (48, 2) and Y.shape == (1, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:, 1], images[1].reshape(-1).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(Y, [[1, 0]])
    assert X.min() >= 0 and X.max() <= 1


def test_the_stage_writes_the_manifest_and_summary_beside_a_missing_class_error(tmp_path, rng):
    """Every test cat is a copy of a training photo (leakage): the cause must be visible."""
    project = Path(__file__).resolve().parents[1]
    train, test = tmp_path / "train", tmp_path / "test"
    test.mkdir()
    for i in range(3):
        write_photo(train / f"cat.{i}.jpg", rng)
        write_photo(train / f"dog.{i}.jpg", rng)
        (test / f"cat.{10 + i}.jpg").write_bytes((train / f"cat.{i}.jpg").read_bytes())
        write_photo(test / f"dog.{10 + i}.jpg", rng)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(train_dir=str(train), test_dir=str(test), image_size=8)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(project / "stages/ingest.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "the test split has no usable cat images" in proc.stderr
    assert "data/interim/manifest.csv" in proc.stderr
    assert "skipped, leakage: same bytes as ...: 3" in proc.stdout
    manifest = pd.read_csv(tmp_path / "data/interim/manifest.csv")
    assert len(manifest) == 12
    assert manifest.reason.fillna("").str.startswith("leakage").sum() == 3
    assert not (tmp_path / "data/interim/train.npz").exists()


@pytest.mark.parametrize("test_dir,words", [
    ("", "data.test_dir must name a folder or archive of test photos, or the same path as "
         "data.train_dir"),
    ("data/raw/demo", "data.test_dir still names the synthetic demo photos"),
])
def test_the_test_photos_must_be_named_and_not_left_at_the_demo(tmp_path, photo_folder, test_dir, words):
    from catdog.params import ParamsError, load_params

    project = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(train_dir=str(photo_folder), test_dir=test_dir)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match=words):
        load_params(tmp_path / "params.yaml")
    params["data"]["test_dir"] = str(photo_folder)  # the same path: a seeded split
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_params(tmp_path / "params.yaml").data.split_train


def test_test_photos_of_which_none_is_labelled_are_refused_pointing_at_predict(photo_folder, tmp_path, rng):
    unlabeled = tmp_path / "test1"
    for n in (1, 2, 3):
        write_photo(unlabeled / f"{n}.jpg", rng)
    (unlabeled / "notes.txt").write_text("not a photo")
    with pytest.raises(IngestError) as caught:
        require_labelled(data_params(photo_folder, unlabeled))
    assert str(caught.value) == (
        f"data.test_dir: none of the 3 photos in {str(unlabeled)!r} is labelled (its name or "
        f"folder saying cat or dog), e.g. {unlabeled}/1.jpg; to classify unlabeled photos use "
        f"`catdog predict {unlabeled}` or the predict stage (set predict.photos)")
    # One labelled photo among them: ingest skips the others, with their reason in the manifest.
    write_photo(unlabeled / "cat.9.jpg", rng)
    require_labelled(data_params(photo_folder, unlabeled))
    require_labelled(data_params(photo_folder))  # a split of labelled photos


def test_ingest_of_unlabeled_test_photos_points_at_predict(photo_folder, tmp_path, rng):
    unlabeled = tmp_path / "test1"
    for n in (1, 2):
        write_photo(unlabeled / f"{n}.jpg", rng)
    with pytest.raises(IngestError, match=r"no usable cat images .*`catdog predict` or the predict stage"):
        ingest(data_params(photo_folder, unlabeled), progress=False)
