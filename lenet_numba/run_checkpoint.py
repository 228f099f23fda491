"""What a training run's checkpoint holds, checked field by field, and the rules for resuming it.

A checkpoint file is read once (one open, one read: a file replaced meanwhile cannot mix
two runs) and every value taken from it is checked before use, by the same rules
(recipes.py) as the options that made it: the network it describes (architecture,
activations, dtype) decides which arrays may be in it, of which shapes and dtypes, before
any array is read; the training fields (epoch, position, totals, seed, dataset, recipe,
history, optimizer state) are checked when a run is resumed from it.
"""

import math
from dataclasses import dataclass, fields

import numpy as np

from . import recipes
from .checkpoint import STATE_PREFIX, digest, load_checkpoint, read_file_once
from .errors import CheckpointError, UsageError
from .limits import MAX_HELD_OUT, check_int, check_seed
from .model import DTYPES, Model

MAX_POSITION = 10 ** 9
HISTORY_KEYS = ("epoch", "train_loss", "train_error", "test_loss", "test_error", "valid_loss", "valid_error",
                "running_loss", "running_error")
SDLM_SCALARS = {"mu": np.float64, "n_estimate": np.int64, "seed": np.int64, "epoch": np.int64}


@dataclass
class RunCheckpoint:
    """A checkpoint read and checked: its network, metadata, extra state and content digest."""
    path: str
    model: Model
    meta: dict
    state: dict
    digest: str


def _model_of(meta, path):
    """An uninitialised Model of the network ``meta`` describes (checked names only)."""
    try:
        arch = recipes.check_name("architecture", meta.get("arch"), "architecture")
        act = recipes.check_name("activation", meta.get("activation"), "activation")
        out = recipes.check_name("activation", meta.get("output_activation"), "output_activation")
        dtype = recipes.check_name("dtype", meta.get("dtype", "float32"), "dtype")
        numerics = recipes.check_name("numerics", meta.get("numerics", "exact"), "numerics")  # 0.1: exact
    except UsageError as e:
        raise CheckpointError(f"{path}: metadata does not describe a known network ({e})") from None
    return Model(arch, act, out, dtype, init=False, numerics=numerics)


def read_run_checkpoint(path, dtype=None):
    """Read ``path`` once and rebuild its network: a RunCheckpoint (CheckpointError if bad).

    ``dtype`` converts the weights (float32 <-> float64) after they are checked."""
    data = read_file_once(path)
    found = {}

    def spec(meta):  # what this network needs, decided before any array is read
        m = found["model"] = _model_of(meta, path)
        shapes = {n: (v.shape, (m.dtype,)) for n, v in m.named_parameters().items()}
        vector = ((m.n_params,),)
        shapes.update({STATE_PREFIX + n: ((), (np.dtype(t),)) for n, t in SDLM_SCALARS.items()})
        shapes[STATE_PREFIX + "h"] = vector + ((np.dtype(np.float64),),)
        shapes[STATE_PREFIX + "step_sizes"] = vector + ((m.dtype,),)
        return shapes

    params, meta, state = load_checkpoint(path, spec=spec, data=data)
    model = found["model"]
    model.load_state_dict(params)
    if dtype is not None and np.dtype(DTYPES.get(dtype, dtype)) != model.dtype:
        converted = Model(model.arch.name, model.activation, model.output_activation, dtype, init=False,
                          numerics=model.numerics)
        converted.load_state_dict(params)
        model = converted
    for name, value in state.items():
        if not np.all(np.isfinite(value)) or np.any(value < (-1 if name == "epoch" else 0)):
            raise CheckpointError(f"{path}: state {name!r} is out of range (negative or not finite)")
    return RunCheckpoint(str(path), model, meta, state, digest(data))


def model_from_checkpoint(path, dtype=None):
    """Rebuild a Model (architecture, activations, weights) from a checkpoint file: (model, meta)."""
    ckpt = read_run_checkpoint(path, dtype)
    return ckpt.model, ckpt.meta


def saved_recipe(ckpt):
    """The Recipe the checkpoint's run used, checked (a field the file predates: the default)."""
    raw = ckpt.meta.get("recipe")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{ckpt.path}: not a resumable training checkpoint (no recipe)")
    known = {f.name for f in fields(recipes.Recipe)}
    unknown = [k for k in raw if k not in known]
    if unknown or not isinstance(raw.get("name"), str):
        raise CheckpointError(f"{ckpt.path}: its recipe has unknown or missing fields "
                              f"({', '.join(map(str, unknown)) or 'name'})")
    if "numerics" not in raw:  # a file from before the policies: its network's (exact), not today's default
        raw = {**raw, "numerics": ckpt.model.numerics}
    try:
        recipe = recipes.Recipe(**raw).validate()
        for name in ("lr", "lr_decay", "mu", "epochs"):  # a saved run's recipe is resolved: no open values
            if getattr(recipe, name) is None:
                raise UsageError(f"{name} is not set")
    except UsageError as e:
        raise CheckpointError(f"{ckpt.path}: its recipe is not usable ({e})") from None
    if (recipe.activation, recipe.output_activation, recipe.dtype, recipe.numerics) != \
            (ckpt.model.activation, ckpt.model.output_activation, ckpt.model.dtype.name, ckpt.model.numerics):
        raise CheckpointError(f"{ckpt.path}: its recipe does not match its network")
    return recipe


