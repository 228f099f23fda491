"""Finite-difference check of the whole network's gradient, block by block (float64).

For each parameter block (conv1.weight, pool1.alpha, ...) compare the back-propagated
directional derivative g·v along a random unit direction v supported on that block with
the central difference (L(p + h v) - L(p - h v)) / 2h. Directional checks see every
entry of the block at once, so a wrong index anywhere in a block shows up.
"""

import numpy as np

from .architectures import ARCHITECTURES
from .kernels.activations import NAMES as ACTIVATIONS
from .kernels.losses import NAMES as LOSSES
from .limits import DEFAULT_ARCH, check_choice, check_int, check_number, check_seed
from .model import Model


def gradcheck(arch=DEFAULT_ARCH, activation="scaled-tanh", output_activation="scaled-tanh", loss="mse",
              seed=0, samples=3, h=1e-5, tolerance=1e-6, images=None, labels=None):
    """dict block -> max relative error over ``samples`` random samples and directions."""
    check_choice(arch, ARCHITECTURES, "architecture")
    check_choice(activation, ACTIVATIONS, "activation")
    check_choice(output_activation, ACTIVATIONS, "output_activation")
    check_choice(loss, LOSSES, "loss")
    check_seed(seed)
    check_int("samples", samples, 1, 1000)
    check_number("tolerance", tolerance, 0, 1, lo_open=True)
    check_number("h", h, 0, 1, lo_open=True)
    model = Model(arch, activation, output_activation, "float64", seed=seed)
    rng = np.random.default_rng(seed)
    model.params += rng.normal(0, 0.05, model.n_params)  # move alpha/beta/biases off their init values
    if images is None:
        images = rng.uniform(-1, 1, (samples,) + model.arch.input_shape[1:])
        labels = rng.integers(0, model.plan.n_outputs, samples)
    worst = {}
    p0 = model.params.copy()
    for image, label in zip(images[:samples], labels[:samples]):
        _, grad = model.loss_and_grad(image, label, loss)
        for name, (off, shape) in model.plan.params.items():
            n = int(np.prod(shape))
            v = np.zeros(model.n_params)
            v[off:off + n] = rng.normal(size=n)
            v /= np.linalg.norm(v)
            model.params[:] = p0 + h * v
            lp, _ = model.loss_and_grad(image, label, loss)
            model.params[:] = p0 - h * v
            lm, _ = model.loss_and_grad(image, label, loss)
            model.params[:] = p0
            numeric = (lp - lm) / (2 * h)
            analytic = float(grad @ v)
            rel = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-8)
            worst[name] = max(worst.get(name, 0.0), rel)
    return {"blocks": worst, "max_rel_error": max(worst.values()), "tolerance": tolerance,
            "passed": max(worst.values()) <= tolerance}
