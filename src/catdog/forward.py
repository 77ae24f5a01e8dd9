"""The network's passes over a set of examples, in chunks fixed by the data.

Examples are read as uint8 pixels (or floats) chunk by chunk into a cache-sized buffer and run
through the network's equations (`catdog.network`). Chunks are shared out to threads
(`catdog.parallel`); a chunk's results depend only on its own examples, so the thread count
never changes them.

Two arithmetics compute the same equations:
- exact (pixels only): products with the pixels are exact integer products (`catdog.exact`),
  the input scaling is applied to their results, and tanh, sigmoid and the cross-entropy come
  from `catdog.exact`. The same bits on every CPU, BLAS kernel and operating system.
- fast: the inputs are scaled into floats of the training dtype and multiplied by the BLAS
  in that dtype. The same bits for any thread count on one kind of CPU; another CPU kind may
  round differently in the last bits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from catdog import exact as ex
from catdog.features import Examples
from catdog.network import Parameters, sigmoid
from catdog.parallel import Workers, chunks
from catdog.scaling import InputScaling

# Examples per chunk. Exact arithmetic rounds each chunk's gradient sum once, so its chunk size
# is part of its results (and of the committed ones). Fast arithmetic takes twice as many: each
# chunk's products read all of W1 (the BLAS packs it again per product), which with many hidden
# units costs as much as the chunk's own inputs (the recipe's epoch: 0.88 s instead of 1.07 s).
CHUNK = 64
FAST_CHUNK = 128
PIXEL_BOUND = 255  # the largest pixel value: bounds the integer operand of exact products


@dataclass
class Inputs:
    """A set of examples as the network sees them: chunk by chunk, in one arithmetic."""

    examples: Examples
    scaling: InputScaling
    dtype: np.dtype
    exact: bool = False

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)
        # Exact products need integer pixels; float inputs (the tutorial's X) run fast.
        self.exact = bool(self.exact) and self.examples.rows.dtype == np.uint8
        self.precision = ex.PRECISION[self.dtype]

    @property
    def m(self) -> int:
        return self.examples.m

    @property
    def chunk(self) -> int:
        """Examples per chunk in this arithmetic."""
        return CHUNK if self.exact else FAST_CHUNK

    # -- the chunk a pass works on ------------------------------------------------------------
    def block(self, index: slice | np.ndarray, out: np.ndarray,
              transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The examples at `index` (k, n_x) written into `out` (from `chunk_buffer`): exact,
        their pixels as float64 integers; fast, the scaled inputs. `transform`
        (augmentation) acts on the raw rows first."""
        raw = self.examples.rows[index]
        if transform is not None:
            raw = transform(raw)
        if self.exact:
            out[:len(raw)] = raw
            return out[:len(raw)]
        return self.scaling.apply(raw, self.examples.divisor, out)

    def rows(self, index: slice | np.ndarray, out: np.ndarray) -> np.ndarray:
        """The scaled inputs (k, n_x) of the examples at `index`, in `out`'s dtype."""
        return self.scaling.apply(self.examples.rows[index], self.examples.divisor, out)

    def buffer_dtype(self) -> np.dtype:
        return np.dtype(np.float64) if self.exact else self.dtype

    # -- products with the inputs -------------------------------------------------------------
    def weights(self, W: np.ndarray) -> "Weights":
        """W (r, n_x) made ready for products with many blocks (split once, if exact)."""
        return Weights(self, W)

    def times_inputs(self, D: np.ndarray, block: np.ndarray) -> np.ndarray:
        """D @ X^T for D (r, k) and a block's inputs X (n_x, k): (r, n_x) in the dtype."""
        if not self.exact:
            return D @ block
        s = self.scaling
        out = ex.int_matmul(D, block, PIXEL_BOUND, self.precision) / self.examples.divisor
        if s.kind == "standardize":
            out -= np.sum(D, axis=1, keepdims=True, dtype=np.float64) * s.mean
            out /= s.std
        return out.astype(self.dtype)

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Inputs start..stop of every example (m, stop - start): exact, the pixels as
        float64 integers; fast, the scaled inputs."""
        if self.exact:
            return self.examples.rows[:, start:stop].astype(np.float64)
        F = self.examples.columns(start, stop, self.dtype)
        if self.scaling.kind == "standardize":
            F -= self.scaling.mean[start:stop].astype(self.dtype)
            F /= self.scaling.std[start:stop].astype(self.dtype)
        return F

    # -- the elementwise functions of this arithmetic --------------------------------------
    def tanh(self, Z: np.ndarray) -> np.ndarray:
        return ex.tanh(Z) if self.exact else np.tanh(Z)

    def sigmoid(self, Z: np.ndarray) -> np.ndarray:
        return ex.sigmoid(Z) if self.exact else sigmoid(Z)

    def cross_entropy_sum(self, Z2: np.ndarray, Y: np.ndarray) -> float:
        """Sum over examples of log(1 + e^z) - y z, from the logits Z2 (1, k)."""
        softplus = ex.softplus(Z2) if self.exact else np.logaddexp(0, Z2)
        return float(np.sum(softplus - Y * Z2))


class Weights:
    """A weight matrix W (r, n_x) ready for W @ X with the blocks of one set of inputs.

    Exact, with X = (pixels / divisor - mean) / std: W X = (W / std) pixels / divisor
    - (W / std) mean, the first an exact integer product, the second computed once.
    """

    def __init__(self, inputs: Inputs, W: np.ndarray):
        self.inputs, self.W = inputs, W
        if not inputs.exact:
            return
        s = inputs.scaling
        W = W.astype(np.float64) if s.kind == "divide" else W / s.std
        self.split = ex.RowSlices(W, PIXEL_BOUND, inputs.precision)
        self.offset = np.sum(W * s.mean, axis=1, keepdims=True) if s.kind == "standardize" else 0.0

    def times(self, block: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
        """W @ X (r, k) for a block's inputs X (n_x, k) given as its rows (k, n_x), in the
        inputs' dtype or in `dtype` (exact products can stay in float64)."""
        # (X^T W^T)^T: the BLAS runs this shape faster for few rows of W and a cached block.
        # The result is laid out row by row (C order): NumPy's sums over its axes follow the
        # layout, and the same bits need the same order.
        if not self.inputs.exact:
            return np.ascontiguousarray((block @ self.W.T).T)
        products = (block @ self.split.slices.T).T          # exact on any BLAS
        with np.errstate(invalid="ignore", over="ignore"):
            out = self.split.combine(products) / self.inputs.examples.divisor - self.offset
        return np.ascontiguousarray(out, dtype=dtype or self.inputs.dtype)


