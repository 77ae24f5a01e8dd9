"""Seeded splits stratified by class: the same share of each class, the same on every machine."""
from __future__ import annotations

import numpy as np


def held_out_count(n: int, fraction: float, keep_one: bool = True) -> int:
    """How many of a class's n examples a split holds out: round(fraction * n); with keep_one,
    at least one, and at least one left, for a class of two or more (none of a smaller one)."""
    count = int(round(fraction * n))
    if not keep_one:
        return count
    return min(max(1, count), n - 1) if n >= 2 else 0


def stratified_mask(labels: np.ndarray, fraction: float,
                    rng: np.random.RandomState | np.random.Generator,
                    keep_one: bool = True) -> np.ndarray:
    """Boolean mask (m,) of the examples held out: `held_out_count` of each class, class by
    class in label order, chosen by `rng`'s permutation of the class's members."""
    labels = np.asarray(labels).reshape(-1)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = held_out_count(len(members), fraction, keep_one)
        if count:
            mask[members[rng.permutation(len(members))[:count]]] = True
    return mask
