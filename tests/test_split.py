"""One seeded stratified split serves the test split (ingest) and the validation split (train)."""
from __future__ import annotations

import numpy as np
import pytest

from catdog.split import held_out_count, stratified_mask


@pytest.mark.parametrize("n,fraction,keep_one,expected", [
    (10, 0.2, True, 2), (10, 0.01, True, 1), (10, 0.99, True, 9), (2, 0.5, True, 1),
    (1, 0.5, True, 0), (1, 0.99, True, 0), (0, 0.5, True, 0),
    (10, 0.01, False, 0), (1, 0.99, False, 1), (2, 0.9, False, 2), (10, 0.25, False, 2), (10, 0.35, False, 4),
])
def test_held_out_counts_round_and_keep_a_photo_on_each_side(n, fraction, keep_one, expected):
    assert held_out_count(n, fraction, keep_one) == expected


def test_each_class_gives_its_own_share_chosen_by_the_seed():
    labels = np.array([0] * 30 + [1] * 10 + [0] * 20)
    mask = stratified_mask(labels, 0.2, np.random.RandomState(7))
    assert (mask & (labels == 0)).sum() == 10 and (mask & (labels == 1)).sum() == 2
    # Written out: class by class, the first count of RandomState(7)'s permutation of its members.
    rng = np.random.RandomState(7)
    expected = np.zeros(60, bool)
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        expected[members[rng.permutation(len(members))[:held_out_count(len(members), 0.2)]]] = True
    assert (mask == expected).all()
    assert (stratified_mask(labels, 0.2, np.random.RandomState(8)) != mask).any()


def test_a_class_too_small_to_split_stays_whole():
    labels = np.array([0, 1, 1, 1])
    mask = stratified_mask(labels, 0.5, np.random.default_rng(0))
    assert not mask[0] and mask[1:].sum() == 2


def test_by_default_a_photo_stays_on_each_side():
    assert held_out_count(10, 0.01) == 1 and held_out_count(10, 0.99) == 9
    labels = np.array([0] * 10 + [1] * 10)
    mask = stratified_mask(labels, 0.01, np.random.RandomState(0))
    assert mask[:10].sum() == 1 and mask[10:].sum() == 1


def test_without_keep_one_the_rounded_share_is_held_out_however_small():
    labels = np.array([0] * 10 + [1] * 2)
    assert not stratified_mask(labels, 0.01, np.random.RandomState(0), keep_one=False).any()
    mask = stratified_mask(labels, 0.9, np.random.RandomState(0), keep_one=False)
    assert mask[:10].sum() == 9 and mask[10:].all()  # 0.9 * 2 rounds to both


def test_labels_as_a_row_give_the_mask_of_the_flat_labels():
    """Training passes Y as (1, m)."""
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], dtype=np.float64)
    row = stratified_mask(labels[None, :], 0.3, np.random.default_rng(5))
    flat = stratified_mask(labels, 0.3, np.random.default_rng(5))
    assert row.shape == (10,) and (row == flat).all()
    assert row[labels == 0].sum() == 1 and row[labels == 1].sum() == 2


def test_a_class_that_gives_none_draws_nothing_from_the_generator():
    """Class 0 holds out none (0.004 * 50 rounds to 0): class 1's one photo is the first of
    the generator's permutation of its 250 members, as if class 0 were not there."""
    labels = np.array([0] * 50 + [1] * 250)
    mask = stratified_mask(labels, 0.004, np.random.default_rng(11), keep_one=False)
    first = np.random.default_rng(11).permutation(250)[0]
    assert np.flatnonzero(mask).tolist() == [50 + first]
