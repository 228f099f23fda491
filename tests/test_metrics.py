"""Metrics against slow, obvious twins (plain loops, re-sort and recount for every k)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_numba.metrics import (confidence_gap, confusion_matrix, error_rate, per_class_error,
                                 reject_count, reject_curve, reject_for_error)

# ---------------------------------------------------------------- naive twins


def naive_predict(row):
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:  # strict: first index wins a tie, like np.argmax
            best = j
    return best


def naive_gap(row):
    ordered = sorted(row, reverse=True)
    return ordered[0] - ordered[1]


def naive_error_on_kept(scores, labels, k):
    """Re-sort from scratch, drop the k least confident (index breaks ties), recount."""
    order = sorted(range(len(labels)), key=lambda i: (naive_gap(scores[i]), i))
    kept = order[k:]
    if not kept:
        return 0.0
    return sum(naive_predict(scores[i]) != labels[i] for i in kept) / len(kept)


def naive_reject_for_error(scores, labels, target):
    n = len(labels)
    for k in range(n + 1):
        if naive_error_on_kept(scores, labels, k) <= target:
            return k / n if n else 0.0
    raise AssertionError("rejecting everything always meets the target")


# ---------------------------------------------------------------- strategies

# Few distinct score values on purpose, so ties (in argmax and in the gap) are common.
score_values = st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0])


@st.composite
def scored(draw, max_n=40):
    n = draw(st.integers(0, max_n))
    c = draw(st.integers(2, 5))
    scores = draw(st.lists(st.lists(score_values, min_size=c, max_size=c), min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return np.array(scores, dtype=np.float64).reshape(n, c), np.array(labels, dtype=np.int64)


fractions = st.floats(0.0, 1.0, allow_nan=False)

# ---------------------------------------------------------------- property tests


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=60))
def test_error_rate_and_confusion_match_naive(pairs):
    labels = np.array([p[0] for p in pairs], dtype=np.int64)
    preds = np.array([p[1] for p in pairs], dtype=np.int64)
    wrong = sum(a != b for a, b in pairs)
    assert error_rate(labels, preds) == (wrong / len(pairs) if pairs else 0.0)

    expected = np.zeros((10, 10), dtype=np.int64)
    for a, b in pairs:
        expected[a, b] += 1
    cm = confusion_matrix(labels, preds)
    assert cm.dtype == np.int64 and cm.shape == (10, 10)
    np.testing.assert_array_equal(cm, expected)

    pce = per_class_error(cm)
    for c in range(10):
        row = [b for a, b in pairs if a == c]
        if row:
            assert pce[c] == pytest.approx(sum(b != c for b in row) / len(row))
        else:
            assert np.isnan(pce[c])


@given(scored())
def test_confidence_gap_matches_naive(data):
    scores, _ = data
    gap = confidence_gap(scores)
    assert gap.shape == (len(scores),)
    assert list(gap) == [naive_gap(list(r)) for r in scores]
    assert np.all(gap >= 0)


@given(scored(), st.lists(fractions, max_size=6))
def test_reject_curve_matches_naive(data, rejects):
    scores, labels = data
    n = len(labels)
    curve = reject_curve(scores, labels, rejects)
    assert len(curve) == len(rejects)
    for r, (frac, err) in zip(rejects, curve):
        k = reject_count(r, n)
        assert k >= r * n - 1e-6  # at least the requested fraction is rejected
        assert frac == (k / n if n else 0.0)
        assert err == naive_error_on_kept(scores.tolist(), labels.tolist(), k)


@settings(max_examples=200)
@given(scored(), st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 1.0]) | fractions)
def test_reject_for_error_matches_naive(data, target):
    scores, labels = data
    assert reject_for_error(scores, labels, target) == naive_reject_for_error(
        scores.tolist(), labels.tolist(), target)


@given(scored())
def test_curve_and_reject_for_error_agree(data):
    """Rejecting the fraction reject_for_error returns really meets the target (same k)."""
    scores, labels = data
    frac = reject_for_error(scores, labels, 0.1)
    [[got_frac, err]] = reject_curve(scores, labels, [frac])
    assert got_frac == frac and err <= 0.1


# ---------------------------------------------------------------- hand-worked examples

# gaps: 0.8, 0.6, 0.1, 0.05; predictions: 0, 1, 0, 1; labels 0, 0, 1, 1 -> wrong: F, T, T, F
HAND_SCORES = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4], [0.3, 0.35]])
HAND_LABELS = np.array([0, 0, 1, 1])


def test_hand_worked_small_example():
    np.testing.assert_allclose(confidence_gap(HAND_SCORES), [0.8, 0.6, 0.1, 0.05])
    assert error_rate(HAND_LABELS, [0, 1, 0, 1]) == 0.5
    # Reject order (smallest gap first): sample 3, 2, 1, 0.
    assert reject_curve(HAND_SCORES, HAND_LABELS, (0.0, 0.25, 0.5, 0.75, 1.0)) == [
        [0.0, 0.5],           # 2 wrong of 4
        [0.25, 2 / 3],        # drop sample 3 (right): 2 wrong of 3
        [0.5, 0.5],           # drop sample 2 (wrong): 1 of 2
        [0.75, 0.0],          # drop sample 1 (wrong): 0 of 1
        [1.0, 0.0],           # nothing kept
    ]
    assert reject_for_error(HAND_SCORES, HAND_LABELS, 0.0) == 0.75
    assert reject_for_error(HAND_SCORES, HAND_LABELS, 0.5) == 0.0
    assert reject_for_error(HAND_SCORES, HAND_LABELS, 0.6) == 0.0


def test_confusion_matrix_hand_example():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    np.testing.assert_allclose(per_class_error(cm), [0.5, 0.0, 1 / 3])


def test_reject_count_is_ceil_without_float_noise():
    assert 0.07 * 100 > 7  # the float noise this guards against
    assert reject_count(0.07, 100) == 7
    assert reject_count(0.05, 2007) == math.ceil(100.35) == 101  # at least 5% rejected
    assert reject_count(0.0, 10) == 0 and reject_count(1.0, 10) == 10
    with pytest.raises(ValueError):
        reject_count(1.5, 10)


# ---------------------------------------------------------------- edge cases


def test_all_correct_needs_no_reject():
    scores = np.eye(10)[[3, 1, 4, 1, 5, 9, 2, 6]]
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    assert reject_for_error(scores, labels, 0.0) == 0.0
    assert all(err == 0.0 for _, err in reject_curve(scores, labels))


def test_all_wrong_rejects_everything():
    scores = np.eye(3)[[0, 1, 2]]
    assert reject_for_error(scores, np.array([1, 2, 0]), 0.01) == 1.0


def test_gap_ties_rejected_in_index_order():
    # All gaps equal: the stable sort rejects sample 0 first, then 1; only sample 1 is wrong.
    scores = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    labels = np.array([0, 1, 0])
    assert reject_curve(scores, labels, (1 / 3, 2 / 3)) == [[1 / 3, 0.5], [2 / 3, 0.0]]
    assert reject_for_error(scores, labels, 0.0) == 2 / 3


def test_argmax_tie_predicts_first_class():
    scores = np.array([[0.5, 0.5, 0.0]])
    assert confidence_gap(scores)[0] == 0.0
    assert reject_curve(scores, np.array([0]), (0.0,)) == [[0.0, 0.0]]
    assert reject_curve(scores, np.array([1]), (0.0,)) == [[0.0, 1.0]]


def test_empty_inputs():
    empty = np.zeros((0, 10))
    none = np.zeros(0, dtype=np.int64)
    assert error_rate(none, none) == 0.0
    assert reject_for_error(empty, none) == 0.0
    assert reject_curve(empty, none, (0.0, 0.5)) == [[0.0, 0.0], [0.0, 0.0]]
    assert confusion_matrix([], []).sum() == 0


@pytest.mark.parametrize("call", [
    lambda: error_rate([0, 1], [0]),
    lambda: confusion_matrix([0, 10], [0, 0]),
    lambda: confusion_matrix([0, 1], [0, -1]),
    lambda: confidence_gap(np.zeros((3, 1))),
    lambda: reject_curve(np.zeros((3, 2)), [0, 1]),
    lambda: error_rate([0.5], [0]),
])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_reject_for_error_is_fast_on_a_large_set():
    """A quadratic implementation would take minutes here; O(N log N) takes milliseconds."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200_000, 10))
    labels = rng.integers(0, 10, size=200_000)
    frac = reject_for_error(scores, labels, 0.5)
    assert 0.0 < frac < 1.0


