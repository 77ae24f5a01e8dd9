"""Flips and shifts: seeded, shape-preserving, and moving pixels where they should go."""
import numpy as np

from catdog.augment import Augmentation, Draws, flip_horizontal


def photos(k=5, s=6, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(k, s * s * 3)).astype(np.uint8)


def test_a_flip_of_a_flip_is_the_identity_and_mirrors_columns():
    rows = photos()
    flipped = flip_horizontal(rows)
    assert flipped.shape == rows.shape and flipped.dtype == np.uint8
    np.testing.assert_array_equal(flip_horizontal(flipped), rows)
    images, mirrored = rows.reshape(5, 6, 6, 3), flipped.reshape(5, 6, 6, 3)
    np.testing.assert_array_equal(mirrored[:, :, 0], images[:, :, 5])   # BGR triples kept whole
    assert not np.array_equal(flipped, rows)


def test_a_shift_moves_pixels_and_repeats_the_edge():
    rows = photos(k=1)
    image = rows.reshape(6, 6, 3)
    out = Augmentation(shift=2).apply(rows, Draws(np.zeros(1, bool), np.array([1]), np.array([-2])))
    shifted = out.reshape(6, 6, 3)
    # output (r, c) shows input (r + 1, c - 2), edges repeated
    np.testing.assert_array_equal(shifted[0:5, 2:], image[1:6, 0:4])
    np.testing.assert_array_equal(shifted[5], np.concatenate([image[5, :1]] * 2 + [image[5, :4]]))
    np.testing.assert_array_equal(shifted[:5, 0], image[1:6, 0])


def test_draws_are_seeded_and_no_draw_changes_nothing():
    aug = Augmentation(flip=True, shift=2)
    a = aug.draw(np.random.default_rng(4), 50)
    b = aug.draw(np.random.default_rng(4), 50)
    for name in ("flip", "dy", "dx"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.flip.any() and not a.flip.all() and set(np.unique(a.dy)) == {-2, -1, 0, 1, 2}
    rows = photos(k=50)
    np.testing.assert_array_equal(aug.apply(rows, a), aug.apply(rows, b))
    none = Draws(np.zeros(50, bool), np.zeros(50, int), np.zeros(50, int))
    np.testing.assert_array_equal(aug.apply(rows, none), rows)
