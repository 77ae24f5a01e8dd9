"""The network's input layout: flattened pixels scaled to [0, 1], one example per column."""
from __future__ import annotations

import numpy as np

PIXEL_SCALE = 1 / 255


def flatten(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, s, s, 3) uint8 and (m,) -> X (s*s*3, m) float32 in [0, 1] and Y (1, m) float32.

    Column j of X is image j read row by row, pixel by pixel, channel by channel.
    """
    m = images.shape[0]
    X = images.reshape(m, -1).T.astype(np.float32)
    X /= np.float32(255)
    return X, np.asarray(labels).reshape(1, m).astype(np.float32)
