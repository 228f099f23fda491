"""Made-up digits for tests that need no real data."""

import numpy as np


def synthetic(n, seed):
    """n images in [-1, 1] with labels: noisy copies of ten random prototypes, digit-like
    enough for a loss to have somewhere to go."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    protos = rng.uniform(-1, 1, (10, 16, 16))
    return np.clip(protos[labels] + 0.5 * rng.standard_normal((n, 16, 16)), -1, 1), labels


def uniform_noise(n, seed=0):
    """n float32 images of uniform noise in [-1, 1] with random labels."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 16, 16)).astype(np.float32), rng.integers(0, 10, n)
