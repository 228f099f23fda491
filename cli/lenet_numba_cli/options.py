"""Options shared by several commands."""

import math
import sys

import click

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False), default=None,
    help="Data root holding usps/ and mnist/ (else $LENET_NUMBA_DATA, else the user cache).")
no_download_option = click.option(
    "--no-download", is_flag=True, help="Never use the network; fail if the data is not found.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def positive(ctx, param, value):
    """click callback: the option's value must be finite and > 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be > 0 and finite, got {value}")
    return value


def non_negative(ctx, param, value):
    """click callback: the option's value must be finite and >= 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"must be >= 0 and finite, got {value}")
    return value


def progress_bar(label):
    """A download progress callback drawing a bar on stderr (only on a terminal)."""
    state = {}

    def progress(done, total):
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total or 0, label=label, file=sys.stderr)
            state["bar"].__enter__()
            state["done"] = 0
        state["bar"].update(done - state["done"])
        state["done"] = done
        if total and done >= total:
            state.pop("bar").__exit__(None, None, None)

    return progress
