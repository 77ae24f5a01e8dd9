"""Photos and data params written on the spot, for tests that ingest real files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from catdog.params import DataParams


def write_photo(path: Path, rng: np.random.Generator, height: int = 40, width: int = 50) -> Path:
    """A random colour picture, encoded by its suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def data_params(train_dir: Path | str, test_dir: Path | str = "", **changes) -> DataParams:
    """No test_dir: split train_dir."""
    values = dict(train_dir=str(train_dir), test_dir=str(test_dir or train_dir), image_size=16,
                  workers=2)  # the rest: the settings' defaults
    return DataParams(**{**values, **changes})
