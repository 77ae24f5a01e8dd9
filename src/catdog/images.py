"""Reading one photo the way the network expects it (its class comes from `catdog.labels`).

Pixels: decoded in colour by OpenCV (BGR channel order, EXIF orientation applied, grey, palette,
alpha and 16-bit images turned into 3-channel 8-bit), then resized to size x size with cubic
interpolation: the pixels of `cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (size, size),
interpolation=cv2.INTER_CUBIC)` as OpenCV's reference code computes them (`resize_image`), the
same on every CPU, for every file that decodes completely.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import os
import stat
import struct
from dataclasses import dataclass, field

import cv2
import numpy as np

from catdog.errors import CatdogError

_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


MB = 1 << 20


class ImageError(CatdogError, ValueError):
    """A file that cannot be used as an image; the message is the reason shown to users."""


@dataclass(frozen=True)
class Limits:
    """Bounds checked before a file is read whole or decoded, so that one hostile file (a link
    to /dev/zero, a small PNG declaring 32000x32000 pixels) cannot exhaust memory."""

    max_bytes: int = 100 * MB        # encoded size of one file or archive member
    max_pixels: int = 100_000_000    # width x height declared by the image's header


DEFAULT_LIMITS = Limits()


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
    return _ifd_tags(tiff, {0x0112}).get(0x0112)


def _bmp_header(data: bytes) -> Header:
    head = Header("BMP")
    if len(data) >= 26:
        head.width, height = struct.unpack("<ii", data[18:26])
        head.height = abs(height)  # negative: rows stored top-down
    return head


def _webp_header(data: bytes) -> Header:
    head = Header("WebP")
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        head.width, head.height = w & 0x3FFF, h & 0x3FFF
    elif chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        head.width, head.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X" and len(data) >= 30:
        head.width = int.from_bytes(data[24:27], "little") + 1
        head.height = int.from_bytes(data[27:30], "little") + 1
    return head


def _tiff_header(data: bytes) -> Header:
    head = Header("TIFF")
    tags = _ifd_tags(data, {256, 257})
    head.width, head.height = tags.get(256, 0), tags.get(257, 0)
    return head


def _ifd_tags(tiff: bytes, wanted: set[int]) -> dict[int, int]:
    """Short or long values of the wanted tags in the first IFD of a TIFF structure."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return {}
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return {}
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    found = {}
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in wanted and kind in (3, 4):
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10 if kind == 3 else 12])[0]
    return found


def read_header(data: bytes) -> Header:
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_header(data)
    if data.startswith(b"BM"):
        return _bmp_header(data)
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return _tiff_header(data)
    if data.startswith(b"GIF8"):
        head = Header("GIF")
        if len(data) >= 10:
            head.width, head.height = struct.unpack("<HH", data[6:10])
        return head
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_header(data)
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


# OpenCV's cubic resize of 8-bit images, written out in integers. OpenCV's own SIMD code paths
# round differently on other CPUs (aarch64, x86 without AVX2); this is its reference algorithm:
# Keys' cubic kernel (A = -0.75) with weights in 11-bit fixed point, a horizontal then a vertical
# pass in integer sums, edges repeated, rounded once at the end.
_CUBIC_A = np.float32(-0.75)
_COEF_BITS = 11


