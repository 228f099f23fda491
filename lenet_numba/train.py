"""Training: the compiled per-sample SGD loop and the Python ``train`` API around it.

One pass = for each sample in presentation order: forward, loss, backward, and one update
``params -= step * grads`` (per-sample SGD as in 1989). The loop over samples runs inside
compiled code, in chunks so a caller can draw progress between them; the chunk size
never changes the result, because the sequence of updates is the same.
"""

import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import compile_ahead
from .errors import DivergenceError, UsageError
from .jit_cache import njit
from .kernels.augment import AUG_ELASTIC_SIGMA, AUG_FIELDS, augment_from_vector, augmentation_vector, work_size
from .kernels.losses import NAMES as LOSS_NAMES
from .limits import DEFAULT_CHUNK, DEFAULT_LR, MAX_CHUNK, MAX_EPOCHS, check_int, check_seed
from .kernels.simd import all_finite
from .network import output_view, sample_loss_and_grad
from .optim import SGD, apply_update, apply_update_decay, apply_update_uniform, uniform_step
from .sdlm import SDLM
from .recipes import Recipe


@njit(cache=True, inline="always")
def tally(acts, off, n_out, loss, label, totals):
    """totals[0] += loss; totals[1] += 1 if the outputs acts[off:off + n_out] (the first
    largest wins) do not pick ``label``. The running loss/error of a pass, before the update."""
    best = 0
    for k in range(1, n_out):
        if acts[off + k] > acts[off + best]:
            best = k
    totals[0] += loss
    if best != label:
        totals[1] += 1.0


@njit(cache=True)
def train_chunk(table, pad_values, conn, params, acts, dacts, grads, step,
                images, labels, order, start, stop, loss_kind, totals,
                aug, seed, epoch, image_buf, aug_work, weight_decay=0.0, smoothing=0.0):
    """Per-sample SGD over order[start:stop].

    weight_decay: L2, the update is params -= step * (grads + weight_decay * params)
    (optim.apply_update_decay; 0 = the plain update). smoothing: CE label smoothing
    (kernels/losses.py; 0 = plain CE). Both are stateless: nothing to checkpoint.

    aug = None (no augmentation: then none of its code is compiled), or [enabled, max_shift
    px, max_rotate deg, max_scale, max_shear, max_stretch, elastic_alpha, elastic_sigma,
    augment_epochs] (layout: kernels/augment.py AUG_*): each sample is distorted (into
    image_buf) as a pure function of (seed, epoch, sample index).

    totals[0] += sum of losses, totals[1] += mistakes (both measured before each update).
    Returns -1, or the position n of the first sample whose loss or update is not finite
    (params are then left as they were before that sample's update).
    """
    y = output_view(table, acts)
    uniform, step_size = uniform_step(step)
    for n in range(start, stop):
        i = order[n]
        image = images[i]
        if aug is not None:
            augment_from_vector(images[i], seed, epoch, i, aug, image_buf, aug_work)
            image = image_buf
        loss = sample_loss_and_grad(table, pad_values, conn, params, acts, dacts, grads,
                                    image, labels[i], loss_kind, smoothing)
        if not np.isfinite(loss):
            return n
        tally(y, 0, y.shape[0], loss, labels[i], totals)
        if not all_finite(grads):  # vectorized: the per-element early exit ran scalar
            return n
        if weight_decay != 0.0:
            apply_update_decay(params, step, grads, weight_decay)
        elif uniform:
            apply_update_uniform(params, step_size, grads)
        else:
            apply_update(params, step, grads)
    return -1


@dataclass
class EpochStats:
    epoch: int                 # 1-based
    train_loss: float
    train_error: float
    test_loss: float = float("nan")
    test_error: float = float("nan")
    valid_loss: float = float("nan")     # on the held-out training digits (train --validation)
    valid_error: float = float("nan")
    running_loss: float = float("nan")   # mean loss seen during the pass (before each update)
    running_error: float = float("nan")
    seconds: float = 0.0       # training time of the pass (no evaluation, no JIT)
    samples_per_s: float = 0.0

    def as_dict(self):
        """The fields, without valid_* when nothing was held out."""
        d = dict(self.__dict__)
        if d["valid_loss"] != d["valid_loss"]:
            d.pop("valid_loss"), d.pop("valid_error")
        return d


@dataclass
class TrainResult:
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    samples: int = 0
    jit_seconds: float = 0.0
    interrupted: bool = False
    # where an interrupted run stopped: resume with start_epoch=epoch, start_position=position
    epoch: int = 0
    position: int = 0
    totals: tuple = (0.0, 0.0)
    step: np.ndarray = None

    @property
    def us_per_sample(self):
        return 1e6 * self.train_seconds / max(self.samples, 1)


