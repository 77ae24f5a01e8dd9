"""Arithmetic with the same bits everywhere: exact products with integers, own elementwise functions."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from catdog import exact as ex


def ulps(got: np.ndarray, want: np.ndarray) -> float:
    """Largest distance in units in the last place of `want`."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    spacing = np.spacing(np.maximum(np.abs(want), np.finfo(np.float64).tiny))
    return float(np.max(np.abs(got - want) / spacing))


RNG = np.random.default_rng(0)
X = np.concatenate([RNG.normal(0, 1, 20000), RNG.normal(0, 30, 20000),
                    RNG.uniform(-1e-9, 1e-9, 1000), [0.0, -0.0, 700.0, -700.0, 709.7, -744.0]])


@pytest.mark.parametrize("name, ours, reference, domain, tolerance", [
    ("exp", ex.exp, np.exp, X, 1),
    ("log", ex.log, np.log, np.abs(X) + 1e-300, 1),
    ("log1p", ex.log1p, np.log1p, np.abs(X) * 1e-3, 2),
    ("tanh", ex.tanh, np.tanh, X, 2),
    ("sigmoid", ex.sigmoid, lambda z: np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))),
                                               np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z)))), X, 4),
    ("softplus", ex.softplus, lambda z: np.logaddexp(0, z), X, 3),
])
def test_elementwise_functions_are_within_a_few_ulps_of_numpy(name, ours, reference, domain, tolerance):
    assert ulps(ours(domain), reference(domain)) <= tolerance


def test_special_values():
    with np.errstate(all="ignore"):
        assert list(ex.exp(np.array([np.inf, -np.inf, 710.0, -746.0]))) == [np.inf, 0.0, np.inf, 0.0]
        assert np.isnan(ex.exp(np.array([np.nan])))[0]
        assert list(ex.log(np.array([0.0, np.inf]))) == [-np.inf, np.inf]
        assert np.isnan(ex.log(np.array([-1.0, np.nan]))).all()
        assert list(ex.tanh(np.array([np.inf, -np.inf, 40.0]))) == [1.0, -1.0, 1.0]
        assert list(ex.sigmoid(np.array([-1000.0, 1000.0]))) == [0.0, 1.0]
        assert ex.softplus(np.array([1000.0]))[0] == 1000.0


def test_float32_in_float32_out():
    x = RNG.normal(0, 2, 1000).astype(np.float32)
    for f in (ex.exp, ex.tanh, ex.sigmoid):
        assert f(x).dtype == np.float32
    # computed in float64 and rounded once: within one float32 ulp of the float64 value
    np.testing.assert_allclose(ex.tanh(x), np.tanh(x.astype(np.float64)), rtol=2 ** -23, atol=0)


def test_slices_rebuild_the_rows_and_stay_within_their_bits():
    A = RNG.normal(0, 1, (5, 300)) * np.exp(RNG.uniform(-20, 5, (5, 1)))
    slices, scales = ex.split_rows(A, bits=20, count=3)
    assert np.all(slices == np.rint(slices)) and np.max(np.abs(slices)) <= 2 ** 20
    rebuilt = sum(slices[s] * scales[s] for s in range(3))
    # 60 bits below each row's largest entry: what remains is below 2^-60 of it
    rest = np.abs(A - rebuilt).max(axis=1) / np.abs(A).max(axis=1)
    assert np.all(rest < 2.0 ** -59)


def test_every_summation_order_gives_the_same_bits():
    """The point of the splitting: however a BLAS orders or splits the sums, the bits agree;
    the plain float product does not (so this test can tell them apart)."""
    A = RNG.normal(0, 0.01, (10, 3000))
    B = RNG.integers(0, 256, (3000, 40)).astype(np.float64)
    order = RNG.permutation(3000)

    def shuffled(Q):
        return Q[:, order] @ B[order]

    def in_blocks(Q):   # K in blocks of 7, added last to first
        parts = [Q[:, i:i + 7] @ B[i:i + 7] for i in range(0, 3000, 7)]
        return sum(reversed(parts))

    plain = A @ B
    assert not np.array_equal(plain, shuffled(A)), "float sums should depend on their order"
    for precision in (26, 56):
        base = ex.int_matmul(A, B, 255, precision)
        for times in (shuffled, in_blocks):
            assert np.array_equal(ex.int_matmul(A, None, 255, precision, times=times), base)
        # against the exact rational value: off by the dropped bits and the final roundings
        for r, j in ((0, 0), (3, 17), (9, 39)):
            exact = float(sum(Fraction(a) * int(b) for a, b in zip(A[r], B[:, j])))
            dropped = 2.0 ** -precision * np.abs(A[r]).max() * np.abs(B[:, j]).sum()
            assert abs(base[r, j] - exact) <= dropped + 4 * np.spacing(abs(exact))


