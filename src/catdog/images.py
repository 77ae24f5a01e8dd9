"""Reading one photo the way the network expects it, and naming its class.

Pixels: decoded in colour by OpenCV (BGR channel order), resized to size x size with cubic
interpolation: the same pixels as `cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (size, size),
interpolation=cv2.INTER_CUBIC)`.
"""
from __future__ import annotations

import os
from pathlib import PurePath

import cv2
import numpy as np

from catdog.errors import CatdogError

LABEL_NAMES = ("cat", "dog")  # index = label value: cat = 0, dog = 1
CHANNEL_ORDER = "BGR"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Folder names that label every image inside them.
_FOLDER_LABELS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}


class ImageError(CatdogError, ValueError):
    """A file that cannot be used as an image; the message is the reason shown to users."""


def is_image_name(path: str | os.PathLike) -> bool:
    return PurePath(path).suffix.lower() in IMAGE_SUFFIXES


def label_from_path(path: str | os.PathLike) -> int | None:
    """Label from the file name's first dot-separated token (`cat.12.jpg`, `Dog.7.jpeg`),
    else from the immediate parent folder (`Cat/`, `dogs/`), else None.

    Whole tokens only: `hotdog.1.jpg` and `catalog.jpg` name no class.
    """
    p = PurePath(path)
    token = p.name.split(".", 1)[0].lower()
    if token in ("cat", "dog"):
        return LABEL_NAMES.index(token)
    return _FOLDER_LABELS.get(p.parent.name.lower())


def decode_image(data: bytes, source: str = "image") -> np.ndarray:
    """Decode encoded image bytes to an (H, W, 3) uint8 BGR array."""
    if not data:
        raise ImageError("empty file")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageError("not an image OpenCV can decode")
    return image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) -> (size, size, 3), cubic interpolation, dtype kept."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)


def read_image(file_path: str | os.PathLike, size: int = 64) -> np.ndarray:
    """Read one photo as a (size, size, 3) uint8 BGR array; raise ImageError if unusable."""
    try:
        with open(file_path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None
    return resize_image(decode_image(data, str(file_path)), size)
