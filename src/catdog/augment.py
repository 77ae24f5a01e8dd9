"""Seeded horizontal flips and small shifts of photos, applied to a batch as it is built.

Rows are photos flattened the way `features.flatten` lays them out: (k, s * s * 3), row by
row, pixel by pixel, channel by channel. Nothing here copies the data set: each batch's uint8
rows are transformed into a batch-sized buffer.
"""
from __future__ import annotations

from dataclasses import dataclass

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
        """rows (k, s*s*3) -> new rows (k, s*s*3) with each photo flipped and shifted."""
        k, n_x = rows.shape
        s = image_side(n_x)
        images = rows.reshape(k, s, s, 3)
        pad = self.shift
        if pad:
            images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
        r = pad + draws.dy[:, None] + np.arange(s)                          # (k, s)
        c = np.where(draws.flip[:, None], np.arange(s)[::-1], np.arange(s))
        c = pad + draws.dx[:, None] + c                                     # (k, s)
        out = images[np.arange(k)[:, None, None], r[:, :, None], c[:, None, :]]
        return out.reshape(k, n_x)


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
