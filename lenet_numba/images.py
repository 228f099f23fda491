"""Turn a picture of one digit into the network's 16x16 input, like the 1989 preprocessing.

Steps: grey levels -> ink map (dark-on-light or light-on-dark is detected from the
border, which is mostly background) -> crop to the ink's bounding box -> scale into 16x16
keeping the aspect ratio, centred -> map to [-1, 1] with background -1 and ink +1.
Reading image files needs Pillow (the optional ``image`` extra); arrays need nothing.
"""

import numpy as np

from .errors import DataError

SIZE = 16


def read_image(path):
    """Greyscale float array in [0, 1] from a PNG/JPEG/PGM file (needs Pillow)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError(f"{path}: reading image files needs Pillow: pip install 'lenet-numba[image]'") from None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), np.float64) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def ink_map(grey):
    """Ink strength in [0, 1]: 1 = full ink. Dark ink on light paper is inverted."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1.0 - grey if np.median(border) > 0.5 else grey
    lo, hi = ink.min(), ink.max()
    return (ink - lo) / (hi - lo) if hi > lo else np.zeros_like(ink)


def bilinear_resize(img, out_h, out_w):
    """Area-aware enough for shrinking a digit: bilinear sampling at output pixel centres."""
    h, w = img.shape
    ys = (np.arange(out_h) + 0.5) * h / out_h - 0.5
    xs = (np.arange(out_w) + 0.5) * w / out_w - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.clip(y0 + 1, 0, h - 1), np.clip(x0 + 1, 0, w - 1)
    fy = np.clip(ys - y0, 0, 1)[:, None]
    fx = np.clip(xs - x0, 0, 1)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def preprocess(grey, threshold=0.2):
    """(H, W) grey levels in [0, 1] -> (16, 16) float32 in [-1, 1]."""
    ink = ink_map(np.asarray(grey, np.float64))
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    out = np.full((SIZE, SIZE), -1.0, np.float32)
    if rows.size == 0:
        return out  # a blank picture stays blank
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = ink.shape
    scale = SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    # shrink in steps of 2 first so thin strokes are averaged, not skipped
    while ink.shape[0] >= 2 * nh and ink.shape[1] >= 2 * nw:
        H2, W2 = ink.shape[0] // 2 * 2, ink.shape[1] // 2 * 2
        ink = ink[:H2, :W2].reshape(H2 // 2, 2, W2 // 2, 2).mean(axis=(1, 3))
    small = bilinear_resize(ink, nh, nw)
    top, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    out[top:top + nh, left:left + nw] = 2.0 * small - 1.0
    return out
