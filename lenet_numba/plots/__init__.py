"""Figures as PNG files: training curves, learned kernels, feature maps, confusion, rejects.

matplotlib is an optional extra (``pip install 'lenet-numba[plot]'``). It is imported
only inside the plotting functions (figure.py), never by importing this package.

Every ``plot_*`` function writes one PNG (atomically) and returns the data it drew, read
back from the figure's artists before the figure is dropped, so a test can check that
the picture shows the library's numbers and nothing else:

    >>> from lenet_numba import plots
    >>> drawn = plots.plot_metrics(plots.read_metrics("m.jsonl"), "out/m-metrics.png")
    >>> drawn["test_error"]            # the y values of the plotted test-error line

Sizes are in inches that are exact binary fractions, so a PNG is exactly
``figsize * dpi`` pixels (no tight bounding box).

One module per kind of figure: curves (training metrics), kernels, feature_maps,
evaluation (confusion, reject curve), from_checkpoint (all of a checkpoint's at once).
"""

from .curves import (METRIC_KEYS, METRICS_FIGSIZE, PAPER_LABEL, PAPER_TEST_ERROR, MetricsFileError,
                     metrics_figure, plot_metrics, read_metrics)
from .evaluation import (CONFUSION_FIGSIZE, REJECT_FIGSIZE, REJECT_MAX, plot_confusion, plot_reject_curve,
                         reject_data)
from .feature_maps import feature_maps_figsize, plot_feature_maps
from .figure import DPI, DPI_RANGE, check_dpi, check_out_dir, check_output_files, require_matplotlib
from .from_checkpoint import checkpoint_figures
from .kernels import KERNEL_CELL, KERNEL_MARGINS, conv_layers, kernel_figsize, plot_kernels

__all__ = ["CONFUSION_FIGSIZE", "DPI", "DPI_RANGE", "KERNEL_CELL", "KERNEL_MARGINS", "METRIC_KEYS", "METRICS_FIGSIZE",
           "MetricsFileError", "PAPER_LABEL", "PAPER_TEST_ERROR", "REJECT_FIGSIZE", "REJECT_MAX", "check_dpi",
           "check_out_dir", "check_output_files", "checkpoint_figures", "conv_layers", "feature_maps_figsize",
           "kernel_figsize", "metrics_figure", "plot_confusion", "plot_feature_maps", "plot_kernels",
           "plot_metrics", "plot_reject_curve", "read_metrics", "reject_data", "require_matplotlib"]
