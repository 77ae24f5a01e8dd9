"""One seeded stratified split serves the test split (ingest) and the validation split (train)."""
from __future__ import annotations

import numpy as np
import pytest

from catdog.split import held_out_count, stratified_mask


@pytest.mark.parametrize("n,fraction,keep_one,expected", [
    (10, 0.2, True, 2), (10, 0.01, True, 1), (10, 0.99, True, 9), (2, 0.5, True, 1),
    (1, 0.5, True, 0), (0, 0.5, True, 0),
    (10, 0.01, False, 0), (10, 0.25, False, 2), (10, 0.35, False, 4),
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
