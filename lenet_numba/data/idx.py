"""IDX files (the MNIST container): a 4-byte magic, big-endian dims, then raw values."""

import math

import numpy as np

from lenet_numba.data.gzipped import read_maybe_gzip
from lenet_numba.errors import DataError

# Third magic byte -> element type (big-endian on disk).
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The array stored in an IDX file (gzip or raw), in native byte order."""
    data, fault = read_maybe_gzip(path)
    if fault is not None:
        raise DataError(f"{path}: {fault} after {len(data)} decompressed bytes")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DataError(f"{path}: not an IDX file (magic bytes {data[:4].hex() or 'missing'})")
    dtype = np.dtype(_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions but the file has {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow on a bogus header
    if len(data) - header != expected:
        shape = "x".join(map(str, dims))
        raise DataError(
            f"{path}: IDX header says {shape} {dtype.name} = {expected} bytes of data, "
            f"but the file holds {len(data) - header}"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))
