"""``lenet-numba plot metrics FILE`` and ``lenet-numba plot checkpoint CKPT``: PNG figures.

matplotlib is optional (``pip install 'lenet-numba[plot]'``); without it both commands
fail with one line before doing anything else. Every input (--dpi, --out-dir, the file,
the data, --digit, the PNG paths) is checked before --out-dir is created.
"""

import json

import click

from lenet_numba.limits import DEFAULT_DATASET

from .options import choice, data_dir_option, json_option, no_download_option


def _dpi(ctx, param, value):
    """--dpi in 20..600, refused as one line (exit 2) before anything is read or created."""
    from lenet_numba.plots import check_dpi

    return check_dpi(value, "--dpi")


out_dir_option = click.option("--out-dir", type=click.Path(), default=".", show_default=True,
                              help="Write the PNG files here (created if missing; its parent must exist).")
prefix_option = click.option("--prefix", default=None,
                             help="File name prefix [the input's file name without extension, and a dash].")
dpi_option = click.option("--dpi", type=int, default=100, show_default=True, callback=_dpi,
                          help="Pixels per inch of the PNG files (20..600).")


def _report(files, as_json, extra=None):
    if as_json:
        click.echo(json.dumps({"files": files, **(extra or {})}))
    else:
        for path in files.values():
            click.echo(path)


@click.group("plot")
def plot():
    """PNG figures of a training run or a trained network (needs matplotlib).

    `plot metrics m.jsonl`: error and loss per epoch from a `train --metrics` file.
    `plot checkpoint m.npz`: kernels, feature maps of one test digit, confusion, reject curve.
    """


@plot.command("metrics")
@click.argument("metrics_file", type=click.Path(dir_okay=False))
@out_dir_option
@prefix_option
@click.option("--title", default=None, help="Figure title [file name, epochs, final test error].")
@click.option("--no-reference", is_flag=True, help="Leave out the 1989 paper's 5.0% test-error line.")
@dpi_option
@json_option
def plot_metrics_cmd(metrics_file, out_dir, prefix, title, no_reference, dpi, as_json):
    """Train/test error and loss (log scale) per epoch from a `train --metrics` JSON-lines file.

    Writes PREFIX-metrics.png, with the 1989 paper's 5.0% test error as a dashed line.
    """
    from lenet_numba import plots

    out_dir = plots.check_out_dir(out_dir)  # values first: refused the same way with or without matplotlib
    plots.require_matplotlib()
    drawn = plots.metrics_figure(metrics_file, out_dir, prefix=prefix, title=title,
                                 reference_error=None if no_reference else plots.PAPER_TEST_ERROR, dpi=dpi)
    _report({"metrics": drawn["path"]}, as_json, {"epochs": len(drawn["epoch"])})


@plot.command("checkpoint")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@out_dir_option
@prefix_option
@click.option("--digit", type=int, default=0, show_default=True,
              help="Index of the test digit whose feature maps are drawn.")
@click.option("--dataset", type=choice("dataset"), default=DEFAULT_DATASET, show_default=True,
              help="Test split for the feature maps, confusion matrix and reject curve (as `eval`).")
@click.option("--loss", type=choice("loss"), default=None,
              help="Loss for the scores [the checkpoint's training loss].")
@dpi_option
@data_dir_option
@no_download_option
@json_option
def plot_checkpoint_cmd(checkpoint, out_dir, prefix, digit, dataset, loss, dpi, data_dir, no_download, as_json):
    """Figures of a trained network, on the test set exactly as `eval` sees it.

    Writes PREFIX-kernels-LAYER.png (the learned 5x5 kernels of each conv layer as a
    grey-level grid, as in the 1989 paper), PREFIX-feature-maps-DIGIT.png (one test digit
    through every layer), PREFIX-confusion.png (heat map, counts in the cells) and
    PREFIX-reject-curve.png (error vs fraction rejected, 0-20%).
    """
    from lenet_numba import plots

    out_dir = plots.check_out_dir(out_dir)  # values first: refused the same way with or without matplotlib
    plots.require_matplotlib()
    figures = plots.checkpoint_figures(checkpoint, out_dir, prefix=prefix, digit=digit,
                                       dataset=dataset, data_dir=data_dir, download=not no_download,
                                       loss=loss, dpi=dpi)
    report = figures.pop("report")
    fm = figures["feature-maps"]
    _report({kind: d["path"] for kind, d in figures.items()}, as_json,
            {"test_error": report["test_error"], "digit": digit, "label": fm["label"],
             "prediction": fm["prediction"]})
