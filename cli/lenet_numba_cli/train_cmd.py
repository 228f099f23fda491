"""``lenet-numba train``: options -> TrainConfig -> lenet_numba.experiment.run -> output."""

import dataclasses
import json
import shlex
import signal
import sys

import click

from lenet_numba.experiment import RECIPE_FIELDS, TrainConfig, run
from lenet_numba.wording import count

from .options import ProgressBar, data_dir_option, field_options, json_option, no_download_option, progress_bar

STALLED_ERROR = 0.8  # training error after 2+ passes that means the run is not learning


@click.command("train")
@field_options(dataclasses.fields(TrainConfig))
@field_options(RECIPE_FIELDS, open_defaults=True)
@data_dir_option
@no_download_option
@json_option
def train_cmd(data_dir, no_download, as_json, **options):
    """Train a network on the real USPS digits (default: LeNet-1 with the 1989 recipe).

    Prints one line per epoch; a progress bar on a terminal. Nothing is saved unless --out
    names a checkpoint (then: lenet-numba eval m.npz). Ctrl-C or SIGTERM stop after the
    current chunk, save the checkpoint (with --out) and print how to resume.
    """
    config = TrainConfig.from_options(**options, data_dir=data_dir, download=not no_download).validate()
    out = config.out
    err = sys.stderr
    tty = err.isatty()
    log = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo

    def header(cfg, r, start_epoch):  # once everything is checked: an error comes alone
        if not out:
            click.echo("note: no --out given: the trained network will not be saved", err=True)
        log(f"lenet-numba train: {cfg.arch}, recipe {r.name} ({r.activation}/{r.output_activation}, {r.loss}, "
            f"{r.optimizer}, {'shuffled' if r.shuffle else 'fixed order'}{', augmented' if r.augment else ''}), "
            f"{count(r.epochs, 'epoch')}{f' (resuming after {start_epoch})' if cfg.resume else ''}, {r.dtype} "
            f"({r.numerics} numerics), "
            f"seed {cfg.seed}, dataset {cfg.dataset}")
        log(f"{'epoch':>5} {'train_loss':>10} {'test_loss':>10} {'train_err':>9} {'test_err':>8} "
            + (f"{'valid_loss':>10} {'valid_err':>9} " if cfg.validation else "") + f"{'seconds':>8} {'samples/s':>10}")

    stop = {"signal": None}

    def handler(signum, frame):
        if stop["signal"] is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop["signal"] = signum
        click.echo("\nstopping after the current chunk...", err=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    bar = ProgressBar(err)

    def on_chunk(epoch, done, total):
        bar.update(done, total, f"epoch {epoch + 1}")

    warned = []

    def on_epoch(s):
        log(f"{s.epoch:>5} {s.train_loss:>10.5f} {s.test_loss:>10.5f} {100 * s.train_error:>8.2f}% "
            f"{100 * s.test_error:>7.2f}% "
            + (f"{s.valid_loss:>10.5f} {100 * s.valid_error:>8.2f}% " if s.valid_loss == s.valid_loss else "")
            + f"{s.seconds:>8.2f} {s.samples_per_s:>10.0f}")
        # finite but stuck near chance (90% error): saturated units, nothing the divergence guard sees
        if s.epoch >= 2 and s.train_error >= STALLED_ERROR and not warned:
            warned.append(s.epoch)
            click.echo(f"warning: training error is still {100 * s.train_error:.1f}% after epoch {s.epoch} "
                       "(chance: 90%): the units are probably saturated; try a smaller --lr "
                       "(or a larger --mu with SDLM)", err=True)

    try:
        summary = run(config, on_start=header, on_epoch=on_epoch, on_chunk=on_chunk,
                      should_stop=lambda: stop["signal"] is not None,
                      progress=progress_bar("download") if tty else None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        bar.close()
    summary.pop("model")
    summary.pop("history")
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{'stopped' if summary['interrupted'] else 'done'}: {count(summary['epochs'], 'epoch')}, "
                   f"train error {100 * summary['train_error']:.2f}%, "
                   f"test error {100 * summary['test_error']:.2f}%, {summary['train_seconds']:.2f} s training "
                   f"({summary['us_per_sample']:.1f} µs/sample, JIT/cache load {summary['jit_seconds']:.2f} s)"
                   + (f", checkpoint {out}" if out else ""))
    if summary["interrupted"]:  # a signal during the final save of a finished run interrupts nothing
        if out:
            again = ["lenet-numba", "train", "--resume", out, "--out", out]
            again += (["--metrics", config.metrics] if config.metrics else []) + \
                (["--data-dir", data_dir] if data_dir else []) + (["--no-download"] if no_download else [])
            click.echo(f"interrupted; saved {out}. Resume with: {shlex.join(again)}", err=True)
        else:
            click.echo("interrupted; nothing saved (no --out given)", err=True)
        sys.exit(130 if stop["signal"] == signal.SIGINT else 143)
