"""What ``predict`` classifies: digits from a .npy array or a picture file.

A .npy file is checked from its header (shape, dtype, declared size against the file's
size and a bound) before any array is allocated, read through one open that refuses
pipes and devices, and its values are checked in their own type before conversion (so
1e300 is "out of [-1, 1]", not an overflow to infinity).
"""

import os
import stat

import numpy as np

from .errors import DataError
from .images import image_input

MAX_IMAGES = 100_000  # per .npy file: ~200 MB as float64; split larger arrays
_TOLERANCE = 1.0001   # values may exceed [-1, 1] by rounding


def load_inputs(path):
    """(N, 16, 16) float32 in [-1, 1] from a .npy array or a picture (cropped and scaled)."""
    if path.lower().endswith(".npy"):
        return load_npy_images(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    return image_input(path)[None]  # a blank picture is refused (an array is taken as given)


def load_npy_images(path):
    """(N, 16, 16) float32 from a .npy of shape (16, 16) or (N, 16, 16), real numbers in [-1, 1]."""
    def fail(problem):
        raise DataError(f"{path}: {problem}") from None

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        fail("no such file")
    except OSError as e:
        fail(f"cannot read ({e.strerror or e})")
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            fail("not a regular file")
        try:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, fortran, dtype = read_header(f)
        except Exception as e:  # numpy's header parser can raise SyntaxError, KeyError, ...
            fail(f"not a readable .npy array ({type(e).__name__}: {' '.join(str(e).split())})")
        if len(shape) not in (2, 3) or tuple(shape[-2:]) != (16, 16):
            fail(f"expected shape (16, 16) or (N, 16, 16), got {tuple(shape)}")
        count = int(np.prod(shape, dtype=np.float64))
        if count == 0:
            fail(f"holds no images (shape {tuple(shape)})")
        if count // 256 > MAX_IMAGES:
            fail(f"{count // 256:,} images, more than {MAX_IMAGES:,} in one file: split it")
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in "iuf":
            fail(f"expected numbers (real), got dtype {dtype}")
        if size - f.tell() != count * dtype.itemsize:
            fail(f"declares {count * dtype.itemsize:,} bytes of data but holds {size - f.tell():,}: truncated or damaged")
        x = np.fromfile(f, dtype=dtype, count=count)
    if len(x) != count:
        fail("truncated")
    x = x.reshape(shape, order="F" if fortran else "C").reshape(-1, 16, 16)
    if dtype.kind == "f" and not np.all(np.isfinite(x)):
        fail("contains NaN or infinite values")
    lo, hi = x.min(), x.max()
    if lo < -_TOLERANCE or hi > _TOLERANCE:
        fail(f"values must be in [-1, 1], got [{float(lo):.3g}, {float(hi):.3g}]")
    return x.astype(np.float32)
