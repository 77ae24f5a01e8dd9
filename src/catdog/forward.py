"""The forward pass over a set of examples, in chunks fixed by the data.

Examples are read as uint8 pixels (or floats), scaled chunk by chunk into a cache-sized
buffer, and run through `network.forward_propagation`. Chunks are shared out to threads
(`catdog.parallel`); a chunk's logits depend only on its own examples, so the thread count
never changes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from catdog.features import Examples
from catdog.network import Parameters, forward_propagation
from catdog.parallel import Workers, chunks
from catdog.scaling import InputScaling

CHUNK = 64  # examples per chunk: 64 x 12288 float32 is 3 MB, within this machine's caches


@dataclass
class Inputs:
    """A set of examples as the network sees them: scaled rows, chunk by chunk."""

    examples: Examples
    scaling: InputScaling
    dtype: np.dtype

    @property
    def m(self) -> int:
        return self.examples.m

    def rows(self, index: slice | np.ndarray, out: np.ndarray,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The examples at `index` as network inputs (k, n_x), written into `out`;
        `transform` (augmentation) acts on their raw rows first."""
        raw = self.examples.rows[index]
        if transform is not None:
            raw = transform(raw)
        return self.scaling.apply(raw, self.examples.divisor, out)

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Inputs start..stop of every example (m, stop - start)."""
        F = self.examples.columns(start, stop, self.dtype)
        if self.scaling.kind == "standardize":
            F -= self.scaling.mean[start:stop].astype(self.dtype)
            F /= self.scaling.std[start:stop].astype(self.dtype)
        return F


def chunk_buffer(workers: Workers, inputs: Inputs) -> np.ndarray:
    """This thread's float buffer for one chunk of `inputs` (reused across calls)."""
    n_x, dtype = inputs.examples.n_x, inputs.dtype
    return workers.buffer(f"rows-{n_x}-{dtype}", lambda: np.empty((CHUNK, n_x), dtype))


def forward_logits(parameters: Parameters, inputs: Inputs, workers: Workers) -> np.ndarray:
    """Z2 (1, m) of every example, chunk by chunk (X is never held as floats whole)."""
    def one(bounds: tuple[int, int]) -> np.ndarray:
        F = inputs.rows(slice(*bounds), chunk_buffer(workers, inputs))
        with np.errstate(over="ignore", invalid="ignore"):  # per thread; callers check
            return forward_propagation(F.T, parameters)[1]["Z2"]
    parts = list(workers.map(one, chunks(inputs.m, CHUNK)))
    return np.concatenate(parts, axis=1) if parts else np.zeros((1, 0), inputs.dtype)