@functools.lru_cache(maxsize=256)
def _cubic_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of `dst` output positions: the 4 source positions read (dst, 4), clamped to the
    image, and their integer weights (dst, 4), which add up to about 2^11."""
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    start = np.floor(f)
    x = f - start                                      # float32, as OpenCV computes it
    one, a = np.float32(1), _CUBIC_A
    x1, y = x + one, one - x
    c0 = ((a * x1 - np.float32(5) * a) * x1 + np.float32(8) * a) * x1 - np.float32(4) * a
    c1 = ((a + np.float32(2)) * x - (a + np.float32(3))) * x * x + one
    c2 = ((a + np.float32(2)) * y - (a + np.float32(3))) * y * y + one
    c3 = one - c0 - c1 - c2
    weights = np.rint(np.stack([c0, c1, c2, c3], axis=1) * np.float32(1 << _COEF_BITS))
    index = np.clip(start.astype(np.int64)[:, None] + np.arange(-1, 3), 0, src - 1)
    weights = weights.astype(np.int64)
    index.flags.writeable = weights.flags.writeable = False  # shared by every call (cached)
    return index, weights


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 by cubic interpolation: the pixels of
    `cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)` as OpenCV's reference code
    computes them, the same bits on every CPU."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image.copy()
    rows, row_weights = _cubic_taps(h, size)
    cols, col_weights = _cubic_taps(w, size)
    # Integer sums, exact in floats whatever order the BLAS adds them in: the vertical pass
    # (first: on whole rows it is the cheaper one) stays below 2^22 (float32 holds 2^24), the
    # horizontal one below 2^36 (float64 holds 2^53).
    lines = image[rows].reshape(size, 4, w * 3).astype(np.float32)             # (size, 4, w*3)
    down = np.matmul(row_weights[:, None, :].astype(np.float32), lines)        # (size, 1, w*3)
    across = np.ascontiguousarray(down.reshape(size, w, 3).transpose(0, 2, 1)) # (size, 3, w)
    taps = across[:, :, cols].astype(np.float64)                               # (size, 3, size, 4)
    both = (taps * col_weights).sum(axis=-1).transpose(0, 2, 1)                # (size, size, 3)
    shifted = np.floor((both + (1 << (2 * _COEF_BITS - 1))) / (1 << (2 * _COEF_BITS)))
    return np.clip(shifted, 0, 255).astype(np.uint8)


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


_SPECIAL = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
            (stat.S_ISSOCK, "a socket"))


def special_file_reason(mode: int) -> str:
    """Why a file of this st_mode is not read: only regular files are."""
    kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
    return f"{kind}, not a regular file: not read"


def too_large_reason(size: int, limits: Limits) -> str:
    return (f"{size / MB:.1f} MB, more than the {limits.max_bytes / MB:g} MB limit "
            f"(data.max_file_mb): not read")


def read_file(file_path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of a regular file no larger than limits.max_bytes; ImageError with a plain
    reason otherwise. Opening never blocks (a FIFO would) and nothing but a regular file is
    read (a link to /dev/zero would never end)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(file_path, flags)
    except OSError as exc:
        raise ImageError(_open_failure(file_path, exc)) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(special_file_reason(info.st_mode))
        if info.st_size > limits.max_bytes:
            raise ImageError(too_large_reason(info.st_size, limits))
        try:
            # Ask for what the file holds (a read of max_bytes would allocate that much each
            # time), then for the rest up to the bound in case it grew meanwhile.
            data = f.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += f.read(limits.max_bytes + 1 - len(data))
        except OSError as exc:
            raise ImageError(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise ImageError(too_large_reason(len(data), limits))
    return data


def _open_failure(file_path: str | os.PathLike, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(file_path):
        return "broken symbolic link (its target does not exist)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: the file cannot be read"
    if exc.errno == errno.ENXIO:
        return "a socket or device, not a regular file: not read"
    return f"cannot read file: {exc.strerror or exc}"


def photo_from_bytes(data: bytes, size: int, fast_decode: bool = False,
                     limits: Limits = DEFAULT_LIMITS) -> Photo:
    """Check, decode and resize one encoded photo; ImageError says why it is unusable.

    Checked from the header before decoding: the declared pixel count (so a small file cannot
    make the decoder allocate gigabytes) and a cut-off end (OpenCV would fill the missing part
    with grey and call it an image).
    """
    header = read_header(data)
    if header.width * header.height > limits.max_pixels:
        raise ImageError(f"{header.format} declaring {header.width}x{header.height} pixels, more "
                         f"than the limit of {limits.max_pixels} (data.max_pixels): not decoded")
    if header.truncated:
        raise ImageError(f"truncated {header.format} (the file ends early)")
    reduce = reduction_for(header, size) if fast_decode else 1
    image = resize_image(decode_image(data, reduce), size)
    return Photo(image, header.conversions, hashlib.sha256(data).hexdigest())


def load_photo(file_path: str | os.PathLike, size: int, fast_decode: bool = False,
               limits: Limits = DEFAULT_LIMITS) -> Photo:
    """Read, check, decode and resize one photo file; ImageError says why it is unusable."""
    return photo_from_bytes(read_file(file_path, limits), size, fast_decode, limits)


def read_image(file_path: str | os.PathLike, size: int = 64) -> np.ndarray:
    """Read one photo as a (size, size, 3) uint8 BGR array; raise ImageError if unusable."""
    return load_photo(file_path, size).image
