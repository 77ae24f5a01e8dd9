"""A picture of the model's worst mistakes: a grid of test photos, most confidently wrong first."""
from __future__ import annotations

import cv2
import numpy as np

TILE = 128        # pixels per photo in the grid
CAPTION = 30      # pixels of caption under each photo


def most_confident_mistakes(y: np.ndarray, p_dog: np.ndarray, threshold: float, k: int) -> np.ndarray:
    """Indices of up to k misclassified examples, the most confident first (ties by index)."""
    y, p_dog = np.ravel(y).astype(bool), np.ravel(p_dog).astype(np.float64)
    wrong = np.flatnonzero((p_dog > threshold) != y)
    confidence = np.abs(p_dog[wrong] - 0.5)
    return wrong[np.lexsort((wrong, -confidence))][:k]


def mistakes_grid(images: np.ndarray, y: np.ndarray, p_dog: np.ndarray, label_names: tuple[str, ...],
                  threshold: float = 0.5, k: int = 16, columns: int = 4) -> np.ndarray:
    """A BGR uint8 image: the k most confident mistakes, each captioned with its true label
    and the predicted probability of dog. images: (m, s, s, 3) BGR."""
    chosen = most_confident_mistakes(y, p_dog, threshold, k)
    rows = max(1, -(-len(chosen) // columns))
    grid = np.full((rows * (TILE + CAPTION), columns * TILE, 3), 255, np.uint8)
    if len(chosen) == 0:
        cv2.putText(grid, "no mistakes", (8, TILE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for n, i in enumerate(chosen):
        top, left = (n // columns) * (TILE + CAPTION), (n % columns) * TILE
        grid[top:top + TILE, left:left + TILE] = cv2.resize(
            images[i], (TILE, TILE), interpolation=cv2.INTER_NEAREST)
        caption = f"is {label_names[int(y[i])]}, p(dog) {p_dog[i]:.2f}"
        cv2.putText(grid, caption, (left + 4, top + TILE + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 160), 1, cv2.LINE_AA)
    return grid


def encode_png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode PNG")
    return data.tobytes()
