"""Checkpoints: one ``.npz`` of named arrays plus a JSON metadata entry, never pickle.

Layout (a plain zip of ``.npy`` members, readable by ``np.load(path, allow_pickle=False)``):

* ``<name>``        a parameter array, e.g. ``conv1.weight``;
* ``state/<name>``  optional extra state (optimizer moments, RNG state, metric history);
* ``__meta__``      uint8 array holding UTF-8 JSON: ``format_version`` (added here),
  ``package_version`` (added unless given), and whatever the caller passes, such as
  ``arch`` (checked by ``load_checkpoint(expected_arch=...)``), options, epoch, seed.
  It also lists every entry name under ``__entries__`` (stripped again on load): the zip
  directory is not checksummed, and one flipped length byte in it can silently hide
  members, so the list inside the checksummed metadata is what vouches for completeness.

Every way a file can be wrong on load becomes a one-line :class:`CheckpointError` that
names the file and the problem.
"""

import json
import lzma
import os
import struct
import zipfile
import zlib

import numpy as np

from . import __version__
from .atomic import atomic_open
from .errors import CheckpointError

FORMAT_VERSION = 1
META_KEY = "__meta__"
STATE_PREFIX = "state/"
ENTRIES_KEY = "__entries__"

# What zipfile/numpy raise on a damaged file: the zip layer (bad or flipped headers,
# truncation, a compression method or flag bit flipped into something unsupported) and
# the .npy layer (bad header, short data). All of them mean "corrupt", none is our bug.
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
            NotImplementedError, RuntimeError, OverflowError, MemoryError, struct.error,
            zlib.error, lzma.LZMAError)


def _json_default(obj):
    if isinstance(obj, np.generic):  # np.int64 epoch, np.float32 loss, ...
        return obj.item()
    raise TypeError(f"checkpoint metadata value {obj!r} ({type(obj).__name__}) is not JSON-serializable")


def save_checkpoint(path, params, meta, state=None):
    """Atomically write ``params`` (name -> array), ``meta`` (JSON-able dict) and ``state``."""
    arrays = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name or name == META_KEY or name.startswith(STATE_PREFIX):
            raise ValueError(f"bad parameter name {name!r} (empty, {META_KEY!r}, or starts with {STATE_PREFIX!r})")
        arrays[name] = np.asarray(value)
    for name, value in (state or {}).items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"bad state name {name!r}")
        arrays[STATE_PREFIX + name] = np.asarray(value)

    meta = {"package_version": __version__, **meta, "format_version": FORMAT_VERSION,
            ENTRIES_KEY: list(arrays)}
    # allow_nan=False: NaN/Infinity are not JSON, other readers would reject the file.
    text = json.dumps(meta, sort_keys=True, allow_nan=False, default=_json_default)
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    # Zip written by hand rather than np.savez: savez takes names as keyword arguments (a
    # parameter called "file" collides) and only numpy >= 2.1 can refuse to pickle there.
    # ZipFile closes (writes its directory) before atomic_open fsyncs and renames.
    with atomic_open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load_checkpoint(path, expected_arch=None, expected_shapes=None):
    """Read a checkpoint; return ``(params, meta, state)`` or raise :class:`CheckpointError`.

    ``expected_arch`` is compared with ``meta["arch"]``; ``expected_shapes`` (name -> shape)
    must match the parameter set exactly. Float parameters must be finite.
    """
    def fail(problem):
        # from None: the message is the whole story, no chained zipfile/numpy traceback.
        raise CheckpointError(" ".join(f"{os.fspath(path)}: {problem}".splitlines())) from None

    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        fail("no such checkpoint file")
    except IsADirectoryError:
        fail("is a directory, not a checkpoint file")
    except OSError as e:
        fail(f"cannot read checkpoint ({e.strerror or e})")
    if not head:
        fail("checkpoint file is empty")
    if head != b"PK\x03\x04":
        fail("not a checkpoint (.npz) file: no zip signature")

    try:
        with np.load(path, allow_pickle=False) as npz:
            # Check every member's CRC first: a damaged .npy header can otherwise parse into
            # a smaller array that is read without ever reaching the checksum.
            bad = npz.zip.testzip()
            if bad is not None:
                fail(f"corrupt or truncated checkpoint: checksum mismatch in {bad!r}")
            contents = {name: npz[name] for name in npz.files}
    except CheckpointError:
        raise
    except _CORRUPT as e:
        fail(f"corrupt or truncated checkpoint ({type(e).__name__}: {e})")

    raw = contents.pop(META_KEY, None)
    if raw is None:
        fail(f"missing {META_KEY} entry (not a lenet-numba checkpoint?)")
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        fail(f"{META_KEY} is not a 1-D uint8 array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        fail(f"{META_KEY} is not valid UTF-8 JSON ({e})")
    if not isinstance(meta, dict):
        fail(f"{META_KEY} is not a JSON object")
    version = meta.get("format_version")
    if type(version) is not int:
        fail(f"{META_KEY} has no integer format_version")
    if version != FORMAT_VERSION:
        fail(f"unknown checkpoint format_version {version} (this lenet-numba reads {FORMAT_VERSION})")
    entries = meta.pop(ENTRIES_KEY, None)
    if entries != list(contents):  # same names in the same (write) order
        fail(f"corrupt checkpoint: its entries do not match the list in {META_KEY}")
    if expected_arch is not None and meta.get("arch") != expected_arch:
        fail(f"checkpoint is for {meta.get('arch')!r}, expected {expected_arch!r}")

    params, state = {}, {}
    for name, value in contents.items():
        if not isinstance(value, np.ndarray):  # np.load returns raw bytes for non-.npy members
            fail(f"entry {name!r} is not a NumPy array")
        if name.startswith(STATE_PREFIX):
            state[name[len(STATE_PREFIX):]] = value
        else:
            params[name] = value

    if expected_shapes is not None:
        for name, shape in expected_shapes.items():
            if name not in params:
                fail(f"missing parameter {name!r}")
            if params[name].shape != tuple(shape):
                fail(f"parameter {name!r} has shape {params[name].shape}, expected {tuple(shape)}")
        extra = [name for name in params if name not in expected_shapes]
        if extra:
            fail(f"unexpected parameter(s) {', '.join(map(repr, extra))}")
    for name, value in params.items():
        if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
            fail(f"parameter {name!r} has non-finite values (NaN or inf)")
    return params, meta, state
