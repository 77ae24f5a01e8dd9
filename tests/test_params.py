import math
import os
import re
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from catdog.params import SECTIONS, ParamsError, TrainParams, load_params, params_table

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


def test_the_committed_params_are_the_settings_defaults():
    """params.yaml is the tutorial's run: each value is its setting's default."""
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    assert raw == {name: asdict(cls()) for name, cls in SECTIONS.items()}


def test_the_docs_table_is_made_of_the_settings():
    """docs/training.md lists every key with its default and meaning, as the settings say."""
    text = (PROJECT / "docs/training.md").read_text()
    rows = [line for line in text.splitlines()
            if re.match(r"\| `(" + "|".join(SECTIONS) + r")\.", line)]
    expected = params_table()
    assert rows == expected, "docs/training.md's table should read:\n" + "\n".join(expected)


@pytest.mark.parametrize("changes,words", [
    ({"hidden_size": 0}, "train.hidden_size must be at least 1, got 0"),
    ({"optimizer": "sgd"}, "train.optimizer must be one of gd, momentum, adam, got 'sgd'"),
    ({"solver": "gram", "batch_size": 10}, "train.solver 'gram' runs full-batch"),
])
def test_train_settings_are_checked_when_made(changes, words):
    """A TrainParams that exists is valid, whether read from params.yaml or made in code."""
    with pytest.raises(ParamsError, match=re.escape(words)):
        TrainParams(**changes)


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


@pytest.mark.parametrize("make,words", [
    (lambda t: t / "nowhere", r"data.train_dir: '.*nowhere' does not exist; name a folder"),
    (lambda t: _file(t / "cat.1.jpg"), r"data.train_dir: '.*cat.1.jpg' is a file, not a folder or a .zip"),
    (lambda t: _fifo(t / "photos.zip"), r"data.train_dir: '.*photos.zip' is not a regular file"),
    (lambda t: "/proc", r"data.train_dir: '/proc' is in the system tree /proc"),
    (lambda t: "/sys/kernel", r"data.train_dir: '/sys/kernel' is in the system tree /sys"),
    (lambda t: "/dev", r"data.train_dir: '/dev' is in the system tree /dev"),
    (lambda t: "/", r"data.train_dir: '/' is in the system tree /"),
])
def test_a_photo_path_that_is_not_a_folder_or_archive_is_refused_naming_the_key(tmp_path, make, words):
    where = str(make(tmp_path))
    path = _with(tmp_path, data={"train_dir": where, "test_dir": where})
    with pytest.raises(ParamsError, match=words):
        load_params(path)


def _file(path: Path) -> Path:
    path.write_bytes(b"a photo")
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_the_demo_folder_may_be_absent_until_its_stage_draws_it(tmp_path):
    path = write_params(tmp_path, "demo", "out_dir", str(tmp_path / "demo"))
    raw = yaml.safe_load(path.read_text())
    raw["data"].update(train_dir=str(tmp_path / "demo"), test_dir=str(tmp_path / "demo"))
    path.write_text(yaml.safe_dump(raw))
    assert load_params(path).data.train_dir == str(tmp_path / "demo")


def test_missing_params_file_is_reported(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "params.yaml")


def edit_params(tmp_path: Path, pattern: str, new: str, start: Path = PROJECT / "params.yaml") -> Path:
    """`start` (the committed params.yaml) with the first line matching `pattern` replaced,
    as a user would edit it."""
    text, found = re.subn(rf"(?m)^{pattern}$", new, start.read_text(), count=1)
    assert found
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_values_are_read_as_dvc_reads_them(tmp_path):
    """YAML 1.2 as DVC parses it: 012 is twelve (YAML 1.1 said ten), 1e-05 a number (YAML 1.1
    said a string), and every value equals the one DVC records."""
    from dvc.utils.serialize import load_yaml

    path = edit_params(tmp_path, "  hidden_size: 10", "  hidden_size: 012")
    path = edit_params(tmp_path, "  learning_rate: .*", "  learning_rate: 1e-05", path)
    path = edit_params(tmp_path, "  test_fraction: 0.2", "  test_fraction: 2e-1", path)
    params = load_params(path)
    assert params.train.hidden_size == 12
    assert params.train.learning_rate == 0.00001
    assert params.data.test_fraction == 0.2
    recorded = load_yaml(str(path))
    for section in ("demo", "data", "train", "evaluate"):
        ours = vars(getattr(params, section))
        assert ours == recorded[section], section
    # The old reader disagreed with DVC on both lines.
    assert yaml.safe_load("a: 012\nb: 1e-05") == {"a": 10, "b": "1e-05"}


@pytest.mark.parametrize("key", ["train.seed", "data.split_seed", "demo.seed"])
def test_seeds_must_fit_numpys_random_state(tmp_path, key):
    section, name = key.split(".")
    assert load_params(write_params(tmp_path, section, name, 2**32 - 1))
    with pytest.raises(ParamsError, match=rf"{key} must be between 0 and 4294967295 .*got 4294967296"):
        load_params(write_params(tmp_path, section, name, 2**32))