def check_training_fields(ckpt, recipe):
    """Every training field a resume reads: epoch, position, totals, seed, dataset, history,
    and the optimizer state, against each other and the recipe."""
    meta, path = ckpt.meta, ckpt.path

    def bad(problem):
        raise CheckpointError(f"{path}: not a resumable training checkpoint ({problem})")

    try:
        epoch = check_int("epoch", meta.get("epoch"), 0, recipe.epochs)
        position = check_int("position", meta.get("position", 0), 0, MAX_POSITION)
        check_seed(meta.get("seed"))
        recipes.check_name("dataset", meta.get("dataset"))
    except UsageError as e:
        bad(e)
    totals = meta.get("totals", [0.0, 0.0])
    if not (isinstance(totals, list) and len(totals) == 2 and all(_number(t) and t >= 0 for t in totals)):
        bad(f"totals must be two finite numbers >= 0, got {totals!r}")
    if position and epoch >= recipe.epochs:
        bad("a position inside a pass after the last pass")
    if position and "step_sizes" not in ckpt.state:
        bad("stopped inside a pass but holds no step sizes")
    history = meta.get("history", [])
    if not isinstance(history, list) or len(history) != epoch:
        bad(f"history must list {epoch} epochs")
    for i, record in enumerate(history):
        if not (isinstance(record, dict) and set(record) <= set(HISTORY_KEYS) and record.get("epoch") == i + 1
                and all(_number(v) for v in record.values())):
            bad(f"history entry {i + 1} is not an epoch record")
    config = meta.get("config", {})
    if not isinstance(config, dict) or not isinstance(config.get("init_from"), (str, type(None))):
        bad("config must be an object whose init_from is a string or null")
    try:
        check_int("validation", config.get("validation", 0), 0, MAX_HELD_OUT)
    except UsageError as e:
        bad(e)
    sdlm = {k: v for k, v in ckpt.state.items() if k in SDLM_SCALARS or k == "h"}
    if recipe.optimizer == "sgd" and sdlm:
        bad("SDLM state in an SGD run")
    if recipe.optimizer == "sdlm" and sdlm:
        missing = [k for k in SDLM_SCALARS if k not in sdlm]
        if missing:
            bad(f"SDLM state lacks {missing[0]!r}")
        if float(sdlm["mu"]) != recipe.mu or int(sdlm["seed"]) != meta["seed"] or \
                not 1 <= int(sdlm["n_estimate"]) <= MAX_POSITION or not -1 <= int(sdlm["epoch"]) <= epoch:
            bad("SDLM state does not match the run")
    return ckpt


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# the options a resumed run may change; any other one given must equal the saved run's value
FREE_ON_RESUME = ("epochs", "out", "metrics", "checkpoint_every", "resume", "chunk_size", "data_dir", "download")


def resume_rules(config, ckpt):
    """(arch, seed, dataset, recipe) of the run to continue: the checkpoint's. A given option
    that differs from the saved run's value is refused (UsageError), as is --epochs below the
    passes already done."""
    recipe = saved_recipe(ckpt)
    check_training_fields(ckpt, recipe)
    meta = ckpt.meta
    saved = {"arch": meta["arch"], "recipe": recipe.name, "seed": meta["seed"], "dataset": meta["dataset"],
             "validation": meta.get("config", {}).get("validation", 0),
             **{f.name: getattr(recipe, f.name) for f in fields(recipes.Recipe) if f.name != "name"}}
    if config.init_from is not None:
        raise UsageError("--init-from starts a run; --resume continues one with its own weights: give one")
    for name, value in saved.items():
        given = config.given(name)
        if name not in FREE_ON_RESUME and given is not None and given != value:
            raise UsageError(f"--{name.replace('_', '-')} {given} differs from the resumed run's {value!r}: "
                             f"{ckpt.path} continues with the options it was started with")
    epochs = recipe.epochs if config.given("epochs") is None else config.given("epochs")
    if epochs < meta["epoch"]:
        raise UsageError(f"{ckpt.path} has already trained {meta['epoch']} epochs: --epochs {epochs} "
                         f"would not continue it (give --epochs > {meta['epoch']} to train more)")
    return meta["arch"], meta["seed"], meta["dataset"], recipe.with_overrides(epochs=epochs)


def evaluation_settings(meta, path):
    """(loss, seed) an evaluation of this checkpoint uses by default: its training loss (mse
    if it names none) and its seed (0: the mnist16 split it was tested on), both checked."""
    recipe = meta.get("recipe", {})
    try:
        loss = recipes.check_name("loss", recipe.get("loss", "mse") if isinstance(recipe, dict) else None)
        seed = check_seed(meta.get("seed", 0))
    except UsageError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return loss, seed
