"""Fast ways to run the same gradient descent: same iterates, less memory traffic.

Notation as in `catdog.network`: X (n_x, m), W1 (h, n_x), Z1 = W1 X + b1 (h, m), ...
Two products with X dominate an iteration (W1 X and dZ1 X^T). Both solvers here compute
exactly the equations of `network.forward_propagation` / `backward_propagation` /
`update_parameters`; they differ only in how X is stored and traversed:

- `BlockedSolver` keeps X as uint8 pixels, example-major, and walks it once per iteration in
  blocks of examples: a block is scaled to floats in a cache-sized buffer, and its forward
  and backward products run while it is in cache (the backward product of a block needs only
  that block's forward values). Blocks are shared out to threads in a fixed pattern and the
  partial sums are added in a fixed order, so a given thread count always gives the same bits.
- `GramSolver` uses that every W1 update lies in the span of X's columns:
  W1_t = W1_0 + C_t X^T with an (h, m) matrix C_t, so Z1_t = W1_0 X + C_t (X^T X). With the
  Gram matrix G = X^T X computed once, an iteration costs O(h m^2) instead of O(h n_x m), and
  the update of W1 becomes C <- C - (learning_rate / m) dZ1.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from catdog.features import Examples
from catdog.network import (
    Parameters,
    backward_propagation,
    cost_from_logits,
    cross_entropy_sum,
    forward_propagation,
    initialize_parameters,
    sigmoid,
    update_parameters,
)

BLOCK = 64          # examples per block: 64 x 12288 float32 is 3 MB, within this machine's caches
TILE = 1024         # Gram matrix tile: 4 MB of float32, stays in cache for its second use
FEATURE_BLOCK_BYTES = 48 << 20  # floats converted at once when building the Gram matrix


def resolve_threads(threads: int) -> int:
    return threads or os.cpu_count() or 1


@cache
def _controller() -> ThreadpoolController:
    # Found once: looking the BLAS libraries up again at every iteration costs real time.
    return ThreadpoolController()


def blas_threads(n: int):
    """Context in which BLAS calls use n threads."""
    return _controller().limit(limits=n, user_api="blas")


class _ExplicitWeights:
    """Solvers that hold W1 itself: held-out logits are a plain blocked forward pass."""

    parameters: Parameters
    threads: int
    held_out: Examples | None

    def held_out_logits(self) -> np.ndarray:
        """Z2 of the held-out examples under the current parameters."""
        return forward_logits(self.parameters, self.held_out, self.threads)

    def result(self) -> Parameters:
        return self.parameters


class BlockedSolver(_ExplicitWeights):
    """Gradient descent reading X once per iteration, in blocks, on `threads` threads."""

    name = "blocked"

    def __init__(self, examples: Examples, Y: np.ndarray, parameters: Parameters, threads: int,
                 held_out: Examples | None = None):
        self.examples, self.parameters, self.held_out = examples, parameters, held_out
        self.dtype = parameters["W1"].dtype
        self.Y = np.asarray(Y, dtype=self.dtype)
        self.threads = resolve_threads(threads)
        self.buffers = [np.empty((BLOCK, examples.n_x), self.dtype) for _ in range(self.threads)]
        starts = list(range(0, examples.m, BLOCK))
        self.shares = [starts[t::self.threads] for t in range(self.threads)]

    def _partial(self, t: int, want_grads: bool):
        """Thread t's sums over its blocks: cost terms and, if wanted, gradient sums."""
        p, buf, Y = self.parameters, self.buffers[t], self.Y
        h, n_x = p["W1"].shape
        cost = 0.0
        dW1 = np.zeros((h, n_x), self.dtype) if want_grads else None
        dW2 = np.zeros((1, h), self.dtype)
        db1 = np.zeros((h, 1), self.dtype)
        db2 = np.zeros((1, 1), self.dtype)
        z2 = []  # (start, Z2) of each block
        with np.errstate(over="ignore", invalid="ignore"):  # per thread: divergence is reported
            for start in self.shares[t]:
                stop = min(start + BLOCK, self.examples.m)
                F = self.examples.block(start, stop, buf)             # (k, n_x)
                Z1 = (F @ p["W1"].T).T + p["b1"]                       # (h, k)
                A1 = np.tanh(Z1)
                Z2 = p["W2"] @ A1 + p["b2"]                            # (1, k)
                y = Y[:, start:stop]
                cost += cross_entropy_sum(Z2, y)
                z2.append((start, Z2))
                if not want_grads:
                    continue
                dZ2 = sigmoid(Z2) - y
                dW2 += dZ2 @ A1.T
                db2 += dZ2.sum(axis=1, keepdims=True)
                dZ1 = (p["W2"].T @ dZ2) * (1 - A1 * A1)                # (h, k)
                dW1 += dZ1 @ F
                db1 += dZ1.sum(axis=1, keepdims=True)
        return cost, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}, z2

    def _run(self, want_grads: bool):
        with blas_threads(1):
            if self.threads == 1:
                return [self._partial(0, want_grads)]
            with ThreadPoolExecutor(self.threads) as pool:
                return list(pool.map(lambda t: self._partial(t, want_grads), range(self.threads)))

    def step(self, learning_rate: float) -> tuple[float, np.ndarray]:
        """One iteration: returns the cost and logits Z2 (1, m) before the update, then updates."""
        parts = self._run(want_grads=True)
        m = self.examples.m
        cost = sum(c for c, _, _ in parts) / m
        grads = {k: sum(g[k] for _, g, _ in parts[1:]) + parts[0][1][k] for k in parts[0][1]}
        lr = self.dtype.type(learning_rate)
        self.parameters = {k: v - lr * (grads["d" + k] / m) for k, v in self.parameters.items()}
        return cost, _in_order(parts)


