import cv2
import numpy as np
import pytest

from catdog.images import ImageError, read_image, resize_image
from catdog.labels import label_from_path
from catdog_dev.photos import write_photo


@pytest.mark.parametrize("path,label", [
    ("train/cat.12.jpg", 0),
    ("train/dog.7.jpeg", 1),
    ("train/Dog.7.JPG", 1),
    ("CAT.1.png", 0),
    ("/data/dogs_vs_cats/cat.1.jpg", 0),  # the folder's words do not count when the name has one
    ("dogs_and_cats/cat.3.jpg", 0),
    ("PetImages/Cat/123.jpg", 0),
    ("PetImages/dogs/9.jpg", 1),
    ("PetImages/Dogs/hotdog.1.jpg", 1),  # the name says nothing; the folder does
    ("train/hotdog.1.jpg", None),
    ("train/catalog.jpg", None),
    ("train/image_1.jpg", None),
    ("cats_and_dogs/image_1.jpg", None),
    ("dog/cat.2.jpg", 0),
])
def test_label_comes_from_the_first_name_token_then_the_parent_folder(path, label):
    assert label_from_path(path) == label


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp"])
def test_read_image_gives_the_pixels_of_imread_and_a_cubic_resize(tmp_path, rng, suffix):
    path = write_photo(tmp_path / f"cat.1{suffix}", rng, height=123, width=77)
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    got = read_image(path, 64)
    assert got.dtype == np.uint8 and got.shape == (64, 64, 3)
    np.testing.assert_array_equal(got, resize_image(decoded, 64))
    # OpenCV's own SIMD paths round its fixed-point sums through floats: at most 1 apart
    opencv = cv2.resize(decoded, (64, 64), interpolation=cv2.INTER_CUBIC)
    assert np.abs(got.astype(int) - opencv).max() <= 1


def reference_cubic(image: np.ndarray, size: int) -> np.ndarray:
    """OpenCV's scalar cubic resize of 8-bit images, one pixel at a time in Python integers."""
    def taps(src, dst):
        out = []
        for d in range(dst):
            f = np.float32((d + 0.5) * (1.0 / (dst / src)) - 0.5)
            s = int(np.floor(f))
            x = np.float32(f - np.float32(s))
            a, one = np.float32(-0.75), np.float32(1)
            c0 = ((a * (x + one) - np.float32(5) * a) * (x + one) + np.float32(8) * a) * (x + one) \
                - np.float32(4) * a
            c1 = ((a + np.float32(2)) * x - (a + np.float32(3))) * x * x + one
            c2 = ((a + np.float32(2)) * (one - x) - (a + np.float32(3))) * (one - x) * (one - x) + one
            c3 = one - c0 - c1 - c2
            out.append([(min(max(s - 1 + k, 0), src - 1), int(np.rint(c * np.float32(2048))))
                        for k, c in enumerate((c0, c1, c2, c3))])
        return out
    h, w, _ = image.shape
    rows, cols = taps(h, size), taps(w, size)
    out = np.zeros((size, size, 3), np.uint8)
    for dy in range(size):
        for dx in range(size):
            for c in range(3):
                total = sum(b * sum(a * int(image[y, x, c]) for x, a in cols[dx]) for y, b in rows[dy])
                out[dy, dx, c] = min(max((total + (1 << 21)) >> 22, 0), 255)
    return out


@pytest.mark.parametrize("shape, size", [((23, 17), 8), ((9, 30), 12), ((40, 40), 9)])
def test_cubic_resize_is_opencvs_reference_in_integers(rng, shape, size):
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_image(image, size), reference_cubic(image, size))


def test_read_image_keeps_bgr_order(tmp_path):
    image = np.zeros((20, 20, 3), np.uint8)
    image[..., 0] = 255  # blue, in OpenCV's order
    path = tmp_path / "dog.1.png"
    cv2.imwrite(str(path), image)
    got = read_image(path, 8)
    assert (got[..., 0] == 255).all() and not got[..., 1:].any()


def test_unusable_files_raise_image_error_with_a_reason(tmp_path):
    empty = tmp_path / "cat.1.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(empty)
    html = tmp_path / "cat.2.jpg"
    html.write_text("<html><body>Not found</body></html>")
    with pytest.raises(ImageError, match="not an image"):
        read_image(html)
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "missing.jpg")
