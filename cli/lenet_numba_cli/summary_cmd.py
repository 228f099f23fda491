"""``lenet-numba summary --arch NAME``: the network layer by layer, with the papers' counts."""

import json

import click

from lenet_numba import architectures
from lenet_numba.limits import DEFAULT_ARCH
from lenet_numba.summary import render, summarize

from .options import json_option


@click.command("summary")
@click.option("--arch", type=click.Choice(list(architectures.ARCHITECTURES)), default=DEFAULT_ARCH, show_default=True)
@json_option
def summary_cmd(arch, as_json):
    """Per layer: output shape, units, connections (a bias counts one per unit), free
    parameters, FLOPs per sample forward and backward; totals."""
    s = summarize(arch)
    click.echo(json.dumps(s) if as_json else render(s))
