"""USPS digits in the ESL text format (Hastie, Tibshirani & Friedman's ``zip.train.gz``).

Each line is a label (``6.0000`` or ``6``) and 256 grey values in [-1, 1], the 16x16
image row by row. Every error names the file and, where it makes sense, the line.
"""

import io
import shlex
import warnings

import numpy as np

from lenet_numba.data.checksum import sha256_file, verify_file
from lenet_numba.data.gzipped import read_maybe_gzip
from lenet_numba.data.locate import find_file
from lenet_numba.data.parsed_cache import load_or_parse
from lenet_numba.data.sources import USPS_FILES
from lenet_numba.errors import DataError

SPLITS = {"train": "zip.train.gz", "test": "zip.test.gz"}
_COLUMNS = 1 + 16 * 16


def load_usps(split, data_dir=None, download=True, progress=None):
    """``(x float32 (N,16,16), y int64 (N,))`` for ``split`` "train" (7291) or "test" (2007)."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    name = SPLITS[split]
    path = find_file("usps", name, data_dir=data_dir, download=download, progress=progress)
    _, size, sha256 = USPS_FILES[name]
    # On a mismatch the file is parsed to say which line is wrong, if one is; a good file is
    # only hashed, and its digits come from the parsed cache.
    verify_file(path, size, sha256, diagnose=read_usps_file, hint=fetch_hint(path))
    return load_or_parse(name, sha256, lambda: read_usps_file(path))


def fetch_hint(path):
    """How to replace the bad USPS copy at ``path``: fetch into the root that holds it."""
    root = shlex.quote(str(path.parent.parent))
    return f"run `lenet-numba data fetch --data-dir {root}` to replace it"


def read_usps_file(path, expected_sha256=None):
    """Parse any ESL-format file (gzip or plain text) into ``(x, y)``; see module docstring."""
    if expected_sha256 is not None:
        got = sha256_file(path)
        if got != expected_sha256:
            raise DataError(f"{path}: checksum mismatch, expected sha256 {expected_sha256}, got {got}")
    data, fault = read_maybe_gzip(path)
    lines = data.split(b"\n")
    if not lines[-1].strip():
        lines.pop()  # after the final newline
    if fault is not None:
        # A damaged stream usually decodes to garbage lines well before zlib notices (often
        # only at the final CRC check): point at the first such line when there is one.
        complete = lines if data.endswith(b"\n") else lines[:-1]
        bad = _first_bad_line(complete)
        line = bad[0] if bad else len(complete) + 1
        raise DataError(f"{path}: line {line}: {fault}")
    if not lines:
        raise DataError(f"{path}: line 1: no data, the file is empty")
    table = _fast_parse(data, len(lines))
    bad_rows = _bad_rows(table) if table is not None else None
    if table is None or bad_rows.any():
        # Slow pass, only on bad input: phrase the problem of the first bad line.
        start = int(np.argmax(bad_rows)) if table is not None else 0
        bad = _first_bad_line(lines[start:], first_number=start + 1)
        if bad is None:
            raise DataError(f"{path}: cannot be parsed as ESL digit lines")
        raise DataError(f"{path}: line {bad[0]}: {bad[1]}")
    x = table[:, 1:].astype(np.float32).reshape(-1, 16, 16)
    y = table[:, 0].astype(np.int64)
    return x, y


def _fast_parse(data, n_lines):
    """numpy's C text parser, or None when it fails or would shift line numbers."""
    try:
        with warnings.catch_warnings():  # "no data" on blank input: the slow pass reports it
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(io.BytesIO(data), dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    # loadtxt silently skips blank lines; a row count off by any means a line is bad.
    return table if table.shape == (n_lines, _COLUMNS) else None


def _bad_rows(table):
    labels, pixels = table[:, 0], table[:, 1:]
    good = np.isin(labels, np.arange(10)) & (np.abs(pixels) <= 1.0).all(axis=1)  # NaN fails too
    return ~good


def _first_bad_line(lines, first_number=1):
    """``(line_number, problem)`` of the first bad line, or None."""
    for number, line in enumerate(lines, start=first_number):
        problem = _line_problem(line.split())
        if problem is not None:
            return number, problem
    return None


def _line_problem(fields):
    if len(fields) != _COLUMNS:
        return f"expected {_COLUMNS} columns (label + 16x16 pixels), found {len(fields)}"
    try:
        values = [float(f) for f in fields]
    except ValueError:
        column = next(i for i, f in enumerate(fields, start=1) if not _is_number(f))
        return f"column {column} is not a number: {fields[column - 1].decode('ascii', 'replace')[:20]!r}"
    if values[0] not in range(10):
        return f"label {values[0]:g} is not an integer 0-9"
    for column, v in enumerate(values[1:], start=2):
        if not abs(v) <= 1.0:
            return f"pixel value {v:g} (column {column}) is not a finite number in [-1, 1]"
    return None


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True
