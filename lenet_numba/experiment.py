"""One training run end to end: data -> model -> train -> metrics file and checkpoint.

This is what ``lenet-numba train`` runs; it is plain Python a user can call too:

    >>> from lenet_numba.experiment import TrainConfig, run
    >>> summary = run(TrainConfig(arch="lenet1", recipe="1989", epochs=5, out="m.npz"))

TrainConfig takes the options of ``lenet-numba train`` by their names; None means the
recipe's value (or the default), and a resumed run takes the checkpoint's.
"""

import json
import os
from dataclasses import InitVar, field, fields, make_dataclass

import numpy as np

from . import __version__, recipes
from .atomic import atomic_open, check_distinct_paths, check_output_path
from .checkpoint import save_checkpoint
from .errors import CheckpointError, UsageError
from .model import Model
from .optim import SGD
from .run_checkpoint import model_from_checkpoint, read_run_checkpoint, resume_rules
from .train import Start, TrainOptions, train

DATASETS = recipes.DATASETS
__all__ = ["TrainConfig", "run", "load_dataset", "load_test_set", "model_from_checkpoint", "DATASETS"]
RUN_DEFAULTS = {"arch": "lenet1", "recipe": recipes.DEFAULT_RECIPE, "seed": 0, "dataset": "usps"}


def _run_field(name, default, help, **cli):
    return name, object, field(default=default, metadata={"help": help, **cli})


# A run's options: where and what to train, then every recipe field by its own name (None:
# the recipe's value). The CLI makes one option of each field, from the same metadata.
_RUN_FIELDS = [
    _run_field("arch", None, "lenet1: the LeNet-1 of the article (3,128 params); zipcode1989: the 1989 "
               "zip-code net (9,760); lenet1-nips1989: the NIPS 1989 network (2,578)", choices="architecture",
               default_text="lenet1"),
    _run_field("recipe", None, "1989 (the most faithful): scaled tanh everywhere, MSE to ±1, SDLM, fixed order, "
               "23 passes. article: tanh, linear outputs, cross-entropy, SGD. modern: cross-entropy, "
               "shuffling, augmentation, decaying rate", choices="recipe", default_text=recipes.DEFAULT_RECIPE),
    _run_field("seed", None, "Initial weights, shuffling, augmentation (0 <= seed < 2**63)", type=int,
               default_text="0"),
    _run_field("dataset", None, "usps; mnist16 (seeded 7,291/2,007 split of MNIST t10k at 16x16); mnist16-all "
               "(all 10,000, tested on USPS: a pre-training stage)", choices="dataset", default_text="usps"),
    _run_field("data_dir", None, "Data root", cli=False),
    _run_field("download", True, "Download missing data", cli=False),
    _run_field("init_from", None, "Start from this checkpoint's weights (training in stages)", path=True),
    _run_field("out", None, "Write the checkpoint (.npz) here (without it nothing is saved)", path=True),
    _run_field("metrics", None, "Write one JSON object per epoch to this file", path=True),
    _run_field("chunk_size", 512, "Samples per compiled chunk (progress granularity; never changes results)",
               type=int),
    _run_field("checkpoint_every", 0, "Rewrite --out after every N epochs (0: at the end only)", type=int),
    _run_field("validation", None, "Hold out N of the training digits (seeded by --seed, stratified by class): "
               "report valid_error/valid_loss after each pass, train on the rest", type=int, default_text="0"),
    _run_field("test", True, "Evaluate on the test set; False: never read it (tuning)", cli=False),
    _run_field("resume", None, "Continue the run saved in this checkpoint (its options) up to --epochs in total",
               path=True),
]
RECIPE_FIELDS = [f for f in fields(recipes.Recipe) if f.name not in ("name", "description")]


def _post_init(self, overrides):
    for name, value in (overrides or {}).items():  # the older spelling: TrainConfig(overrides={...})
        if name not in RECIPE_FIELD_NAMES:
            raise UsageError(f"unknown recipe field(s): {name}")
        if value is not None:
            setattr(self, name, value)


def _recipe_overrides(self):
    return {f.name: getattr(self, f.name) for f in RECIPE_FIELDS}


def _resolved_recipe(self):
    """The recipe with every given field applied and SDLM's open values filled, checked."""
    arch = self.arch or RUN_DEFAULTS["arch"]
    return recipes.get(self.recipe or RUN_DEFAULTS["recipe"]).with_overrides(**self.recipe_overrides()) \
        .for_arch(arch).validate()


def _validate(self):
    """Every run option by the rules of recipes.py (UsageError); returns self."""
    for name, kind in (("arch", "architecture"), ("recipe", "recipe"), ("dataset", "dataset")):
        if getattr(self, name) is not None:
            recipes.check_name(kind, getattr(self, name), name)
    if self.seed is not None:
        recipes.check_seed(self.seed)
    recipes.check_int("chunk_size", self.chunk_size, 1, recipes.MAX_CHUNK)
    recipes.check_int("checkpoint_every", self.checkpoint_every, 0, recipes.MAX_EPOCHS)
    if self.validation is not None:
        recipes.check_int("validation", self.validation, 0, recipes.MAX_HELD_OUT)
    for name in ("init_from", "out", "metrics", "resume", "data_dir"):
        recipes.check_path(f"--{name.replace('_', '-')}", getattr(self, name))
    if self.checkpoint_every and not self.out:
        raise UsageError("--checkpoint-every needs --out: where should the checkpoints go?")
    if not self.resume:
        self.resolved_recipe()
    return self


