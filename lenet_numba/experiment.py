"""One training run end to end: data -> model -> train -> metrics file and checkpoint.

This is what ``lenet-numba train`` runs; it is plain Python a user can call too:

    >>> from lenet_numba.experiment import TrainConfig, run
    >>> summary = run(TrainConfig(arch="lenet1", recipe="1989", out="m.npz"))
"""

import json
import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from . import __version__, recipes
from .atomic import atomic_open, check_output_path
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import CheckpointError, UsageError
from .model import Model
from .optim import SGD
from .train import train

DATASETS = ("usps", "mnist16", "mnist16-all")


@dataclass
class TrainConfig:
    arch: str = "lenet1"
    recipe: str = recipes.DEFAULT_RECIPE
    overrides: dict = field(default_factory=dict)  # recipe fields set one by one (None = keep)
    seed: int = 0
    dataset: str = "usps"
    data_dir: str = None
    download: bool = True
    init_from: str = None       # start from a checkpoint's weights (training in stages)
    out: str = None             # checkpoint path
    metrics: str = None         # JSON-lines path, one object per epoch
    chunk_size: int = 512
    checkpoint_every: int = 0   # rewrite `out` after every N epochs (0: only at the end)
    resume: str = None          # continue the run saved in this checkpoint

    def resolved_recipe(self):
        return recipes.get(self.recipe).with_overrides(**self.overrides).for_arch(self.arch).validate()


def load_dataset(name, data_dir=None, download=True, seed=0, progress=None):
    """(train_x, train_y, test_x, test_y, description) for a dataset name.

    usps: the 7,291/2,007 zip-code digits. mnist16: a seeded 7,291/2,007 split of the
    MNIST t10k set resized to 16x16. mnist16-all: all 10,000 of them for training, tested
    on the USPS test set (the pre-training stage of a staged run).
    """
    from . import data

    if name == "usps":
        xtr, ytr = data.load_usps("train", data_dir, download, progress)
        xte, yte = data.load_usps("test", data_dir, download, progress)
    elif name == "mnist16":
        xtr, ytr = data.load_mnist16("train", data_dir, seed, download=download, progress=progress)
        xte, yte = data.load_mnist16("test", data_dir, seed, download=download, progress=progress)
    elif name == "mnist16-all":
        xtr, ytr = data.load_mnist16_all(data_dir, download, progress)
        xte, yte = data.load_usps("test", data_dir, download, progress)
    else:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return xtr, ytr, xte, yte


def load_test_set(name, data_dir=None, download=True, seed=0, progress=None):
    """(test_x, test_y) of a dataset, without touching its training file."""
    from . import data

    if name in ("usps", "mnist16-all"):
        return data.load_usps("test", data_dir, download, progress)
    if name == "mnist16":
        return data.load_mnist16("test", data_dir, seed, download=download, progress=progress)
    raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def make_optimizer(recipe, seed=0):
    """SGD or SDLM with the recipe's rate, times lr_decay**epoch."""
    if not recipe.lr > 0:
        raise UsageError(f"learning rate must be > 0, got {recipe.lr}")
    lr, decay = recipe.lr, recipe.lr_decay
    rate = lr if decay == 1.0 else (lambda e: lr * decay ** e)
    if recipe.optimizer == "sgd":
        return SGD(rate)
    if recipe.optimizer == "sdlm":
        from .sdlm import SDLM
        if not recipe.mu > 0:
            raise UsageError(f"SDLM's mu must be > 0, got {recipe.mu}")
        return SDLM(eta=rate, mu=recipe.mu, seed=seed)
    raise UsageError(f"unknown optimizer {recipe.optimizer!r}; choose sgd or sdlm")


RUN_DEFINING = ("arch", "recipe", "seed", "dataset", "init_from")
TIMING_KEYS = ("seconds", "samples_per_s")


def build_model(arch, recipe, seed):
    return Model(arch, recipe.activation, recipe.output_activation, recipe.dtype, seed=seed)


def checkpoint_meta(config, recipe, model, epoch, history, position=0, totals=(0.0, 0.0)):
    return {
        "arch": model.arch.name,
        "activation": model.activation,
        "output_activation": model.output_activation,
        "dtype": model.dtype.name,
        "epoch": epoch,          # completed passes
        "position": position,    # samples done in the next pass (an interrupted run)
        "totals": list(totals),  # running loss/mistake sums of that partial pass
        "seed": config.seed,
        "dataset": config.dataset,
        "recipe": recipe.as_dict(),
        # only what decides the weights: where files go, the chunk size and timings do not,
        # so the same seed and options give a byte-identical checkpoint (README: Determinism)
        "config": {k: v for k, v in asdict(config).items() if k in RUN_DEFINING},
        "history": [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in history],
        "package_version": __version__,
    }


def model_from_checkpoint(path, dtype=None):
    """Rebuild a Model (architecture, activations, weights) from a checkpoint file."""
    params, meta, _ = load_checkpoint(path)
    try:
        m = Model(meta["arch"], meta["activation"], meta["output_activation"],
                  dtype or meta.get("dtype", "float32"), init=False)
    except (KeyError, UsageError) as e:
        raise CheckpointError(f"{path}: metadata does not describe a known network ({e})") from None
    params, meta, _ = load_checkpoint(path, expected_arch=m.arch.name,
                                      expected_shapes={n: v.shape for n, v in m.named_parameters().items()})
    m.load_state_dict(params)
    return m, meta


