"""Small statistics for the tables: quartiles over seeds, the Wilson interval, percentiles."""

import math

import numpy as np


def wilson(p, n, z=1.96):
    """95% Wilson interval of a proportion ``p`` measured on ``n`` trials."""
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def quartiles(values):
    """(min, Q1, median, Q3, max) with NumPy's default (linear) percentiles."""
    return tuple(float(q) for q in np.percentile(np.asarray(values, float), [0, 25, 50, 75, 100]))


def share_at_or_below(value, values):
    """Share of ``values`` at or below ``value`` (the published figure's place among our seeds)."""
    return float(np.mean(np.asarray(values, float) <= value + 1e-12))


def pct(x, digits=2):
    return f"{100 * x:.{digits}f}%"


def spread(values, digits=2, scale=100.0, unit="%", sci=False):
    """'median [Q1, Q3] (min–max)'."""
    lo, q1, med, q3, hi = quartiles(values)
    f = (lambda x: f"{x:.{digits}e}") if sci else (lambda x: f"{scale * x:.{digits}f}")
    return f"{f(med)}{'' if sci else unit} [{f(q1)}, {f(q3)}] ({f(lo)}–{f(hi)})"


def median_iqr(values, digits=2, sci=False):
    """'median [Q1, Q3]'."""
    _, q1, med, q3, _ = quartiles(values)
    f = (lambda x: f"{x:.{digits}e}") if sci else (lambda x: f"{100 * x:.{digits}f}")
    return f"{f(med)}{'' if sci else '%'} [{f(q1)}, {f(q3)}]"