TrainConfig = make_dataclass(
    "TrainConfig",
    _RUN_FIELDS + [(f.name, f.type, field(default=None, metadata=f.metadata)) for f in RECIPE_FIELDS]
    + [("overrides", InitVar[dict], None)],
    namespace={"__post_init__": _post_init, "recipe_overrides": _recipe_overrides,
               "resolved_recipe": _resolved_recipe, "validate": _validate,
               "__doc__": "A training run's options, by the names the CLI uses (None: the default "
                          "or the recipe's value)."},
)
TrainConfig.__module__ = __name__
RECIPE_FIELD_NAMES = {f.name for f in RECIPE_FIELDS}


def load_dataset(name, data_dir=None, download=True, seed=0, progress=None, test=True):
    """(train_x, train_y, test_x, test_y, description) for a dataset name.

    usps: the 7,291/2,007 zip-code digits. mnist16: a seeded 7,291/2,007 split of the
    MNIST t10k set resized to 16x16. mnist16-all: all 10,000 of them for training, tested
    on the USPS test set (the pre-training stage of a staged run). test=False: the test
    file is never read (test_x, test_y are None).
    """
    from . import data

    if not test:
        return (*load_train_set(name, data_dir, download, seed, progress), None, None)

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
        recipes.check_name("dataset", name)
    return xtr, ytr, xte, yte


def load_train_set(name, data_dir=None, download=True, seed=0, progress=None):
    """(train_x, train_y) of a dataset, without touching its test file."""
    from . import data

    if name == "usps":
        return data.load_usps("train", data_dir, download, progress)
    if name == "mnist16":
        return data.load_mnist16("train", data_dir, seed, download=download, progress=progress)
    if name == "mnist16-all":
        return data.load_mnist16_all(data_dir, download, progress)
    recipes.check_name("dataset", name)


def load_test_set(name, data_dir=None, download=True, seed=0, progress=None):
    """(test_x, test_y) of a dataset, without touching its training file."""
    from . import data

    if name in ("usps", "mnist16-all"):
        return data.load_usps("test", data_dir, download, progress)
    if name == "mnist16":
        return data.load_mnist16("test", data_dir, seed, download=download, progress=progress)
    recipes.check_name("dataset", name)


def make_optimizer(recipe, seed=0):
    """SGD or SDLM with the recipe's (checked, resolved) rate, times lr_decay**epoch."""
    lr, decay = recipe.lr, recipe.lr_decay
    rate = lr if decay == 1.0 else (lambda e: lr * decay ** e)
    if recipes.check_name("optimizer", recipe.optimizer) == "sgd":
        return SGD(rate)
    from .sdlm import SDLM
    return SDLM(eta=rate, mu=recipe.mu, seed=seed)


TIMING_KEYS = ("seconds", "samples_per_s")


def build_model(arch, recipe, seed):
    return Model(arch, recipe.activation, recipe.output_activation, recipe.dtype, seed=seed)


def checkpoint_meta(run_defining, recipe, model, epoch, history, position=0, totals=(0.0, 0.0)):
    return {
        "arch": model.arch.name,
        "activation": model.activation,
        "output_activation": model.output_activation,
        "dtype": model.dtype.name,
        "epoch": epoch,          # completed passes
        "position": position,    # samples done in the next pass (an interrupted run)
        "totals": list(totals),  # running loss/mistake sums of that partial pass
        "seed": run_defining["seed"],
        "dataset": run_defining["dataset"],
        "recipe": recipe.as_dict(),
        # only what decides the weights: where files go, the chunk size and timings do not,
        # so the same seed and options give a byte-identical checkpoint (README: Determinism);
        # a starting checkpoint is named by its content, not by how its path was spelled
        "config": run_defining,
        "history": [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in history],
        "package_version": __version__,
    }


def check_outputs(config):
    """Before any work: --metrics may not be the same file as another path (by identity), and
    each output is tried as its final write will need (folder, temp name, replaceable target)."""
    check_distinct_paths({"--metrics": config.metrics},
                         {"--out": config.out, "--resume": config.resume, "--init-from": config.init_from})
    check_output_path(config.out, "--out")
    check_output_path(config.metrics, "--metrics")


