"""``lenet-numba gradcheck``: finite differences against back-propagation, per block."""

import json
import sys

import click

from lenet_numba.gradcheck import gradcheck
from lenet_numba.limits import DEFAULT_ARCH
from lenet_numba.wording import count

from .options import choice, json_option


@click.command("gradcheck")
@click.option("--arch", type=choice("architecture"), default=DEFAULT_ARCH, show_default=True)
@click.option("--activation", type=choice("activation"), default="scaled-tanh", show_default=True)
@click.option("--output-activation", type=choice("activation"),
              default="scaled-tanh", show_default=True)
@click.option("--loss", type=choice("loss"), default="mse", show_default=True)
@click.option("--samples", type=int, default=3, show_default=True)
@click.option("--tolerance", type=float, default=1e-6, show_default=True, help="Max relative error allowed (finite, > 0).")
@click.option("--seed", type=int, default=0, show_default=True, help="0 <= seed < 2**63.")
@json_option
def gradcheck_cmd(arch, activation, output_activation, loss, samples, tolerance, seed, as_json):
    """Check the whole network's gradient (float64) by central differences, per parameter block.

    Exit 0 if every block's max relative error is within --tolerance, else 1.
    """
    r = gradcheck(arch, activation, output_activation, loss, seed=seed, samples=samples, tolerance=tolerance)
    if as_json:
        click.echo(json.dumps(r))
    else:
        click.echo(f"gradcheck {arch} ({activation}/{output_activation}, {loss}), float64, {count(samples, 'sample')}, "
                   "central differences along a random direction per block")
        for name, e in r["blocks"].items():
            click.echo(f"  {name:<16} max rel error {e:.2e}  {'ok' if e <= tolerance else 'FAIL'}")
        click.echo(f"{'PASS' if r['passed'] else 'FAIL'}: max {r['max_rel_error']:.2e} (tolerance {tolerance:.0e})")
    sys.exit(0 if r["passed"] else 1)
