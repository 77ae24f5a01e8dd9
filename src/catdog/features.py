"""The network's input layout: flattened pixels scaled to [0, 1], one example per column."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

PIXEL_MAX = 255
PIXEL_SCALE = 1 / PIXEL_MAX


def flatten(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, s, s, 3) uint8 and (m,) -> X (s*s*3, m) float32 in [0, 1] and Y (1, m) float32.

    Column j of X is image j read row by row, pixel by pixel, channel by channel. X is
    stored column by column (Fortran order), so each example's pixels lie together.
    """
    m = images.shape[0]
    X = images.reshape(m, -1).T.astype(np.float32)
    X /= np.float32(PIXEL_MAX)
    return X, np.asarray(labels).reshape(1, m).astype(np.float32)


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


def _read_pixels(member, shape: tuple[int, int], fortran_order: bool, dtype: np.dtype,
                 out: np.ndarray, source: str) -> None:
    """Stream X (n_x, m) of floats p / 255 into out (m, n_x) uint8, about 8 MB at a time.

    In Fortran order (what `flatten` writes) the file holds X example by example, so a read
    fills whole rows of `out`; in C order it holds feature rows, which are transposed in.
    """
    n_x, m = shape
    outer = m if fortran_order else n_x
    inner = n_x if fortran_order else m
    per_read = max(1, (8 << 20) // max(1, inner * dtype.itemsize))
    for start in range(0, outer, per_read):
        k = min(per_read, outer - start)
        block = np.frombuffer(member.read(k * inner * dtype.itemsize), dtype=dtype).reshape(k, inner)
        pixels = np.rint(block * PIXEL_MAX)
        if not np.array_equal(np.divide(pixels, PIXEL_MAX, dtype=dtype), block):
            raise ValueError(f"{source}: X is not 8-bit pixels divided by {PIXEL_MAX}")
        if fortran_order:
            out[start:start + k] = pixels
        else:
            out[:, start:start + k] = pixels.T


def load_split(path: str | os.PathLike) -> tuple[Examples, np.ndarray, int]:
    """Read a featurized split as uint8 Examples without ever holding X as floats whole.

    Returns (examples, Y (1, m), image_size). Peak memory: the uint8 pixels plus a few MB.
    """
    with zipfile.ZipFile(path) as archive:
        with archive.open("X.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(member)
            if len(shape) != 2:
                raise ValueError(f"{path}: X must be an (n_x, m) array, not {shape}")
            pixels = np.empty((shape[1], shape[0]), dtype=np.uint8)
            _read_pixels(member, shape, fortran_order, dtype, pixels, str(path))
    with np.load(path, allow_pickle=False) as data:
        Y, image_size = data["Y"], int(data["image_size"])
    return Examples(pixels, PIXEL_MAX), Y, image_size
