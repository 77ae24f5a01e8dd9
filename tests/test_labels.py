"""Photos by name: which files are photos, the class a name or folder gives, names on one line."""
from __future__ import annotations

import os
from pathlib import PurePath

import pytest

from catdog.labels import LABEL_NAMES, is_image_name, label_from_path, printable


@pytest.mark.parametrize("name", [
    "a.jpg", "a.jpeg", "a.png", "a.bmp", "a.webp", "a.tif", "a.tiff",
    "A.JPG", "b.JPEG", "c.Png", "d.BMP", "e.WebP", "f.TIF", "g.TIFF", "photos/cat.1.jpeg",
])
def test_photo_suffixes_in_any_case_are_photos(name):
    assert is_image_name(name) and is_image_name(PurePath(name))


@pytest.mark.parametrize("name", ["a.gif", "notes.txt", "jpg", "a.jpg.part", "a.jpgx", ".jpg", "a."])
def test_other_names_are_not_photos(name):
    assert not is_image_name(name)


@pytest.mark.parametrize("path,label", [
    ("cat.12.jpg", 0), ("dog.7.jpeg", 1), ("Dog.7.jpeg", 1), ("CAT.1.png", 0), ("cat.jpg", 0),
    ("hotdog.1.jpg", None), ("catalog.jpg", None), ("cats.1.jpg", None), ("x.cat.jpg", None),
    ("Cat/x.jpg", 0), ("cats/x.jpg", 0), ("CATS/x.jpg", 0),
    ("dog/x.png", 1), ("dogs/x.png", 1), ("Dogs/x.png", 1),
    ("cats/dog.1.jpg", 1), ("dogs/cat.1.jpg", 0),   # the name wins over the folder
    ("dogs/sub/x.jpg", None),                       # the immediate folder only
    ("pets/x.jpg", None), ("x.jpg", None),
])
def test_the_name_then_the_folder_give_the_class(path, label):
    assert label_from_path(path) == label
    assert label_from_path(PurePath(path)) == label


def test_label_values_are_cat_zero_dog_one():
    assert LABEL_NAMES == ("cat", "dog")


@pytest.mark.parametrize("name,shown", [
    ("photos/cat.1.jpg", "photos/cat.1.jpg"),
    ("été/chat.jpg", "été/chat.jpg"),                     # printable beyond ASCII stays
    ("a\\b.jpg", "a\\\\b.jpg"),                           # a lone backslash is doubled
    ("a\tb\nc\rd\\", "a\\tb\\nc\\rd\\\\"),
    ("\x01\x1b[31m\x7f", "\\x01\\x1b[31m\\x7f"),         # two hex digits, always
    ("a\x85b\xadc", "a\\x85b\\xadc"),                     # C1 control and soft hyphen: \xNN
    ("a\u0378b\u2028c\u200b", "a\\u0378b\\u2028c\\u200b"),  # four hex digits, always
    ("a\U000e0001b", "a\\U000e0001b"),                  # beyond U+FFFF: eight, as Python writes
])
def test_printable_escapes_by_hand(name, shown):
    assert printable(name) == shown


def test_bytes_that_are_not_utf8_are_shown_as_bytes():
    name = os.fsdecode(b"cat\x80\xe9\xff.png")  # surrogate escapes U+DC80, U+DCE9, U+DCFF
    assert name == "cat\udc80\udce9\udcff.png"
    assert printable(name) == "cat\\x80\\xe9\\xff.png"
    assert printable("\udc7f") == "\\udc7f"  # below the escaped bytes: not a byte of the name
