"""A synthetic demo set: cartoon cat and dog faces drawn with OpenCV, saved as JPEG and PNG.

The classes differ in shape only (pointed ears, slit pupils and whiskers for cats; hanging
ears, round eyes and a muzzle for dogs). Fur and background colours, position, size, rotation,
clutter, blur and noise are drawn from the same distributions for both, so the task is
learnable from 64x64 pixels but not trivial. Each image has its own random stream, seeded by
(seed, class, index), so the set is the same on every run and every machine.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from catdog.labels import LABEL_NAMES
from catdog.storage import replace_folder, require_replaceable

Point = tuple[float, float]
# Written into the demo folder: the demo stage replaces only a folder that holds it.
MARKER = ".catdog-demo"


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, size=3))


class _Canvas:
    """Draws in face coordinates (unit = head radius, origin = head centre), rotated and placed."""

    def __init__(self, image: np.ndarray, centre: Point, radius: float, angle_deg: float):
        self.image, self.centre, self.radius = image, centre, radius
        self.angle = angle_deg
        a = np.deg2rad(angle_deg)
        self.rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def point(self, x: float, y: float) -> tuple[int, int]:
        px, py = self.rotation @ np.array([x, y]) * self.radius + self.centre
        return int(round(px)), int(round(py))

    def ellipse(self, x: float, y: float, ax: float, ay: float, colour, tilt: float = 0.0,
                thickness: int = -1) -> None:
        axes = (max(1, int(ax * self.radius)), max(1, int(ay * self.radius)))
        cv2.ellipse(self.image, self.point(x, y), axes, self.angle + tilt, 0, 360, colour,
                    thickness, cv2.LINE_AA)

    def polygon(self, points: list[Point], colour) -> None:
        pts = np.array([self.point(x, y) for x, y in points], dtype=np.int32)
        cv2.fillPoly(self.image, [pts], colour, cv2.LINE_AA)

    def line(self, a: Point, b: Point, colour, thickness: int = 1) -> None:
        cv2.line(self.image, self.point(*a), self.point(*b), colour, thickness, cv2.LINE_AA)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    top, bottom = np.array(_colour(rng)), np.array(_colour(rng))
    t = np.linspace(0, 1, height)[:, None, None]
    image = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.uint8).copy()
    for _ in range(rng.integers(0, 6)):  # clutter: shapes of either class's colours
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        size = int(rng.integers(4, max(5, min(height, width) // 4)))
        if rng.random() < 0.5:
            cv2.circle(image, centre, size, _colour(rng), -1, cv2.LINE_AA)
        else:
            cv2.rectangle(image, centre, (centre[0] + size, centre[1] + size), _colour(rng), -1)
    return image


def _cat(c: _Canvas, rng: np.random.Generator, fur, dark) -> None:
    for side in (-1, 1):
        spread = rng.uniform(0.45, 0.7)
        c.polygon([(side * (spread - 0.45), -0.55), (side * (spread + 0.4), -0.35),
                   (side * (spread + 0.15), -1.45 - rng.uniform(0, 0.3))], fur)
        c.polygon([(side * (spread - 0.25), -0.6), (side * (spread + 0.25), -0.45),
                   (side * (spread + 0.12), -1.2)], (180, 160, 235))
    c.ellipse(0, 0, 1.0, 0.88, fur)
    iris = _colour(rng, 0, 200) if rng.random() < 0.5 else (40, 200, 220)
    for side in (-1, 1):
        c.ellipse(side * 0.38, -0.15, 0.2, 0.13, iris)
        c.ellipse(side * 0.38, -0.15, 0.04, 0.12, (10, 10, 10))
    c.polygon([(-0.1, 0.18), (0.1, 0.18), (0, 0.3)], (150, 130, 230))
    for side in (-1, 1):
        for dy in (-0.05, 0.05, 0.15):
            c.line((side * 0.2, 0.3), (side * 1.25, 0.3 + dy * 2.5), dark)


def _dog(c: _Canvas, rng: np.random.Generator, fur, dark) -> None:
    c.ellipse(0, 0.05, 0.88, 1.0, fur)
    ear = dark if rng.random() < 0.6 else fur
    for side in (-1, 1):
        c.ellipse(side * 0.88, 0.15 + rng.uniform(-0.1, 0.2), 0.28, 0.72, ear, tilt=side * 15)
    for side in (-1, 1):
        c.ellipse(side * 0.35, -0.2, 0.11, 0.11, (15, 15, 15))
        c.ellipse(side * 0.33, -0.23, 0.03, 0.03, (235, 235, 235))
    c.ellipse(0, 0.45, 0.45, 0.33, tuple(min(255, v + 60) for v in fur))
    c.ellipse(0, 0.3, 0.17, 0.11, (20, 20, 20))
    if rng.random() < 0.4:
        c.ellipse(0, 0.72, 0.1, 0.14, (120, 110, 230))


def draw_animal(label: int, rng: np.random.Generator) -> np.ndarray:
    """One BGR uint8 picture of a cat (0) or dog (1) face, of random size and aspect ratio."""
    height, width = (int(v) for v in rng.integers(90, 361, size=2))
    image = _background(rng, height, width)
    side = min(height, width)
    radius = side * rng.uniform(0.24, 0.32)
    centre = (width * rng.uniform(0.42, 0.58), height * rng.uniform(0.5, 0.62))
    canvas = _Canvas(image, centre, radius, rng.uniform(-12, 12))
    fur = _colour(rng, 30, 230)
    dark = tuple(int(v * 0.45) for v in fur)
    (_dog if label else _cat)(canvas, rng, fur, dark)
    blur = int(rng.integers(0, 3)) * 2 + 1
    image = cv2.GaussianBlur(image, (blur, blur), 0)
    noise = rng.normal(0, rng.uniform(4, 30), size=image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def require_demo_folder(out_dir: str | os.PathLike) -> None:
    """Fail naming demo.out_dir unless it is absent or a folder this module wrote."""
    require_replaceable(out_dir, MARKER, "demo.out_dir")


def generate_demo(out_dir: str | os.PathLike, n_images: int, seed: int) -> list[Path]:
    """Write n_images pictures (half cats, half dogs) as cat.N.jpg, dog.N.png, ... to out_dir.

    The pictures are written to a new folder beside out_dir, which then replaces out_dir
    whole, so an interrupted run leaves no half-filled folder. out_dir is replaced only if
    this function wrote it (it holds the file MARKER); any other folder is refused.
    Returns the written paths.
    """
    out_dir = Path(out_dir)
    names = []
    with replace_folder(out_dir, MARKER, "demo.out_dir") as staging:
        for index in range(n_images):
            label, number = index % 2, index // 2
            rng = np.random.default_rng([seed, label, number])
            image = draw_animal(label, rng)
            if rng.random() < 0.85:
                suffix, flags = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))]
            else:
                suffix, flags = ".png", [cv2.IMWRITE_PNG_COMPRESSION, 6]
            ok, encoded = cv2.imencode(suffix, image, flags)
            if not ok:
                raise RuntimeError(f"OpenCV could not encode {suffix}")
            name = f"{LABEL_NAMES[label]}.{number}{suffix}"
            (staging / name).write_bytes(encoded.tobytes())
            names.append(name)
    return [out_dir / name for name in names]
