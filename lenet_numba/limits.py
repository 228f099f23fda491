"""Every default, limit and rule of a run's values, in one place.

A leaf: it imports nothing of the package but its errors, so every level (the networks,
the model, the optimizers, the recipes, the run, the checkpoint reader, the sweep, the
page) checks a value by the same rule, and each default and bound is written once here.
"""

import math

from .errors import UsageError

# ---------------------------------------------------------------------------- defaults
DEFAULT_ARCH = "lenet1"
DEFAULT_RECIPE = "1989"
DEFAULT_DATASET = "usps"
DEFAULT_SEED = 0
DEFAULT_CHUNK = 512      # samples per compiled chunk: progress granularity only
DEFAULT_LR = 0.01        # SGD's rate when none is given
DEFAULT_EPOCHS = 23      # the 1989 papers' passes (a network may state its own: sdlm.TUNED)
UNUSED_MU = 0.02         # what a checkpoint records as mu when the optimizer is not SDLM
DATASETS = ("usps", "mnist16", "mnist16-all")

# ---------------------------------------------------------------------------- limits
SEED_LIMIT = 2 ** 63     # seeds are stored as int64 (checkpoint, SDLM state) and fed to splitmix64
MAX_EPOCHS = 100_000
MAX_CHUNK = 2 ** 31
MAX_HELD_OUT = 10 ** 6   # validation digits held out (fewer than the training set: data.split checks)
MAX_LR = 1e6             # SGD's rate and SDLM's eta: (0, MAX_LR]
MAX_MU = 1e12            # SDLM's damping: a huge mu makes it SGD at rate eta / mu
# The distortion sizes and the largest value each may take: beyond these a 16x16 digit is
# moved off its image, mirrored (scale >= 1) or the elastic field's kernel outgrows it.
DISTORTION_LIMITS = {"max_shift": 8.0, "max_rotate": 180.0, "max_scale": 0.9, "max_shear": 1.0,
                     "max_stretch": 0.9, "elastic_alpha": 64.0, "elastic_sigma": 8.0}
MIN_ELASTIC_SIGMA = 0.1  # px; a narrower Gaussian is a no-op smoothing (and ~1e-162 divides by 0)


# ---------------------------------------------------------------------------- the rules
def check_choice(value, valid, what):
    """``value`` must be one of ``valid`` (a registry's names)."""
    valid = list(valid)
    if not isinstance(value, str) or value not in valid:
        raise UsageError(f"unknown {what} {value!r}; choose one of {', '.join(valid)}")
    return value


def check_seed(seed, what="seed"):
    """A random seed: an integer in [0, 2**63)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"{what} must be an integer in [0, 2**63), got {seed!r}")
    return seed


def check_int(what, value, lo, hi, allow_none=False):
    if value is None and allow_none:
        return value
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise UsageError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def check_number(what, value, lo, hi, lo_open=False, allow_none=False):
    """A finite real number in [lo, hi] (or (lo, hi] with lo_open)."""
    if value is None and allow_none:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        raise UsageError(f"{what} must be a number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {value!r}")
    return value


def check_rate(what, value):
    """A learning rate (SGD's lr, SDLM's eta): a number in (0, MAX_LR]."""
    return check_number(what, value, 0, MAX_LR, lo_open=True)


def check_path(what, path):
    """A file name option: None (not asked for) or a non-empty string."""
    if path is not None and (not isinstance(path, str) or not path or "\0" in path):
        raise UsageError(f"{what}: expected a file name, got {path!r}")
    return path
