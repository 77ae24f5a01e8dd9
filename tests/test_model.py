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


# ---- what a model computes, against the equations written out in float64 -------------------
def reference_probabilities(params, pixels, mean=None, std=None):
    """pixels (m, n_x) uint8 -> sigmoid(W2 tanh(W1 x + b1) + b2) for x = pixels / 255,
    standardized by mean and std when given."""
    X = pixels.T.astype(np.float64) / 255
    if mean is not None:
        X = (X - mean[:, None]) / std[:, None]
    p = {k: v.astype(np.float64) for k, v in params.items()}
    Z2 = p["W2"] @ np.tanh(p["W1"] @ X + p["b1"]) + p["b2"]
    return 1 / (1 + np.exp(-Z2[0]))


def some_photos(m=6, seed=3):
    return np.random.RandomState(seed).randint(0, 256, size=(m, SIZE, SIZE, 3)).astype(np.uint8)


def as_float64(model: Model) -> Model:
    params = {k: v.astype(np.float64) for k, v in model.parameters.items()}
    return Model(params, model.image_size, model.scaling)


def test_probabilities_are_the_network_of_the_scaled_pixels_in_the_weights_dtype():
    images = some_photos()
    pixels = images.reshape(len(images), -1)
    scaling = standardizing()
    for model, rtol, dtype in [(a_model(), 2e-5, np.float32), (as_float64(a_model()), 1e-12, np.float64),
                               (as_float64(a_model(scaling)), 1e-12, np.float64)]:
        mean, std = (scaling.mean, scaling.std) if model.scaling.kind == "standardize" else (None, None)
        expected = reference_probabilities(model.parameters, pixels, mean, std)
        for X in (pixels.T, pixels.T / 255.0):
            got = model.probabilities(X)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, expected, rtol=rtol)
        np.testing.assert_allclose(model.probabilities_of_images(images), expected, rtol=rtol)


def test_probabilities_sum_weight_times_pixel_exactly():
    """W1's row: 64 weights 1e16, 64 weights 1/64, 64 weights -1e16, over pixels 255, 51 and
    255. The large terms cancel exactly and leave 64 / 64 * 51 / 255 = 0.2, which any running
    sum in floating point loses (1e16 * 255 in a sum is far beyond 51 / 64's reach)."""
    W1 = np.zeros((1, N_X))
    W1[0, :64], W1[0, 64:128], W1[0, 128:] = 1e16, 1 / 64, -1e16
    params = {"W1": W1, "b1": np.zeros((1, 1)), "W2": np.array([[100.0]]), "b2": np.array([[-10.0]])}
    pixels = np.full((1, N_X), 255, np.uint8)
    pixels[0, 64:128] = 51
    got = Model(params, SIZE).probabilities(pixels.T)
    z2 = 100 * np.tanh(0.2) - 10  # about 9.74
    np.testing.assert_allclose(got, [1 / (1 + np.exp(-z2))], rtol=1e-12)


def test_flip_average_is_the_mean_over_each_photo_and_its_mirror_image():
    model = as_float64(a_model())
    images = some_photos()
    mirrored = np.empty_like(images)
    for column in range(SIZE):  # left-right, by hand
        mirrored[:, :, column] = images[:, :, SIZE - 1 - column]
    plain = reference_probabilities(model.parameters, images.reshape(len(images), -1))
    mirror = reference_probabilities(model.parameters, mirrored.reshape(len(images), -1))
    assert np.abs(plain - mirror).max() > 1e-3  # the photos are not symmetric
    np.testing.assert_allclose(model.probabilities_of_images(images), plain, rtol=1e-12)
    np.testing.assert_allclose(model.probabilities_of_images(images, flip_average=True),
                               (plain + mirror) / 2, rtol=1e-12)


# ---- the file ----------------------------------------------------------------------------------
def test_the_file_holds_every_setting_and_they_round_trip(tmp_path):
    model = a_model()
    model.label_names = ("kitten", "puppy")
    save_model(tmp_path / "m.npz", model)
    with np.load(tmp_path / "m.npz") as npz:
        assert sorted(npz.files) == sorted(["W1", "b1", "W2", "b2", "image_size", "channel_order",
                                            "label_names", "pixel_scale", "input_scaling"])
        assert str(npz["channel_order"]) == "BGR" and float(npz["pixel_scale"]) == 1 / 255
    loaded = load_model(tmp_path / "m.npz")
    assert (loaded.image_size, loaded.channel_order, loaded.label_names, loaded.pixel_scale) == \
        (SIZE, "BGR", ("kitten", "puppy"), 1 / 255)


def test_an_older_file_without_the_settings_gets_their_defaults(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, a_model())
    rewrite(path, channel_order=None, pixel_scale=None, label_names=None)
    loaded = load_model(path)
    assert (loaded.channel_order, loaded.label_names, loaded.pixel_scale) == ("BGR", ("cat", "dog"), 1 / 255)


