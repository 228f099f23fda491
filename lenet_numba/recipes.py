"""Recipes: named sets of training options. Every field can be overridden one by one.

* ``1989`` (the default): the 1989 regime as faithfully as we can state it. Scaled tanh
  1.7159·tanh(2x/3) on every layer including the output, MSE to ±1 targets, weights
  U(-2.4/F, 2.4/F), fixed presentation order, SDLM (diagonal Gauss-Newton step sizes,
  re-estimated on 500 samples before each pass, eta x decay**pass and mu tuned per network:
  docs/sdlm-tuning.md), 23 passes.
* ``article``: the model of "Understanding LeNet-1: A Gentle Introduction" (2025) as written: plain tanh, linear output layer,
  softmax cross-entropy, plain per-sample SGD.
* ``modern``: the best we can do with the same ~3K parameters: cross-entropy, shuffling,
  seeded per-sample augmentation computed in compiled code (shifts ±1 px, rotations ±5°,
  scalings ±5%, and a small elastic distortion: Simard et al. 2003, alpha 4, sigma 1.5),
  per-sample SGD at 0.03 x 0.93^epoch for 60 passes with L2 weight decay 1e-3 in every
  update (tuning: docs/modern-tuning.md).
"""

import math
from dataclasses import asdict, dataclass, fields, replace

from .errors import UsageError


