"""Seeded per-sample augmentation: a small random shift, rotation and scaling.

The distortion of a sample is a pure function of (seed, epoch, index): a counter-based
hash (splitmix64) draws its parameters, so there is no RNG state to save, resuming is
exact, and the chunking of an epoch cannot change it.

Shapes: image (H, W) in [-1, 1] -> out (H, W); pixels that come from outside the image
are background (-1), sampled bilinearly.
"""

import numpy as np
from numba import njit

BACKGROUND = -1.0


@njit(cache=True)
def splitmix64(z):
    z = (z + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def uniform_pm1(seed, epoch, index, k):
    """A number in [-1, 1) that depends only on its four arguments."""
    z = splitmix64(np.uint64(seed))
    z = splitmix64(z ^ np.uint64(epoch))
    z = splitmix64(z ^ np.uint64(index))
    z = splitmix64(z ^ np.uint64(k))
    return (z >> np.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0  # 53 random bits


@njit(cache=True)
def augment_image(image, seed, epoch, index, max_shift, max_rotate_deg, max_scale, out):
    H, W = image.shape
    dy = max_shift * uniform_pm1(seed, epoch, index, 0)
    dx = max_shift * uniform_pm1(seed, epoch, index, 1)
    angle = np.deg2rad(max_rotate_deg) * uniform_pm1(seed, epoch, index, 2)
    scale = 1.0 + max_scale * uniform_pm1(seed, epoch, index, 3)
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    for r in range(H):
        for q in range(W):
            # output pixel -> source point: undo the shift, then the rotation and scaling
            y0, x0 = r - cy - dy, q - cx - dx
            sy = c * y0 - s * x0 + cy
            sx = s * y0 + c * x0 + cx
            iy, ix = int(np.floor(sy)), int(np.floor(sx))
            fy, fx = sy - iy, sx - ix
            acc = 0.0
            for a in range(2):
                for b in range(2):
                    yy, xx = iy + a, ix + b
                    wgt = (fy if a else 1.0 - fy) * (fx if b else 1.0 - fx)
                    v = image[yy, xx] if (0 <= yy < H and 0 <= xx < W) else BACKGROUND
                    acc += wgt * v
            out[r, q] = acc