def presentation_order(n, epoch, seed, shuffle):
    """Fixed order 0..n-1, or a permutation that depends only on (seed, epoch)."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)


@dataclass(frozen=True)
class Start:
    """Where a resumed run starts: passes done, samples done in the next pass, the running
    loss/mistake sums of that partial pass, and its step sizes (None: estimate them)."""
    epoch: int = 0
    position: int = 0
    totals: tuple = (0.0, 0.0)
    step: np.ndarray = None


_START_NAMES = {"start_epoch": "epoch", "start_position": "position", "start_totals": "totals",
                "start_step": "step"}
# what train() reads of a recipe: the passes, the loss, the order, the regularization and
# the augmentation (the optimizer's fields are the optimizer's)
TRAINING_FIELDS = frozenset({"epochs", "loss", "shuffle", "augment", *AUG_FIELDS, "weight_decay", "label_smoothing"})
TRAINING_DEFAULTS = Recipe("train", optimizer="sgd")


def make_optimizer(recipe, seed=0):
    """SGD or SDLM with the recipe's (checked, resolved) rate, times lr_decay**epoch."""
    lr, decay = recipe.lr, recipe.lr_decay
    rate = lr if decay == 1.0 else (lambda e: lr * decay ** e)
    return SGD(rate) if recipe.optimizer == "sgd" else SDLM(eta=rate, mu=recipe.mu, seed=seed)


class _Buffers:
    """What the compiled loop reads and writes besides the model, allocated once per run."""

    def __init__(self, model, x, recipe):
        self.acts, self.dacts, self.grads = model.buffers()
        self.step = np.zeros(model.n_params, model.dtype)
        self.totals = np.zeros(2, np.float64)
        aug = augmentation_vector(recipe)
        self.aug = aug if aug[0] != 0.0 else None  # None: none of the augmentation code is compiled
        self.image = np.zeros(x.shape[1:], model.dtype)
        self.aug_work = np.zeros(work_size(x.shape[1], x.shape[2], aug[AUG_ELASTIC_SIGMA]), np.float64)


def training_recipe(recipe=None, augment=None, **fields_):
    """The recipe train() follows: ``recipe`` (default: per-sample SGD's training fields)
    with the given fields, and the augmentation of ``augment`` (any object with a Recipe's
    augmentation fields), checked once (a checked Recipe is trusted)."""
    recipe = TRAINING_DEFAULTS if recipe is None else recipe
    unknown = sorted(k for k in fields_ if k not in TRAINING_FIELDS)
    if unknown:
        raise UsageError(f"train(): unexpected keyword argument(s): {', '.join(unknown)}")
    if augment is not None and not isinstance(augment, bool):
        both = sorted(k for k in fields_ if k in AUG_FIELDS)
        if both:
            raise UsageError(f"train(): {both[0]} given both as a keyword and by augment: give it once")
        fields_ = {"augment": bool(getattr(augment, "augment", False)), **fields_,
                   **{n: getattr(augment, n) for n in AUG_FIELDS if hasattr(augment, n)}}
    elif augment is not None:
        fields_["augment"] = augment
    return (replace(recipe, **fields_) if fields_ else recipe).validate()


def train(model, images, labels, recipe=None, *, seed=0, chunk_size=DEFAULT_CHUNK, optimizer=None, lr=None,
          test_images=None, test_labels=None, valid_images=None, valid_labels=None, start=None,
          on_chunk=None, on_epoch=None, should_stop=None, augment=None, **recipe_fields):
    """Train ``model`` in place by per-sample SGD (one update after every sample).

    images (N, 16, 16) in [-1, 1], labels (N,) ints 0-9. ``recipe``: a Recipe whose
    training fields (epochs, loss, shuffle, augmentation, weight_decay, label_smoothing) are
    followed, or those fields as keywords (``epochs=2, loss="ce"``); ``epochs`` counts
    passes in total (a resumed run starts at ``start``, a Start). ``optimizer`` defaults to
    ``SGD(lr)``. ``valid_images``/``valid_labels``: held-out training digits, evaluated
    after each pass. ``on_chunk(epoch, done, total)`` is called between compiled chunks,
    ``on_epoch(EpochStats)`` after each pass; ``should_stop()`` returning True ends training
    after the current chunk, with ``result.interrupted`` set and the stopping point recorded
    for resuming (with ``result.step``, the per-parameter step sizes of that pass, to pass
    back as ``Start.step``: re-estimating them mid-pass would change the run).
    """
    starts = {_START_NAMES[k]: recipe_fields.pop(k) for k in list(recipe_fields) if k in _START_NAMES}
    start = replace(start or Start(), **starts)
    if recipe is not None:  # the values it leaves to the network (the 1989 recipe's passes, SDLM's constants)
        recipe = recipe.for_arch(model.arch.name)
    if optimizer is None:  # lr: SGD at that rate; else the recipe's optimizer (default: SGD at DEFAULT_LR)
        optimizer = make_optimizer(recipe.validate(), seed) if recipe is not None and lr is None \
            else SGD(DEFAULT_LR if lr is None else lr)
    recipe = training_recipe(recipe, augment, **recipe_fields)
    check_int("epochs", recipe.epochs, 0, MAX_EPOCHS)  # a number here (a Recipe may leave it to the network)
    check_seed(seed)
    check_int("chunk_size", chunk_size, 1, MAX_CHUNK)
    x = model.as_images(images)
    y = model.as_labels(labels, len(x))
    if not np.all(np.isfinite(x)):
        raise UsageError("training images contain NaN or infinite values")
    buffers = _Buffers(model, x, recipe)
    loss_kind = LOSS_NAMES[recipe.loss]
    result = TrainResult(step=buffers.step)

    def chunk(order, first, stop, epoch):
        b = buffers
        return train_chunk(model.table, model.pad_values, model.conn, model.params, b.acts, b.dacts, b.grads,
                           b.step, x, y, order, first, stop, loss_kind, b.totals, b.aug, seed, epoch, b.image,
                           b.aug_work, float(recipe.weight_decay), float(recipe.label_smoothing))

    result.jit_seconds = _compile(model, optimizer, chunk, x, y, loss_kind, buffers.step)
    for epoch in range(start.epoch, recipe.epochs):
        first = start.position if epoch == start.epoch else 0
        seconds = _set_step(model, optimizer, epoch, x, y, loss_kind, buffers.step, start)
        buffers.totals[:] = start.totals if epoch == start.epoch else (0.0, 0.0)
        order = presentation_order(len(y), epoch, seed, recipe.shuffle)
        for position in range(first, len(y), chunk_size):
            stop = min(position + chunk_size, len(y))
            t0 = time.perf_counter()
            bad = chunk(order, position, stop, epoch)
            seconds += time.perf_counter() - t0
            if bad >= 0:
                raise DivergenceError(f"training diverged: non-finite loss or gradient at epoch "
                                      f"{epoch + 1}, sample {int(order[bad])} (position {bad}); "
                                      f"try a smaller learning rate")
            result.samples += stop - position
            if on_chunk is not None:
                on_chunk(epoch, stop, len(y))
            if should_stop is not None and should_stop() and stop < len(y):
                result.train_seconds += seconds
                result.interrupted, result.epoch, result.position = True, epoch, stop
                result.totals = (float(buffers.totals[0]), float(buffers.totals[1]))
                return result
        result.train_seconds += seconds
        stats = _evaluate_pass(model, recipe.loss, epoch, x, y, buffers.totals, seconds, len(y) - first,
                               (test_images, test_labels), (valid_images, valid_labels))
        result.history.append(stats)
        result.epoch, result.position = epoch + 1, 0
        if on_epoch is not None:
            on_epoch(stats)
        if should_stop is not None and should_stop() and epoch + 1 < recipe.epochs:
            result.interrupted = True
            return result
    return result


def _compile(model, optimizer, chunk, x, y, loss_kind, step):
    """Compile (or load from the cache) the loop and the optimizer's code before any timing
    starts; returns the seconds it took. SDLM's estimate compiles in a second process
    meanwhile (compile_ahead)."""
    t0 = time.perf_counter()
    ahead = compile_ahead.start(model, optimizer) if len(y) else None
    compiled = False
    try:
        chunk(np.zeros(1, np.int64), 0, 0, 0)
        compiled = True
    finally:
        compile_ahead.finish(ahead, ok=compiled)
    if len(y) and hasattr(optimizer, "warm_up"):
        optimizer.warm_up(model, x, y, loss_kind, step)
    return time.perf_counter() - t0


def _set_step(model, optimizer, epoch, x, y, loss_kind, step, start):
    """The step sizes of a pass (a resumed pass keeps its saved ones); returns the seconds
    it took (SDLM's curvature estimate counts as training time)."""
    t0 = time.perf_counter()
    if epoch == start.epoch and start.position > 0 and start.step is not None:
        step[:] = start.step
    else:
        optimizer.step_for_epoch(model, epoch, x, y, loss_kind, step)
    step[~model.free] = 0  # dead slots of a ragged connection table never move from 0
    return time.perf_counter() - t0


def _evaluate_pass(model, loss, epoch, x, y, totals, seconds, trained, test, valid):
    """The EpochStats of a finished pass: training, test and held-out digits evaluated."""
    tr = model.evaluate(x, y, loss)
    n = max(len(y), 1)
    stats = EpochStats(epoch + 1, tr["loss"], tr["error"],
                       running_loss=float(totals[0]) / n, running_error=float(totals[1]) / n,
                       seconds=seconds, samples_per_s=trained / seconds if seconds > 0 else 0.0)
    for (images, labels), kind in ((test, "test"), (valid, "valid")):
        if images is not None:
            ev = model.evaluate(images, labels, loss)
            setattr(stats, f"{kind}_loss", ev["loss"])
            setattr(stats, f"{kind}_error", ev["error"])
    return stats