def test_arrays_in_the_version_2_format_are_read(tmp_path):
    model = a_model()
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as archive:
        arrays = {**model.parameters, "image_size": np.array(SIZE)}
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, value, version=(2, 0))
    loaded = load_model(tmp_path / "m.npz")
    for name, value in model.parameters.items():
        assert loaded.parameters[name].tobytes() == value.tobytes()


@pytest.mark.parametrize("change,words", [
    (dict(image_size=np.array([SIZE, SIZE])), "image_size must be one whole number"),
    (dict(image_size=np.array(8.0)), "image_size must be one whole number"),
    (dict(image_size=np.array(1e9)), "image_size must be one whole number"),  # before its memory
    (dict(image_size=np.array(0)), "image_size 0 is impossible"),
    (dict(image_size=None), "missing image_size"),
    (dict(W1=np.zeros((0, N_X), np.float32)), f"W1 has shape (0, {N_X})"),
    (dict(W1=np.zeros((5, N_X + 1), np.float32)), f"expected (hidden units, {N_X}) for 8x8 colour photos"),
    (dict(W1=np.zeros(N_X, np.float32)), f"W1 has shape ({N_X},)"),
    (dict(b1=np.zeros((5, 1), np.float64)), "b1 must be float32 or float64 like W1"),
    (dict(W1=np.zeros((5, N_X), np.float16), b1=np.zeros((5, 1), np.float16),
          W2=np.zeros((1, 5), np.float16), b2=np.zeros((1, 1), np.float16)), "W1 must be float32 or float64"),
    (dict(b1=np.full((5, 1), np.inf, np.float32)), "b1 holds non-finite values"),
    (dict(pixel_scale=np.array(1 / 255 * (1 + 1e-9))), "cannot be applied"),
    (dict(label_names=np.array(["cat", "dog", "bird"])), "expected two label names, got 3"),
])
def test_more_models_that_cannot_be_applied_are_refused_in_one_line(tmp_path, change, words):
    test_a_model_that_cannot_be_applied_is_refused_in_one_line(tmp_path, change, words)


def test_a_one_pixel_model_loads(tmp_path):
    params = {"W1": np.ones((2, 3)), "b1": np.zeros((2, 1)), "W2": np.ones((1, 2)), "b2": np.zeros((1, 1))}
    save_model(tmp_path / "m.npz", Model(params, 1))
    assert load_model(tmp_path / "m.npz").image_size == 1


def test_label_names_that_are_not_a_list_are_refused(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, a_model())
    rewrite(path, label_names=np.array("cat"))
    with pytest.raises(CatdogError, match=f"{path}: label names must be a list of two names"):
        load_model(path)


def test_a_missing_file_and_a_cut_file_say_what_is_wrong(tmp_path):
    with pytest.raises(CatdogError, match="no such model file"):
        load_model(tmp_path / "none.npz")
    path = tmp_path / "model.npz"
    save_model(path, a_model())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CatdogError, match=r"damaged .*python -m catdog rebuild"):
        load_model(path)


class _Touch:
    """Unpickling it makes a file: proof that pickled data was run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pickled_arrays_are_never_unpickled(tmp_path):
    witness = tmp_path / "unpickled"
    path = tmp_path / "model.npz"
    arrays = {**a_model().parameters, "image_size": np.array(SIZE),
              "label_names": np.array([_Touch(witness), "dog"], dtype=object)}
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, value)
    with pytest.raises(CatdogError):
        load_model(path)
    assert not witness.exists()


def test_a_file_declaring_more_than_this_machine_holds_is_refused_from_its_headers(tmp_path):
    """The headers alone: W1 declared with memory / 4 float64 values (twice the memory), or
    photos so large that the chunks of the forward pass would not fit. Nothing is read."""
    import os

    from catdog.forward import CHUNK
    from catdog.memory import machine_memory
    from catdog.model import PHOTOS_HELD

    memory = machine_memory()
    columns = memory // 4
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("W1.npy", "w") as member:  # the header, and no data
            header = {"descr": "<f8", "fortran_order": False, "shape": (1, columns)}
            np.lib.format.write_array_header_1_0(member, header)
    with pytest.raises(CatdogError, match=rf"needs .* \(W1 1 x {columns}\), more than"):
        load_model(path)
    # Bytes per input while classifying: the photos held and each thread's float64 chunk.
    per_input = PHOTOS_HELD + 8 * CHUNK * (os.cpu_count() or 1)
    side = int(np.ceil(np.sqrt(memory / (2 * per_input))))  # 3 * side^2 inputs: 1.5 x memory
    path = tmp_path / "wide.npz"
    save_npz(path, image_size=np.array(side))
    with pytest.raises(CatdogError, match="needs .* of memory to use, more than"):
        load_model(path)
