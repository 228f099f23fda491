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
from .jit_cache import njit
from .errors import DivergenceError, UsageError
from .kernels.augment import AUG_ELASTIC_SIGMA, AUG_SIZE, augment_from_vector, work_size
from .kernels.losses import NAMES as LOSS_NAMES
from .kernels.simd import all_finite
from .network import output_view, sample_loss_and_grad
from .optim import SGD, apply_update, apply_update_decay, apply_update_uniform, uniform_step


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


def augmentation_vector(augment):
    """[enabled, max_shift, max_rotate, max_scale, max_shear, max_stretch, elastic_alpha,
    elastic_sigma, augment_epochs] from a Recipe-like object (or None); missing attributes
    count as 0."""
    if augment is None or not getattr(augment, "augment", False):
        return np.zeros(AUG_SIZE, np.float64)
    names = ("max_shift", "max_rotate", "max_scale", "max_shear", "max_stretch", "elastic_alpha", "elastic_sigma",
             "augment_epochs")
    return np.array([1.0] + [float(getattr(augment, n, 0.0)) for n in names], np.float64)


@dataclass(frozen=True)
class TrainOptions:
    """How train() trains: passes, loss, order, seed, regularization and augmentation.

    ``augment``: an object with the Recipe's augmentation fields (``augment``,
    ``max_shift``, ...; e.g. the Recipe itself) or None. ``weight_decay``: L2 added to every
    per-sample update (params -= step * (grads + weight_decay * params));
    ``label_smoothing``: eps of the smoothed CE target (loss "ce" only)."""
    epochs: int = 23
    loss: str = "mse"
    shuffle: bool = False
    seed: int = 0
    chunk_size: int = 512
    augment: object = None
    weight_decay: float = 0.0
    label_smoothing: float = 0.0

    @classmethod
    def from_recipe(cls, recipe, seed=0, chunk_size=512):
        return cls(recipe.epochs, recipe.loss, recipe.shuffle, seed, chunk_size, recipe,
                   recipe.weight_decay, recipe.label_smoothing)

    def validate(self):
        """The same rules (recipes.py) as a run's options; returns self. The recipe fields
        are checked by Recipe.validate itself, so no rule is written twice."""
        from . import recipes

        recipes.check_int("epochs", self.epochs, 0, recipes.MAX_EPOCHS)  # train() needs a number
        recipes.check_seed(self.seed)
        recipes.check_int("chunk_size", self.chunk_size, 1, recipes.MAX_CHUNK)
        augmenting = self.augment is not None and bool(getattr(self.augment, "augment", False))  # a Recipe, or alike
        sizes = {n: getattr(self.augment, n, 0.0) for n in (*recipes.DISTORTION_LIMITS, "augment_epochs")} \
            if augmenting else {}
        recipes.Recipe("train", loss=self.loss, epochs=self.epochs, shuffle=bool(self.shuffle),
                       weight_decay=self.weight_decay, label_smoothing=self.label_smoothing,
                       augment=augmenting, **sizes).validate()
        return self


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


