"""Ways to run training steps: the same equations (`catdog.network`), different speed.

Notation as in `catdog.network`: X (n_x, m), W1 (h, n_x), Z1 = W1 X + b1 (h, m), ...
Every solver follows `catdog.parallel`'s rule: work is cut into chunks fixed by the data, each
chunk runs single-threaded BLAS, partial sums are added in chunk order. So the thread count
changes the speed only, never a bit of the result.

- `BlockedSolver` keeps X as uint8 pixels, example-major, and walks a batch (the whole set, or
  a mini-batch) in chunks (`Inputs.chunk` examples): a chunk is scaled (and augmented) into a
  cache-sized float buffer and both of its products run while it is in cache. It runs any
  optimizer, weight decay and augmentation.
- `GramSolver` (full-batch gradient descent only) uses that every W1 update lies in the span of
  X's columns: W1_t = W1_0 + C_t X^T with an (h, m) matrix C_t, so Z1_t = W1_0 X + C_t (X^T X).
  With G = X^T X computed once, a step costs O(h m^2) instead of O(h n_x m).
- `DirectSolver` (full-batch gradient descent only): the network module's functions on X held
  whole as floats, single-threaded: the reference.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Protocol

import numpy as np

from catdog.augment import Augmentation, Draws
from catdog import exact as ex
from catdog.forward import (
    Inputs,
    chunk_buffer,
    chunk_forward,
    forward_logits,
    output_logits,
)
from catdog.network import (
    Parameters,
    backward_propagation,
    cost_from_logits,
    forward_propagation,
    gradient_sums,
    update_parameters,
)
from catdog.optimizers import GradientDescent, Optimizer
from catdog.parallel import Workers, by_rows, chunks

TILE = 1024         # Gram matrix tile: 4 MB of float32, stays in cache for its second use
FEATURE_BLOCK_BYTES = 48 << 20  # floats converted at once when building the Gram matrix
GRADIENTS = ("dW1", "db1", "dW2", "db2")
# Columns of the thin matrix a Gram tile multiplies, rounded up to this many: OpenBLAS runs a
# (1024, 1024) tile times 16 columns faster than times 10 (0.45 against 0.49 ms; the mirror
# image 0.61 against 0.64 ms, on one core of this machine).
PAD = 16


class Solver(Protocol):
    """What the training loop needs from a solver."""

    name: str
    whole_batch: bool  # True when step() returns the logits of the whole training set
    exact: bool        # True when its arithmetic gives the same bits on every machine

    def step(self, learning_rate: float, with_cost: bool = True) -> tuple[float, np.ndarray | None]:
        """One epoch: returns the mean cost of its batches (each before its update) and, when
        that is what the epoch computed, the logits Z2 (1, m) of the training set before it.
        With with_cost False a solver may skip the cost (NaN) when it returns Z2."""

    def logits(self, name: str) -> np.ndarray:
        """Z2 (1, m') under the current weights of the held-out set `name`, or "train"."""

    def snapshot(self) -> Any:
        """The current weights, kept aside cheaply (for early stopping)."""

    def parameters_of(self, snapshot: Any) -> Parameters:
        """W1, b1, W2, b2 of a snapshot."""


def gradient_pass(parameters: Parameters, inputs: Inputs, Y: np.ndarray, index: slice | np.ndarray,
                  workers: Workers, augmentation: Augmentation | None = None,
                  draws: Draws | None = None) -> tuple[float, Parameters, np.ndarray]:
    """Summed cost, summed gradients and logits Z2 (1, k) of the k examples at `index`.

    `index` is a slice or an array of example positions; Y (1, m) holds every example's label.
    """
    k = index.stop - index.start if isinstance(index, slice) else len(index)
    base = index.start if isinstance(index, slice) else 0
    W1 = inputs.weights(parameters["W1"])

    def one(bounds: tuple[int, int]):
        lo, hi = bounds
        part = slice(base + lo, base + hi) if isinstance(index, slice) else index[lo:hi]
        transform = None if draws is None else partial(augmentation.apply, draws=draws[lo:hi])
        block = inputs.block(part, chunk_buffer(workers, inputs), transform)
        y = Y[:, part]
        # errstate is per thread: divergence shows up in the cost, which the caller checks
        with np.errstate(over="ignore", invalid="ignore"):
            cache = chunk_forward(parameters, W1, block)
            sums = gradient_sums(parameters["W2"], cache["A1"], inputs.sigmoid(cache["Z2"]) - y)
            sums["dW1"] = inputs.times_inputs(sums["dZ1"], block)
            return inputs.cross_entropy_sum(cache["Z2"], y), sums, cache["Z2"]

    cost, total, Z2 = 0.0, None, []
    with np.errstate(over="ignore", invalid="ignore"):
        for c, sums, z in workers.map(one, chunks(k, inputs.chunk)):   # in chunk order
            cost += c
            Z2.append(z)
            if total is None:  # each chunk's sums are new arrays: the first one's become the total
                total = {g: sums[g] for g in GRADIENTS}
            else:
                for g in GRADIENTS:
                    total[g] += sums[g]
    return cost, total, np.concatenate(Z2, axis=1)


class _WeightsSolver:
    """A solver that holds the weights themselves: logits are forward passes, a snapshot is
    the weights as they are (steps build new arrays, never change these in place)."""

    def __init__(self, inputs: Inputs, Y: np.ndarray, parameters: Parameters, *,
                 workers: Workers, held_out: dict[str, Inputs] | None = None):
        self.inputs, self.parameters, self.workers = inputs, parameters, workers
        self.Y = np.asarray(Y, dtype=inputs.dtype)
        self.held_out = {"train": inputs, **(held_out or {})}

    def logits(self, name: str) -> np.ndarray:
        return forward_logits(self.parameters, self.held_out[name], self.workers)

    def snapshot(self) -> Parameters:
        return dict(self.parameters)

    def parameters_of(self, snapshot: Parameters) -> Parameters:
        return snapshot


class BlockedSolver(_WeightsSolver):
    """Epochs of (mini-)batch steps with any optimizer, reading uint8 X chunk by chunk."""

    name = "blocked"

    def __init__(self, inputs: Inputs, Y: np.ndarray, parameters: Parameters, *,
                 workers: Workers, held_out: dict[str, Inputs] | None = None,
                 batch_size: int = 0, optimizer: Optimizer | None = None,
                 weight_decay: float = 0.0, augmentation: Augmentation | None = None,
                 seed: int = 0):
        super().__init__(inputs, Y, parameters, workers=workers, held_out=held_out)
        self.exact = inputs.exact
        self.batch_size = batch_size if 0 < batch_size < inputs.m else 0
        self.optimizer = optimizer or GradientDescent()
        self.weight_decay = weight_decay
        self.augmentation = augmentation if augmentation and augmentation.active else None
        # Separate streams: turning augmentation on does not change the order of the batches.
        self.whole_batch = not self.batch_size and self.augmentation is None
        self.shuffle_rng = np.random.default_rng([seed, 1])
        self.augment_rng = np.random.default_rng([seed, 2])

    def _batches(self) -> list[slice | np.ndarray]:
        m = self.inputs.m
        if not self.batch_size:
            return [slice(0, m)]
        order = self.shuffle_rng.permutation(m)
        return [order[start:stop] for start, stop in chunks(m, self.batch_size)]

    def step(self, learning_rate: float, with_cost: bool = True) -> tuple[float, np.ndarray | None]:
        total, Z2 = 0.0, None
        for index in self._batches():
            k = index.stop - index.start if isinstance(index, slice) else len(index)
            draws = self.augmentation.draw(self.augment_rng, k) if self.augmentation else None
            cost, sums, Z2 = gradient_pass(self.parameters, self.inputs, self.Y, index,
                                           self.workers, self.augmentation, draws)
            total += cost
            self.parameters = self.optimizer.update(self.parameters, self._means(sums, k),
                                                    learning_rate, self.workers)
        return total / self.inputs.m, Z2 if self.whole_batch else None

    def _means(self, sums: Parameters, k: int) -> Parameters:
        """The mean gradients of a batch of k examples, weight decay added, computed in place
        of their sums by blocks of rows on the workers (elementwise: the same bits)."""
        wd = self.inputs.dtype.type(self.weight_decay)
        for g in GRADIENTS:
            def rows(part: slice, g: str = g) -> None:
                mean = sums[g][part]
                mean /= k
                if self.weight_decay and g in ("dW1", "dW2"):
                    mean += wd * self.parameters[g[1:]][part]
            by_rows(self.workers, sums[g].shape, rows)
        return {g: sums[g] for g in GRADIENTS}


class SymmetricTiles:
    """A symmetric (m, m) matrix kept as the tiles of its upper triangle.

    A product with a thin matrix reads each tile from memory once and uses it twice, for its
    own block and for its mirror image, while it is still in cache: half the memory traffic
    of a plain product, which is what bounds it. Tiles are shared out to threads; the pieces
    of each output block are added in tile order.
    """

    def __init__(self, S: np.ndarray, size: int = TILE):
        self.m, self.size = S.shape[0], size
        starts = range(0, self.m, size)
        self.tiles = [(i, j, np.ascontiguousarray(S[i:i + size, j:j + size]))
                      for i in starts for j in starts if j >= i]

    @classmethod
    def zeros(cls, m: int, dtype: np.dtype, size: int = TILE) -> "SymmetricTiles":
        """An (m, m) zero matrix, never held whole."""
        tiles = cls(np.zeros((0, 0), dtype), size)
        starts = range(0, m, size)
        tiles.m = m
        tiles.tiles = [(i, j, np.zeros((min(size, m - i), min(size, m - j)), dtype))
                       for i in starts for j in starts if j >= i]
        return tiles

    def add_products(self, F: np.ndarray, workers: Workers) -> None:
        """S += F F^T for F (m, f), tile by tile."""
        s = self.size

        def one(tile):
            i, j, T = tile
            T += F[i:i + s] @ F[j:j + s].T
        list(workers.map(one, self.tiles))

    def times(self, V: np.ndarray, workers: Workers | None = None) -> np.ndarray:
        """S V for V of shape (m, k), in any layout (copied once, padded to PAD columns)."""
        k = V.shape[1]
        padded = np.zeros((self.m, -(-k // PAD) * PAD), V.dtype)  # zero columns: see PAD
        padded[:, :k] = V
        V, s = padded, self.size

        def one(tile):
            i, j, T = tile
            return T @ V[j:j + s], (T.T @ V[i:i + s] if j > i else None)

        out = np.zeros((self.m, V.shape[1]), V.dtype)
        pieces = map(one, self.tiles) if workers is None else workers.map(one, self.tiles)
        for (i, j, _), (own, mirror) in zip(self.tiles, pieces):
            out[i:i + s] += own
            if mirror is not None:
                out[j:j + s] += mirror
        return out[:, :k]


class DenseGram:
    """A symmetric (m, m) matrix of integers held whole in float64, for exact products: every
    product is exact, so any split of the work between threads gives the same bits."""

    def __init__(self, m: int):
        self.S = np.zeros((m, m))

    def add_products(self, F: np.ndarray, workers: Workers) -> None:
        """S += F F^T for F (m, f) of integers, in row tiles, on and above the diagonal only
        (`complete` copies the rest)."""
        def one(bounds):
            lo, hi = bounds
            self.S[lo:hi, lo:] += F[lo:hi] @ F[lo:].T
        list(workers.map(one, self._tiles()))

    def complete(self) -> None:
        """Fill in what add_products leaves out, below the diagonal, by symmetry."""
        for lo, hi in self._tiles():
            self.S[lo:hi, :lo] = self.S[:lo, lo:hi].T

    def _tiles(self) -> list[tuple[int, int]]:
        return chunks(len(self.S), TILE // 4)

    def times_left(self, V: np.ndarray, workers: Workers, rows: int) -> np.ndarray:
        """V S for V (r, m), `rows` rows of V at a time (one slice of the weights each)."""
        parts = workers.map(lambda b: V[b[0]:b[1]] @ self.S, chunks(len(V), rows))
        return np.concatenate(list(parts), axis=0)

    def bound(self) -> float:
        """The largest |entry|: a Gram matrix's is on its diagonal."""
        return float(np.max(np.diagonal(self.S), initial=0.0))


class GramSolver:
    """Full-batch gradient descent in the span of X's columns, from the Gram matrix X^T X."""

    name = "gram"
    whole_batch = True

    def __init__(self, inputs: Inputs, Y: np.ndarray, parameters: Parameters, *,
                 workers: Workers, held_out: dict[str, Inputs] | None = None):
        if inputs.exact and inputs.scaling.kind != "divide":
            raise ValueError("exact Gram products need integer inputs (input_scaling divide)")
        self.inputs, self.workers, self.exact = inputs, workers, inputs.exact
        self.dtype = inputs.dtype
        self.Y = np.asarray(Y, dtype=self.dtype)
        self.W1_0 = parameters["W1"]
        self.rest = {k: parameters[k] for k in ("b1", "W2", "b2")}
        m, h = inputs.m, self.W1_0.shape[0]
        held_out = held_out or {}
        # Exact: G and K hold integer pixel products, X^T X = G / divisor^2.
        gram_dtype = np.dtype(np.float64) if self.exact else self.dtype
        self.unit = 1.0 / inputs.examples.divisor ** 2 if self.exact else 1.0
        self.G = DenseGram(m) if self.exact else SymmetricTiles.zeros(m, gram_dtype)
        # For each held-out set, K = X^T X_held and W1_0 X_held give its logits in O(h m m_held).
        self.K = {name: np.zeros((m, x.m), gram_dtype) for name, x in held_out.items()}
        # Few wide blocks of features (the width depends on m only): each adds a product to all
        # of G, so G is read and written once per block; each converted block serves all.
        width = max(256, FEATURE_BLOCK_BYTES // (m * gram_dtype.itemsize))
        for start, stop in chunks(inputs.examples.n_x, width):
            F = inputs.columns(start, stop)                          # (m, f)
            self.G.add_products(F, workers)
            for name, x in held_out.items():
                self._add_K(self.K[name], F, x.columns(start, stop))
        self.Z1_0 = self._first_hidden(inputs)
        self.Z1_0_held = {name: self._first_hidden(x) for name, x in held_out.items()}
        # The largest |entry| of G, and of each K, bounds the integers of the exact products.
        if self.exact:
            self.G.complete()
        self.G_bound = self.G.bound() if self.exact else 0.0
        self.K_bound = {name: float(np.max(np.abs(K), initial=0.0)) for name, K in self.K.items()}
        self.C = np.zeros((h, m), self.dtype)

    def _first_hidden(self, inputs: Inputs) -> np.ndarray:
        """W1_0 X (h, m) of a set, chunk by chunk (exact: kept in float64)."""
        W1_0 = inputs.weights(self.W1_0)
        dtype = np.dtype(np.float64) if self.exact else None

        def one(bounds):
            block = inputs.block(slice(*bounds), chunk_buffer(self.workers, inputs))
            return W1_0.times(block, dtype)
        parts = list(self.workers.map(one, chunks(inputs.m, inputs.chunk)))
        return np.concatenate(parts, axis=1)

    def _add_K(self, K: np.ndarray, F: np.ndarray, F_held: np.ndarray) -> None:
        def one(bounds):
            lo, hi = bounds
            K[lo:hi] += F[lo:hi] @ F_held.T
        list(self.workers.map(one, chunks(F.shape[0], TILE)))

    def _hidden(self, Z1_0: np.ndarray, times: Callable[[np.ndarray], np.ndarray],
                bound: float) -> np.ndarray:
        """Z1 = Z1_0 + C X^T X' + b1 for the product `times(V) = (X^T X') ^T V` in G's units."""
        if self.exact:
            CG = ex.int_matmul(self.C, None, bound, ex.PRECISION[self.dtype], times=times)
            return (Z1_0 + CG * self.unit + self.rest["b1"]).astype(self.dtype)
        return Z1_0 + times(self.C) + self.rest["b1"]

    def _times_G(self, V: np.ndarray) -> np.ndarray:
        if self.exact:
            return self.G.times_left(V, self.workers, rows=len(self.C))
        # V G, computed as (G V^T)^T since G is symmetric
        return self.G.times(V.T, self.workers).T

    def step(self, learning_rate: float, with_cost: bool = True) -> tuple[float, np.ndarray]:
        m = self.inputs.m
        Z1 = self._hidden(self.Z1_0, self._times_G, self.G_bound)     # W1_t X + b1
        A1 = self.inputs.tanh(Z1)
        Z2 = output_logits(self.rest["W2"], A1, self.rest["b2"])
        cost = self.inputs.cross_entropy_sum(Z2, self.Y) / m if with_cost else math.nan
        sums = gradient_sums(self.rest["W2"], A1, self.inputs.sigmoid(Z2) - self.Y)
        lr = self.dtype.type(learning_rate)
        self.C -= (lr / self.dtype.type(m)) * sums["dZ1"]          # W1 -= lr * dZ1 X^T / m
        self.rest = update_parameters(self.rest, {g: sums[g] / m for g in ("db1", "dW2", "db2")},
                                      learning_rate)
        return cost, Z2

    def logits(self, name: str) -> np.ndarray:
        if name == "train":
            return forward_logits(self.parameters_of(self.snapshot()), self.inputs, self.workers)
        K = self.K[name]
        Z1 = self._hidden(self.Z1_0_held[name], lambda V: V @ K, self.K_bound[name])
        return output_logits(self.rest["W2"], self.inputs.tanh(Z1), self.rest["b2"])

    def snapshot(self) -> tuple[np.ndarray, Parameters]:
        return self.C.copy(), dict(self.rest)

    def parameters_of(self, snapshot: tuple[np.ndarray, Parameters]) -> Parameters:
        """W1 = W1_0 + C X^T, built chunk by chunk in example order."""
        C, rest = snapshot
        W1 = self.W1_0.copy()
        buf = np.empty((self.inputs.chunk, self.inputs.examples.n_x), self.inputs.buffer_dtype())
        for start, stop in chunks(self.inputs.m, self.inputs.chunk):
            W1 += self.inputs.times_inputs(C[:, start:stop], self.inputs.block(slice(start, stop), buf))
        return {"W1": W1, **rest}


class DirectSolver(_WeightsSolver):
    """Full-batch gradient descent: the network module's functions on X held whole as floats."""

    name = "direct"
    whole_batch = True
    exact = False  # the reference: the BLAS's products, as written

    def __init__(self, inputs: Inputs, Y: np.ndarray, parameters: Parameters, *,
                 workers: Workers, held_out: dict[str, Inputs] | None = None):
        super().__init__(inputs, Y, parameters, workers=workers, held_out=held_out)
        self.X = inputs.rows(slice(0, inputs.m), np.empty((inputs.m, inputs.examples.n_x),
                                                          inputs.dtype)).T

    def step(self, learning_rate: float, with_cost: bool = True) -> tuple[float, np.ndarray]:
        _, cache = forward_propagation(self.X, self.parameters)
        grads = backward_propagation(self.parameters, cache, self.X, self.Y)
        self.parameters = update_parameters(self.parameters, grads, learning_rate)
        return cost_from_logits(cache["Z2"], self.Y), cache["Z2"]


SOLVERS = {"blocked": BlockedSolver, "gram": GramSolver, "direct": DirectSolver}


def choose_solver(m: int, n_x: int, hidden_size: int, iterations: int) -> str:
    """The cheaper of gram and blocked for full-batch gradient descent, by multiply-adds.

    blocked: 2 h n_x m per iteration. gram: n_x m^2 / 2 once (G is symmetric, its products
    are cheaper than general ones) plus h m^2 per iteration; only while m <= n_x / 2, where an
    (m, m) matrix is no larger than the data it replaces.
    """
    if 2 * m > n_x:
        return "blocked"
    blocked = 2 * hidden_size * n_x * m * iterations
    gram = n_x * m * m / 2 + hidden_size * m * m * iterations
    return "gram" if gram < blocked else "blocked"
