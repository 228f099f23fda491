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


def choice(kind):
    """click.Choice of the library's registry of ``kind`` names (loss, activation, ...)."""
    from lenet_numba import recipes

    return click.Choice(recipes.names(kind))


def field_options(dataclass_fields, recipe_note="[recipe]", open_defaults=False):
    """One click option per dataclass field that has ``help`` metadata, named after the field
    (--max-shift for max_shift), typed by it (``choices``: a registry of names; ``flag``:
    "--on/--off"; ``path``: a file name; else the field's type) and defaulting to the
    field's default, None meaning "the recipe's" (shown as ``recipe_note``) or the
    ``default_text`` of the metadata. ``open_defaults``: every default is None (the
    recipe's fields: an option not given keeps the recipe's value)."""
    def decorate(command):
        for f in reversed(list(dataclass_fields)):
            meta = f.metadata
            default = None if open_defaults else f.default
            if "help" not in meta or meta.get("cli", True) is False:
                continue
            names = [meta.get("flag", "--" + f.name.replace("_", "-")), f.name]
            if "choices" in meta:
                kind = choice(meta["choices"])
            elif meta.get("path"):
                kind = click.Path(dir_okay=False)
            else:
                kind = meta.get("type", f.type if f.type in (int, float, str, bool) else str)
            note = f" [default: {meta['default_text']}]" if "default_text" in meta else \
                (f" {recipe_note}" if default is None and not meta.get("path") else "")
            command = click.option(*names, type=None if "flag" in meta else kind, default=default,
                                   show_default=default is not None, help=meta["help"] + "." + note)(command)
        return command
    return decorate


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


class ProgressBar:
    """A bar on stderr, drawn only on a terminal: ``update(done, total, label)``, ``close()``."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.bar = None
        self.done = 0

    def update(self, done, total, label):
        if not self.tty:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total or 0, label=label, file=self.stream)
            self.bar.__enter__()
            self.done = 0
        self.bar.update(done - self.done)
        self.done = done
        if total and done >= total:
            self.close()

    def close(self):
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.__exit__(None, None, None)


def progress_bar(label):
    """A download progress callback ``(done, total)`` drawing a bar on stderr (only on a terminal)."""
    bar = ProgressBar()
    return lambda done, total: bar.update(done, total, label)
