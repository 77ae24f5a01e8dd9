import cv2
import numpy as np
import pytest

from conftest import write_photo
from catdog.images import ImageError, label_from_path, read_image


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
def test_read_image_gives_the_same_pixels_as_imread_and_a_cubic_resize(tmp_path, rng, suffix):
    path = write_photo(tmp_path / f"cat.1{suffix}", rng, height=123, width=77)
    expected = cv2.resize(cv2.imread(str(path), cv2.IMREAD_COLOR), (64, 64),
                          interpolation=cv2.INTER_CUBIC)
    got = read_image(path, 64)
    assert got.dtype == np.uint8 and got.shape == (64, 64, 3)
    np.testing.assert_array_equal(got, expected)


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
