"""The stored layout: uint8 pixels with their scale, and the tutorial's float X on request."""
import numpy as np
import pytest

from catdog.features import (Examples, FeaturesError, flatten, label_row, load_split,
                             read_features, save_features, to_float)
from catdog.storage import save_npz

# Reference for one pixel value p: float32(p) / float32(255), rounded once (IEEE division).
DIVIDED = np.array([np.float32(p) / np.float32(255) for p in range(256)], dtype=np.float32)


@pytest.fixture
def stack():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(7, 4, 4, 3)).astype(np.uint8)
    images[0, 0, 0] = [0, 255, 128]  # both ends of the range
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    paths = np.array([f"photos/{'dog' if y else 'cat'}.{i}.jpg" for i, y in enumerate(labels)])
    return images, labels, paths


def test_processed_arrays_are_uint8_pixels_with_the_scale_beside_them(tmp_path, stack):
    images, labels, paths = stack
    save_features(tmp_path / "test.npz", images, labels, paths)
    with np.load(tmp_path / "test.npz") as raw:
        assert raw["X"].dtype == np.uint8 and raw["X"].shape == (48, 7)
        assert float(raw["scale"]) == 1 / 255
        assert raw["Y"].shape == (1, 7) and raw["Y"].tolist() == [labels.tolist()]
        for j in range(7):  # column j is image j, row by row, pixel by pixel, channel by channel
            assert raw["X"][:, j].tolist() == [int(v) for v in images[j].flat]
    # Lean: the file is the pixel bytes plus a small header, not four bytes per pixel.
    assert (tmp_path / "test.npz").stat().st_size < images.nbytes + 2000


def test_the_tutorial_float_x_is_exactly_pixels_over_255(tmp_path, stack):
    images, labels, paths = stack
    save_features(tmp_path / "train.npz", images, labels, paths)
    features = read_features(tmp_path / "train.npz")
    X = features.float_X()
    assert X.dtype == np.float32 and X.shape == (48, 7)
    pixels = np.array([[int(v) for v in image.flat] for image in images]).T
    np.testing.assert_array_equal(X, DIVIDED[pixels])
    np.testing.assert_array_equal(X, flatten(images, labels)[0])
    assert X.min() == 0 and X.max() == 1
    np.testing.assert_array_equal(features.float_X(np.float64), pixels / 255.0)
    np.testing.assert_array_equal(features.images(), images)
    assert features.paths == paths.tolist() and features.image_size == 4


def test_every_pixel_value_divides_as_the_reference():
    np.testing.assert_array_equal(to_float(np.arange(256, dtype=np.uint8)), DIVIDED)


def test_load_split_gives_uint8_rows_without_a_float_copy(tmp_path, stack):
    images, labels, paths = stack
    save_features(tmp_path / "train.npz", images, labels, paths)
    examples, Y, size = load_split(tmp_path / "train.npz")
    assert examples.rows.dtype == np.uint8 and examples.rows.shape == (7, 48)
    assert examples.rows.flags.c_contiguous
    np.testing.assert_array_equal(examples.rows, images.reshape(7, -1))
    block = examples.block(2, 6, np.empty((7, 48), np.float32))
    np.testing.assert_array_equal(block, DIVIDED[images[2:6].reshape(4, -1)])
    np.testing.assert_array_equal(Y, [labels])
    assert size == 4


def test_old_float_arrays_are_refused_naming_the_file(tmp_path, stack):
    images, labels, _ = stack
    X, Y = flatten(images, labels)
    save_npz(tmp_path / "old.npz", X=X, Y=Y, image_size=np.array(4), scale=np.array(1 / 255),
             paths=np.array(["a"] * 7))
    with pytest.raises(FeaturesError, match=r"old\.npz: X must be \(n_x, m\) uint8"):
        load_split(tmp_path / "old.npz")
    save_npz(tmp_path / "bare.npz", X=X, Y=Y)
    with pytest.raises(FeaturesError, match=r"bare\.npz: not a featurized split"):
        read_features(tmp_path / "bare.npz")


def test_one_long_path_costs_only_its_own_length(tmp_path):
    images = np.zeros((1000, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(1000) % 2
    short = [f"photos/cat.{i}.jpg" for i in range(1000)]
    odd = ["a" * 100_000 + ".jpg", "ü/dog\n\t.jpg", "bad\udcff.jpg"]  # long, non-ASCII, escaped
    save_features(tmp_path / "short.npz", images, labels, short)
    save_features(tmp_path / "long.npz", images, labels, odd + short[3:])
    extra = (tmp_path / "long.npz").stat().st_size - (tmp_path / "short.npz").stat().st_size
    assert extra < 100_000 + 1000  # a fixed-width array would add 400 MB
    assert read_features(tmp_path / "long.npz").paths == odd + short[3:]
    assert read_features(tmp_path / "short.npz").paths == short


def test_labels_become_a_float32_row():
    Y = label_row(np.array([0, 1, 1]))
    assert Y.dtype == np.float32 and Y.shape == (1, 3) and Y.tolist() == [[0.0, 1.0, 1.0]]


def test_examples_from_columns_are_the_columns_as_rows():
    X = np.arange(12, dtype=np.float64).reshape(3, 4) / 16   # n_x 3, m 4
    examples = Examples.from_columns(X)
    assert (examples.m, examples.n_x, examples.divisor) == (4, 3, 1.0)
    assert Examples(X.T).divisor == 1.0
    np.testing.assert_array_equal(examples.rows, X.T)


def test_blocks_and_columns_of_uint8_examples_are_pixels_over_255():
    rows = np.random.RandomState(2).randint(0, 256, size=(6, 5)).astype(np.uint8)
    examples = Examples(rows, 255)
    out = np.full((6, 5), -1.0, np.float32)
    block = examples.block(1, 4, out)
    np.testing.assert_array_equal(block, DIVIDED[rows[1:4]])
    assert np.all(out[3:] == -1.0)                       # nothing written past the block
    np.testing.assert_array_equal(examples.columns(2, 4, np.float32), DIVIDED[rows[:, 2:4]])


@pytest.mark.parametrize("change, message", [
    (dict(scale=np.array(1.0)), "scale 1/255"),
    (dict(X=np.zeros((2, 3, 4), np.uint8)), "must be \\(n_x, m\\) uint8"),
])
def test_pixels_without_the_right_scale_or_shape_are_refused(tmp_path, stack, change, message):
    images, labels, paths = stack
    good = tmp_path / "good.npz"
    save_features(good, images, labels, paths)
    arrays = dict(np.load(good))
    save_npz(tmp_path / "bad.npz", **{**arrays, **change})
    with pytest.raises(FeaturesError, match=message):
        read_features(tmp_path / "bad.npz")


def test_a_split_without_its_scale_is_not_a_featurized_split(tmp_path, stack):
    images, labels, paths = stack
    save_features(tmp_path / "good.npz", images, labels, paths)
    arrays = dict(np.load(tmp_path / "good.npz"))
    del arrays["scale"]
    save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FeaturesError, match="no scale"):
        read_features(tmp_path / "bad.npz")