@given(st.integers(2, 60), st.integers(0, 2 ** 16), st.sampled_from([0.0, 0.01, 0.05, 0.2]))
@settings(max_examples=200, deadline=None)
def test_reject_threshold_keeps_the_error_at_target(n, seed, target):
    """Rejecting gaps below the threshold = rejecting reject_for_error's k least confident
    (ties aside), and the kept samples err <= target."""
    from lenet_numba.metrics import reject_for_error, reject_threshold

    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=(n, 4)), 1)  # rounding makes ties in the gap
    labels = rng.integers(0, 4, n)
    t = reject_threshold(scores, labels, target)
    kept = confidence_gap(scores) >= t
    k = round(reject_for_error(scores, labels, target) * n)
    if kept.any():
        assert np.mean(scores[kept].argmax(axis=1) != labels[kept]) <= target + 1e-12 or n - kept.sum() < k
    assert n - kept.sum() <= k  # never rejects more than needed
    if k == 0:
        assert t == 0.0 and kept.all()


# ---------------------------------------------------------------- reject rules with fixed thresholds

from lenet_numba.metrics import accepted, apply_reject_rule, fit_reject_rule  # noqa: E402


def naive_kept(scores, t1, t2, td):
    """Loop over the digits: keep one when top > t1, second < t2 and top - second > td."""
    keep = []
    for row in scores:
        ordered = sorted(row, reverse=True)
        keep.append(ordered[0] > t1 and ordered[1] < t2 and ordered[0] - ordered[1] > td)
    return keep


