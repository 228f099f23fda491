"""One training run end to end: resolve -> load -> build -> fit -> report.

This is what ``lenet-numba train`` runs; it is plain Python a user can call too:

    >>> from lenet_numba.experiment import TrainConfig, run
    >>> summary = run(TrainConfig.from_options(arch="lenet1", recipe="1989", epochs=5, out="m.npz"))

* resolve: the options checked once (TrainConfig.validate), or a resumed run's taken from
  its checkpoint (read once), and the outputs tried before any work;
* load: the data set's parts, the held-out validation digits split off;
* build: the model (new, from a starting checkpoint, or resumed), the optimizer and its state;
* fit: train() with the per-pass metrics file and checkpoints;
* report: the summary ``lenet-numba train --json`` prints.
"""

import json
import os
from dataclasses import dataclass

import numpy as np

from . import __version__
from .atomic import atomic_open, check_distinct_paths, check_output_path
from .checkpoint import save_checkpoint
from .config import RECIPE_FIELDS, TrainConfig
from .data.datasets import load_dataset, load_test_set, load_train_set
from .data.locate import existing_data_files
from .data.split import stratified_holdout
from .errors import CheckpointError
from .limits import DATASETS
from .model import Model
from .run_checkpoint import model_from_checkpoint, read_run_checkpoint, resume_rules
from .train import Start, make_optimizer, train

__all__ = ["TrainConfig", "run", "load_dataset", "load_train_set", "load_test_set", "model_from_checkpoint",
           "DATASETS", "RECIPE_FIELDS"]
TIMING_KEYS = ("seconds", "samples_per_s")


def build_model(arch, recipe, seed):
    return Model(arch, recipe.activation, recipe.output_activation, recipe.dtype, seed=seed,
                 numerics=recipe.numerics)


def checkpoint_meta(run_defining, recipe, model, epoch, history, position=0, totals=(0.0, 0.0)):
    return {
        "arch": model.arch.name,
        "activation": model.activation,
        "output_activation": model.output_activation,
        "dtype": model.dtype.name,
        "numerics": model.numerics,
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
        # (a run that reads no test set, --no-test, has no test figures: NaN, which JSON refuses)
        "history": [{k: v for k, v in record.items() if k not in TIMING_KEYS and v == v} for record in history],
        "package_version": __version__,
    }


def check_outputs(config):
    """Before any work: no output may be the same file as another path given or a data file
    (by identity; --out may be the --resume file it continues), and each output is tried
    as its final write will need (folder, temp name, replaceable target)."""
    check_distinct_paths({"--metrics": config.metrics},
                         {"--out": config.out, "--resume": config.resume, "--init-from": config.init_from})
    for path in existing_data_files(config.data_dir):
        check_distinct_paths({"--out": config.out, "--metrics": config.metrics}, {"the data file": str(path)})
    check_output_path(config.out, "--out")
    check_output_path(config.metrics, "--metrics")


@dataclass
class _Resolved:
    """A run's checked options and what its starting files gave: the resumed checkpoint, or
    the one whose weights it starts from (and that file's digest)."""
    config: TrainConfig  # validated: recipe is the Recipe, arch/seed/dataset/validation filled
    resumed: object = None
    init: object = None
    init_from: str = None

    @property
    def run_defining(self):
        c = self.config
        return run_defining(c.arch, c.recipe.name, c.seed, c.dataset, self.init_from, c.validation)


def run_defining(arch, recipe, seed, dataset, init_from=None, validation=0):
    """What decides a run's weights (stored in its checkpoint; a resume must match it)."""
    out = {"arch": arch, "recipe": recipe, "seed": seed, "dataset": dataset, "init_from": init_from}
    if validation:  # only when used: the default run's checkpoint stays byte-identical
        out["validation"] = validation
    return out


def resolve(config):
    """Check the options once; a resumed run takes its network, seed, data and recipe from
    its checkpoint; a staged run reads its starting checkpoint. Outputs are tried last."""
    config = config.validate()
    if config.resume:
        ckpt = read_run_checkpoint(config.resume)
        arch, seed, dataset, recipe = resume_rules(config, ckpt)
        saved = ckpt.meta.get("config", {})
        config = config.checked(arch=arch, seed=seed, dataset=dataset, recipe=recipe, overrides={},
                                validation=int(saved.get("validation", 0)))
        resolved = _Resolved(config, resumed=ckpt, init_from=saved.get("init_from"))
    else:
        init = read_run_checkpoint(config.init_from, config.recipe.dtype) if config.init_from else None
        if init is not None and init.model.arch.name != config.arch:
            raise CheckpointError(f"{config.init_from}: checkpoint is for {init.model.arch.name!r}, "
                                  f"not {config.arch!r}")
        resolved = _Resolved(config, init=init, init_from=init.digest if init is not None else None)
    check_outputs(config)
    return resolved


