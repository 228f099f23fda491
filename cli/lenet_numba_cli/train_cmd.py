"""``lenet-numba train``: options -> TrainConfig -> lenet_numba.experiment.run -> output."""

import dataclasses
import json
import signal
import sys

import click

from lenet_numba import architectures, recipes
from lenet_numba.checkpoint import load_checkpoint
from lenet_numba.errors import UsageError
from lenet_numba.experiment import DATASETS, TrainConfig, run

from .options import (ProgressBar, data_dir_option, json_option, no_download_option, non_negative, positive,
                      progress_bar)


# options that may differ when resuming; any other given option must equal the saved run's value
_FREE_ON_RESUME = {"epochs", "out", "metrics", "checkpoint_every", "resume", "chunk_size", "data_dir",
                   "no_download", "as_json"}


STALLED_ERROR = 0.8  # training error after 2+ passes that means the run is not learning


def _refuse_changed_options(resume):
    """A resumed run continues with the options it was started with: refuse a different one."""
    _, meta, _ = load_checkpoint(resume)
    # a field the checkpoint predates has the value its run used: the Recipe default
    saved = {f.name: f.default for f in dataclasses.fields(recipes.Recipe)}
    saved.update(meta.get("recipe", {}))
    saved.update(recipe=saved.get("name"), arch=meta.get("arch"), seed=meta.get("seed"),
                 dataset=meta.get("dataset"), init_from=meta.get("config", {}).get("init_from"))
    ctx = click.get_current_context()
    for p in ctx.command.params:
        if p.name in _FREE_ON_RESUME or ctx.get_parameter_source(p.name) == click.core.ParameterSource.DEFAULT:
            continue
        if ctx.params[p.name] != saved.get(p.name):
            raise UsageError(f"{p.opts[-1]} {ctx.params[p.name]} differs from the resumed run's "
                             f"{saved.get(p.name)!r}: {resume} continues with the options it was started with")


@click.command("train")
@click.option("--arch", type=click.Choice(list(architectures.ARCHITECTURES)), default="lenet1", show_default=True,
              help="lenet1: the article's LeNet-1 (3,128 params); zipcode1989: the 1989 zip-code net (9,760).")
@click.option("--recipe", type=click.Choice(list(recipes.RECIPES)), default=recipes.DEFAULT_RECIPE,
              show_default=True, help="1989 (default, the most faithful): scaled tanh everywhere, MSE to ±1, "
              "SDLM, fixed order, 23 passes. seed: tanh, linear outputs, cross-entropy, SGD. "
              "modern: cross-entropy, shuffling, augmentation, decaying rate.")
@click.option("--epochs", type=int, default=None, callback=non_negative, help="Passes over the data [recipe: 23].")
@click.option("--lr", type=float, default=None, callback=positive,
              help="SGD learning rate, or SDLM's eta [recipe; SDLM: tuned per network].")
@click.option("--lr-decay", type=float, default=None, callback=positive,
              help="The rate is lr x lr_decay**epoch [recipe; SDLM: tuned per network].")
@click.option("--mu", type=float, default=None, callback=positive,
              help="SDLM damping mu [recipe; SDLM: tuned per network].")
@click.option("--optimizer", type=click.Choice(["sgd", "sdlm"]), default=None, help="[recipe]")
@click.option("--loss", type=click.Choice(["mse", "ce"]), default=None, help="[recipe]")
@click.option("--activation", type=click.Choice(["tanh", "scaled-tanh"]), default=None,
              help="Hidden-layer activation [recipe].")
@click.option("--output-activation", type=click.Choice(["identity", "tanh", "scaled-tanh"]), default=None,
              help="[recipe]")
@click.option("--shuffle/--fixed-order", default=None, help="Presentation order [recipe: fixed].")
@click.option("--augment/--no-augment", default=None, help="Seeded shift/rotate/scale distortions [recipe].")
@click.option("--max-shift", type=float, default=None, callback=non_negative,
              help="Augmentation: largest shift in pixels [recipe].")
@click.option("--max-rotate", type=float, default=None, callback=non_negative,
              help="Augmentation: largest rotation in degrees [recipe].")
@click.option("--max-scale", type=float, default=None, callback=non_negative,
              help="Augmentation: largest relative scaling, e.g. 0.1 [recipe].")
@click.option("--max-shear", type=float, default=None, callback=non_negative,
              help="Augmentation: largest shear (x += shear * y) [recipe].")
@click.option("--max-stretch", type=float, default=None, callback=non_negative,
              help="Augmentation: largest independent x/y scaling, relative [recipe].")
@click.option("--elastic-alpha", type=float, default=None, callback=non_negative,
              help="Augmentation: elastic distortion strength (Simard et al. 2003), 0 = off [recipe].")
@click.option("--elastic-sigma", type=float, default=None, callback=non_negative,
              help="Augmentation: elastic field smoothing in pixels [recipe].")
@click.option("--augment-epochs", type=int, default=None, callback=non_negative,
              help="Augment only the first N passes, 0 = all [recipe].")
@click.option("--weight-decay", type=float, default=None, callback=non_negative,
              help="L2 weight decay in every update: params -= step x (grads + wd x params), 0 = off [recipe].")
