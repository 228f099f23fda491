"""Evaluation metrics: error rate, confusion matrix, and the 1989 paper's reject curve.

LeCun et al. (1989) report error "on the rest" after rejecting the least confident
samples, where confidence is the gap between the two highest outputs. Conventions used
throughout, so numbers are reproducible:

* prediction = ``argmax`` of the scores (first index on ties, as ``np.argmax``);
* reject order = ascending gap, ties broken by sample index (stable sort);
* rejecting a fraction ``r`` of ``N`` samples rejects ``k = ceil(r * N)`` of them, i.e.
  *at least* ``r`` (``r * N`` is rounded to 9 decimals first, so float noise such as
  ``0.07 * 100 == 7.000000000000001`` does not reject an extra sample);
* the error of an empty set (no samples, or everything rejected) is 0.0.
"""

import math

import numpy as np


def predictions(scores):
    """The digit each row of scores picks: the index of its largest output, the first one on
    ties (every prediction of the package is made here)."""
    return np.argmax(scores, axis=-1)


def _labels(labels, name="labels"):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    return labels


def _scores_labels(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = _labels(labels)
    if scores.ndim != 2 or scores.shape[1] < 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be (N, C>=2) with N == len(labels), got {scores.shape} and {labels.shape}")
    return scores, labels


def error_rate(labels, predictions) -> float:
    """Fraction of samples whose prediction differs from the label (0.0 if there are none)."""
    labels, predictions = _labels(labels), _labels(predictions, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.shape} vs {predictions.shape}")
    return float(np.count_nonzero(labels != predictions) / labels.size) if labels.size else 0.0


def confusion_matrix(labels, predictions, n_classes=10) -> np.ndarray:
    """int64 (n_classes, n_classes) counts: row = true label, column = predicted label."""
    labels, predictions = _labels(labels), _labels(predictions, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.shape} vs {predictions.shape}")
    for name, a in (("labels", labels), ("predictions", predictions)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must lie in [0, {n_classes}), got range [{a.min()}, {a.max()}]")
    flat = labels.astype(np.int64) * n_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def per_class_error(confusion) -> np.ndarray:
    """Error rate of each true class (row); NaN for a class with no samples, not a fake 0."""
    confusion = np.asarray(confusion)
    totals = confusion.sum(axis=1)
    wrong = totals - np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, wrong / totals, np.nan)


def confidence_gap(scores) -> np.ndarray:
    """Highest minus second-highest output of each row (>= 0; 0 when the top two tie)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (N, C>=2), got {scores.shape}")
    top2 = np.partition(scores, -2, axis=1)[:, -2:]  # [:, -1] is the max, [:, -2] the runner-up
    return top2[:, 1] - top2[:, 0]


def _wrong_in_reject_order(scores, labels):
    """Misclassified flags ordered from least to most confident (the order we reject in)."""
    scores, labels = _scores_labels(scores, labels)
    order = np.argsort(confidence_gap(scores), kind="stable")
    return (predictions(scores) != labels)[order]


def reject_count(fraction, n) -> int:
    """Samples rejected for a requested fraction: ceil(fraction * n), i.e. at least the fraction."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"reject fraction must be in [0, 1], got {fraction}")
    return min(n, math.ceil(round(fraction * n, 9)))


def reject_curve(scores, labels, rejects=(0.0, 0.05, 0.09, 0.12)) -> list:
    """``[[rejected_fraction, error_on_kept], ...]`` for each requested reject fraction.

    ``rejected_fraction`` is the fraction actually rejected, ``k / N`` with
    ``k = ceil(r * N)``, so it can be slightly above the requested ``r``.
    """
    wrong = _wrong_in_reject_order(scores, labels)
    n = wrong.size
    # wrong_after[k] = misclassified samples left after rejecting the first k
    wrong_after = np.count_nonzero(wrong) - np.concatenate(([0], np.cumsum(wrong)))
    curve = []
    for r in rejects:
        k = reject_count(r, n)
        curve.append([k / n if n else 0.0, float(wrong_after[k] / (n - k)) if k < n else 0.0])
    return curve


def reject_for_error(scores, labels, target=0.01) -> float:
    """Smallest fraction ``k / N`` to reject (least confident first) so the rest errs <= target.

    Always defined: rejecting everything leaves an empty set with error 0.0. O(N log N).
    """
    wrong = _wrong_in_reject_order(scores, labels)
    n = wrong.size
    if n == 0:
        return 0.0
    k = np.arange(n)  # rejecting k = 0 .. n-1 leaves n - k > 0 samples
    wrong_after = np.count_nonzero(wrong) - np.concatenate(([0], np.cumsum(wrong)[:-1]))
    ok = np.flatnonzero(wrong_after / (n - k) <= target)
    return float(ok[0] / n) if ok.size else 1.0


def reject_threshold(scores, labels, target=0.01) -> float:
    """The confidence gap below which a sample is rejected so the kept ones err <= target.

    Rejecting the least confident ``k = reject_for_error(...) * N`` samples is the same as
    rejecting every gap below the gap of the (k+1)-th least confident one; 0.0 rejects
    nothing. (Samples tied with that gap are kept, so a tie can keep an extra sample.)
    """
    scores, labels = _scores_labels(scores, labels)
    n = labels.size
    k = round(reject_for_error(scores, labels, target) * n)
    if n == 0 or k == 0:
        return 0.0
    gaps = np.sort(confidence_gap(scores), kind="stable")
    return float(gaps[k]) if k < n else float("inf")