def train(model, images, labels, options=None, *, optimizer=None, test_images=None, test_labels=None,
          valid_images=None, valid_labels=None, start=None, on_chunk=None, on_epoch=None, should_stop=None, lr=None, **option_values):
    """Train ``model`` in place by per-sample SGD (one update after every sample).

    images (N, 16, 16) in [-1, 1], labels (N,) ints 0-9. ``options``: a TrainOptions (or
    its fields as keywords, e.g. ``epochs=2, loss="ce"``); ``epochs`` counts passes in total
    (a resumed run starts at ``start``, a Start). ``optimizer`` defaults to ``SGD(lr)``.
    ``valid_images``/``valid_labels``: held-out training digits, evaluated after each pass
    (valid_loss/valid_error). ``on_chunk(epoch, done, total)`` is called between compiled chunks,
    ``on_epoch(EpochStats)`` after each pass; ``should_stop()`` returning True ends training
    after the current chunk, with ``result.interrupted`` set and the stopping point recorded
    for resuming (with ``result.step``, the per-parameter step sizes of that pass, to pass
    back as ``Start.step``: re-estimating them mid-pass would change the run).
    """
    starts = {_START_NAMES[k]: option_values.pop(k) for k in list(option_values) if k in _START_NAMES}
    start = replace(start or Start(), **starts)
    try:
        options = replace(options or TrainOptions(), **option_values)
    except TypeError as e:
        raise UsageError(f"train(): {e}") from None
    options.validate()
    epochs, loss, shuffle, seed, chunk_size = (options.epochs, options.loss, options.shuffle, options.seed,
                                               options.chunk_size)
    augment, weight_decay, label_smoothing = options.augment, options.weight_decay, options.label_smoothing
    start_epoch, start_position, start_totals, start_step = start.epoch, start.position, start.totals, start.step
    if optimizer is None:
        optimizer = SGD(0.01 if lr is None else lr)
    x = model.as_images(images)
    y = model.as_labels(labels, len(x))
    if not np.all(np.isfinite(x)):
        raise UsageError("training images contain NaN or infinite values")
    loss_kind = LOSS_NAMES[loss]
    acts, dacts, grads = model.buffers()
    step = np.zeros(model.n_params, model.dtype)
    totals = np.zeros(2, np.float64)
    aug = augmentation_vector(augment)
    aug_or_none = aug if aug[0] != 0.0 else None
    image_buf = np.zeros(x.shape[1:], model.dtype)
    aug_work = np.zeros(work_size(x.shape[1], x.shape[2], aug[AUG_ELASTIC_SIGMA]), np.float64)
    result = TrainResult()
    result.step = step

    def chunk(order, start, stop, epoch):
        return train_chunk(model.table, model.pad_values, model.conn, model.params, acts, dacts, grads,
                           step, x, y, order, start, stop, loss_kind, totals, aug_or_none, seed, epoch, image_buf,
                           aug_work, float(weight_decay), float(label_smoothing))

    t0 = time.perf_counter()  # compile (or load from cache) before any timing starts
    ahead = compile_ahead.start(model, optimizer) if len(y) else None  # SDLM's, meanwhile
    compiled = False
    try:
        chunk(np.zeros(1, np.int64), 0, 0, 0)
        compiled = True
    finally:
        compile_ahead.finish(ahead, ok=compiled)
    if len(y) and hasattr(optimizer, "warm_up"):
        optimizer.warm_up(model, x, y, loss_kind, step)
    result.jit_seconds = time.perf_counter() - t0
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()  # the step sizes (SDLM's curvature estimate) count as training time
        if epoch == start_epoch and start_position > 0 and start_step is not None:
            step[:] = start_step
        else:
            optimizer.step_for_epoch(model, epoch, x, y, loss_kind, step)
        step[~model.free] = 0  # dead slots of a ragged connection table never move from 0
        setup_seconds = time.perf_counter() - t0
        order = presentation_order(len(y), epoch, seed, shuffle)
        first = start_position if epoch == start_epoch else 0
        totals[:] = start_totals if epoch == start_epoch else (0.0, 0.0)
        seconds = setup_seconds
        for start in range(first, len(y), chunk_size):
            stop = min(start + chunk_size, len(y))
            t0 = time.perf_counter()
            bad = chunk(order, start, stop, epoch)
            seconds += time.perf_counter() - t0
            if bad >= 0:
                raise DivergenceError(f"training diverged: non-finite loss or gradient at epoch "
                                      f"{epoch + 1}, sample {int(order[bad])} (position {bad}); "
                                      f"try a smaller learning rate")
            result.samples += stop - start
            if on_chunk is not None:
                on_chunk(epoch, stop, len(y))
            if should_stop is not None and should_stop() and stop < len(y):
                result.train_seconds += seconds
                result.interrupted, result.epoch, result.position = True, epoch, stop
                result.totals = (float(totals[0]), float(totals[1]))
                return result
        result.train_seconds += seconds
        tr = model.evaluate(x, y, loss)
        n = max(len(y), 1)
        stats = EpochStats(epoch + 1, tr["loss"], tr["error"],
                           running_loss=float(totals[0]) / n, running_error=float(totals[1]) / n,
                           seconds=seconds, samples_per_s=(len(y) - first) / seconds if seconds > 0 else 0.0)
        if test_images is not None:
            te = model.evaluate(test_images, test_labels, loss)
            stats.test_loss, stats.test_error = te["loss"], te["error"]
        if valid_images is not None:
            va = model.evaluate(valid_images, valid_labels, loss)
            stats.valid_loss, stats.valid_error = va["loss"], va["error"]
        result.history.append(stats)
        result.epoch, result.position = epoch + 1, 0
        if on_epoch is not None:
            on_epoch(stats)
        if should_stop is not None and should_stop() and epoch + 1 < epochs:
            result.interrupted = True
            return result
    return result
