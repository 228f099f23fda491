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
            form = "" if c["compressed"] else "  (uncompressed)"
            click.echo(f"  {c['path']}  {c['size']:,} bytes  sha256 {'ok' if c['ok'] else 'MISMATCH'}{form}")
        click.echo(f"  expected {f['size']:,} bytes, sha256 {f['sha256']}")
        for a in f["also_accepted"]:
            click.echo(f"  or uncompressed {a['name']}: {a['size']:,} bytes, sha256 {a['sha256']}")
        if not f["found"]:
            click.echo(f"  source {f['url']}")


@data.command("fetch")
@data_dir_option
def fetch(data_dir):
    """Download the USPS files (verified by sha256) unless already present and intact.

    A copy that fails its sha256 is downloaded again in its place; if that download fails
    the old file is left as it was.
    """
    notes = {
        "present": "",
        "downloaded": "",
        "replaced": " (replaced: the old copy failed its sha256 check)",
    }

    def report(name, path, action):
        click.echo(f"{name}: {path}{notes[action]}")

    data_lib.fetch(data_dir, progress=progress_bar("download"), report=report)
