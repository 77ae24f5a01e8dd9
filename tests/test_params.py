from pathlib import Path

import pytest
import yaml

from catdog.params import ParamsError, load_params, require_folders

PROJECT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, section: str, key: str, value) -> Path:
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    raw[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_committed_params_are_valid():
    params = load_params(PROJECT / "params.yaml")
    assert params.train.dtype in ("float32", "float64")
    assert params.data.image_size == 64  # the network's 12288 inputs


@pytest.mark.parametrize("section,key,value,words", [
    ("train", "hidden_size", 0, "train.hidden_size must be at least 1"),
    ("train", "learning_rate", 0, "train.learning_rate must be greater than 0"),
    ("train", "learning_rate", -0.1, "train.learning_rate"),
    ("train", "learning_rate", "fast", "train.learning_rate must be a number"),
    ("train", "iterations", 0, "train.iterations must be at least 1"),
    ("train", "iterations", 2.5, "train.iterations must be a whole number"),
    ("train", "dtype", "float16", "train.dtype must be one of float32, float64"),
    ("train", "cost_every", 0, "train.cost_every"),
    ("data", "image_size", 7, "data.image_size must be at least 8"),
    ("data", "test_fraction", 0, "data.test_fraction must be in the open interval (0, 1)"),
    ("data", "test_fraction", 1.0, "data.test_fraction"),
    ("evaluate", "threshold", 1.5, "evaluate.threshold"),
    ("demo", "n_images", 1, "demo.n_images"),
    ("train", "hiden_size", 5, "unknown key(s) train.hiden_size"),
])
def test_bad_values_are_rejected_naming_the_key(tmp_path, section, key, value, words):
    with pytest.raises(ParamsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_params(write_params(tmp_path, section, key, value))


def test_a_missing_key_is_named(tmp_path):
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    del raw["train"]["seed"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="missing key train.seed"):
        load_params(tmp_path / "params.yaml")


def test_a_missing_folder_is_named(tmp_path):
    params = load_params(write_params(tmp_path, "data", "train_dir", str(tmp_path / "nowhere")))
    with pytest.raises(ParamsError, match="data.train_dir: folder .*nowhere.* does not exist"):
        require_folders(params.data)


def test_missing_params_file_is_reported(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "params.yaml")
