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

Loading reads the file once (one open; pipes and devices refused without blocking),
then the metadata, then each array: its ``.npy`` header (dtype, shape) is checked against
what the caller needs, and its size against the zip directory, before its data is read,
so memory stays bounded whatever a file declares. Every way a file can be wrong on load
becomes a one-line :class:`CheckpointError` that names the file and the problem.
"""

import hashlib
import io
import json
import lzma
import os
import stat
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

# Bounds that hold whatever a file declares. The largest network's checkpoint is well
# under 1 MB; these leave room for long metric histories and stay cheap to refuse.
MAX_FILE_BYTES = 64 << 20      # the file itself (read into memory once)
MAX_META_BYTES = 16 << 20      # the JSON metadata, uncompressed
MAX_ARRAY_BYTES = 64 << 20     # any array when the caller gives no spec of what it needs
MAX_ENTRIES = 1024
_NPY_HEADER_ROOM = 1 << 16     # a .npy member's header, beyond its array bytes

# What zipfile/numpy raise on a damaged file: the zip layer (bad or flipped headers,
# truncation, a compression method or flag bit flipped into something unsupported) and
# the .npy layer (bad header, short data). All of them mean "corrupt", none is our bug.
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError, TypeError,
            NotImplementedError, RuntimeError, OverflowError, MemoryError, SyntaxError, struct.error,
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


def read_file_once(path, what="checkpoint", limit=MAX_FILE_BYTES):
    """The bytes of a regular file, read through one open (a file replaced meanwhile is not
    mixed in), refusing folders, FIFOs and devices without blocking, and files over ``limit``."""
    def fail(problem):
        raise CheckpointError(f"{os.fspath(path)}: {problem}") from None

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        fail(f"no such {what} file")
    except IsADirectoryError:
        fail(f"is a directory, not a {what} file")
    except (OSError, ValueError) as e:
        fail(f"cannot read {what} ({getattr(e, 'strerror', None) or e})")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        fail(f"is a directory, not a {what} file" if stat.S_ISDIR(info.st_mode)
             else f"is not a regular file (a pipe, socket or device), not a {what} file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            fail(f"{info.st_size:,} bytes, larger than any {what} ({limit:,} bytes at most)")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            fail(f"cannot read {what} ({e.strerror or e})")
    if len(data) > limit:
        fail(f"larger than any {what} ({limit:,} bytes at most)")
    return data


def digest(data):
    """A file's identity by content, as stored in checkpoints that name another file."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_checkpoint(path, expected_arch=None, expected_shapes=None, spec=None, data=None):
    """Read a checkpoint; return ``(params, meta, state)`` or raise :class:`CheckpointError`.

    ``spec(meta)`` (called once the metadata is read, before any array) returns what the
    caller needs: entry name -> (shape, allowed dtypes) for every parameter and the state
    entries it accepts (``state/<name>``); an entry it does not list, a shape or a dtype
    it does not expect is refused from the .npy header, before the array is read, so a
    file cannot make us allocate more than the network needs. Without a spec every array
    is bounded by MAX_ARRAY_BYTES. ``expected_arch``/``expected_shapes`` are the short
    form (float32/float64 parameters of these shapes). Float parameters must be finite.
    ``data``: the file's bytes when the caller has read them already (read_file_once).
    """
    name = os.fspath(path)

    def fail(problem):
        # from None: the message is the whole story, no chained zipfile/numpy traceback.
        raise CheckpointError(" ".join(f"{name}: {problem}".splitlines())) from None

    if expected_shapes is not None and spec is None:
        floats = (np.dtype(np.float32), np.dtype(np.float64))
        spec = lambda meta: {STATE_PREFIX + "*": None,  # noqa: E731
                             **{n: (tuple(shape), floats) for n, shape in expected_shapes.items()}}
    if data is None:
        data = read_file_once(path)
    if not data:
        fail("checkpoint file is empty")
    if data[:4] != b"PK\x03\x04":
        fail("not a checkpoint (.npz) file: no zip signature")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta, members = _read_meta(zf, fail)
            if expected_arch is not None and meta.get("arch") != expected_arch:
                fail(f"checkpoint is for {meta.get('arch')!r}, expected {expected_arch!r}")
            wanted = spec(meta) if spec is not None else None
            contents = {}
            any_state = STATE_PREFIX + "*"  # in a spec: state entries of any (bounded) shape and type
            for entry, info in members.items():
                if wanted is None or (entry.startswith(STATE_PREFIX) and entry not in wanted and any_state in wanted):
                    shape, dtypes = None, None
                elif entry in wanted:
                    shape, dtypes = wanted[entry]
                else:
                    fail(f"unexpected {'state entry' if entry.startswith(STATE_PREFIX) else 'parameter'} {entry!r}")
                contents[entry] = _read_array(zf, info, entry, shape, dtypes, fail)
    except CheckpointError:
        raise
    except RecursionError:
        fail("corrupt checkpoint: metadata nested too deeply")
    except _CORRUPT as e:
        fail(f"corrupt or truncated checkpoint ({type(e).__name__}: {e})")

    params = {n: v for n, v in contents.items() if not n.startswith(STATE_PREFIX)}
    state = {n[len(STATE_PREFIX):]: v for n, v in contents.items() if n.startswith(STATE_PREFIX)}
    if wanted is not None:
        missing = [n for n in wanted if not n.startswith(STATE_PREFIX) and n not in params]
        if missing:
            fail(f"missing parameter {missing[0]!r}")
    for entry, value in params.items():
        if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
            fail(f"parameter {entry!r} has non-finite values (NaN or inf)")
    return params, meta, state


