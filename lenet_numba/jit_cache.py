"""Numba's on-disk cache for this package: keyed by the whole source, checked, never fatal.

Every compiled function of the package is declared with :func:`njit` from this module
(numba's ``njit`` plus this cache; the part that reaches into Numba's private caching
classes is numba_private.py, with the measurements behind it). Why not numba's own
``cache=True`` (each of these was tried on plain ``numba.njit(cache=True)``):

- Numba checks a cached function against its own file only: edit a kernel in
  kernels/conv.py and the cached engine in network.py (which inlined the old kernel) keeps
  running the old code, a silently wrong result. Here every function caches under
  ``$LENET_NUMBA_JIT_CACHE/<hash of all our .py files>`` (default
  ``<user cache>/lenet-numba/numba``): any change to any file starts a fresh cache.
- A damaged entry (a truncated or bit-flipped ``.nbc``, a garbled or empty ``.nbi``) ends
  every later run with an unpickling error until the file is deleted by hand. Entries carry a sha256 here; a bad
  one is deleted and compiled again, with one warning line.
- numba picks the folder when a function is defined (at import): a ``NUMBA_CACHE_DIR``
  with a file in the way silently moves the cache into the source tree's __pycache__, and
  with no writable folder at all numba refuses to define the function. Here nothing touches the disk before
  the first compile; a folder that refuses the write is replaced by a temporary one, with
  one line saying why every run then compiles.

Nothing happens at import. A command calls :func:`prepare` at its start: it picks the
folder, prunes old versions' folders, and arranges for the first compile to be announced.
"""

import atexit
import contextlib
import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time

import numba

from . import numba_private
from .cache_dir import user_cache_root
from .errors import first_line

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ENV_VAR = "LENET_NUMBA_JIT_CACHE"
KEEP = 3             # old versions' folders kept besides the current one...
MIN_AGE_DAYS = 1.0   # ...and any used this recently (another checkout may be running it)
_MAGIC = b"lenet-numba cache entry 1\n"
_state = {"root": None, "temporary": False, "warned": set()}


# --------------------------------------------------------------------------- where


@functools.lru_cache(maxsize=None)
def source_hash():
    """16 hex digits of sha256 over every .py file of the package (relative names included)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                h.update(os.path.relpath(path, PACKAGE_DIR).encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:16]


def cache_base():
    """$LENET_NUMBA_JIT_CACHE, else <user cache>/lenet-numba/numba."""
    return os.environ.get(ENV_VAR) or str(user_cache_root() / "numba")


def cache_root():
    """The folder this source's compiled code lives in: fixed at first use for the rest of
    the process (a temporary one once the usual is refused)."""
    if _state["root"] is None:
        _state["root"] = os.path.join(cache_base(), source_hash())
    return _state["root"]


def is_cold(root=None):
    """True when ``root`` holds no index file yet: the next run compiles everything."""
    try:
        return not any(name.endswith(".nbi") for _, _, names in os.walk(root or cache_root()) for name in names)
    except OSError:
        return True


def _warn(key, message):
    """One line on stderr, once per process per ``key``."""
    if key not in _state["warned"]:
        _state["warned"].add(key)
        print(f"lenet-numba: warning: {message}", file=sys.stderr, flush=True)


def _use_temporary_folder(why):
    """Compile into a fresh temporary folder from now on (removed at exit); say so once."""
    if not _state["temporary"]:
        base = tempfile.mkdtemp(prefix="lenet-numba-jit-")
        atexit.register(shutil.rmtree, base, True)
        _state["root"] = os.path.join(base, source_hash())
        _state["temporary"] = True
        os.environ[ENV_VAR] = base  # worker processes share it
    _warn("unwritable", f"cannot write the compiled-code cache ({why}): compiling into a temporary folder, "
                        f"so every run compiles the engine again (about 40 s); set {ENV_VAR} to a writable folder")


def _writable(path):
    """None if ``path`` can be created and written, else the reason."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        return f"{e.filename or path}: {e.strerror or e}"
    return None


def prune(base, current, keep=KEEP, min_age_days=MIN_AGE_DAYS, now=None):
    """Remove old versions' folders under ``base`` (names: 16 hex digits, as source_hash
    makes) except ``current``, the ``keep`` most recently used others, and any used in the
    last ``min_age_days``. Returns the names removed; never raises."""
    now = time.time() if now is None else now
    try:
        names = [n for n in os.listdir(base) if re.fullmatch(r"[0-9a-f]{16}", n) and n != current]
        used = sorted(((os.path.getmtime(os.path.join(base, n)), n) for n in names), reverse=True)
    except OSError:
        return []
    removed = []
    for mtime, name in used[keep:]:
        if now - mtime > min_age_days * 86400:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            removed.append(name)
    return removed


