"""Turn a picture of one digit into the network's 16x16 input, like the 1989 preprocessing.

Steps: grey levels -> ink map (dark-on-light or light-on-dark is detected from the
border, which is mostly background) -> crop to the ink's bounding box -> scale into 16x16
keeping the aspect ratio, centred -> map to [-1, 1] with background -1 and ink +1.
Reading image files needs Pillow (the optional ``image`` extra); arrays need nothing.
"""

import os
import warnings

import numpy as np

from .errors import DataError, MissingDependency, first_line

SIZE = 16
MIN_CONTRAST = 0.05  # grey levels (of 0..1) a picture must span to hold any ink


def read_image(path):
    """Greyscale float array in [0, 1] from a PNG/JPEG/PGM file (needs Pillow).

    A picture with transparency is flattened first: its transparent parts become paper
    that contrasts with what is drawn (white behind dark strokes, black behind light
    ones), so a digit drawn on a transparent background reads as ink. Anything Pillow
    refuses (not an image, truncated, a decompression bomb, too large) is a DataError.
    """
    if not os.path.isfile(path):  # refused the same way with or without Pillow
        raise DataError(f"{path}: {'no such file' if not os.path.lexists(path) else 'not a regular file'}")
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependency(f"{path}: reading image files needs Pillow: pip install 'lenet-numba[image]'") from None
    problem = None
    try:
        with warnings.catch_warnings():
            # between MAX_IMAGE_PIXELS and twice that Pillow only warns: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                grey = _grey_levels(im)
    except FileNotFoundError:
        problem = "no such file"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        problem = f"image too large to read safely ({first_line(e)})"
    except MemoryError:
        problem = "image too large to read (out of memory)"
    except Exception as e:  # Pillow's decoders raise OSError, SyntaxError, ValueError, EOFError, struct.error, ...
        problem = f"not a readable image ({type(e).__name__}: {first_line(e)})"
    else:
        problem = grey_problem(grey)
        if problem is None:
            return grey
    raise DataError(f"{path}: {problem}")


def grey_problem(grey):
    """What is wrong with grey levels a picture gave (None if nothing): every picture is
    checked here, whatever its format, before anything is computed from it. Pillow's own
    conversion to 8 bits would turn NaN into paper and infinity or 1e30 into full ink
    silently, so a float or 32-bit picture is read as its numbers and checked instead."""
    grey = np.asarray(grey)
    if grey.ndim != 2 or grey.size == 0:
        return f"expected one plane of grey levels, got shape {grey.shape}"
    finite = np.isfinite(grey)
    if not finite.all():
        return f"NaN or infinite pixel values ({int(grey.size - finite.sum()):,} of {grey.size:,})"
    lo, hi = float(grey.min()), float(grey.max())
    if lo < 0.0 or hi > 1.0:
        return f"pixel values must be in 0..255 (or 0..65535 in 16 bits), got {255 * lo:.6g}..{255 * hi:.6g}"
    return None


def _grey_levels(im):
    """(H, W) float64 of an open Pillow image, 0..1 on its bit depth's scale (anything else
    for a float or 32-bit picture holding it: see grey_problem), transparency flattened
    onto paper."""
    if im.mode.startswith("I;16"):  # 16 bits: Pillow's conversion to 8 bits would clip at 255
        return np.asarray(im, np.float64) / 65535.0
    if im.mode in ("F", "I"):  # 32-bit float or integer, on the 0..255 scale as Pillow reads it
        return np.asarray(im, np.float64) / 255.0
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), np.float64) / 255.0
        if alpha.min() < 1.0:
            grey = np.asarray(rgba.convert("L"), np.float64) / 255.0  # colour only; alpha dropped
            weight = alpha.sum()
            drawn = (grey * alpha).sum() / weight if weight > 0 else 0.0  # mean grey of what is drawn
            paper = 1.0 if drawn <= 0.5 else 0.0
            return grey * alpha + paper * (1.0 - alpha)
    return np.asarray(im.convert("L"), np.float64) / 255.0


def has_ink(grey, min_contrast=MIN_CONTRAST):
    """True if the grey levels vary by at least ``min_contrast`` (a blank page does not)."""
    grey = np.asarray(grey, np.float64)
    return grey.size > 0 and bool(np.all(np.isfinite(grey))) and float(grey.max() - grey.min()) >= min_contrast


def image_input(path):
    """The network's (16, 16) input from a picture file; a blank picture is a DataError."""
    grey = read_image(path)
    if not has_ink(grey):
        raise DataError(f"{path}: no ink found: blank image")
    return preprocess(grey)


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


def ink_box(ink, threshold=0.2):
    """(top, bottom, left, right), bottom/right exclusive: the bounding box of the pixels
    with ink above ``threshold``; None when there are none."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def preprocess(grey, threshold=0.2):
    """(H, W) grey levels in [0, 1] -> (16, 16) float32 in [-1, 1]."""
    ink = ink_map(np.asarray(grey, np.float64))
    box = ink_box(ink, threshold)
    out = np.full((SIZE, SIZE), -1.0, np.float32)
    if box is None:
        return out  # a blank picture stays blank
    top, bottom, left, right = box
    ink = ink[top:bottom, left:right]
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
