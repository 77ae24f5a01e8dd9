"""Photos by name: which files are photos, and which class a file's name or folder gives it."""
from __future__ import annotations

import os
from pathlib import PurePath

LABEL_NAMES = ("cat", "dog")  # index = label value: cat = 0, dog = 1
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Folder names that label every image inside them.
_FOLDER_LABELS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}


def is_image_name(path: str | os.PathLike) -> bool:
    return PurePath(path).suffix.lower() in IMAGE_SUFFIXES


def label_from_path(path: str | os.PathLike) -> int | None:
    """Label from the file name's first dot-separated token (`cat.12.jpg`, `Dog.7.jpeg`),
    else from the immediate parent folder (`Cat/`, `dogs/`), else None.

    Whole tokens only: `hotdog.1.jpg` and `catalog.jpg` name no class.
    """
    p = PurePath(path)
    token = p.name.split(".", 1)[0].lower()
    if token in LABEL_NAMES:
        return LABEL_NAMES.index(token)
    return _FOLDER_LABELS.get(p.parent.name.lower())
