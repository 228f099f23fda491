"""Figures as PNG files: training curves, learned kernels, feature maps, confusion, rejects.

matplotlib is an optional extra (``pip install 'lenet-numba[plot]'``). It is imported
only inside the plotting functions, and only its object API is used (a ``Figure`` on an
Agg canvas): no pyplot, so no global figure state and no backend switching in the
caller's process.

Every ``plot_*`` function writes one PNG (atomically) and returns the data it drew, read
back from the figure's artists before the figure is dropped, so a test can check that
the picture shows the library's numbers and nothing else:

    >>> from lenet_numba import plots
    >>> drawn = plots.plot_metrics(plots.read_metrics("m.jsonl"), "out/m-metrics.png")
    >>> drawn["test_error"]            # the y values of the plotted test-error line

Sizes are in inches that are exact binary fractions, so a PNG is exactly
``figsize * dpi`` pixels (no tight bounding box).
"""

import io
import json
import math
import os

import numpy as np

from .atomic import atomic_open, check_output_dir
from .errors import LenetError, MissingDependency, UsageError
from .kernels.activations import SCALED_A

PAPER_TEST_ERROR = 0.05  # LeCun et al., Neural Computation 1989: 5.0% on the USPS test set
PAPER_LABEL = "LeCun et al. 1989: 5.0% test error"
DPI = 100
METRICS_FIGSIZE = (10.0, 4.0)
CONFUSION_FIGSIZE = (6.5, 5.5)
REJECT_FIGSIZE = (6.0, 4.0)
REJECT_MAX = 0.20                 # the reject curve runs from 0 to 20% rejected
DPI_RANGE = (20, 600)             # beyond 600 the largest figure is a ~50 MB bitmap; 1e5 dpi exhausts memory
KERNEL_CELL = 0.5                 # inches per 5x5 kernel, spacing included
METRIC_KEYS = ("epoch", "train_error", "test_error", "train_loss", "test_loss")


class MetricsFileError(LenetError):
    """A metrics file is missing, empty, or not the JSON lines ``train --metrics`` writes."""


def _matplotlib():
    """(Figure, FigureCanvasAgg, colors, ticker) or a one-line error naming the extra."""
    try:
        from matplotlib import colors, ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency("plotting needs matplotlib: pip install 'lenet-numba[plot]'") from None
    return Figure, FigureCanvasAgg, colors, ticker


def require_matplotlib():
    """Fail early (before any slow work) when matplotlib is missing."""
    _matplotlib()


def check_dpi(dpi, what="dpi"):
    """UsageError unless ``dpi`` is an integer in DPI_RANGE (a huge one would exhaust memory)."""
    lo, hi = DPI_RANGE
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not lo <= dpi <= hi:
        raise UsageError(f"{what} must be an integer in {lo}..{hi}, got {dpi!r}")
    return int(dpi)


def check_out_dir(path, what="--out-dir"):
    """atomic.check_output_dir: a folder, or one that creating just it would make."""
    return check_output_dir(path, what)


def check_output_files(paths):
    """UsageError if one of the PNG paths about to be written is a folder or other non-file."""
    for path in paths:
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UsageError(f"{path}: exists and is not a regular file")


def _new_figure(figsize, dpi, layout="constrained"):
    """A figure on an Agg canvas; many-axes grids pass layout=None and place axes themselves
    (constrained layout costs about a second per figure there)."""
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    check_dpi(dpi)
    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi):
    """Render to PNG in memory, then replace ``path`` atomically; returns the pixel size."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())  # atomic_open gives it an ordinary file's permissions
    return fig.canvas.get_width_height()


def _percent_axis(axis, ticker, decimals=None):
    axis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=decimals))


# --------------------------------------------------------------------------- metrics


def read_metrics(path):
    """The per-epoch records of a ``train --metrics`` JSON-lines file, in file order."""
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        raise MetricsFileError(f"{path}: no such metrics file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MetricsFileError(f"{path}: cannot read ({e})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise MetricsFileError(f"{path}, line {number}: not JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise MetricsFileError(f"{path}, line {number}: expected a JSON object per line")
        missing = [k for k in METRIC_KEYS if k not in rec]
        if missing:
            raise MetricsFileError(f"{path}, line {number}: lacks {', '.join(missing)} "
                                   "(is this a `lenet-numba train --metrics` file?)")
        bad = [k for k in METRIC_KEYS if not isinstance(rec[k], (int, float)) or isinstance(rec[k], bool)]
        if bad:
            raise MetricsFileError(f"{path}, line {number}: {', '.join(bad)} not a number")
        records.append(rec)
    if not records:
        raise MetricsFileError(f"{path}: no epochs recorded (empty metrics file)")
    return records


def plot_metrics(history, path, *, title=None, reference_error=PAPER_TEST_ERROR, dpi=DPI):
    """Train/test error (left) and loss (right, log scale) per epoch, with the paper's 5.0%.

    ``history``: per-epoch dicts as in a metrics file or ``run(...)["history"]``.
    Returns the plotted values: epoch, train_error, test_error (fractions; the axis shows
    percent), train_loss, test_loss, reference_error, plus path, figsize, dpi, pixels.
    """
    _, _, _, ticker = _matplotlib()
    epochs = np.array([r["epoch"] for r in history], float)
    fig = _new_figure(METRICS_FIGSIZE, dpi)
    ax_err, ax_loss = fig.subplots(1, 2)
    lines = {}
    for key, style in (("train_error", "-"), ("test_error", "-")):
        lines[key], = ax_err.plot(epochs, [r[key] for r in history], style, marker="o", markersize=3,
                                  label=key.replace("_", " "))
    ref = None
    if reference_error is not None:
        ref = ax_err.axhline(reference_error, color="0.3", linestyle="--", linewidth=1, label=PAPER_LABEL)
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("error")
    ax_err.set_ylim(bottom=0)
    _percent_axis(ax_err.yaxis, ticker)
    ax_err.grid(alpha=0.3)
    ax_err.legend(fontsize="small")
    ax_err.set_title("error per epoch")
    for key in ("train_loss", "test_loss"):
        lines[key], = ax_loss.plot(epochs, [r[key] for r in history], marker="o", markersize=3,
                                   label=key.replace("_", " "))
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (log scale)")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize="small")
    ax_loss.set_title("loss per epoch")
    for ax in (ax_err, ax_loss):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    drawn = {"epoch": np.asarray(lines["test_error"].get_xdata(), float)}
    for key, line in lines.items():
        drawn[key] = np.asarray(line.get_ydata(), float)
    drawn["reference_error"] = float(ref.get_ydata()[0]) if ref is not None else None
    return _finish(fig, path, dpi, METRICS_FIGSIZE, drawn)


def _finish(fig, path, dpi, figsize, drawn):
    drawn.update(path=os.fspath(path), figsize=tuple(figsize), dpi=dpi, pixels=_save(fig, path, dpi))
    return drawn


# --------------------------------------------------------------------------- kernels


def conv_layers(model):
    """[(layer name, row index in the plan)] of the convolutional layers, in order."""
    from .architectures import CONV, KIND

    return [(layer.name, i) for i, layer in enumerate(model.arch.layers)
            if int(model.plan.table[i, KIND]) == CONV]


KERNEL_MARGINS = (0.5, 1.0, 0.75, 0.25)  # left, right (colour bar), top (title), bottom; inches


def kernel_figsize(n_in, n_out):
    """Inches of the kernel grid of a layer with n_in input and n_out output maps."""
    left, right, top, bottom = KERNEL_MARGINS
    return (max(KERNEL_CELL * n_out + left + right, 5.0), KERNEL_CELL * n_in + top + bottom)


def plot_kernels(model, layer, path, *, dpi=DPI):
    """The learned 5x5 kernels of one conv layer as a grey-level grid.

    Columns: output maps; rows: input maps; a blank cell where an output map does not read
    that input (the zip-code net's H2 reads 8 of 12). One symmetric grey scale for the
    layer, dark = positive (like ink). Returns ``weights`` (out, in, k, k) rebuilt from the
    drawn cells (NaN where blank), ``connections`` (out, n_conn), ``vmax`` and file info.
    """
    from .architectures import CONN_OFF, IN_C, N_CONN, OUT_C

    rows = dict(conv_layers(model))
    if layer not in rows:
        raise UsageError(f"{model.arch.name} has no conv layer {layer!r}; it has {', '.join(rows)}")
    row = model.plan.table[rows[layer]]
    n_in, n_out, n_conn = int(row[IN_C]), int(row[OUT_C]), int(row[N_CONN])
    conn = model.plan.conn[int(row[CONN_OFF]):int(row[CONN_OFF]) + n_out * n_conn].reshape(n_out, n_conn)
    w = np.asarray(model[f"{layer}.weight"], float)          # (out, n_conn, k, k)
    k = w.shape[-1]
    vmax = float(np.abs(w).max()) or 1.0
    figsize = kernel_figsize(n_in, n_out)
    fig = _new_figure(figsize, dpi, layout=None)
    (left, _, top, bottom), (W, H) = KERNEL_MARGINS, figsize
    grid_w = KERNEL_CELL * n_out
    grid = fig.add_gridspec(n_in, n_out, left=left / W, right=(left + grid_w) / W, top=1 - top / H,
                            bottom=bottom / H, wspace=0.25, hspace=0.25)
    axes = np.asarray(grid.subplots(squeeze=False))
    shown = np.full((n_out, n_in, k, k), np.nan)
    image = None
    for o in range(n_out):
        for i in range(n_in):
            ax = axes[i, o]
            ax.set_xticks([])
            ax.set_yticks([])
            slots = np.flatnonzero(conn[o] == i)
            if slots.size:
                image = ax.imshow(w[o, slots[0]], cmap="gray_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                shown[o, i] = image.get_array()
            else:
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if i == 0:
                ax.set_title(str(o), fontsize="small")
            if o == 0:
                ax.set_ylabel(str(i), fontsize="small", rotation=0, labelpad=8, va="center")
    cax = fig.add_axes(((left + grid_w + 0.25) / W, bottom / H, 0.15 / W, 1 - (top + bottom) / H))
    fig.colorbar(image, cax=cax)
    fig.suptitle(f"{model.arch.name} {layer}: {n_out} kernels {k}x{k}\n"
                 f"columns: output map, rows: input map", fontsize="medium", y=1 - 0.05 / H, va="top")
    return _finish(fig, path, dpi, figsize, {"layer": layer, "weights": shown, "connections": conn,
                                             "vmax": vmax})


# --------------------------------------------------------------------------- feature maps


def _activation_range(name, values):
    if name == "scaled-tanh":
        return SCALED_A
    if name == "tanh":
        return 1.0
    return float(np.abs(values).max()) or 1.0


def feature_maps_figsize(model):
    """Inches of the feature-map figure: an inch per row of maps, half an inch per dense layer."""
    from .architectures import DENSE, KIND

    dense = sum(int(k) == DENSE for k in model.plan.table[:, KIND])
    return (9.0, 1.0 * (1 + len(model.arch.layers) - dense) + 0.5 * dense + 0.5)


def plot_feature_maps(model, image, path, *, label=None, index=None, dpi=DPI):
    """One digit through the network: the input, then every layer's maps (one row each).

    Maps are grey levels, dark = positive, on the activation's range (±1.7159 for the
    scaled tanh, ±1 for tanh, ±max for a linear output). Dense layers are a strip of
    units. Returns ``input``, ``layers`` [(name, drawn array)], ``scores``,
    ``prediction``, ``label`` and file info.
    """
    outputs = model.layer_outputs(image)
    x = model.as_images(image)[0].astype(float)
    n_rows = len(outputs) + 1
    n_cols = max(12, max(a.shape[0] for _, a in outputs if a.shape[1] > 1))
    dense = [a.shape[1] == 1 and a.shape[2] == 1 for _, a in outputs]
    ratios = [1.0] + [0.5 if d else 1.0 for d in dense]
    left, right, top, bottom = 1.25, 0.25, 0.125, 0.375  # inches
    figsize = feature_maps_figsize(model)
    fig = _new_figure(figsize, dpi, layout=None)
    W, H = figsize
    grid = fig.add_gridspec(n_rows, n_cols, height_ratios=ratios, left=left / W, right=1 - right / W,
                            top=1 - top / H, bottom=bottom / H, wspace=0.15, hspace=0.3)
    drawn_layers = []

    def strip_axes(r):
        ax = fig.add_subplot(grid[r, :])
        ax.set_yticks([])
        return ax

    ax = fig.add_subplot(grid[0, 0])
    im = ax.imshow(x, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    drawn_input = np.asarray(im.get_array(), float)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel("input", rotation=0, ha="right", va="center")
    scores = outputs[-1][1].ravel()
    prediction = int(np.argmax(scores))
    caption = f"digit #{index}" if index is not None else "digit"
    if label is not None:
        caption += f", label {int(label)}"
    caption += f", predicted {prediction}"
    ax_caption = fig.add_subplot(grid[0, 1:])
    ax_caption.axis("off")
    ax_caption.text(0.02, 0.5, f"{model.arch.name}: {caption}", va="center", fontsize="large")
    last = len(outputs) - 1
    for li, (name, a) in enumerate(outputs):
        r = li + 1
        act = model.output_activation if li == last else model.activation
        vmax = _activation_range(act, a)
        c, h, w = a.shape
        if h == 1 and w == 1:  # a dense layer: one strip of units
            ax = strip_axes(r)
            im = ax.imshow(a.reshape(1, c), cmap="gray_r", vmin=-vmax, vmax=vmax, aspect="auto",
                           interpolation="nearest")
            drawn = np.asarray(im.get_array(), float).reshape(c, 1, 1)
            if li == last:
                ax.set_xticks(range(c))
                ax.set_xticklabels([f"{k}" for k in range(c)])
                ax.tick_params(axis="x", labelsize="small")
            else:
                ax.set_xticks([])
            ax.set_ylabel(f"{name}\n{c}", rotation=0, ha="right", va="center")
        else:
            maps = []
            for m in range(c):
                ax = fig.add_subplot(grid[r, m])
                im = ax.imshow(a[m], cmap="gray_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
                maps.append(np.asarray(im.get_array(), float))
                ax.set_xticks([])
                ax.set_yticks([])
                if m == 0:
                    ax.set_ylabel(f"{name}\n{c}@{h}x{w}", rotation=0, ha="right", va="center")
            drawn = np.stack(maps)
        drawn_layers.append((name, drawn))
    return _finish(fig, path, dpi, figsize, {
        "input": drawn_input, "layers": drawn_layers, "scores": scores.astype(float),
        "prediction": prediction, "label": None if label is None else int(label)})


# --------------------------------------------------------------------------- confusion


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


# --------------------------------------------------------------------------- reject curve


def reject_data(model, images, labels, loss="mse", max_reject=REJECT_MAX):
    """(fractions, errors) of ``metrics.reject_curve`` at every whole sample from 0 to max_reject."""
    from . import metrics

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


# --------------------------------------------------------------------------- one checkpoint


def checkpoint_figures(checkpoint, out_dir, *, prefix=None, digit=0, dataset="usps", data_dir=None,
                       download=True, loss=None, dpi=DPI):
    """All checkpoint figures into ``out_dir``; returns {kind: drawn data} (each with "path").

    ``out_dir`` is created if missing (its parent must exist), only once every input
    (checkpoint, data, digit, output paths) has been checked.

    Files: ``{prefix}kernels-{layer}.png`` per conv layer, ``{prefix}feature-maps-{digit}.png``,
    ``{prefix}confusion.png``, ``{prefix}reject-curve.png``; the prefix defaults to the
    checkpoint's file name without extension and a dash. The test set, loss and seed are
    chosen exactly as ``lenet-numba eval`` chooses them, so the numbers match its output.
    """
    from .evaluate import evaluation_report
    from .experiment import load_test_set
    from .run_checkpoint import evaluation_settings, model_from_checkpoint

    require_matplotlib()
    check_dpi(dpi)
    check_out_dir(out_dir)
    model, meta = model_from_checkpoint(checkpoint)
    saved_loss, seed = evaluation_settings(meta, checkpoint)
    loss = loss or saved_loss
    x, y = load_test_set(dataset, data_dir, download, seed)
    if not 0 <= digit < len(y):
        raise UsageError(f"--digit must be in 0..{len(y) - 1} (the {dataset} test set has {len(y)} digits), "
                         f"got {digit}")
    if prefix is None:
        prefix = os.path.splitext(os.path.basename(checkpoint))[0] + "-"
    name = f"{model.arch.name}, {os.path.basename(checkpoint)}"

    def out(stem):
        return os.path.join(out_dir, f"{prefix}{stem}.png")

    check_output_files([out(f"kernels-{layer}") for layer, _ in conv_layers(model)]
                       + [out(f"feature-maps-{digit}"), out("confusion"), out("reject-curve")])
    figures = {}  # every input is checked: from here on the folder is made and the files written
    for layer, _ in conv_layers(model):
        figures[f"kernels-{layer}"] = plot_kernels(model, layer, out(f"kernels-{layer}"), dpi=dpi)
    figures["feature-maps"] = plot_feature_maps(model, x[digit], out(f"feature-maps-{digit}"), label=y[digit],
                                                index=digit, dpi=dpi)
    report = evaluation_report(model, x, y, loss)
    figures["confusion"] = plot_confusion(report, out("confusion"), dpi=dpi, title=(
        f"{name}: {100 * report['test_error']:.2f}% error on {report['n']} test digits"))
    fractions, errors = reject_data(model, x, y, loss)
    figures["reject-curve"] = plot_reject_curve(fractions, errors, report, out("reject-curve"), dpi=dpi,
                                                title=f"{name}: reject curve")
    figures["report"] = report
    return figures


def metrics_figure(metrics_file, out_dir, *, prefix=None, title=None, reference_error=PAPER_TEST_ERROR, dpi=DPI):
    """The metrics figure of one ``train --metrics`` file into ``out_dir`` (created if missing;
    its parent must exist). Every input is checked before the folder is made."""
    require_matplotlib()
    check_dpi(dpi)
    check_out_dir(out_dir)
    history = read_metrics(metrics_file)
    if prefix is None:
        prefix = os.path.splitext(os.path.basename(metrics_file))[0] + "-"
    path = os.path.join(out_dir, f"{prefix}metrics.png")
    check_output_files([path])
    finite = [r for r in history if all(math.isfinite(r[k]) for k in METRIC_KEYS)]
    title = title or f"{os.path.basename(metrics_file)}: {len(history)} epochs" + (
        f", final test error {100 * finite[-1]['test_error']:.2f}%" if finite else "")
    return plot_metrics(history, path, title=title, reference_error=reference_error, dpi=dpi)
