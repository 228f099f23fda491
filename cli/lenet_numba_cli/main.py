"""``lenet-numba``: the command group, version, and the user-error policy.

User errors (a subclass of lenet_numba.errors.LenetError) print one line to stderr and
exit with their code (1, or 2 for bad option values); click's own usage errors exit 2.
An OSError the machine raised (disk full, no permission) is one line and exit 1 too.
Anything else is a bug and keeps its traceback.
"""

import re
import sys

import click

from lenet_numba import __version__
from lenet_numba.errors import LenetError

from .data_cmd import data
from .eval_cmd import eval_cmd
from .export_cmd import export_cmd
from .gradcheck_cmd import gradcheck_cmd
from .plot_cmd import plot
from .predict_cmd import predict_cmd
from .reproduce_cmd import reproduce_cmd
from .serve_cmd import serve_cmd
from .summary_cmd import summary_cmd
from .sweep_cmd import sweep_cmd
from .train_cmd import train_cmd


class Group(click.Group):
    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            # the cache folder (filled with the shipped compiled code if empty), and a word
            # when the engine compiles
            from lenet_numba import jit_cache, shipped_cache

            jit_cache.prepare(command.name, fill=shipped_cache.install)
        return name, command, rest

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LenetError as e:
            click.echo(f"error: {one_line(str(e))}", err=True)
            sys.exit(e.exit_code)
        except OSError as e:  # the machine refused a read or write (disk full, permissions, ...)
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"error: {one_line(f'{where}{e.strerror or e}')}", err=True)
            sys.exit(1)


def one_line(message):
    """``message`` on one line: control characters (a newline in a file name, say) shown
    as escapes, so an error is always the one line a script or a person reads."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], message)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lenet-numba")
def cli():
    """LeNet-1 (1989) and the 1989 zip-code network: a small, exact, fast Numba engine.

    Start with `lenet-numba train --out m.npz` (the 1989 recipe on the real USPS
    digits, saved to m.npz), then `lenet-numba eval m.npz`.
    """


cli.add_command(train_cmd)
cli.add_command(eval_cmd)
cli.add_command(predict_cmd)
cli.add_command(gradcheck_cmd)
cli.add_command(data)
cli.add_command(plot)
cli.add_command(sweep_cmd)
cli.add_command(serve_cmd)
cli.add_command(export_cmd)
cli.add_command(summary_cmd)
cli.add_command(reproduce_cmd)


def main():
    cli(prog_name="lenet-numba")


if __name__ == "__main__":
    main()
