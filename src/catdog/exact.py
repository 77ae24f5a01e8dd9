"""Arithmetic that gives the same bits on every machine.

BLAS libraries add up a product's terms in an order of their own (it depends on the CPU
kernel, the library build and the thread count), and the C library's `exp` and `log` differ in
the last bit between CPUs. What every IEEE 754 machine agrees on: elementwise + - * / and
sqrt are correctly rounded, scaling by a power of two is exact, and a sum of integers below
2^53 is exact in float64, whatever the order of its terms.

Products. `int_matmul(A, B)` multiplies a float matrix A by a matrix B of integers (pixels,
or their Gram matrix). A is split, row by row, into slices of a few significant bits each
(Ozaki's error-free splitting): slice s holds integers times 2^(e_r - s b), where 2^e_r bounds
row r. Each slice times B is then a product of integers whose every partial sum stays below
2^53, so every BLAS computes it exactly, in any order and on any number of threads. The
slices' products are scaled back and added in a fixed order by elementwise arithmetic. The
slices keep the leading `precision` bits of each row (bits below them, relative to the row's
largest entry, are dropped the same way everywhere): more than float32 carries for float32
results, more than float64 carries for float64 ones.

Functions. `exp`, `log`, `log1p`, `tanh`, `sigmoid` and `softplus` are written with range
reduction and polynomials in elementwise float64 arithmetic (the exp and log of fdlibm, the
small-argument tanh of Cephes), within a few units in the last place of the true values.
float32 arguments are computed in float64 and rounded once.

Sums. `np.add.reduce` adds in an order fixed by NumPy's own code (pairwise, along the
contiguous axis), the same on every CPU; `scripts/cross_check.sh --probe` checks it.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

MANTISSA = 53  # float64's significant bits: integer sums below 2^53 are exact
# Leading bits of each row that the slices keep, by result dtype: a little more than the
# dtype carries, so the dropped bits weigh less than the result's own rounding.
PRECISION = {np.dtype(np.float32): 26, np.dtype(np.float64): 56}


def slice_bits(terms: int, bound: float) -> int:
    """Bits per slice so that `terms` products of a slice entry (|q| <= 2^bits) with integers
    |b| <= bound, and all their partial sums, stay below 2^53."""
    need = math.ceil(math.log2(max(terms * bound, 1.0)))
    bits = MANTISSA - need
    if bits < 4:
        raise ValueError(f"{terms} terms of size up to {bound:g} leave no room for exact products")
    return bits


def _pow2(k: np.ndarray) -> np.ndarray:
    """2.0 ** k for integers -1022 <= k <= 1023, from the bits of the float (exact, fast)."""
    return ((np.asarray(k, np.int64) + 1023) << 52).view(np.float64)


def split_rows(A: np.ndarray, bits: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A (r, k) -> slices (count, r, k) of integer-valued float64 and their scales (count, r, 1),
    powers of two: A ~= sum_s slices[s] * scales[s], row by row, |slices| <= 2^bits."""
    rest = np.array(A, dtype=np.float64)
    _, top = np.frexp(np.max(np.abs(rest), axis=1, keepdims=True))  # |row| < 2^top
    # Rows below 2^-900 count as zero: their scales stay within float64's normal range.
    top = np.maximum(top, -900)
    slices = np.empty((count, *rest.shape))
    scales = np.empty((count, rest.shape[0], 1))
    for s in range(count):
        shift = top - bits * (s + 1)
        scales[s] = _pow2(shift)
        np.rint(rest * _pow2(-shift), out=slices[s])  # scaling by 2^n is exact
        rest -= slices[s] * scales[s]                  # exact: rest minus its rounding to the grid
    return slices, scales