def _read_meta(zf, fail):
    """The checked metadata and entry name -> ZipInfo of the arrays, from the zip directory."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        fail(f"{len(infos)} entries, more than any checkpoint has")
    members = {}
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename[:-4] in members:
            fail(f"unexpected or repeated entry {info.filename!r}")
        members[info.filename[:-4]] = info
    info = members.pop(META_KEY, None)
    if info is None:
        fail(f"missing {META_KEY} entry (not a lenet-numba checkpoint?)")
    raw = _read_array(zf, info, META_KEY, None, (np.dtype(np.uint8),), fail, limit=MAX_META_BYTES)
    if raw.ndim != 1:
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
    if entries != list(members):  # same names in the same (write) order
        fail(f"corrupt checkpoint: its entries do not match the list in {META_KEY}")
    return meta, members


def _read_array(zf, info, entry, shape, dtypes, fail, limit=MAX_ARRAY_BYTES):
    """One .npy member, its header checked (dtype, shape, size) before its data is read,
    and its CRC checked by reading it to the end."""
    if shape is not None:
        limit = int(np.prod(shape, dtype=np.int64)) * max(d.itemsize for d in dtypes)
    if info.file_size > limit + _NPY_HEADER_ROOM:
        fail(f"entry {entry!r} declares {info.file_size:,} bytes, more than it can need ({limit:,})")
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            got_shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            got_shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            fail(f"entry {entry!r}: unsupported .npy version {version}")
        if dtypes is not None and dtype not in dtypes:
            fail(f"entry {entry!r} has dtype {dtype}, expected {' or '.join(map(str, dtypes))}")
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
            fail(f"entry {entry!r} has dtype {dtype}, not a plain number type")
        if any(d < 0 for d in got_shape):
            fail(f"entry {entry!r} has a negative dimension {tuple(got_shape)}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            fail(f"entry {entry!r} has shape {tuple(got_shape)}, expected {tuple(shape)}")
        nbytes = int(np.prod(got_shape, dtype=np.float64)) * dtype.itemsize
        if nbytes > limit:
            fail(f"entry {entry!r} declares shape {tuple(got_shape)}, more than it can need")
        body = member.read(nbytes)
        if len(body) != nbytes:
            fail(f"corrupt or truncated checkpoint: entry {entry!r} is short")
        if member.read(1):  # reading to the end checks the CRC; extra bytes are damage
            fail(f"corrupt checkpoint: entry {entry!r} has data after its array")
    return np.frombuffer(body, dtype).reshape(got_shape, order="F" if fortran else "C").copy()
