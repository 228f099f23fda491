"""A seeded, class-stratified hold-out of the training digits (the validation split).

Settings are chosen on these held-out digits, never on the test set. Each class gives
its share of the N held-out digits (largest remainders decide the rounding, ties to the
smaller digit), the digits of a class picked by a permutation seeded with (seed, class):
the split depends only on (labels, N, seed).
"""

import numpy as np

from ..errors import UsageError


def stratified_holdout(labels, n, seed=0):
    """(train_indices, valid_indices), both sorted int64: n digits held out, by class."""
    labels = np.asarray(labels, np.int64)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 <= n < len(labels):
        raise UsageError(f"validation size must be an integer in 0..{len(labels) - 1}, got {n!r}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / len(labels)
    take = np.floor(exact).astype(np.int64)
    order = np.lexsort((classes, -(exact - take)))  # largest remainder first, then smaller digit
    take[order[:n - int(take.sum())]] += 1
    valid = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(labels == c)
        valid.append(members[np.random.default_rng([seed, int(c)]).permutation(len(members))[:k]])
    valid = np.sort(np.concatenate(valid)) if valid else np.zeros(0, np.int64)
    keep = np.ones(len(labels), bool)
    keep[valid] = False
    return np.flatnonzero(keep).astype(np.int64), valid.astype(np.int64)