@click.option("--label-smoothing", type=float, default=None, callback=non_negative,
              help="Cross-entropy target (1 - eps) one-hot + eps/10, eps in [0, 1), 0 = off [recipe].")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None, help="[float32]")
@click.option("--seed", type=int, default=0, show_default=True, help="Initial weights, shuffling, augmentation.")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default="usps", show_default=True,
              help="usps; mnist16 (seeded 7,291/2,007 split of MNIST t10k at 16x16); "
              "mnist16-all (all 10,000, tested on USPS: a pre-training stage).")
@click.option("--init-from", type=click.Path(dir_okay=False), default=None,
              help="Start from this checkpoint's weights (training in stages).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the checkpoint (.npz) here.")
@click.option("--metrics", type=click.Path(dir_okay=False), default=None,
              help="Write one JSON object per epoch to this file.")
@click.option("--checkpoint-every", type=int, default=0, callback=non_negative,
              help="Rewrite --out after every N epochs (0: at the end only).")
@click.option("--resume", type=click.Path(dir_okay=False), default=None,
              help="Continue the run saved in this checkpoint up to --epochs in total.")
@click.option("--chunk-size", type=int, default=512, callback=positive, show_default=True,
              help="Samples per compiled chunk (progress granularity; never changes results).")
@data_dir_option
@no_download_option
@json_option
def train_cmd(arch, recipe, epochs, lr, lr_decay, mu, optimizer, loss, activation, output_activation, shuffle,
              augment, max_shift, max_rotate, max_scale, max_shear, max_stretch, elastic_alpha, elastic_sigma,
              augment_epochs, weight_decay, label_smoothing, dtype, seed, dataset, init_from, out, metrics, checkpoint_every, resume, chunk_size, data_dir,
              no_download, as_json):
    """Train a network on the real USPS digits (default: LeNet-1 with the 1989 recipe).

    Prints one line per epoch; a progress bar on a terminal. Ctrl-C or SIGTERM stop after
    the current chunk, save the checkpoint (with --out) and print how to resume.
    """
    if resume:
        _refuse_changed_options(resume)
    if checkpoint_every and not out:
        raise UsageError("--checkpoint-every needs --out: where should the checkpoints go?")
    overrides = dict(epochs=epochs, lr=lr, lr_decay=lr_decay, mu=mu, optimizer=optimizer, loss=loss,
                     activation=activation, output_activation=output_activation, shuffle=shuffle, augment=augment, max_shift=max_shift,
                     max_rotate=max_rotate, max_scale=max_scale, max_shear=max_shear,
                     max_stretch=max_stretch, elastic_alpha=elastic_alpha, elastic_sigma=elastic_sigma,
                     augment_epochs=augment_epochs, weight_decay=weight_decay, label_smoothing=label_smoothing,
                     dtype=dtype)
    config = TrainConfig(arch=arch, recipe=recipe, overrides=overrides, seed=seed, dataset=dataset,
                         data_dir=data_dir, download=not no_download, init_from=init_from, out=out,
                         metrics=metrics, chunk_size=chunk_size, checkpoint_every=checkpoint_every, resume=resume)
    if not resume and not config.resolved_recipe().augment:  # a size without --augment would do nothing
        ctx = click.get_current_context()
        given = [n for n in recipes.DISTORTION_LIMITS
                 if ctx.get_parameter_source(n) != click.core.ParameterSource.DEFAULT]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} has no effect without --augment "
                             f"(recipe {recipe} does not augment)")
    err = sys.stderr
    tty = err.isatty()
    log = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo

    def header(cfg, r, start_epoch):  # once everything is checked: an error comes alone
        log(f"lenet-numba train: {cfg.arch}, recipe {r.name} ({r.activation}/{r.output_activation}, {r.loss}, "
            f"{r.optimizer}, {'shuffled' if r.shuffle else 'fixed order'}{', augmented' if r.augment else ''}), "
            f"{r.epochs} epochs{f' (resuming after {start_epoch})' if cfg.resume else ''}, {r.dtype}, "
            f"seed {cfg.seed}, dataset {cfg.dataset}")
        log(f"{'epoch':>5} {'train_loss':>10} {'test_loss':>10} {'train_err':>9} {'test_err':>8} {'seconds':>8} "
            f"{'samples/s':>10}")

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
            f"{100 * s.test_error:>7.2f}% {s.seconds:>8.2f} {s.samples_per_s:>10.0f}")
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
        click.echo(f"{'stopped' if summary['interrupted'] else 'done'}: {summary['epochs']} epochs, train error {100 * summary['train_error']:.2f}%, "
                   f"test error {100 * summary['test_error']:.2f}%, {summary['train_seconds']:.2f} s training "
                   f"({summary['us_per_sample']:.1f} µs/sample, JIT/cache load {summary['jit_seconds']:.2f} s)"
                   + (f", checkpoint {out}" if out else ""))
    if stop["signal"] is not None:
        if out:
            click.echo(f"interrupted; saved {out}. Resume with: lenet-numba train --resume {out} --out {out} "
                       f"(and the same options)", err=True)
        else:
            click.echo("interrupted; nothing saved (no --out given)", err=True)
        sys.exit(130 if stop["signal"] == signal.SIGINT else 143)