def output_logits(W2: np.ndarray, A1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Z2 = W2 A1 + b2 (1, k), added over the hidden units in their order (no BLAS; A1 in C
    order, so that NumPy adds row after row)."""
    return np.sum(W2.T * np.ascontiguousarray(A1), axis=0, keepdims=True) + b2


def chunk_forward(parameters: Parameters, W1: Weights, block: np.ndarray) -> dict[str, np.ndarray]:
    """Z1, A1 (h, k) and Z2 (1, k) of a block's examples; W1 is parameters["W1"] made ready."""
    inputs = W1.inputs
    Z1 = W1.times(block) + parameters["b1"]
    A1 = inputs.tanh(Z1)
    return {"Z1": Z1, "A1": A1, "Z2": output_logits(parameters["W2"], A1, parameters["b2"])}


def chunk_buffer(workers: Workers, inputs: Inputs) -> np.ndarray:
    """This thread's buffer for one chunk of `inputs` (reused across calls)."""
    shape, dtype = (inputs.chunk, inputs.examples.n_x), inputs.buffer_dtype()
    return workers.buffer(f"rows-{shape}-{dtype}", lambda: np.empty(shape, dtype))


def forward_logits(parameters: Parameters, inputs: Inputs, workers: Workers) -> np.ndarray:
    """Z2 (1, m) of every example, chunk by chunk (X is never held as floats whole)."""
    W1 = inputs.weights(parameters["W1"])

    def one(bounds: tuple[int, int]) -> np.ndarray:
        block = inputs.block(slice(*bounds), chunk_buffer(workers, inputs))
        with np.errstate(over="ignore", invalid="ignore"):  # per thread; callers check
            return chunk_forward(parameters, W1, block)["Z2"]
    parts = list(workers.map(one, chunks(inputs.m, inputs.chunk)))
    return np.concatenate(parts, axis=1) if parts else np.zeros((1, 0), inputs.dtype)
