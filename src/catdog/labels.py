"""Photos by name: which files are photos, which class a file's name or folder gives it, and
how a name is written in every output (`printable`)."""
from __future__ import annotations

import os
from pathlib import PurePath

LABEL_NAMES = ("cat", "dog")  # index = label value: cat = 0, dog = 1
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Folder names that label every image inside them.
_FOLDER_LABELS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


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


def printable(path: str) -> str:
    r"""`path` on one line: backslash, tab, newline and other unprintable characters written
    as `\\`, `\t`, `\n`, `\xNN`, `\uNNNN`, and bytes of a name that is not UTF-8 as `\xNN`,
    so that a file name can never forge a row of the output."""
    if path.isprintable() and "\\" not in path:  # the common case, quickly
        return path
    out = []
    for ch in path:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)