@pytest.mark.parametrize("text,words", [
    (".inf", "train.learning_rate must be a finite number, got inf"),
    (".nan", "train.learning_rate must be a finite number, got nan"),
])
def test_infinite_and_nan_numbers_are_refused(tmp_path, text, words):
    with pytest.raises(ParamsError, match=words):
        load_params(edit_params(tmp_path, "  learning_rate: .*", f"  learning_rate: {text}"))


def test_sizes_that_cannot_fit_in_memory_are_refused_naming_the_key(tmp_path):
    from catdog.memory import machine_memory

    # 10**9 hidden units of 12288 inputs: 98 TB of float64 weights, more than any machine here.
    assert 8 * 10**9 * 12288 > machine_memory()
    with pytest.raises(ParamsError, match=r"train.hidden_size 1000000000 is too large .* memory"):
        load_params(write_params(tmp_path, "train", "hidden_size", 10**9))
    path = write_params(tmp_path, "data", "image_size", 10**6)
    raw = yaml.safe_load(path.read_text())
    raw["data"]["max_pixels"] = 10**12  # photos may be that large too
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"data.image_size 1000000 is too large.* memory"):
        load_params(path)
    # Large but affordable sizes pass: 1000 hidden units need about 300 MB of weights.
    assert load_params(write_params(tmp_path, "train", "hidden_size", 1000)).train.hidden_size == 1000


def test_unknown_sections_and_duplicate_keys_are_refused_in_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((PROJECT / "params.yaml").read_text() + "\ntrian:\n  seed: 2\n")
    with pytest.raises(ParamsError, match="unknown section.* trian"):
        load_params(path)
    path = edit_params(tmp_path, "  seed: 1", "  seed: 1\n  seed: 2")
    with pytest.raises(ParamsError) as failure:
        load_params(path)
    assert "not valid YAML" in str(failure.value) and "\n" not in str(failure.value)


def _with(tmp_path: Path, **sections: dict) -> Path:
    raw = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for section, values in sections.items():
        raw[section].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_an_image_size_whose_photos_cannot_all_fit_is_refused(tmp_path):
    from catdog.memory import machine_memory

    # Each photo alone fits; the 1000 demo photos together do not.
    size = math.isqrt(machine_memory() // 3000) + 1
    demo = {"out_dir": str(tmp_path / "demo"), "n_images": 1000}
    data = {"train_dir": demo["out_dir"], "test_dir": demo["out_dir"], "image_size": size,
            "max_pixels": size * size}
    with pytest.raises(ParamsError, match=rf"data.image_size {size} is too large for the 1000 "
                                          r"photos of data.train_dir: .* more than this machine"):
        load_params(_with(tmp_path, demo=demo, data=data))
    demo["n_images"] = 100  # a tenth of them fit
    assert load_params(_with(tmp_path, demo=demo, data=data)).data.image_size == size


def test_a_folder_is_counted_by_its_labelled_photo_names(tmp_path):
    from catdog.memory import machine_memory

    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    for i in range(40):
        (folder / "cats" / f"{i}.jpg").write_bytes(b"")
        (folder / f"dog.{i}.png").write_bytes(b"")
        (folder / f"notes.{i}.txt").write_bytes(b"")
    size = math.isqrt(machine_memory() // (3 * 80)) + 1
    data = {"train_dir": str(folder), "test_dir": str(folder), "image_size": size,
            "max_pixels": size * size}
    with pytest.raises(ParamsError, match=rf"too large for the 80 photos"):
        load_params(_with(tmp_path, data=data, train={"hidden_size": 1}))


@pytest.mark.parametrize("fraction,words", [
    (0.999, r"train.validation_fraction must be in \[0, 0.5\], got 0.999"),
    # 40 demo photos, 8 kept for testing: 16 of each class train, and 1% of 16 rounds to 0.
    (0.01, r"train.validation_fraction 0.01 holds out no photo of the 32 training photos "
           r"\(16 cats, 16 dogs\)"),
])
def test_a_validation_split_that_leaves_a_set_empty_is_refused(tmp_path, fraction, words):
    demo = {"out_dir": str(tmp_path / "demo"), "n_images": 40}
    data = {"train_dir": demo["out_dir"], "test_dir": demo["out_dir"]}
    path = _with(tmp_path, demo=demo, data=data, train={"validation_fraction": fraction})
    with pytest.raises(ParamsError, match=words):
        load_params(path)
    path = _with(tmp_path, demo=demo, data=data, train={"validation_fraction": 0.05})
    assert load_params(path).train.validation_fraction == 0.05


def test_file_and_pixel_bounds_that_cannot_fit_are_refused(tmp_path):
    from catdog.memory import machine_memory

    too_many_mb = machine_memory() // (1 << 20) + 1
    with pytest.raises(ParamsError, match=rf"data.max_file_mb {too_many_mb} and data.max_pixels "
                                          r"100000000 are too large: one such photo needs"):
        load_params(_with(tmp_path, data={"max_file_mb": too_many_mb}))
    pixels = machine_memory() // 6 + 1
    with pytest.raises(ParamsError, match=rf"data.max_pixels {pixels} are too large"):
        load_params(_with(tmp_path, data={"max_pixels": pixels}))