def prepare(command=None, announce=True, fill=None):
    """At a command's start: choose the cache folder (a temporary one if it cannot be
    written), mark it used, prune old versions' folders, let ``fill(root)`` fill it if it
    is empty (the command line's: shipped_cache.install), and (``announce``) say on stderr
    when the engine compiles and about how long it takes. Returns whether the folder was
    empty (``is_cold()``, before any fill)."""
    root = cache_root()
    why = _writable(root)
    if why is not None:
        _use_temporary_folder(why)
        root = cache_root()
        os.makedirs(root, exist_ok=True)
    else:
        os.environ.setdefault(ENV_VAR, os.path.dirname(root))  # worker processes share it
        try:
            os.utime(root)  # "last used": what prune() keeps
        except OSError:
            pass
        prune(os.path.dirname(root), os.path.basename(root))
    cold = is_cold(root)  # the first run of this version, whatever fill() brings
    if fill is not None and cold:
        try:
            fill(root)
        except OSError as e:  # a folder that takes no more: compile, as without it
            _warn("fill", f"could not copy the shipped compiled code ({first_line(e)}): compiling")
    if announce:
        from . import compile_notice

        compile_notice.install(command, cold, kept=not _state["temporary"], times_dir=os.path.dirname(root))
    return cold


# --------------------------------------------------------------------------- entries: framed, locked


class CorruptEntry(Exception):
    """A cache file failed its checksum or framing."""


def _framed(payload):
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _unframed(raw, path):
    head = len(_MAGIC) + 32
    if not raw.startswith(_MAGIC) or len(raw) < head:
        raise CorruptEntry(f"{path}: not a lenet-numba cache file")
    payload = raw[head:]
    if hashlib.sha256(payload).digest() != raw[len(_MAGIC):head]:
        raise CorruptEntry(f"{path}: checksum mismatch")
    return payload


@contextlib.contextmanager
def cache_lock(folder, exclusive):
    """An flock on <folder>/.lock around reading (shared) or writing (exclusive) one
    function's index and data files.

    numba's save reads a function's index, picks the next free data file, then writes the
    index and the data: two processes saving overloads of one function at once (a sweep's
    workers, compile_ahead's second process) could leave an index naming the other's code.
    Only the file operations are locked (the compile and the object code are made before).
    Without fcntl (Windows) or a lock file that cannot be opened, no lock."""
    try:
        import fcntl
        os.makedirs(folder, exist_ok=True)
        f = open(os.path.join(folder, ".lock"), "a")
    except (ImportError, OSError):
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


class _Policy:
    """What numba_private.CheckedCache asks of this module (see its docstring)."""

    folder = staticmethod(cache_root)

    @staticmethod
    def subpath(py_file):
        """The package-relative folder of a source file ("lenet_numba", "lenet_numba/kernels"):
        entries do not depend on where the package is installed, so a cache made in one place
        (shipped_cache.py) serves another."""
        rel = os.path.relpath(os.path.dirname(os.path.abspath(py_file)), os.path.dirname(PACKAGE_DIR))
        return rel

    lock = staticmethod(cache_lock)
    frame = staticmethod(_framed)
    unframe = staticmethod(_unframed)

    @staticmethod
    def damaged(e):
        _warn("corrupt", f"discarded a damaged compiled-code cache entry ({first_line(e)}); compiling it "
                         "(and any other damaged one) again")

    @staticmethod
    def unwritable(e):
        if _state["temporary"]:  # the temporary folder failed too
            return False
        _use_temporary_folder(f"{e.filename or cache_root()}: {e.strerror or e}")
        return True


def indexed_signatures(dispatcher):
    """The signatures the on-disk cache of a function made by :func:`njit` lists."""
    return numba_private.indexed_signatures(dispatcher)


def njit(*args, **options):
    """``numba.njit`` whose compiled code is cached in :func:`cache_root`, checked
    (numba_private.CheckedCache with this module's policy; ``cache=False`` to opt out)."""
    use_cache = options.pop("cache", True)

    signatures = () if args and callable(args[0]) else args

    def decorate(func):
        dispatcher = numba.njit(*signatures, **options)(func)
        return numba_private.attach(dispatcher, _Policy) if use_cache else dispatcher

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate
