"""``lenet-numba data info`` and ``lenet-numba data fetch``."""

import json

import click

from lenet_numba import data as data_lib

from .options import data_dir_option, json_option, progress_bar


@click.group("data")
def data():
    """Where the digits are looked for, what was found, and fetching them."""


@data.command("info")
@data_dir_option
@json_option
def info(data_dir, as_json):
    """Show the data roots searched (in order), the files found, and their checksums."""
    rep = data_lib.data_info(data_dir)
    if as_json:
        click.echo(json.dumps(rep))
        return
    click.echo("searched, in order:")
    for s in rep["searched"]:
        click.echo(f"  {s['from']:<18} {s['path']}")
    for f in rep["files"]:
        status = "missing" if not f["found"] else ("ok" if f["ok"] else "BAD CHECKSUM")
        click.echo(f"{f['dataset']}/{f['name']}: {status}")
        for c in f["found"]:
            click.echo(f"  {c['path']}  {c['size']:,} bytes  sha256 {'ok' if c['ok'] else 'MISMATCH'}")
        click.echo(f"  expected {f['size']:,} bytes, sha256 {f['sha256']}")
        if not f["found"]:
            click.echo(f"  source {f['url']}")


@data.command("fetch")
@data_dir_option
def fetch(data_dir):
    """Download the USPS files (verified by sha256) unless already present."""
    paths = data_lib.fetch(data_dir, progress=progress_bar("download"))
    for name, path in paths.items():
        click.echo(f"{name}: {path}")
