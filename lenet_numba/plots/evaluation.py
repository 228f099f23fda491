"""An evaluation drawn: the confusion matrix and the reject curve."""

import numpy as np

from .figure import DPI, _finish, _matplotlib, _new_figure, _percent_axis

CONFUSION_FIGSIZE = (6.5, 5.5)
REJECT_FIGSIZE = (6.0, 4.0)
REJECT_MAX = 0.20                 # the reject curve runs from 0 to 20% rejected


def plot_confusion(report, path, *, title=None, dpi=DPI):
    """The confusion matrix of an ``evaluation_report`` as a heat map with counts in cells.

    Colour is the count on a log scale (zeros blank), so single mistakes show next to a
    diagonal of hundreds. Row labels carry each class's error. Returns ``confusion`` (the
    drawn array), ``cells`` (the numbers written in the cells) and file info.
    """
    _, _, colors, _ = _matplotlib()
    conf = np.asarray(report["confusion"], np.int64)
    n = conf.shape[0]
    fig = _new_figure(CONFUSION_FIGSIZE, dpi)
    ax = fig.subplots()
    masked = np.ma.masked_equal(conf, 0)
    im = ax.imshow(masked, cmap="Blues", norm=colors.LogNorm(vmin=1, vmax=max(int(conf.max()), 2)),
                   interpolation="nearest")
    drawn = np.ma.filled(im.get_array(), 0).astype(np.int64)
    cells = np.zeros_like(conf)
    for t in range(n):
        for p in range(n):
            v = int(conf[t, p])
            if v:
                dark = v > 0.1 * conf.max() if conf.max() > 1 else False
                ax.text(p, t, str(v), ha="center", va="center", fontsize="small",
                        color="white" if dark else "black")
            cells[t, p] = v
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    per_class = report.get("per_class_error") or [None] * n
    ax.set_yticklabels([f"{k}  ({100 * e:.1f}%)" if e is not None else f"{k}" for k, e in enumerate(per_class)],
                       fontsize="small")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit  (its error)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="count (log scale)")
    ax.set_title(title or f"confusion on {report['n']} test digits: "
                 f"{100 * report['test_error']:.2f}% error")
    return _finish(fig, path, dpi, CONFUSION_FIGSIZE, {"confusion": drawn, "cells": cells})




def reject_data(model, images, labels, loss="mse", max_reject=REJECT_MAX):
    """(fractions, errors) of ``metrics.reject_curve`` at every whole sample from 0 to max_reject."""
    from .. import metrics

    labels = np.asarray(labels, np.int64)
    n = len(labels)
    scores = model.evaluate(images, labels, loss)["scores"]
    ks = range(metrics.reject_count(max_reject, n) + 1)
    curve = np.array(metrics.reject_curve(scores, labels, [k / n for k in ks]), float)
    return curve[:, 0], curve[:, 1]


def plot_reject_curve(fractions, errors, report, path, *, title=None, dpi=DPI):
    """Error on the kept digits vs the fraction rejected (least confident first), 0-20%.

    ``fractions``/``errors`` from :func:`reject_data`; ``report`` (evaluation_report) adds
    its operating points (0, 5, 9, 12%) as markers and the reject needed for 1% error.
    Returns ``reject``, ``error`` (the curve), ``points`` (the markers) and file info.
    """
    _, _, _, ticker = _matplotlib()
    fig = _new_figure(REJECT_FIGSIZE, dpi)
    ax = fig.subplots()
    line, = ax.plot(fractions, errors, "-", linewidth=1.5, label="error on the kept digits")
    pts = np.array(report["reject_curve"], float)
    marks, = ax.plot(pts[:, 0], pts[:, 1], "o", color="C1", label="eval's operating points")
    for r, e in pts:
        ax.annotate(f"{100 * e:.2f}%", (r, e), textcoords="offset points", xytext=(4, 6), fontsize="small")
    need = report.get("reject_for_1pct_error")
    ax.axhline(0.01, color="0.4", linestyle=":", linewidth=1)
    if need is not None and need <= REJECT_MAX:
        ax.axvline(need, color="0.4", linestyle=":", linewidth=1,
                   label=f"1% error needs {100 * need:.1f}% rejected")
    elif need is not None:
        ax.plot([], [], " ", label=f"1% error needs {100 * need:.1f}% rejected")
    ax.set_xlim(0, REJECT_MAX)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(0.02))
    _percent_axis(ax.xaxis, ticker, decimals=0)
    _percent_axis(ax.yaxis, ticker)
    ax.set_xlabel("rejected (least confident first)")
    ax.set_ylabel("error on the rest")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "reject curve")
    return _finish(fig, path, dpi, REJECT_FIGSIZE, {
        "reject": np.asarray(line.get_xdata(), float), "error": np.asarray(line.get_ydata(), float),
        "points": np.column_stack([marks.get_xdata(), marks.get_ydata()]).astype(float)})
