"""The network's input layout: one example per column, X of shape (n_x, m), Y of shape (1, m).

Stored lean: X holds the exact 8-bit pixels (uint8, a quarter of float32's bytes) with the scale
1/255 recorded beside it; the tutorial's float X, pixels / 255 in [0, 1], is made on request
(`Features.float_X`). Column j of X is image j read row by row, pixel by pixel, channel by
channel (BGR).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from catdog.errors import CatdogError
from catdog.storage import DAMAGE, damaged, save_npz, text_arrays, texts_from

PIXEL_MAX = 255
CHANNEL_ORDER = "BGR"  # as OpenCV decodes photos
PIXEL_SCALE = 1 / PIXEL_MAX


def pixel_columns(images: np.ndarray) -> np.ndarray:
    """(m, s, s, 3) uint8 -> X (s*s*3, m) uint8, a view: column j is image j's bytes, so X is
    stored column by column (Fortran order) and each example's pixels lie together."""
    return images.reshape(images.shape[0], -1).T


def to_float(X: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 pixels -> the tutorial's float X: exactly pixels / 255 in `dtype`."""
    out = X.astype(dtype)
    out /= np.dtype(dtype).type(PIXEL_MAX)
    return out


def flatten(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, s, s, 3) uint8 and (m,) -> X (s*s*3, m) float32 in [0, 1] and Y (1, m) float32."""
    return to_float(pixel_columns(images)), label_row(labels)


def label_row(labels: np.ndarray) -> np.ndarray:
    """(m,) labels -> Y (1, m) float32."""
    labels = np.asarray(labels)
    return labels.reshape(1, labels.shape[0]).astype(np.float32)


@dataclass
class Examples:
    """m examples of n_x features, one example per row: rows / divisor are the features.

    rows is uint8 pixels with divisor 255 (a quarter of float32's memory), or floats with
    divisor 1. Dividing, not multiplying by 1/255, gives the same floats as `features.flatten`.
    """

    rows: np.ndarray   # (m, n_x)
    divisor: float = 1.0

    @classmethod
    def from_columns(cls, X: np.ndarray) -> "Examples":
        """Wrap X (n_x, m) in the tutorial's layout without copying it."""
        return cls(np.asarray(X).T, 1.0)

    @property
    def m(self) -> int:
        return self.rows.shape[0]

    @property
    def n_x(self) -> int:
        return self.rows.shape[1]

    def block(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Examples start..stop as floats (stop - start, n_x), written into `out`."""
        k = stop - start
        np.divide(self.rows[start:stop], out.dtype.type(self.divisor), out=out[:k])
        return out[:k]

    def columns(self, start: int, stop: int, dtype) -> np.ndarray:
        """Features start..stop of every example as floats (m, stop - start)."""
        return np.divide(self.rows[:, start:stop], np.dtype(dtype).type(self.divisor), dtype=dtype)


class FeaturesError(CatdogError, ValueError):
    """A processed-array file that is not what featurize writes."""


@dataclass
class Features:
    """One split as featurize stores it."""

    X: np.ndarray        # (n_x, m) uint8 pixels; X * scale are the network's inputs
    Y: np.ndarray        # (1, m) float32, cat = 0, dog = 1
    image_size: int
    paths: list[str]     # where each example came from, as the manifest names it
    scale: float = PIXEL_SCALE

    def float_X(self, dtype=np.float32) -> np.ndarray:
        """The tutorial's X (n_x, m): exactly pixels / 255 in `dtype`."""
        return to_float(self.X, dtype)

    def images(self) -> np.ndarray:
        """(m, s, s, 3) uint8 BGR photos, a view of X."""
        s = self.image_size
        return self.X.T.reshape(self.X.shape[1], s, s, 3)

    def examples(self) -> Examples:
        """Rows (m, n_x) of uint8 pixels for the solvers, a view of X."""
        return Examples(self.X.T, PIXEL_MAX)


def save_features(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray,
                  paths: list[str]) -> None:
    """Write one split: X (n_x, m) uint8 with its scale, Y (1, m), image size and paths.
    X is a view of `images` written as it lies in memory, so no second copy is made."""
    save_npz(path, X=pixel_columns(images), scale=np.array(PIXEL_SCALE), Y=label_row(labels),
             image_size=np.array(images.shape[1]), **text_arrays("paths", list(paths)))


def read_features(path: str | os.PathLike) -> Features:
    """Read one split written by `save_features`. Peak memory: the uint8 pixels."""
    try:
        return _read_features(path)
    except FeaturesError:
        raise
    except DAMAGE as exc:
        raise damaged(path, exc) from None


def _read_features(path: str | os.PathLike) -> Features:
    with np.load(path, allow_pickle=False) as data:
        missing = {"X", "Y", "scale", "image_size", "paths"} - set(data.files)
        if missing:
            raise FeaturesError(f"{path}: not a featurized split (no {', '.join(sorted(missing))}); "
                                f"rerun `dvc repro`")
        X, scale = data["X"], float(data["scale"])
        if X.dtype != np.uint8 or X.ndim != 2 or scale != PIXEL_SCALE:
            raise FeaturesError(f"{path}: X must be (n_x, m) uint8 pixels with scale 1/255, got "
                                f"{X.dtype} {X.shape} with scale {scale}; rerun `dvc repro`")
        return Features(X, data["Y"], int(data["image_size"]), texts_from(data, "paths"), scale)


def load_split(path: str | os.PathLike) -> tuple[Examples, np.ndarray, int]:
    """Read a featurized split as uint8 Examples, never holding X as floats whole.

    Returns (examples, Y (1, m), image_size). Peak memory: the uint8 pixels.
    """
    features = read_features(path)
    return features.examples(), features.Y, features.image_size
