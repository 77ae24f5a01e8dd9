import itertools

import numpy as np
import pytest

from catdog.metrics import (
    classification_metrics,
    confusion_counts,
    log_loss,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)


def pairwise_auc(y, p):
    """Reference: fraction of (positive, negative) pairs ranked right, ties counting half."""
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_equals_the_pairwise_count(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # many ties
    assert roc_auc(y, p) == pytest.approx(pairwise_auc(y, p), abs=1e-12)


def test_roc_curve_runs_from_origin_to_one_one_and_counts_thresholds():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.8, 0.1])
    fpr, tpr, thresholds = roc_curve(y, p)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    assert thresholds[0] == np.inf and list(thresholds[1:]) == [0.9, 0.8, 0.1]


def test_classification_metrics_from_counts():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.4, 0.2, 0.7, 0.1, 0.3, 0.8])
    m = classification_metrics(y, p, 0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 1, 3, 1)
    assert m["accuracy"] == 6 / 8 and m["precision"] == 3 / 4 and m["recall"] == 3 / 4
    assert m["f1"] == pytest.approx(0.75)
    expected_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert m["log_loss"] == pytest.approx(expected_loss, rel=1e-12)
    assert m["roc_auc"] == pytest.approx(pairwise_auc(y, p))
    assert all(type(v) in (int, float) for v in m.values())  # plain JSON types


def test_no_predicted_positives_gives_zero_precision_not_nan():
    m = classification_metrics(np.array([1, 0]), np.array([0.1, 0.2]))
    assert m["precision"] == 0.0 and m["f1"] == 0.0


def test_log_loss_stays_finite_for_certain_mistakes():
    assert np.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))


def test_confusion_counts():
    assert confusion_counts(np.array([1, 0, 1]), np.array([1, 1, 0])) == {"tp": 1, "fp": 1, "tn": 0, "fn": 1}


def test_precision_recall_curve_against_counting_at_each_threshold():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 40)
    p = np.round(rng.random(40), 1)
    recall, precision = precision_recall_curve(y, p)
    assert (recall[0], precision[0]) == (0.0, 1.0)
    for r, pr, t in zip(recall[1:], precision[1:], sorted(set(p), reverse=True)):
        called = p >= t
        assert r == pytest.approx((called & (y == 1)).sum() / (y == 1).sum())
        assert pr == pytest.approx((called & (y == 1)).sum() / called.sum())
    assert recall[-1] == 1.0 and np.all(np.diff(recall) >= 0)


def count_by_hand(y, called):
    """Reference confusion counts, one example at a time."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for truth, guess in zip(y, called):
        counts[("t" if truth == guess else "f") + ("p" if guess else "n")] += 1
    return counts


def test_confusion_counts_tell_false_positives_from_false_negatives():
    # Three false positives, one false negative: a swap of fp and fn shows.
    y = np.array([1, 1, 0, 0, 0, 0, 1])
    called = np.array([1, 0, 1, 1, 1, 0, 1])
    assert confusion_counts(y, called) == {"tp": 2, "fp": 3, "tn": 1, "fn": 1}
    assert confusion_counts(y, called) == count_by_hand(y, called)


def test_precision_and_recall_from_an_asymmetric_confusion_matrix():
    # tp 2, fp 3, tn 1, fn 1: precision 2/5 and recall 2/3 differ.
    y = np.array([1, 1, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.2, 0.8, 0.7, 0.6, 0.1, 0.95])
    m = classification_metrics(y, p, 0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 3, 1, 1)
    assert m["precision"] == 2 / 5 and m["recall"] == 2 / 3
    assert m["accuracy"] == 3 / 7
    assert m["f1"] == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3), rel=1e-15)


def test_a_score_equal_to_the_threshold_is_a_cat():
    # "Dog where the probability exceeds the threshold", as network.predict calls it.
    m = classification_metrics(np.array([1, 0]), np.array([0.5, 0.5]), 0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (0, 0, 1, 1)


def test_default_threshold_is_one_half():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.55, 0.45, 0.51, 0.49])
    assert classification_metrics(y, p) == classification_metrics(y, p, 0.5)
    assert classification_metrics(y, p)["accuracy"] == 1.0


def test_log_loss_of_certain_mistakes_is_set_by_the_clip():
    # p is clipped to [1e-15, 1 - 1e-15]: a certain mistake costs -log(1e-15) either way.
    assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-np.log(1e-15), rel=1e-13)
    assert log_loss(np.array([0]), np.array([1.0])) == pytest.approx(-np.log(1 - (1 - 1e-15)), rel=1e-13)


@pytest.mark.parametrize("label", [0, 1])
def test_roc_auc_is_nan_when_one_class_is_absent(label):
    assert np.isnan(roc_auc(np.full(4, label), np.array([0.1, 0.4, 0.6, 0.9])))


@pytest.mark.parametrize("label", [0, 1])
def test_roc_curve_with_one_class_keeps_the_missing_rate_at_zero(label):
    y, p = np.full(3, label), np.array([0.2, 0.7, 0.7])
    fpr, tpr, thresholds = roc_curve(y, p)
    present, absent = (tpr, fpr) if label else (fpr, tpr)
    np.testing.assert_array_equal(absent, [0, 0, 0])
    np.testing.assert_array_equal(present, [0, 2 / 3, 1])
    assert list(thresholds) == [np.inf, 0.7, 0.2]


def test_precision_recall_curve_without_positives_has_zero_recall():
    recall, precision = precision_recall_curve(np.zeros(3, int), np.array([0.2, 0.7, 0.7]))
    np.testing.assert_array_equal(recall, [0, 0, 0])
    np.testing.assert_array_equal(precision, [1, 0, 0])


def test_scores_closer_than_float32_resolves_are_separate_thresholds():
    # 0.5 and 0.5 + 1e-12 are one float32 but two float64 values: no tie between them.
    y = np.array([0, 1])
    p = np.array([0.5, 0.5 + 1e-12])
    assert roc_auc(y, p) == 1.0
    fpr, tpr, thresholds = roc_curve(y, p)
    np.testing.assert_array_equal(tpr, [0, 1, 1])
    np.testing.assert_array_equal(fpr, [0, 0, 1])