def naive_apply(scores, labels, t1, t2, td):
    keep = naive_kept(scores, t1, t2, td)
    kept = [i for i, k in enumerate(keep) if k]
    wrong = sum(naive_predict(scores[i]) != labels[i] for i in kept)
    n = len(labels)
    return (n - len(kept)) / n if n else 0.0, wrong / len(kept) if kept else 0.0


def naive_best_reject(scores, labels, t1s, t2s, target):
    """Every (t1, t2, td) of the candidates, td over every gap and -inf: the fewest rejections
    whose kept digits err <= target (an exhaustive search, no sorting tricks)."""
    gaps = [-math.inf] + sorted({naive_gap(row) for row in scores})
    best = 1.0
    for t1 in t1s:
        for t2 in t2s:
            for td in gaps:
                reject, error = naive_apply(scores, labels, t1, t2, td)
                if error <= target:
                    best = min(best, reject)
    return best


@settings(max_examples=150, deadline=None)
@given(scored(), st.sampled_from([0.0, 0.01, 0.1, 0.3]))
def test_fitted_rules_are_the_fewest_rejections_meeting_the_target(data, target):
    scores, labels = data
    rows, ys = scores.tolist(), labels.tolist()
    t1s, t2s = [-math.inf, -0.5, 0.0, 0.5], [math.inf, 1.0, 0.5, 0.0]
    nips = fit_reject_rule(scores, labels, "nips", target, t1_candidates=t1s[1:], t2_candidates=t2s[1:])
    gap = fit_reject_rule(scores, labels, "gap", target)
    assert nips["reject"] == pytest.approx(naive_best_reject(rows, ys, t1s, t2s, target))
    assert gap["reject"] == pytest.approx(naive_best_reject(rows, ys, [-math.inf], [math.inf], target))
    for fit in (nips, gap):
        assert fit["error"] <= target + 1e-12  # met on the digits it was fitted on
        assert (fit["reject"], fit["error"]) == pytest.approx(naive_apply(rows, ys, fit["t1"], fit["t2"], fit["td"]))
    assert gap["t1"] == -math.inf and gap["t2"] == math.inf
    assert nips["reject"] <= gap["reject"]  # the gap rule is one of the NIPS rule's choices
    # the threshold rejects tied gaps together, so it never beats rejecting by rank
    assert gap["reject"] >= reject_for_error(scores, labels, target) - 1e-12


@given(scored(), st.sampled_from([-math.inf, -0.5, 0.0, 0.5]), st.sampled_from([math.inf, 0.0, 0.5, 1.0]),
       st.sampled_from([-math.inf, 0.0, 0.25, 0.5]))
def test_apply_reject_rule_matches_naive(data, t1, t2, td):
    scores, labels = data
    got = apply_reject_rule(scores, labels, {"t1": t1, "t2": t2, "td": td})
    reject, error = naive_apply(scores.tolist(), labels.tolist(), t1, t2, td)
    assert (got["reject"], got["error"]) == pytest.approx((reject, error))
    assert list(accepted(scores, t1, t2, td)) == naive_kept(scores.tolist(), t1, t2, td)


@settings(max_examples=60, deadline=None)
@given(st.integers(20, 300), st.integers(0, 2 ** 16))
def test_gap_rule_matches_reject_for_error_without_ties(n, seed):
    """With distinct gaps, rejecting every gap <= td is rejecting the k least confident."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, 10))
    labels = np.where(rng.random(n) < 0.9, scores.argmax(axis=1), rng.integers(0, 10, n))
    assert fit_reject_rule(scores, labels, "gap")["reject"] == reject_for_error(scores, labels)


def test_nips_rule_hand_example():
    # top, second -> gap: A (0.9, -0.9) 1.8 right; B (0.9, 0.3) 0.6 right; C (0.2, -0.9) 1.1 wrong
    # with a low top; D (0.95, -0.95) 1.9 right; E (0.9 for class 1, 0.8) 0.1 wrong.
    scores = np.array([[0.9, -0.9], [0.9, 0.3], [0.2, -0.9], [0.95, -0.95], [0.8, 0.9]])
    labels = np.array([0, 0, 1, 0, 0])
    # the gap rule must reject every gap up to C's 1.1: B, C and E
    gap = fit_reject_rule(scores, labels, "gap", 0.0)
    assert (gap["reject"], gap["error"], gap["td"]) == (0.6, 0.0, 1.1)
    # the top above 0.2 drops C alone, the gap above 0.1 drops E: two of five
    fit = fit_reject_rule(scores, labels, "nips", 0.0, t1_candidates=[0.2], t2_candidates=[])
    assert (fit["t1"], fit["t2"], fit["reject"], fit["error"]) == (0.2, math.inf, 0.4, 0.0)
    assert fit["td"] == pytest.approx(0.1)
    assert apply_reject_rule(scores, labels, {"t1": 0.2, "td": 0.1}) == {"reject": 0.4, "error": 0.0, "kept": 3}


def test_fit_reject_rule_refuses_an_unknown_rule():
    with pytest.raises(ValueError):
        fit_reject_rule(np.zeros((2, 3)), [0, 1], "vote")
