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


# ---------------------------------------------------------------- reject rules with fixed thresholds
#
# The gap rule above rejects the least confident fraction of a set, chosen on that very set.
# A rule a reader can deploy has thresholds fixed beforehand, on other digits (a validation
# split), and is then applied to the test set. The NIPS 1989 paper's rule accepts a digit
# when the top output is above t1, the second highest below t2 and their gap above td; the
# gap rule is the special case t1 = -inf, t2 = +inf.

GAP_RULE = "gap"
NIPS_RULE = "nips"
REJECT_RULES = (GAP_RULE, NIPS_RULE)
# the candidate t1 (top output) and t2 (runner-up) values: quantiles of the set fitted on
_T1_QUANTILES = np.linspace(0.0, 0.5, 21)
_T2_QUANTILES = np.linspace(0.5, 1.0, 21)


def top_two(scores):
    """(highest, second highest) output of each row."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (N, C>=2), got {scores.shape}")
    top2 = np.partition(scores, -2, axis=1)[:, -2:]
    return top2[:, 1], top2[:, 0]


def accepted(scores, t1=-math.inf, t2=math.inf, td=-math.inf):
    """Boolean mask of the digits a rule keeps: top > t1, second < t2 and top - second > td."""
    top, second = top_two(scores)
    return (top > t1) & (second < t2) & (top - second > td)


def apply_reject_rule(scores, labels, thresholds):
    """``{"reject": fraction rejected, "error": error on the kept digits, "kept": count}``
    for fixed thresholds ``{"t1", "t2", "td"}`` (missing ones: no condition)."""
    scores, labels = _scores_labels(scores, labels)
    keep = accepted(scores, thresholds.get("t1", -math.inf), thresholds.get("t2", math.inf),
                    thresholds.get("td", -math.inf))
    n, kept = labels.size, int(np.count_nonzero(keep))
    wrong = int(np.count_nonzero((np.argmax(scores, axis=1) != labels) & keep)) if n else 0
    return {"reject": (n - kept) / n if n else 0.0, "error": wrong / kept if kept else 0.0, "kept": kept}


def _smallest_gap_threshold(gap, wrong, target):
    """(td, rejected) for digits already past t1/t2: the smallest gap threshold (reject every
    gap <= td) whose kept digits err <= target, with how many it rejects. Ties in the gap are
    rejected together, as the threshold rule does."""
    m = gap.size
    if m == 0 or np.count_nonzero(wrong) / m <= target:
        return -math.inf, 0
    order = np.argsort(gap, kind="stable")
    g, w = gap[order], wrong[order]
    ends = np.flatnonzero(np.append(g[1:] != g[:-1], True))  # last index of each distinct gap
    rejected = ends + 1
    wrong_kept = np.count_nonzero(w) - np.cumsum(w)[ends]
    kept = m - rejected
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (kept == 0) | (wrong_kept / kept <= target)
    first = int(np.flatnonzero(ok)[0])  # kept == 0 at the last end, so there is one
    return float(g[ends[first]]), int(rejected[first])


def fit_reject_rule(scores, labels, rule=NIPS_RULE, target=0.01, t1_candidates=None, t2_candidates=None):
    """Thresholds of a reject rule fitted on a labelled set (validation digits, never the
    test set): the fewest rejections whose kept digits err <= ``target``.

    ``rule`` "gap": only td. "nips": every (t1, t2) pair of the candidates (default:
    quantiles 0-50% of the top output and 50-100% of the runner-up, each with the no-condition
    value -inf / +inf), and for each the smallest td that meets the target; the pair with the
    fewest rejections wins (the first in candidate order on a tie). Returns ``{"rule", "t1",
    "t2", "td", "reject", "error"}`` with the fitted set's reject and error.
    """
    if rule not in REJECT_RULES:
        raise ValueError(f"reject rule must be one of {REJECT_RULES}, got {rule!r}")
    scores, labels = _scores_labels(scores, labels)
    top, second = top_two(scores) if labels.size else (np.zeros(0), np.zeros(0))
    wrong = np.argmax(scores, axis=1) != labels if labels.size else np.zeros(0, bool)
    if rule == GAP_RULE:
        t1s, t2s = np.array([-math.inf]), np.array([math.inf])
    else:
        t1s = np.unique(np.concatenate(([-math.inf], _quantiles(top, _T1_QUANTILES) if t1_candidates is None
                                        else np.asarray(t1_candidates, np.float64))))
        t2s = -np.unique(-np.concatenate(([math.inf], _quantiles(second, _T2_QUANTILES) if t2_candidates is None
                                          else np.asarray(t2_candidates, np.float64))))
    n = labels.size
    best = None
    for t1 in t1s:
        past_t1 = top > t1
        for t2 in t2s:
            past = past_t1 & (second < t2)
            td, rejected = _smallest_gap_threshold((top - second)[past], wrong[past], target)
            total = n - int(np.count_nonzero(past)) + rejected
            if best is None or total < best[0]:
                best = (total, float(t1), float(t2), td)
    thresholds = {"rule": rule, "t1": best[1], "t2": best[2], "td": best[3]}
    fitted = apply_reject_rule(scores, labels, thresholds)
    return {**thresholds, "reject": fitted["reject"], "error": fitted["error"]}


def _quantiles(values, qs):
    return np.quantile(values, qs) if values.size else np.zeros(0)
