"""``lenet-numba serve [CHECKPOINT]``: the drawing/training page (needs the web extra)."""

import os

import click

from lenet_numba.atomic import check_output_dir

from .options import data_dir_option


@click.command("serve")
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--save-dir", type=click.Path(file_okay=False), default=None,
              help="Folder the page may save trained networks into (names chosen by the server); "
                   "without it saving is off.")
@click.option("--allow-host", multiple=True, help="Another host name the page may be reached by "
                                                  "(with --host 0.0.0.0; repeatable).")
@data_dir_option
def serve_cmd(checkpoint, host, port, save_dir, allow_host, data_dir):
    """Serve a page to draw digits and see every layer react, and to train networks live.

    The page predicts with CHECKPOINT's network (else an untrained LeNet-1), shows the
    preprocessing, every layer's maps, the scores and the reject decision (the gap
    threshold giving 1% error on the USPS test set, when the data is here), and trains
    any network and recipe in the background. Stop with Ctrl-C.

    Listening beyond loopback (--host 0.0.0.0, a LAN address), the server prints an
    address carrying a secret: every client must open the page with it first.
    """
    from lenet_numba.serve.launch import start

    if save_dir is not None:
        check_output_dir(save_dir, "--save-dir")
        os.makedirs(save_dir, exist_ok=True)
    start(checkpoint, host, port, save_dir and os.path.abspath(save_dir), allow_host, data_dir, say=click.echo)
