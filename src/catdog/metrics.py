"""Scores of a binary classifier: labels y in {0, 1}, probabilities p of class 1 (dog)."""
from __future__ import annotations

import numpy as np

from catdog import exact as ex


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    y, predicted = np.ravel(y).astype(bool), np.ravel(predicted).astype(bool)
    return {
        "tp": int(np.sum(y & predicted)),
        "fp": int(np.sum(~y & predicted)),
        "tn": int(np.sum(~y & ~predicted)),
        "fn": int(np.sum(y & ~predicted)),
    }


def _ratio(num: int, den: int) -> float:
    # A ratio with nothing to count (no predicted dogs, say) is reported as 0, not NaN.
    return num / den if den else 0.0


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean cross-entropy, p clipped to [1e-15, 1 - 1e-15] so a confident mistake stays finite."""
    y = np.ravel(y).astype(np.float64)
    p = np.clip(np.ravel(p).astype(np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * ex.log(p) + (1 - y) * ex.log(1 - p)))


def _counts_by_threshold(y: np.ndarray, p: np.ndarray):
    """True positives and predicted positives when calling p >= t positive, for every
    distinct score t from the highest down. Ties move together, in one step."""
    y = np.ravel(y).astype(bool)
    p = np.ravel(p).astype(np.float64)
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    last = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])  # end of each tie run
    return np.cumsum(y_sorted)[last], last + 1, p_sorted[last], int(y.sum()), int((~y).sum())


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1).

    Returns fpr, tpr, thresholds (an example is called positive when p >= threshold; the
    first threshold is inf).
    """
    tp, predicted, thresholds, n_pos, n_neg = _counts_by_threshold(y, p)
    fp = predicted - tp
    tpr = np.r_[0.0, tp / n_pos] if n_pos else np.zeros(len(tp) + 1)
    fpr = np.r_[0.0, fp / n_neg] if n_neg else np.zeros(len(tp) + 1)
    return fpr, tpr, np.r_[np.inf, thresholds]


def precision_recall_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall (rising) and precision at every distinct threshold, from the highest score
    down; the curve starts at recall 0 with precision 1."""
    tp, predicted, _, n_pos, _ = _counts_by_threshold(y, p)
    recall = tp / n_pos if n_pos else np.zeros(len(tp))
    return np.r_[0.0, recall], np.r_[1.0, tp / predicted]


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative, ties counting one half. NaN when one class is absent."""
    y = np.ravel(y).astype(bool)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.trapezoid(tpr, fpr))


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1, log loss, ROC AUC and confusion counts."""
    y = np.ravel(y).astype(np.uint8)
    counts = confusion_counts(y, np.ravel(p) > threshold)
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "n_examples": int(y.size),
        "accuracy": _ratio(tp + tn, y.size),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "log_loss": log_loss(y, p),
        "roc_auc": roc_auc(y, p),
        **counts,
    }
