"""Optimizers as per-parameter step sizes.

The compiled epoch loop applies, after every sample, ``params -= step * grads`` with a
per-parameter ``step`` vector. An optimizer only decides that vector before each pass:

* :class:`SGD` — plain per-sample gradient descent: step = lr(epoch) for every parameter.
* SDLM (stochastic diagonal Levenberg-Marquardt, LeCun 1989/1998) — step = eta(epoch) /
  (mu + h_kk) with h re-estimated on a few hundred samples before each pass
  (see sdlm.py).
"""

import numpy as np

from .jit_cache import njit
from .limits import DEFAULT_LR, check_rate

OPTIMIZERS = ("sgd", "sdlm")  # SGD here, SDLM in sdlm.py


def schedule_value(schedule, epoch):
    """A rate for ``epoch`` (0-based) from a number, a list (last value repeats) or a callable."""
    if callable(schedule):
        return float(schedule(epoch))
    if np.ndim(schedule) == 0:
        return float(schedule)
    schedule = list(schedule)
    return float(schedule[min(epoch, len(schedule) - 1)])


def step_schedule(pairs):
    """[(n_epochs, rate), ...] -> per-epoch list, e.g. the 1998 paper's eta schedule."""
    out = []
    for n, rate in pairs:
        out += [rate] * n
    return out


class SGD:
    name = "sgd"

    def __init__(self, lr=DEFAULT_LR):
        if np.ndim(lr) == 0 and not callable(lr):
            check_rate("lr", float(lr))
        self.lr = lr

    def warm_up(self, model, images, labels, loss_kind, step):
        """Nothing to compile (see SDLM.warm_up)."""

    def step_for_epoch(self, model, epoch, images, labels, loss_kind, step):
        step[:] = schedule_value(self.lr, epoch)

    def state(self):
        return {}

    def load_state(self, state):
        pass


@njit(cache=True)
def apply_update(params, step, grads):
    """params -= step * grads (elementwise)."""
    for k in range(params.shape[0]):
        params[k] -= step[k] * grads[k]


@njit(cache=True)
def apply_update_uniform(params, step_size, grads):
    """params -= step_size * grads: apply_update when every step is step_size (plain SGD),
    the same products without reading the step array (a third of the update's traffic:
    the zip-code net's 9,760 parameters do not fit in L1 three times)."""
    for k in range(params.shape[0]):
        params[k] -= step_size * grads[k]


@njit(cache=True)
def uniform_step(step):
    """(True, s) when every step[k] == s, else (False, 0)."""
    s = step[0] if step.shape[0] > 0 else step.dtype.type(0)
    for k in range(step.shape[0]):
        if step[k] != s:
            return False, step.dtype.type(0)
    return True, s


@njit(cache=True)
def apply_update_decay(params, step, grads, weight_decay):
    """params -= step * (grads + weight_decay * params): per-sample SGD on the loss plus
    (weight_decay / 2) * ||params||^2 (L2, every parameter, biases and subsampling
    coefficients too; coupled to the rate schedule). The decay term is float64, so float32
    params are updated in float64 arithmetic: with weight_decay 0 the result can differ from
    apply_update in the last bit, which is why train_chunk calls apply_update then."""
    for k in range(params.shape[0]):
        params[k] -= step[k] * (grads[k] + weight_decay * params[k])
