"""Input scaling: division by 255 as features.flatten does it, training-set statistics measured
exactly, and model-file arrays checked before they are used."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from catdog.features import Examples
from catdog.scaling import InputScaling, fit_scaling, scaling_from_arrays


def pixels(m, n_x, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (m, n_x), dtype=np.uint8)


def test_dividing_gives_pixels_over_255_exactly_for_every_byte():
    # Division, not multiplication by 1/255: the two differ in the last bit for some bytes.
    rows = np.arange(256, dtype=np.uint8).reshape(64, 4)
    for dtype in (np.float32, np.float64):
        out = np.empty((70, 4), dtype)
        got = InputScaling().apply(rows, 255, out)
        want = np.array([[float(Fraction(int(v), 255)) for v in row] for row in rows]).astype(dtype)
        assert got.dtype == dtype and got.shape == (64, 4)
        np.testing.assert_array_equal(got, want)


def test_standardizing_subtracts_the_mean_and_divides_by_the_std():
    rows = pixels(5, 3)
    scaling = InputScaling("standardize", np.array([0.1, 0.5, 0.9]), np.array([0.25, 0.5, 2.0]))
    got = scaling.apply(rows, 255, np.empty((5, 3)))
    np.testing.assert_allclose(got, (rows / 255 - scaling.mean) / scaling.std, rtol=1e-15)


def exact_stats(rows, divisor):
    """Population mean and std of rows / divisor, column by column, from exact fractions."""
    m = rows.shape[0]
    means, stds = [], []
    for column in rows.T.astype(int):
        total, squares = sum(column.tolist()), sum(v * v for v in column.tolist())
        means.append(float(Fraction(total, m * divisor)))
        stds.append(math.sqrt(float(Fraction(m * squares - total * total, m * m * divisor ** 2))))
    return np.array(means), np.array(stds)


def test_uint8_statistics_are_the_exact_values_rounded_once():
    # More rows than one summing pass holds, so the passes must cover every row once.
    rows = pixels(2500, 5, seed=1)
    rows[:, 4] = 77                                     # a constant input
    scaling = fit_scaling("standardize", Examples(rows, 255))
    mean, std = exact_stats(rows, 255)
    std[4] = 1.0                                        # its spread is left alone
    assert scaling.kind == "standardize"
    np.testing.assert_array_equal(scaling.mean, mean)
    np.testing.assert_array_equal(scaling.std, std)


def test_uint8_statistics_do_not_depend_on_the_order_of_the_rows():
    rows = pixels(3000, 7, seed=2)
    order = np.random.default_rng(3).permutation(3000)
    a = fit_scaling("standardize", Examples(rows, 255))
    b = fit_scaling("standardize", Examples(rows[order], 255))
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)


def test_float_statistics_are_population_ones_of_rows_over_the_divisor():
    rows = np.random.default_rng(4).random((40, 3)) * 8.0
    scaling = fit_scaling("standardize", Examples(rows, 4.0))
    mean, std = exact_stats_float(rows / 4.0)
    np.testing.assert_allclose(scaling.mean, mean, rtol=1e-13)
    np.testing.assert_allclose(scaling.std, std, rtol=1e-12)


def exact_stats_float(X):
    means, stds = [], []
    for column in X.T:
        values = [Fraction(v) for v in column]
        mu = sum(values) / len(values)
        means.append(float(mu))
        stds.append(math.sqrt(float(sum((v - mu) ** 2 for v in values) / len(values))))
    return np.array(means), np.array(stds)


def test_inputs_that_barely_change_keep_their_spread():
    # A std below 1e-6 counts as a constant input: dividing by it would blow the input up.
    rows = np.full((10, 3), 0.1)
    rows[::2, 1] += 1e-6                                # std 5e-7
    rows[:, 2] = np.arange(10) * 7e-7                   # std about 2e-6: kept
    scaling = fit_scaling("standardize", Examples(rows, 1.0))
    assert scaling.std[0] == 1.0 and scaling.std[1] == 1.0
    assert scaling.std[2] == pytest.approx(7e-7 * math.sqrt(8.25), rel=1e-9)


def test_divide_needs_no_statistics():
    assert fit_scaling("divide", Examples(pixels(3, 2), 255)) == InputScaling()
    with pytest.raises(ValueError, match="unknown input scaling 'whiten'"):
        fit_scaling("whiten", Examples(pixels(3, 2), 255))


def test_a_model_file_without_a_scaling_divides():
    # Model files written before standardizing existed hold no input_scaling.
    assert scaling_from_arrays({}, 3, "model.npz") == InputScaling()


def standardized(**arrays):
    good = {"input_scaling": np.array("standardize"), "input_mean": np.array([0.1, 0.2, 0.3]),
            "input_std": np.array([1.0, 0.5, 2.0])}
    return {**good, **arrays}


def test_good_statistics_are_read_as_float64():
    arrays = standardized(input_mean=np.array([0.1, 0.2, 0.3], np.float32))
    scaling = scaling_from_arrays(arrays, 3, "model.npz")
    assert scaling.kind == "standardize" and scaling.mean.dtype == np.float64
    np.testing.assert_array_equal(scaling.mean, np.array([0.1, 0.2, 0.3], np.float32))
    np.testing.assert_array_equal(scaling.std, [1.0, 0.5, 2.0])


@pytest.mark.parametrize("arrays, message", [
    (standardized(input_std=np.array([1.0, 0.0, 2.0])), "input_std must be positive"),
    (standardized(input_std=np.array([1.0, -0.5, 2.0])), "input_std must be positive"),
    (standardized(input_mean=np.array([0.1, np.nan, 0.3])), "input_mean holds non-finite"),
    (standardized(input_std=np.array([1.0, np.inf, 2.0])), "input_std holds non-finite"),
    (standardized(input_mean=np.array([[0.1], [0.2], [0.3]])), "input_mean must be 3 floats"),
    (standardized(input_mean=np.array([0.1, 0.2])), "input_mean must be 3 floats"),
    (standardized(input_std=np.array([1, 2, 3])), "input_std must be 3 floats"),
])
def test_bad_statistics_in_a_model_file_are_refused(arrays, message):
    with pytest.raises(ValueError, match=message):
        scaling_from_arrays(arrays, 3, "model.npz")