def run(config, on_epoch=None, on_chunk=None, should_stop=None, progress=None, on_start=None, on_model=None):
    """Train as configured; returns the summary dict ``lenet-numba train --json`` prints.

    ``on_start(config, recipe, start_epoch)`` is called once the data, the checkpoints and the
    options have all been checked, just before the first pass (with the run's arch, seed,
    dataset filled in: a resumed run's from its checkpoint); then ``on_model(model, test_set)``
    with the model training goes on to change in place and the (images, labels) it is tested
    on. A resumed run reads its checkpoint once and continues with its options, weights and
    optimizer state."""
    config.validate()
    ckpt = read_run_checkpoint(config.resume) if config.resume else None
    if ckpt is not None:
        arch, seed, dataset, recipe = resume_rules(config, ckpt)
        init_from = ckpt.meta.get("config", {}).get("init_from")
    else:
        arch, seed, dataset = (RUN_DEFAULTS[k] if getattr(config, k) is None else getattr(config, k)
                               for k in ("arch", "seed", "dataset"))
        recipe = config.resolved_recipe()
        init = read_run_checkpoint(config.init_from, recipe.dtype) if config.init_from else None
        if init is not None and init.model.arch.name != arch:
            raise CheckpointError(f"{config.init_from}: checkpoint is for {init.model.arch.name!r}, not {arch!r}")
        init_from = init.digest if init is not None else None
    validation = int(ckpt.meta.get("config", {}).get("validation", 0)) if ckpt is not None else \
        (config.validation or 0)
    config = replace_config(config, arch=arch, seed=seed, dataset=dataset, recipe=recipe.name, validation=validation)
    check_outputs(config)
    xtr, ytr, xte, yte = load_dataset(dataset, config.data_dir, config.download, seed, progress, test=config.test)
    xva = yva = None
    if validation:
        from .data import stratified_holdout
        keep, held = stratified_holdout(ytr, validation, seed)
        xtr, ytr, xva, yva = xtr[keep], ytr[keep], xtr[held], ytr[held]
    history, start = [], None
    if ckpt is not None:
        model, meta = ckpt.model, ckpt.meta
        if meta.get("position", 0) >= max(len(ytr), 1):
            raise CheckpointError(f"{ckpt.path}: position {meta['position']} is past the {len(ytr)} training digits")
        history = list(meta["history"])
        start = Start(meta["epoch"], meta.get("position", 0), tuple(meta.get("totals", (0.0, 0.0))),
                      ckpt.state.get("step_sizes"))
    else:
        model = build_model(arch, recipe, seed)
        if init is not None:
            model.load_state_dict(init.model.state_dict())
    optimizer = make_optimizer(recipe, seed)
    saved_state = {k: v for k, v in (ckpt.state if ckpt else {}).items() if k != "step_sizes"}
    if saved_state:  # SDLM's h and the pass it was estimated for: a finished run's file stays byte-identical
        optimizer.load_state(saved_state)
    if on_start is not None:
        on_start(config, recipe, start.epoch if start else 0)
    if on_model is not None:
        on_model(model, (xte, yte))
    run_defining = {"arch": arch, "recipe": recipe.name, "seed": seed, "dataset": dataset, "init_from": init_from}
    if validation:  # only when used: the default run's checkpoint stays byte-identical
        run_defining["validation"] = validation

    def save(epoch, position=0, totals=(0.0, 0.0), step=None):
        if config.out:
            meta = checkpoint_meta(run_defining, recipe, model, epoch, history, position, totals)
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

    options = TrainOptions.from_recipe(recipe, seed=seed, chunk_size=config.chunk_size)
    result = train(model, xtr, ytr, options, optimizer=optimizer, test_images=xte, test_labels=yte,
                   valid_images=xva, valid_labels=yva, start=start,
                   on_chunk=on_chunk, on_epoch=epoch_done, should_stop=should_stop)
    start_epoch = start.epoch if start else 0
    epochs_done = start_epoch + len(result.history)
    if result.interrupted and result.position:
        save(result.epoch, result.position, result.totals, result.step)
    else:
        save(epochs_done)
    last = history[-1] if history else {}
    if not history:  # zero epochs: report the untrained (or initial) network
        tr = model.evaluate(xtr, ytr, recipe.loss)
        te = model.evaluate(xte, yte, recipe.loss) if xte is not None else {"error": float("nan"), "loss": float("nan")}
        last = {"train_error": tr["error"], "train_loss": tr["loss"], "test_error": te["error"], "test_loss": te["loss"]}
        if xva is not None:
            va = model.evaluate(xva, yva, recipe.loss)
            last.update(valid_error=va["error"], valid_loss=va["loss"])
    return {
        "arch": model.arch.name,
        "recipe": recipe.name,
        "params": model.n_free_params,
        "epochs": epochs_done,
        "train_error": last["train_error"],
        "test_error": last["test_error"],
        "train_loss": last["train_loss"],
        "test_loss": last["test_loss"],
        **({"validation": validation, "valid_error": last["valid_error"], "valid_loss": last["valid_loss"]}
           if validation else {}),
        "train_seconds": result.train_seconds,
        "us_per_sample": result.us_per_sample,
        "jit_seconds": result.jit_seconds,
        "checkpoint": os.path.abspath(config.out) if config.out else None,
        "interrupted": result.interrupted,
        "position": result.position if result.interrupted else 0,
        "model": model,
        "history": history,
    }


def replace_config(config, **changes):
    """A copy of a TrainConfig with some fields changed (its recipe fields kept as given)."""
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    return TrainConfig(**{**values, **changes})
