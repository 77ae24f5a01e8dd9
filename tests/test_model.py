"""The model file: what evaluate and predict apply, and the files load_model refuses."""
from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pytest

from catdog.errors import CatdogError
from catdog.features import flatten
from catdog.images import load_photo
from catdog.model import Model, load_model, save_model
from catdog.predict import predict_files
from catdog.scaling import InputScaling
from catdog.storage import load_npz, save_npz

SIZE = 8
N_X = 3 * SIZE * SIZE


def a_model(scaling: InputScaling | None = None) -> Model:
    rng = np.random.RandomState(0)
    params = {"W1": rng.randn(5, N_X).astype(np.float32) * 0.3, "b1": np.zeros((5, 1), np.float32),
              "W2": rng.randn(1, 5).astype(np.float32), "b2": np.full((1, 1), 0.1, np.float32)}
    return Model(params, SIZE, scaling or InputScaling())


def standardizing() -> InputScaling:
    rng = np.random.RandomState(1)
    return InputScaling("standardize", rng.rand(N_X) * 0.5 + 0.2, rng.rand(N_X) * 0.3 + 0.05)


@pytest.mark.parametrize("scaling", ["divide", "standardize"])
def test_predict_gives_the_probability_evaluate_gives(tmp_path, scaling):
    model_path = tmp_path / "model.npz"
    save_model(model_path, a_model(standardizing() if scaling == "standardize" else None))
    model = load_model(model_path)
    rng = np.random.RandomState(2)
    paths = []
    for i in range(5):
        path = tmp_path / f"dog.{i}.png"
        cv2.imwrite(str(path), rng.randint(0, 256, size=(20, 24, 3)).astype(np.uint8))
        paths.append(str(path))
    images = np.stack([load_photo(p, SIZE).image for p in paths])
    X, _ = flatten(images, np.zeros(5))              # the processed test arrays' layout
    evaluated = model.probabilities(X)
    predicted, failures = predict_files(model, paths)
    assert not failures
    np.testing.assert_allclose(predicted.p_dog.to_numpy(), evaluated, rtol=1e-6)
    # and the same from uint8 pixels in that layout
    np.testing.assert_allclose(model.probabilities(images.reshape(5, -1).T), evaluated, rtol=1e-6)
    if scaling == "standardize":  # the statistics were applied
        assert not np.allclose(a_model().probabilities(X), evaluated, rtol=1e-3)


def rewrite(path, **changes):
    arrays = load_npz(path)
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    save_npz(path, **arrays)


@pytest.mark.parametrize("change,words", [
    (dict(W1=np.zeros((5, 7), np.float32)), "W1 has shape (5, 7)"),
    (dict(b2=np.zeros((2, 1), np.float32)), "b2 has shape"),
    (dict(W2=np.full((1, 5), np.nan, np.float32)), "W2 holds non-finite values"),
    (dict(W1=None), "missing W1"),
    (dict(b1=np.zeros((5, 1), np.int64)), "b1 must be float32 or float64"),
    (dict(input_scaling=np.array("whiten")), "unknown input scaling 'whiten'"),
    (dict(input_scaling=np.array("standardize")), "input_mean must be"),
    (dict(channel_order=np.array("RGB")), "channel order 'RGB' cannot be applied"),
    (dict(pixel_scale=np.array(1.0)), "pixel scale 1.0 cannot be applied"),
])
def test_a_model_that_cannot_be_applied_is_refused_in_one_line(tmp_path, change, words):
    path = tmp_path / "model.npz"
    save_model(path, a_model())
    rewrite(path, **change)
    with pytest.raises(CatdogError) as caught:
        load_model(path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "pickle"])
def test_a_damaged_model_file_is_refused_in_one_line(tmp_path, damage):
    path = tmp_path / "model.npz"
    save_model(path, a_model())
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"<html>not a model</html>")
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # an object array needs pickle, which is never loaded
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            with archive.open("W1.npy", "w") as member:
                np.lib.format.write_array(member, np.array([{"a": 1}], dtype=object))
        path.write_bytes(buffer.getvalue())
    with pytest.raises(CatdogError) as caught:
        load_model(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_good_model_round_trips_exactly(tmp_path):
    model = a_model(standardizing())
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    for k in model.parameters:
        assert loaded.parameters[k].tobytes() == model.parameters[k].tobytes()
    assert loaded.scaling.kind == "standardize"
    np.testing.assert_array_equal(loaded.scaling.mean, model.scaling.mean)
    np.testing.assert_array_equal(loaded.scaling.std, model.scaling.std)
