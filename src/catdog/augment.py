"""Seeded horizontal flips and small shifts of photos, applied to a batch as it is built.

Rows are photos flattened the way `features.flatten` lays them out: (k, s * s * 3), row by
row, pixel by pixel, channel by channel. Nothing here copies the data set: each batch's uint8
rows are transformed into a batch-sized buffer.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Draws:
    """What happens to each photo of a batch: flipped or not, shifted by (dy, dx) pixels."""

    flip: np.ndarray  # (k,) bool
    dy: np.ndarray    # (k,) int
    dx: np.ndarray    # (k,) int

    def __getitem__(self, part: slice) -> "Draws":
        return Draws(self.flip[part], self.dy[part], self.dx[part])


@dataclass(frozen=True)
class Augmentation:
    flip: bool = False  # mirror left-right with probability 1/2
    shift: int = 0      # move by up to this many pixels each way, edges repeated

    @property
    def active(self) -> bool:
        return self.flip or self.shift > 0

    def draw(self, rng: np.random.Generator, k: int) -> Draws:
        """Every random choice for k photos, drawn in one place so that the batch, not the
        threads that later share it out, decides what each photo gets."""
        flip = rng.random(k) < 0.5 if self.flip else np.zeros(k, bool)
        if self.shift:
            dy, dx = rng.integers(-self.shift, self.shift + 1, size=(2, k))
        else:
            dy = dx = np.zeros(k, np.int64)
        return Draws(flip, dy, dx)

    def apply(self, rows: np.ndarray, draws: Draws) -> np.ndarray:
        """rows (k, s*s*3) -> new rows (k, s*s*3) with each photo flipped and shifted: output
        pixel (r, c) is input pixel (r + dy, c' + dx), c' = s - 1 - c when flipped, else c,
        both clipped to the photo (edges repeated)."""
        k, n_x = rows.shape
        tables = _gather_tables(image_side(n_x), self.shift)       # (2, w, w, n_x)
        w = 2 * self.shift + 1
        which = (draws.flip.astype(np.intp) * w + draws.dy + self.shift) * w + draws.dx + self.shift
        # One flat gather: offsets of each photo's sources within the contiguous rows.
        offsets = tables.reshape(-1, n_x)[which]
        if k * n_x >= 2 ** 31:
            offsets = offsets.astype(np.int64)
        offsets += (np.arange(k, dtype=offsets.dtype) * n_x)[:, None]
        return np.take(np.ascontiguousarray(rows).reshape(-1), offsets)


@cache
def _gather_tables(s: int, shift: int) -> np.ndarray:
    """For each (flip, dy, dx): where each output value of a flattened photo comes from."""
    w = 2 * shift + 1
    tables = np.empty((2, w, w, s * s * 3), np.int32)  # a quarter of the memory of intp
    straight = np.arange(s)
    for flip, columns in enumerate((straight, straight[::-1])):
        for i, dy in enumerate(range(-shift, shift + 1)):
            r = np.clip(straight + dy, 0, s - 1)
            for j, dx in enumerate(range(-shift, shift + 1)):
                c = np.clip(columns + dx, 0, s - 1)
                pixel = r[:, None] * s + c[None, :]                      # (s, s)
                tables[flip, i, j] = (pixel[:, :, None] * 3 + np.arange(3)).reshape(-1)
    return tables


def image_side(n_x: int) -> int:
    s = int(round((n_x / 3) ** 0.5))
    if 3 * s * s != n_x:
        raise ValueError(f"{n_x} inputs are not a square colour photo")
    return s


def flip_horizontal(rows: np.ndarray) -> np.ndarray:
    """Every photo of rows (k, s*s*3) mirrored left-right."""
    k = len(rows)
    return Augmentation(flip=True).apply(rows, Draws(np.ones(k, bool), np.zeros(k, int),
                                                     np.zeros(k, int)))
