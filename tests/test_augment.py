"""Flips and shifts: seeded, shape-preserving, and moving pixels where they should go."""
import numpy as np
import pytest

from catdog.augment import Augmentation, Draws, flip_horizontal, image_side


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


def moved_by_hand(image, flip, dy, dx):
    """Reference: output (r, c) is input (r + dy, c' + dx), c' mirrored when flipped, clipped."""
    s = image.shape[0]
    out = np.empty_like(image)
    for r in range(s):
        for c in range(s):
            source_c = s - 1 - c if flip else c
            out[r, c] = image[min(max(r + dy, 0), s - 1), min(max(source_c + dx, 0), s - 1)]
    return out


def test_every_flip_and_shift_matches_moving_pixels_by_hand():
    s, shift = 5, 2
    aug = Augmentation(flip=True, shift=shift)
    cases = [(f, dy, dx) for f in (False, True) for dy in range(-shift, shift + 1)
             for dx in range(-shift, shift + 1)]
    rows = photos(k=len(cases), s=s, seed=7)
    draws = Draws(np.array([c[0] for c in cases]), np.array([c[1] for c in cases]),
                  np.array([c[2] for c in cases]))
    out = aug.apply(rows, draws).reshape(-1, s, s, 3)
    for i, (f, dy, dx) in enumerate(cases):
        want = moved_by_hand(rows[i].reshape(s, s, 3), f, dy, dx)
        np.testing.assert_array_equal(out[i], want, err_msg=str((f, dy, dx)))


def test_a_slice_of_draws_keeps_each_field():
    draws = Draws(np.array([True, False, True]), np.array([1, 2, 3]), np.array([-1, -2, -3]))
    part = draws[1:]
    assert list(part.flip) == [False, True] and list(part.dy) == [2, 3] and list(part.dx) == [-2, -3]


def test_by_default_nothing_happens():
    aug = Augmentation()
    assert not aug.active
    draws = aug.draw(np.random.default_rng(0), 20)
    assert not draws.flip.any() and not draws.dy.any() and not draws.dx.any()


def test_active_when_either_transform_is_on():
    assert Augmentation(flip=True).active and Augmentation(shift=1).active
    assert Augmentation(flip=True, shift=3).active
    assert not Augmentation(flip=False, shift=0).active


def test_flips_alone_do_not_shift_and_come_half_the_time():
    draws = Augmentation(flip=True).draw(np.random.default_rng(5), 20000)
    assert not draws.dy.any() and not draws.dx.any()
    assert abs(draws.flip.mean() - 0.5) < 0.02


def test_row_lengths_that_are_not_a_square_colour_photo_are_refused():
    assert image_side(3 * 4 * 4) == 4
    for n_x in (3 * 4 * 4 - 3, 3 * 4 * 4 + 3, 3 * 4 * 4 + 1):
        with pytest.raises(ValueError, match="not a square colour photo"):
            image_side(n_x)