class RowSlices:
    """A float matrix A (r, k) split for exact products with integers |B| <= bound (k terms).

    Split once, multiplied by many B: `times(B)` is A @ B in float64, the same bits on every
    machine; `combine(P)` finishes a product P = slices @ B computed in any other way.
    """

    def __init__(self, A: np.ndarray, bound: float, precision: int):
        A = np.asarray(A)
        self.rows, k = A.shape
        self.finite = bool(np.all(np.isfinite(A)))
        if not self.finite:  # diverged weights: no exactness to keep
            self.slices, self.scales = A.astype(np.float64), None
            return
        bits = slice_bits(k, bound)
        count = max(1, math.ceil(precision / bits))
        slices, self.scales = split_rows(A, bits, count)
        self.slices = slices.reshape(count * self.rows, k)

    def combine(self, products: np.ndarray) -> np.ndarray:
        if not self.finite:
            return products
        r = self.rows
        out = products[:r] * self.scales[0]
        for s in range(1, len(self.scales)):                  # largest first, in fixed order
            out += products[s * r:(s + 1) * r] * self.scales[s]
        return out

    def times(self, B: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            return self.combine(self.slices @ B)              # exact on any BLAS


def int_matmul(A: np.ndarray, B: np.ndarray | None, bound: float, precision: int,
               times: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """A @ B (r, n) in float64, the same bits on every machine.

    A (r, k) is any float matrix; B (k, n) is float64 holding integers with |B| <= bound.
    `times(Q)`, when given, computes Q @ B in its own way (any way: each product is exact).
    """
    split = RowSlices(A, bound, precision)
    if times is None:
        return split.times(B)
    with np.errstate(invalid="ignore", over="ignore"):
        return split.combine(times(split.slices))


# fdlibm's exp: e^x = 2^k e^r, r = x - k ln2 in [-ln2/2, ln2/2], e^r from a rational form.
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_EXP_P = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
          -1.65339022054652515390e-06, 4.13813679705723846039e-08)


def _float64(x) -> tuple[np.ndarray, np.dtype]:
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    return x.astype(np.float64, copy=False), dtype


def _exp64(x: np.ndarray) -> np.ndarray:
    """e^x of float64 x; overflow gives inf and underflow 0 through IEEE multiplication."""
    xc = np.clip(x, -746.0, 710.0)
    k = np.rint(xc * _INV_LN2)
    hi = xc - k * _LN2_HI          # exact: k has at most 11 bits, _LN2_HI 32
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    p1, p2, p3, p4, p5 = _EXP_P
    c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    ki = np.nan_to_num(k).astype(np.int64)
    half = ki >> 1
    y *= _pow2(half)               # exact: |half| <= 538
    y *= _pow2(ki - half)          # rounds once, into inf or the subnormals if it must
    return y


def exp(x: np.ndarray) -> np.ndarray:
    """e^x, elementwise."""
    x, dtype = _float64(x)
    with np.errstate(over="ignore", invalid="ignore"):
        return _exp64(x).astype(dtype, copy=False)


# fdlibm's log: x = 2^e (1 + f), sqrt(2)/2 <= 1 + f < sqrt(2), log(1 + f) from s = f / (2 + f).
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)


def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm, elementwise (-inf at 0, NaN below)."""
    x, dtype = _float64(x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _log64(x).astype(dtype, copy=False)


def _log64(x: np.ndarray) -> np.ndarray:
    positive = np.where(x > 0, x, 1.0)
    m, e = np.frexp(positive)
    low = m < 0.7071067811865476
    m = np.where(low, m * 2.0, m)
    e = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    g1, g2, g3, g4, g5, g6, g7 = _LG
    R = z * (g1 + w * (g3 + w * (g5 + w * g7))) + w * (g2 + w * (g4 + w * g6))
    hfsq = 0.5 * f * f
    out = e * _LN2_HI - ((hfsq - (s * (hfsq + R) + e * _LN2_LO)) - f)
    out = np.where(x == np.inf, np.inf, out)
    out = np.where(x == 0, -np.inf, out)
    return np.where((x < 0) | np.isnan(x), np.nan, out)


def log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + x), accurate for small x: log(w) x / (w - 1) with w = 1 + x rounded."""
    x, dtype = _float64(x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _log1p64(x).astype(dtype, copy=False)


def _log1p64(x: np.ndarray) -> np.ndarray:
    w = 1.0 + x
    d = w - 1.0
    out = np.where(d == 0, x, _log64(w) * (x / np.where(d == 0, 1.0, d)))
    return np.where(w == np.inf, np.inf, out)


# Cephes' tanh for |x| <= 0.625: x + x^3 P(x^2) / Q(x^2); above it, (1 - e) / (1 + e) with
# e = e^-2|x|.
_TANH_P = (-9.64399179425052238628e-01, -9.92877231001918586564e+01, -1.61468768441708447952e+03)
_TANH_Q = (1.12811678491632931402e+02, 2.23548839060100448583e+03, 4.84406305325125486048e+03)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, elementwise."""
    x, dtype = _float64(x)
    p0, p1, p2 = _TANH_P
    q0, q1, q2 = _TANH_Q
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.abs(x)
        e = _exp64(-2.0 * a)
        large = np.copysign((1.0 - e) / (1.0 + e), x)
        z = x * x
        small = x + x * z * (((p0 * z + p1) * z + p2) / (((z + q0) * z + q1) * z + q2))
        return np.where(a <= 0.625, small, large).astype(dtype, copy=False)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), from e^-|z| so that no exponent overflows."""
    z, dtype = _float64(z)
    with np.errstate(over="ignore", invalid="ignore"):
        e = _exp64(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(dtype, copy=False)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z), finite for any finite z: max(z, 0) + log1p(e^-|z|), in float64."""
    z, _ = _float64(z)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.maximum(z, 0.0) + _log1p64(_exp64(-np.abs(z)))
