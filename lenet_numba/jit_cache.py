"""Numba's on-disk cache for this package: keyed by the whole source, checked, never fatal.

Every compiled function of the package is declared with :func:`njit` from this module
(numba's ``njit`` plus this cache). Why not numba's own ``cache=True``:

- Numba checks a cached function against its own file only: edit a kernel in
  kernels/conv.py and the cached engine in network.py (which inlined the old kernel) keeps
  running the old code, a silently wrong result. Here every function caches under
  ``$LENET_NUMBA_JIT_CACHE/<hash of all our .py files>`` (default
  ``<user cache>/lenet-numba/numba``): any change to any file starts a fresh cache.
- A damaged entry (a truncated or bit-flipped ``.nbc``, a garbled or empty ``.nbi``) would
  end every later run with an unpickling or LLVM error. Entries carry a sha256 here; a bad
  one is deleted and compiled again, with one warning line.
- A cache folder that cannot be written (read-only home, a file in the way) would make
  numba refuse to define the functions at import. Here nothing touches the disk before
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
import pickle
import re
import shutil
import sys
import tempfile
import time

import numba
from numba.core import caching

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


def prepare(command=None, announce=True):
    """At a command's start: choose the cache folder (a temporary one if it cannot be
    written), mark it used, prune old versions' folders, and (``announce``) say on stderr
    when the engine compiles and about how long it takes. Returns ``is_cold()``."""
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
    cold = is_cold(root)
    if announce:
        from . import compile_notice

        compile_notice.install(command, cold, kept=not _state["temporary"])
    return cold


# --------------------------------------------------------------------------- the cache object


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


class _CheckedFiles(caching.IndexDataCacheFile):
    """numba's index + data files, each framed with a sha256 of its contents, read and
    written under cache_lock."""

    def save(self, key, data):
        with cache_lock(self._cache_path, exclusive=True):
            super().save(key, data)

    def load(self, key):
        with cache_lock(self._cache_path, exclusive=False):
            return super().load(key)

    def _load_index(self):
        try:
            with open(self._index_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        version, stamp, overloads = pickle.loads(_unframed(raw, self._index_path))
        if version != self._version or stamp != self._source_stamp:
            return {}  # another numba, or an edited file: stale entries are overwritten
        return overloads

    def _save_index(self, overloads):
        payload = pickle.dumps((self._version, self._source_stamp, overloads), protocol=-1)
        with self._open_for_write(self._index_path) as f:
            f.write(_framed(payload))

    def _load_data(self, name):
        path = self._data_path(name)
        with open(path, "rb") as f:
            raw = f.read()
        return pickle.loads(_unframed(raw, path))

    def _save_data(self, name, data):
        with self._open_for_write(self._data_path(name)) as f:
            f.write(_framed(self._dump(data)))

    def discard(self):
        """Delete this function's index and data files."""
        stem = self._index_name[: -len(".nbi")]
        try:
            names = os.listdir(self._cache_path)
        except OSError:
            return
        for name in names:
            if name == self._index_name or (name.startswith(stem + ".") and name.endswith(".nbc")):
                try:
                    os.unlink(os.path.join(self._cache_path, name))
                except OSError:
                    pass


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """The function's folder inside :func:`cache_root`, looked up when used (not at import)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._subpath = self.get_suitable_cache_subpath(py_file)

    def get_cache_path(self):
        return os.path.join(cache_root(), self._subpath)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class PackageCache(caching.FunctionCache):
    """The dispatcher's cache: numba's FunctionCache with a lazily chosen folder, checked
    entries, and every failure turned into a recompile."""

    _impl_class = _Impl

    def __init__(self, py_func):  # numba's __init__ would fix the folder now; it is chosen at use
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = self._impl_class(py_func)
        self._files = None
        self.enable()

    @property
    def cache_path(self):
        return self._impl.locator.get_cache_path()

    @property
    def _cache_file(self):
        path = self.cache_path
        if self._files is None or self._files._cache_path != path:
            self._files = _CheckedFiles(path, self._impl.filename_base, self._impl.locator.get_source_stamp())
        return self._files

    def indexed_signatures(self):
        """The signatures this function's index lists in the cache (none without an index)."""
        files = self._cache_file
        if not os.path.exists(files._index_path):
            return []
        with cache_lock(files._cache_path, exclusive=False):
            return [key[0] for key in files._load_index()]

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except OSError:  # no readable folder: nothing cached (save_overload says why, if it matters)
            return None
        except Exception as e:  # noqa: BLE001  any failure to read an entry means: compile it again
            self._cache_file.discard()
            _warn("corrupt", f"discarded a damaged compiled-code cache entry ({first_line(e)}); compiling it "
                             "(and any other damaged one) again")
            return None

    def save_overload(self, sig, data):
        for _ in range(2):
            try:
                return super().save_overload(sig, data)
            except OSError as e:
                if _state["temporary"]:  # the temporary folder failed too: keep it in memory
                    self.disable()
                    return None
                _use_temporary_folder(f"{e.filename or self.cache_path}: {e.strerror or e}")
        return None


def njit(*args, **options):
    """``numba.njit`` whose compiled code is cached by :class:`PackageCache` (``cache=False`` to opt out)."""
    use_cache = options.pop("cache", True)

    signatures = () if args and callable(args[0]) else args

    def decorate(func):
        dispatcher = numba.njit(*signatures, **options)(func)
        if use_cache:
            dispatcher._cache = PackageCache(func)  # what Dispatcher.enable_caching() does, with this cache
        return dispatcher

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate
