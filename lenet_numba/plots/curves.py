"""Training curves: a ``train --metrics`` file read back and drawn as error and loss per epoch."""

import io
import json
import math
import os

import numpy as np

from ..checkpoint import read_file_once
from ..errors import CheckpointError, LenetError
from ..wording import count
from .figure import (DPI, _finish, _matplotlib, _new_figure, _percent_axis, check_dpi, check_out_dir,
                     check_output_files, require_matplotlib)

PAPER_TEST_ERROR = 0.05  # LeCun et al., Neural Computation 1989: 5.0% on the USPS test set
PAPER_LABEL = "LeCun et al. 1989: 5.0% test error"
METRICS_FIGSIZE = (10.0, 4.0)
METRIC_KEYS = ("epoch", "train_error", "test_error", "train_loss", "test_loss")
MAX_METRICS_BYTES = 1 << 26  # a line per epoch is ~300 bytes: 64 MB is 200,000 epochs


class MetricsFileError(LenetError):
    """A metrics file is missing, empty, or not the JSON lines ``train --metrics`` writes."""


def read_metrics(path):
    """The per-epoch records of a ``train --metrics`` JSON-lines file, in file order."""
    try:  # one bounded read of a regular file: a pipe or /dev/zero is refused, not read forever
        text = read_file_once(path, "metrics", MAX_METRICS_BYTES).decode("utf-8")
        lines = io.StringIO(text, newline=None).readlines()  # newlines read as open() reads them
    except CheckpointError as e:
        raise MetricsFileError(str(e)) from None
    except UnicodeDecodeError as e:
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
    check_output_files([path], {"METRICS_FILE": metrics_file})
    finite = [r for r in history if all(math.isfinite(r[k]) for k in METRIC_KEYS)]
    title = title or f"{os.path.basename(metrics_file)}: {count(len(history), 'epoch')}" + (
        f", final test error {100 * finite[-1]['test_error']:.2f}%" if finite else "")
    return plot_metrics(history, path, title=title, reference_error=reference_error, dpi=dpi)