def test_slice_bits_keep_integer_sums_below_2_to_53():
    for terms, bound in ((12288, 255), (800, 12288 * 255 ** 2), (64, 255)):
        bits = ex.slice_bits(terms, bound)
        assert terms * bound * 2 ** bits <= 2 ** 53 < terms * bound * 2 ** (bits + 2)
    with pytest.raises(ValueError, match="no room"):
        ex.slice_bits(2 ** 30, 2 ** 30)


def test_non_finite_weights_give_non_finite_products_not_errors():
    A = np.array([[1.0, np.nan], [np.inf, 0.0]])
    out = ex.int_matmul(A, np.ones((2, 3)), 1, 26)
    assert np.isnan(out[0]).all() and not np.isfinite(out[1]).all()


def test_tanh_is_within_two_ulps_around_the_switch_between_its_two_forms():
    # The rational form holds to |x| = 0.625; the exp form takes over above it.
    x = np.random.default_rng(5).uniform(0.45, 0.75, 200000)
    assert ulps(ex.tanh(x), np.tanh(x)) <= 2
    assert ulps(ex.tanh(-x), np.tanh(-x)) <= 2


def test_log1p_of_infinity_is_infinity():
    assert ex.log1p(np.array([np.inf]))[0] == np.inf


def test_slice_bits_is_the_most_that_fits_even_for_tiny_products():
    # The largest b with terms * bound * 2^b <= 2^53: one more bit would overflow.
    for terms, bound in ((1, 1), (1, 255), (2, 1), (3, 1), (64, 255)):
        bits = ex.slice_bits(terms, bound)
        assert terms * bound * 2 ** bits <= 2 ** 53 < terms * bound * 2 ** (bits + 1), (terms, bound)


def test_slice_bits_allows_four_bits_and_refuses_three():
    assert ex.slice_bits(2 ** 25, 2 ** 24) == 4       # 2^49 * 2^4 = 2^53
    with pytest.raises(ValueError, match="no room"):
        ex.slice_bits(2 ** 25, 2 ** 25)               # only 3 bits would fit


def test_precision_keeps_more_bits_than_each_dtype_carries():
    # so that the bits the slices drop weigh less than the result's own rounding
    for dtype in (np.float32, np.float64):
        assert ex.PRECISION[np.dtype(dtype)] > np.finfo(dtype).nmant + 1


def test_the_fewest_slices_that_hold_the_precision():
    A = RNG.normal(0, 1, (3, 100))
    bits = ex.slice_bits(100, 255)
    for precision in (bits, bits + 1, 2 * bits, 56):
        split = ex.RowSlices(A, 255, precision)
        count = -(-precision // bits)
        assert len(split.scales) == count and split.slices.shape == (count * 3, 100)


def test_rows_of_tiny_weights_keep_their_scales_in_range():
    # A row below 2^-900 is split as if its largest entry were 2^-900: its scales stay normal
    # positive powers of two, and what it loses is below the grid 2^-900 - bits * count.
    A = np.array([[1e-300, -3e-301, 2e-300], [1e-310, 0.0, -2e-310], [0.5, -0.25, 1.0]])
    slices, scales = ex.split_rows(A, bits=50, count=2)
    mantissa, _ = np.frexp(scales)
    assert np.all(mantissa == 0.5) and np.all(scales >= np.finfo(np.float64).tiny)
    rebuilt = sum(slices[s] * scales[s] for s in range(2))
    assert np.all(np.abs(A[:2] - rebuilt[:2]) <= 2.0 ** (-900 - 100))


def test_non_finite_weights_multiply_quietly_like_the_plain_product():
    import warnings

    A = np.array([[1.5, np.inf], [2.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ex.int_matmul(A, np.ones((2, 3)), 1, 26)
    assert list(out[0]) == [np.inf] * 3 and list(out[1]) == [5.0] * 3