class SymmetricTiles:
    """A symmetric (m, m) matrix kept as the tiles of its upper triangle.

    A product with a thin matrix reads each tile from memory once and uses it twice, for its
    own block and for its mirror image, while it is still in cache: half the memory traffic
    of a plain product, which is what bounds it.
    """

    def __init__(self, S: np.ndarray, size: int = TILE):
        self.m, self.size = S.shape[0], size
        starts = range(0, self.m, size)
        self.tiles = [(i, j, np.ascontiguousarray(S[i:i + size, j:j + size]))
                      for i in starts for j in starts if j >= i]

    def times(self, V: np.ndarray) -> np.ndarray:
        """S V for V of shape (m, k)."""
        out = np.zeros((self.m, V.shape[1]), V.dtype)
        s = self.size
        for i, j, T in self.tiles:
            out[i:i + s] += T @ V[j:j + s]
            if j > i:
                out[j:j + s] += T.T @ V[i:i + s]
        return out


class GramSolver:
    """Gradient descent in the span of X's columns, from the Gram matrix X^T X."""

    name = "gram"

    def __init__(self, examples: Examples, Y: np.ndarray, parameters: Parameters, threads: int,
                 held_out: Examples | None = None):
        self.examples = examples
        self.dtype = parameters["W1"].dtype
        self.Y = np.asarray(Y, dtype=self.dtype)
        self.threads = resolve_threads(threads)
        self.W1_0 = parameters["W1"]
        self.b1, self.W2, self.b2 = parameters["b1"], parameters["W2"], parameters["b2"]
        m, h = examples.m, self.W1_0.shape[0]
        m_held = held_out.m if held_out is not None else 0
        self.G = np.zeros((m, m), self.dtype)
        self.Z1_0 = np.zeros((h, m), self.dtype)
        # With a held-out set, K = X^T X_held and W1_0 X_held make its logits O(h m m_held).
        self.K = np.zeros((m, m_held), self.dtype)
        self.Z1_0_held = np.zeros((h, m_held), self.dtype)
        # Few wide blocks of features: each adds a product to all of G, so G is read and
        # written once per block; each converted block serves G, K and both Z1_0.
        width = max(256, FEATURE_BLOCK_BYTES // (m * self.dtype.itemsize))
        with blas_threads(self.threads):
            for start in range(0, examples.n_x, width):
                stop = min(start + width, examples.n_x)
                F = examples.columns(start, stop, self.dtype)      # (m, f)
                self.G += F @ F.T
                self.Z1_0 += self.W1_0[:, start:stop] @ F.T
                if m_held:
                    F_held = held_out.columns(start, stop, self.dtype)
                    self.K += F @ F_held.T
                    self.Z1_0_held += self.W1_0[:, start:stop] @ F_held.T
        self.G = SymmetricTiles(self.G)
        self.C = np.zeros((h, m), self.dtype)

    def step(self, learning_rate: float) -> tuple[float, np.ndarray]:
        m = self.examples.m
        with blas_threads(self.threads):
            # C G, computed as (G C^T)^T since G is symmetric.
            Z1 = self.Z1_0 + self.G.times(np.ascontiguousarray(self.C.T)).T + self.b1  # W1_t X + b1
        A1 = np.tanh(Z1)
        Z2 = self.W2 @ A1 + self.b2
        cost = cost_from_logits(Z2, self.Y)
        dZ2 = sigmoid(Z2) - self.Y
        dW2 = (dZ2 @ A1.T) / m
        db2 = dZ2.sum(axis=1, keepdims=True) / m
        dZ1 = (self.W2.T @ dZ2) * (1 - A1 * A1)
        db1 = dZ1.sum(axis=1, keepdims=True) / m
        lr = self.dtype.type(learning_rate)
        self.C -= (lr / self.dtype.type(m)) * dZ1                  # W1 -= lr * dZ1 X^T / m
        self.b1 = self.b1 - lr * db1
        self.W2 = self.W2 - lr * dW2
        self.b2 = self.b2 - lr * db2
        return cost, Z2

    def held_out_logits(self) -> np.ndarray:
        with blas_threads(self.threads):
            Z1 = self.Z1_0_held + self.C @ self.K + self.b1
        return self.W2 @ np.tanh(Z1) + self.b2

    def result(self) -> Parameters:
        """W1 = W1_0 + C X^T, built block by block."""
        W1 = self.W1_0.copy()
        buf = np.empty((BLOCK, self.examples.n_x), self.dtype)
        with blas_threads(self.threads):
            for start in range(0, self.examples.m, BLOCK):
                stop = min(start + BLOCK, self.examples.m)
                W1 += self.C[:, start:stop] @ self.examples.block(start, stop, buf)
        return {"W1": W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}


class DirectSolver(_ExplicitWeights):
    """The plain equations on X held whole as floats: the network module's own functions."""

    name = "direct"

    def __init__(self, examples: Examples, Y: np.ndarray, parameters: Parameters, threads: int,
                 held_out: Examples | None = None):
        self.held_out = held_out
        self.dtype = parameters["W1"].dtype
        self.X = np.ascontiguousarray(examples.rows.T, dtype=self.dtype)
        if examples.divisor != 1:
            self.X /= self.dtype.type(examples.divisor)
        self.Y = np.asarray(Y, dtype=self.dtype)
        self.parameters = parameters
        self.threads = resolve_threads(threads)

    def step(self, learning_rate: float) -> tuple[float, np.ndarray]:
        with blas_threads(self.threads):
            _, cache = forward_propagation(self.X, self.parameters)
            grads = backward_propagation(self.parameters, cache, self.X, self.Y)
        self.parameters = update_parameters(self.parameters, grads, learning_rate)
        return cost_from_logits(cache["Z2"], self.Y), cache["Z2"]


SOLVERS = {"blocked": BlockedSolver, "gram": GramSolver, "direct": DirectSolver}


def choose_solver(m: int, n_x: int, hidden_size: int, iterations: int) -> str:
    """The cheaper of the two for these shapes, by counting multiply-adds.

    blocked: 2 h n_x m per iteration. gram: n_x m^2 / 2 once (G is symmetric, its products
    are cheaper than general ones) plus h m^2 per iteration; only while m <= n_x / 2, where an
    (m, m) matrix is no larger than the data it replaces.
    """
    if 2 * m > n_x:
        return "blocked"
    blocked = 2 * hidden_size * n_x * m * iterations
    gram = n_x * m * m / 2 + hidden_size * m * m * iterations
    return "gram" if gram < blocked else "blocked"


def make_solver(name: str, examples: Examples, Y: np.ndarray, hidden_size: int, seed: int,
                dtype: str, iterations: int, threads: int, held_out: Examples | None = None):
    """Build the named solver ("auto" chooses) from the seeded initial parameters; with
    `held_out`, its `held_out_logits()` gives that set's logits under the current weights."""
    if name == "auto":
        name = choose_solver(examples.m, examples.n_x, hidden_size, iterations)
    parameters = initialize_parameters(examples.n_x, hidden_size, 1, seed, dtype)
    return SOLVERS[name](examples, Y, parameters, threads, held_out)


def _in_order(parts) -> np.ndarray:
    """The threads' per-block logits, put back in example order: (1, m)."""
    blocks = [b for _, _, per_block in parts for b in per_block]
    blocks.sort(key=lambda b: b[0])
    return np.concatenate([z for _, z in blocks], axis=1)


def forward_logits(parameters: Parameters, examples: Examples, threads: int = 0) -> np.ndarray:
    """Z2 (1, m) for every example, block by block (X is never held as floats whole)."""
    solver = BlockedSolver(examples, np.zeros((1, examples.m)), parameters, threads)
    return _in_order(solver._run(want_grads=False))
