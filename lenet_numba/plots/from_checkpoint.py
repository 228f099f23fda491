"""Every figure of one checkpoint into a folder, with the test set chosen as ``eval`` chooses it."""

import os

from ..errors import UsageError
from ..limits import DEFAULT_DATASET
from .evaluation import plot_confusion, plot_reject_curve, reject_data
from .feature_maps import plot_feature_maps
from .figure import DPI, check_dpi, check_out_dir, check_output_files, require_matplotlib
from .kernels import conv_layers, plot_kernels


def checkpoint_figures(checkpoint, out_dir, *, prefix=None, digit=0, dataset=DEFAULT_DATASET, data_dir=None,
                       download=True, loss=None, dpi=DPI):
    """All checkpoint figures into ``out_dir``; returns {kind: drawn data} (each with "path").

    ``out_dir`` is created if missing (its parent must exist), only once every input
    (checkpoint, data, digit, output paths) has been checked.

    Files: ``{prefix}kernels-{layer}.png`` per conv layer, ``{prefix}feature-maps-{digit}.png``,
    ``{prefix}confusion.png``, ``{prefix}reject-curve.png``; the prefix defaults to the
    checkpoint's file name without extension and a dash. The test set, loss and seed are
    chosen exactly as ``lenet-numba eval`` chooses them, so the numbers match its output.
    """
    from ..evaluate import evaluation_report
    from ..experiment import load_test_set
    from ..run_checkpoint import evaluation_settings, model_from_checkpoint

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
                       + [out(f"feature-maps-{digit}"), out("confusion"), out("reject-curve")],
                       {"CHECKPOINT": checkpoint})
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