def load(config, progress=None):
    """(train, valid, test) as (images, labels) pairs; (None, None) for a part not used."""
    xtr, ytr, xte, yte = load_dataset(config.dataset, config.data_dir, config.download, config.seed, progress,
                                      test=config.test)
    valid = (None, None)
    if config.validation:
        keep, held = stratified_holdout(ytr, config.validation, config.seed)
        (xtr, ytr), valid = (xtr[keep], ytr[keep]), (xtr[held], ytr[held])
    return (xtr, ytr), valid, (xte, yte)


def build(resolved, n_train):
    """(model, optimizer, start, history): a new or staged run's fresh model, or the resumed
    run's model, optimizer state, starting point and history."""
    config, ckpt = resolved.config, resolved.resumed
    optimizer = make_optimizer(config.recipe, config.seed)
    if ckpt is None:
        model = build_model(config.arch, config.recipe, config.seed)
        if resolved.init is not None:
            model.load_state_dict(resolved.init.model.state_dict())
        return model, optimizer, None, []
    meta = ckpt.meta
    if meta.get("position", 0) >= max(n_train, 1):
        raise CheckpointError(f"{ckpt.path}: position {meta['position']} is past the {n_train} training digits")
    saved_state = {k: v for k, v in ckpt.state.items() if k != "step_sizes"}
    if saved_state:  # SDLM's h and the pass it was estimated for: a finished run's file stays byte-identical
        optimizer.load_state(saved_state)
    start = Start(meta["epoch"], meta.get("position", 0), tuple(meta.get("totals", (0.0, 0.0))),
                  ckpt.state.get("step_sizes"))
    return ckpt.model, optimizer, start, list(meta["history"])


def run(config, on_epoch=None, on_chunk=None, should_stop=None, progress=None, on_start=None, on_model=None):
    """Train as configured; returns the summary dict ``lenet-numba train --json`` prints.

    ``on_start(config, recipe, start_epoch)`` is called once the data, the checkpoints and the
    options have all been checked, just before the first pass (with the run's arch, seed,
    dataset filled in: a resumed run's from its checkpoint); then ``on_model(model, test_set)``
    with the model training goes on to change in place and the (images, labels) it is tested
    on. A resumed run reads its checkpoint once and continues with its options, weights and
    optimizer state."""
    resolved = resolve(config)
    config, recipe = resolved.config, resolved.config.recipe
    (xtr, ytr), valid, test = load(config, progress)
    model, optimizer, start, history = build(resolved, len(ytr))
    if on_start is not None:
        on_start(config, recipe, start.epoch if start else 0)
    if on_model is not None:
        on_model(model, test)
    run_defining = resolved.run_defining

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
            with atomic_open(config.metrics, "w") as f:  # each line says which arithmetic made it
                f.writelines(json.dumps({**r, "numerics": model.numerics}) + "\n" for r in history)
        if config.checkpoint_every and stats.epoch % config.checkpoint_every == 0:
            save(stats.epoch)
        if on_epoch is not None:
            on_epoch(stats)

    result = train(model, xtr, ytr, recipe, seed=config.seed, chunk_size=config.chunk_size, optimizer=optimizer,
                   test_images=test[0], test_labels=test[1], valid_images=valid[0], valid_labels=valid[1],
                   start=start, on_chunk=on_chunk, on_epoch=epoch_done, should_stop=should_stop)
    epochs_done = (start.epoch if start else 0) + len(result.history)
    if result.interrupted and result.position:
        save(result.epoch, result.position, result.totals, result.step)
    else:
        save(epochs_done)
    return report(config, model, result, history, epochs_done, (xtr, ytr), valid, test)


def report(config, model, result, history, epochs_done, train_set, valid, test):
    """The run's summary: the last pass's figures (an untrained network's when no pass ran)."""
    last = history[-1] if history else _evaluate_untrained(model, config.recipe.loss, train_set, valid, test)
    return {
        "arch": model.arch.name,
        "recipe": config.recipe.name,
        "params": model.n_free_params,
        "epochs": epochs_done,
        "train_error": last["train_error"],
        "test_error": last["test_error"],
        "train_loss": last["train_loss"],
        "test_loss": last["test_loss"],
        **({"validation": config.validation, "valid_error": last["valid_error"], "valid_loss": last["valid_loss"]}
           if config.validation else {}),
        "train_seconds": result.train_seconds,
        "us_per_sample": result.us_per_sample,
        "jit_seconds": result.jit_seconds,
        "checkpoint": os.path.abspath(config.out) if config.out else None,
        "interrupted": result.interrupted,
        "position": result.position if result.interrupted else 0,
        "model": model,
        "history": history,
    }


def _evaluate_untrained(model, loss, train_set, valid, test):
    nan = {"error": float("nan"), "loss": float("nan")}
    out = {}
    for kind, (x, y) in (("train", train_set), ("test", test), ("valid", valid)):
        if x is None and kind == "valid":
            continue
        ev = model.evaluate(x, y, loss) if x is not None else nan
        out.update({f"{kind}_error": ev["error"], f"{kind}_loss": ev["loss"]})
    return out
