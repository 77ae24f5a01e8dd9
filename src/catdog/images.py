"""Reading one photo the way the network expects it, and naming its class.

Pixels: decoded in colour by OpenCV (BGR channel order, EXIF orientation applied, grey, palette,
alpha and 16-bit images turned into 3-channel 8-bit), then resized to size x size with cubic
interpolation: the same pixels as `cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (size, size),
interpolation=cv2.INTER_CUBIC)` for every file that decodes completely.
"""
from __future__ import annotations

import errno
import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import PurePath

import cv2
import numpy as np

from catdog.errors import CatdogError

LABEL_NAMES = ("cat", "dog")  # index = label value: cat = 0, dog = 1
CHANNEL_ORDER = "BGR"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Folder names that label every image inside them.
_FOLDER_LABELS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


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


# ---- what the file says about itself, read from its header ------------------------------------
@dataclass
class Header:
    """What the first bytes tell: format, size and how the pixels will be converted."""

    format: str = "unknown"
    width: int = 0
    height: int = 0
    conversions: list[str] = field(default_factory=list)
    truncated: bool = False


_PNG_COLOUR = {0: "grayscale", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def _png_header(data: bytes) -> Header:
    head = Header("PNG")
    if len(data) >= 29 and data[12:16] == b"IHDR":
        head.width, head.height, depth, colour = struct.unpack(">IIBB", data[16:26])
        if colour in _PNG_COLOUR:
            head.conversions.append(f"{_PNG_COLOUR[colour]} to BGR")
        if depth == 16:
            head.conversions.append("16-bit to 8-bit")
    head.truncated = b"IEND" not in data[-12:]
    return head


def _jpeg_header(data: bytes) -> Header:
    head = Header("JPEG")
    pos, last_scan = 2, -1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segment = data[pos + 4:pos + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if len(segment) >= 6:
                head.height, head.width = struct.unpack(">HH", segment[1:5])
                components = segment[5]
                if components == 1:
                    head.conversions.append("grayscale to BGR")
                elif components == 4:
                    head.conversions.append("CMYK to BGR")
        elif marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])
            if orientation not in (None, 1):
                head.conversions.append(f"rotated by EXIF orientation {orientation}")
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            last_scan = pos
            break
        pos += 2 + length
    # An end-of-image marker cannot occur inside entropy-coded data (0xFF is stuffed there),
    # so a complete file has one after its first scan; a file cut short has none.
    head.truncated = last_scan < 0 or data.rfind(b"\xff\xd9") < last_scan
    return head


def _exif_orientation(tiff: bytes) -> int | None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:
            return struct.unpack(order + "H", entry[8:10])[0]
    return None


def read_header(data: bytes) -> Header:
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_header(data)
    for magic, name in ((b"BM", "BMP"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")):
        if data.startswith(magic):
            return Header(name)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Header("WebP")
    return Header()


def _describe_unknown(data: bytes) -> str:
    start = data[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")) or b"<html" in start:
        return "an HTML or XML page, not an image"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF file, which this OpenCV build cannot use here"
    if start.startswith(b"%pdf"):
        return "a PDF document, not an image"
    try:
        data[:512].decode("utf-8")
        return "a text file, not an image"
    except UnicodeDecodeError:
        return "not an image format OpenCV can decode"


# ---- decoding ---------------------------------------------------------------------------------
def decode_image(data: bytes, reduce: int = 1) -> np.ndarray:
    """Decode encoded image bytes to an (H, W, 3) uint8 BGR array.

    reduce = 2, 4 or 8 lets the JPEG decoder scale down while decoding (faster, slightly
    different pixels).
    """
    if not data:
        raise ImageError("empty file")
    flag = _REDUCED_FLAGS.get(reduce, cv2.IMREAD_COLOR)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None or image.size == 0:
        header = read_header(data)
        if header.format == "unknown":
            raise ImageError(_describe_unknown(data))
        if header.truncated:
            raise ImageError(f"truncated {header.format} (the file ends early)")
        raise ImageError(f"{header.format} file that OpenCV cannot decode")
    return image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) -> (size, size, 3), cubic interpolation, dtype kept."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)


def reduction_for(header: Header, size: int) -> int:
    """Largest JPEG decode scale (8, 4, 2) whose output is still at least size x size."""
    if header.format != "JPEG" or not header.width:
        return 1
    for factor in (8, 4, 2):
        if min(-(-header.width // factor), -(-header.height // factor)) >= size:
            return factor
    return 1


@dataclass
class Photo:
    image: np.ndarray       # (size, size, 3) uint8 BGR
    conversions: list[str]  # what was converted to reach 3-channel 8-bit, for the manifest
    digest: str             # sha256 of the file's bytes


def read_file(file_path: str | os.PathLike) -> bytes:
    """The file's bytes; ImageError with a plain reason when they cannot be had."""
    try:
        with open(file_path, "rb") as f:
            return f.read()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError("symbolic link loop") from None
        if exc.errno == errno.ENOENT and os.path.islink(file_path):
            raise ImageError("broken symbolic link (its target does not exist)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ImageError("permission denied: the file cannot be read") from None
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None


def load_photo(file_path: str | os.PathLike, size: int, fast_decode: bool = False) -> Photo:
    """Read, check, decode and resize one photo; ImageError says why a file is unusable."""
    data = read_file(file_path)
    header = read_header(data)
    if header.truncated:
        # OpenCV may still return an image, with the missing part grey: not a usable photo.
        raise ImageError(f"truncated {header.format} (the file ends early)")
    reduce = reduction_for(header, size) if fast_decode else 1
    image = resize_image(decode_image(data, reduce), size)
    return Photo(image, header.conversions, hashlib.sha256(data).hexdigest())


def read_image(file_path: str | os.PathLike, size: int = 64) -> np.ndarray:
    """Read one photo as a (size, size, 3) uint8 BGR array; raise ImageError if unusable."""
    return load_photo(file_path, size).image