def run(config, on_epoch=None, on_chunk=None, should_stop=None, progress=None, on_start=None):
    """Train as configured; returns the summary dict ``lenet-numba train --json`` prints.

    ``on_start(config, recipe, start_epoch)`` is called once the data, the checkpoints and the
    options have all been checked, just before the first pass (a resumed run: with the
    checkpoint's arch, seed and recipe)."""
    recipe = config.resolved_recipe()
    if config.resume:  # continue *that* run: its recipe, seed and data; only --epochs may change
        _, meta, _ = load_checkpoint(config.resume)
        try:
            recipe = recipes.Recipe(**meta["recipe"]).with_overrides(epochs=config.overrides.get("epochs"))
            config = replace(config, arch=meta["arch"], seed=int(meta["seed"]), dataset=meta["dataset"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{config.resume}: not a resumable training checkpoint ({e})") from None
        try:
            recipe.validate()
        except UsageError as e:
            raise CheckpointError(f"{config.resume}: its recipe is not usable ({e})") from None
        done = meta.get("epoch", 0)
        if isinstance(done, int) and recipe.epochs < done:
            raise UsageError(f"{config.resume} has already trained {done} epochs: --epochs {recipe.epochs} "
                             f"would not continue it (give --epochs > {done} to train more)")
    check_output_path(config.out, "--out")
    check_output_path(config.metrics, "--metrics")
    recipe.validate()
    xtr, ytr, xte, yte = load_dataset(config.dataset, config.data_dir, config.download, config.seed, progress)
    model = build_model(config.arch, recipe, config.seed)
    history, start_epoch, start_position, start_totals, start_step = [], 0, 0, (0.0, 0.0), None
    if config.resume:
        resumed, meta = model_from_checkpoint(config.resume, recipe.dtype)
        if resumed.arch.name != model.arch.name:
            raise CheckpointError(f"{config.resume}: checkpoint is for {resumed.arch.name!r}, "
                                  f"not {model.arch.name!r}")
        model = resumed
        _, _, state = load_checkpoint(config.resume)
        start_step = state.get("step_sizes")
        history, start_epoch = list(meta.get("history", [])), int(meta.get("epoch", 0))
        start_position, start_totals = int(meta.get("position", 0)), tuple(meta.get("totals", (0.0, 0.0)))
    elif config.init_from:
        init, _ = model_from_checkpoint(config.init_from, recipe.dtype)
        if init.arch.name != model.arch.name:
            raise CheckpointError(f"{config.init_from}: checkpoint is for {init.arch.name!r}, "
                                  f"not {model.arch.name!r}")
        model.load_state_dict(init.state_dict())
    optimizer = make_optimizer(recipe, config.seed)
    if on_start is not None:
        on_start(config, recipe, start_epoch)

    def save(epoch, position=0, totals=(0.0, 0.0), step=None):
        if config.out:
            meta = checkpoint_meta(config, recipe, model, epoch, history, position, totals)
            state = dict(optimizer.state())
            if step is not None:
                state["step_sizes"] = step
            save_checkpoint(config.out, model.state_dict(), meta, state)

    def epoch_done(stats):
        record = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in stats.as_dict().items()}
        history.append(record)
        if config.metrics:  # the whole run so far, atomically: a failed run leaves the old file whole
            with atomic_open(config.metrics, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in history)
        if config.checkpoint_every and stats.epoch % config.checkpoint_every == 0:
            save(stats.epoch)
        if on_epoch is not None:
            on_epoch(stats)

    result = train(model, xtr, ytr, epochs=recipe.epochs, optimizer=optimizer, loss=recipe.loss,
                   shuffle=recipe.shuffle, seed=config.seed, test_images=xte, test_labels=yte,
                   chunk_size=config.chunk_size, start_epoch=start_epoch, start_position=start_position,
                   start_totals=start_totals, start_step=start_step, augment=recipe,
                   weight_decay=recipe.weight_decay, label_smoothing=recipe.label_smoothing,
                   on_chunk=on_chunk, on_epoch=epoch_done, should_stop=should_stop)
    epochs_done = start_epoch + len(result.history)
    if result.interrupted and result.position:
        save(result.epoch, result.position, result.totals, result.step)
    else:
        save(epochs_done)
    last = history[-1] if history else {}
    if not history:  # zero epochs: report the untrained (or initial) network
        tr, te = model.evaluate(xtr, ytr, recipe.loss), model.evaluate(xte, yte, recipe.loss)
        last = {"train_error": tr["error"], "train_loss": tr["loss"], "test_error": te["error"], "test_loss": te["loss"]}
    return {
        "arch": model.arch.name,
        "recipe": recipe.name,
        "params": model.n_params,
        "epochs": epochs_done,
        "train_error": last["train_error"],
        "test_error": last["test_error"],
        "train_loss": last["train_loss"],
        "test_loss": last["test_loss"],
        "train_seconds": result.train_seconds,
        "us_per_sample": result.us_per_sample,
        "jit_seconds": result.jit_seconds,
        "checkpoint": os.path.abspath(config.out) if config.out else None,
        "interrupted": result.interrupted,
        "position": result.position if result.interrupted else 0,
        "model": model,
        "history": history,
    }
