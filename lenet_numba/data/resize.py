"""Bilinear 28x28 -> 16x16 resize, the way karpathy/lecun1989-repro's prepro.py does it.

prepro.py maps a uint8 digit to [-1, 1] as ``x / 127.5 - 1`` and then calls
``F.interpolate(x, (16, 16), mode='bilinear')`` (align_corners=False, no antialias). That is
reproduced here without PyTorch: output pixel ``d`` samples source coordinate
``(d + 0.5) * in/out - 0.5`` (clamped at 0), mixing the two nearest source pixels linearly.
Rows and columns are independent, so the whole resize is ``M @ x @ M.T`` with a fixed
(16, in) weight matrix ``M``. Computed in float64 and rounded once to float32, so values
agree with PyTorch's float32 arithmetic to float32 rounding (about 1e-7).
"""

import numpy as np


def bilinear_matrix(n_in, n_out):
    """(n_out, n_in) weights of PyTorch's 1-D linear resize with align_corners=False."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)  # at the last pixel lo == hi and the weights add to 1
    return m


def resize_to_16(images):
    """uint8 digits (N, H, W), normally 28x28 MNIST -> float32 (N, 16, 16) in [-1, 1]."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    x = images / 127.5 - 1.0
    rows = bilinear_matrix(images.shape[1], 16)
    cols = bilinear_matrix(images.shape[2], 16)
    out = rows @ x @ cols.T
    # Convex weights keep values in [-1, 1]; clip only float64 round-off at the ends.
    return np.clip(out, -1.0, 1.0).astype(np.float32)