@dataclass(frozen=True)
class Recipe:
    name: str
    activation: str = "scaled-tanh"          # hidden layers
    output_activation: str = "scaled-tanh"   # the 10 outputs
    loss: str = "mse"
    optimizer: str = "sdlm"                  # "sgd" or "sdlm"
    lr: float = None                         # SGD rate, or SDLM's eta; None: tuned per network
    lr_decay: float = 1.0                    # rate x lr_decay**epoch; None: tuned per network (SDLM)
    mu: float = None                         # SDLM damping; None: tuned per network
    epochs: int = 23
    shuffle: bool = False
    augment: bool = False
    max_shift: float = 0.0                   # augmentation: pixels
    max_rotate: float = 0.0                  # augmentation: degrees
    max_scale: float = 0.0                   # augmentation: relative, e.g. 0.1 = ±10%
    max_shear: float = 0.0                   # augmentation: x += shear * y, |shear| <= this
    max_stretch: float = 0.0                 # augmentation: independent x and y scaling, relative
    elastic_alpha: float = 0.0               # augmentation: elastic field scale (Simard 2003), 0 = off
    elastic_sigma: float = 0.0               # augmentation: elastic field smoothing, pixels
    augment_epochs: int = 0                  # augment only the first N passes (0: all of them)
    weight_decay: float = 0.0                # L2 in every update: params -= step * (grads + wd * params)
    label_smoothing: float = 0.0             # CE target (1 - eps) one-hot + eps / 10 (0: plain CE)
    dtype: str = "float32"
    description: str = ""

    def with_overrides(self, **overrides):
        """A copy with every non-None override applied (unknown names are an error)."""
        names = {f.name for f in fields(self)}
        bad = [k for k in overrides if k not in names]
        if bad:
            raise UsageError(f"unknown recipe field(s): {', '.join(bad)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def for_arch(self, arch):
        """Fill SDLM's eta, mu and lr_decay left open (None) with the values tuned for ``arch``
        (docs/sdlm-tuning.md); SGD without a rate gets 0.01 (and no decay)."""
        if self.optimizer == "sdlm":
            from .sdlm import TUNED
            tuned = TUNED.get(arch, TUNED["lenet1"])
            return replace(self, lr=tuned["eta"] if self.lr is None else self.lr,
                           mu=tuned["mu"] if self.mu is None else self.mu,
                           lr_decay=tuned.get("lr_decay", 1.0) if self.lr_decay is None else self.lr_decay)
        return replace(self, lr=0.01 if self.lr is None else self.lr, mu=0.02 if self.mu is None else self.mu,
                       lr_decay=1.0 if self.lr_decay is None else self.lr_decay)

    def validate(self):
        """Refuse values no run can use (or that would silently do nothing); returns self."""
        def number(name, lo, hi, lo_open=False, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
                and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                raise UsageError(f"{name} must be a number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v!r}")

        for name in ("epochs", "augment_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {v!r}")
        number("lr", 0, 1e6, lo_open=True, allow_none=True)
        number("lr_decay", 0, 1, lo_open=True, allow_none=True)
        number("mu", 0, 1e6, lo_open=True, allow_none=True)
        number("weight_decay", 0, 1)
        number("label_smoothing", 0, 0.999)
        if self.label_smoothing and self.loss != "ce":
            raise UsageError("label_smoothing needs the cross-entropy loss (loss ce)")
        for name, hi in DISTORTION_LIMITS.items():
            number(name, 0, hi)
        if 0 < self.elastic_sigma < MIN_ELASTIC_SIGMA:
            raise UsageError(f"elastic_sigma must be 0 (off) or >= {MIN_ELASTIC_SIGMA} px, got {self.elastic_sigma}")
        if (self.elastic_alpha > 0) != (self.elastic_sigma > 0):
            raise UsageError("an elastic distortion needs both elastic_alpha and elastic_sigma > 0 "
                             f"(got alpha {self.elastic_alpha}, sigma {self.elastic_sigma})")
        if self.augment and not any(getattr(self, n) for n in DISTORTION_LIMITS):
            raise UsageError("augmentation is on but every distortion size is 0: set one of "
                             + ", ".join("--" + n.replace("_", "-") for n in DISTORTION_LIMITS))
        return self

    def as_dict(self):
        return asdict(self)


# The distortion sizes and the largest value each may take: beyond these a 16x16 digit is
# moved off its image, mirrored (scale >= 1) or the elastic field's kernel outgrows it.
DISTORTION_LIMITS = {"max_shift": 8.0, "max_rotate": 180.0, "max_scale": 0.9, "max_shear": 1.0,
                     "max_stretch": 0.9, "elastic_alpha": 64.0, "elastic_sigma": 8.0}

MIN_ELASTIC_SIGMA = 0.1  # px; a narrower Gaussian is a no-op smoothing (and ~1e-162 divides by 0)

RECIPES = {
    "1989": Recipe(
        "1989", lr_decay=None,  # eta, its per-pass decay and mu: sdlm.TUNED
        description="LeCun et al. 1989: scaled tanh everywhere, MSE to ±1, SDLM, fixed order, 23 passes"),
    "article": Recipe(
        "article", activation="tanh", output_activation="identity", loss="ce", optimizer="sgd", lr=0.01,
        description="the LeNet-1 article: tanh, linear outputs, softmax cross-entropy, per-sample SGD"),
    # docs/modern-tuning.md, round 3: lenet1 on USPS, final test error median 3.29% over seeds 0-4
    # (3.04-3.64%) and 3.29% over held-out seeds 5-9 (3.09-3.74%). Without the weight decay (round 2)
    # the same runs give 3.69% (3.34-3.89%) and 3.64% (3.29-4.04%); the first version (1.5 px, 8 deg,
    # 8%, decay 0.85, 30 passes, no elastic, no decay) 4.33% (4.19-4.43%) on seeds 0-4.
    "modern": Recipe(
        "modern", activation="tanh", output_activation="identity", loss="ce", optimizer="sgd", lr=0.03,
        lr_decay=0.93, epochs=60, shuffle=True, augment=True, max_shift=1.0, max_rotate=5.0, max_scale=0.05,
        elastic_alpha=4.0, elastic_sigma=1.5, weight_decay=1e-3,
        description="cross-entropy, shuffling, seeded shift/rotate/scale + elastic augmentation, decaying rate, "
                    "L2 weight decay"),
}
DEFAULT_RECIPE = "1989"


def get(name):
    try:
        return RECIPES[name]
    except KeyError:
        raise UsageError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None
