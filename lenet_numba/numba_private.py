"""Every use of Numba's private internals in this package, and why no documented API does it.

Numba documents ``njit(cache=True)`` and ``NUMBA_CACHE_DIR`` for its on-disk cache, and
nothing to choose how the cache is keyed, checked or written. jit_cache.py needs three
things that those do not give (measured, not assumed):

1. Invalidation by the whole source. Numba checks a cached function against its own file
   only: edit a kernel in kernels/conv.py and a cached caller elsewhere (which inlined the
   old kernel) keeps running the old code, a silently wrong result (a limitation Numba's
   documentation states). A folder keyed by a hash of every source file would need
   ``NUMBA_CACHE_DIR`` set before any of the package's functions is defined: an
   import-time side effect, read by Numba at its own import, and it would also move the
   cache of every other Numba function of the user's process.
2. Damaged entries. A truncated or bit-flipped ``.nbi``/``.nbc`` makes Numba's own loader
   raise (an unpickling or LLVM error) on every later run until the file is deleted by
   hand; here each entry carries a sha256 and a bad one is compiled again.
3. The folder, chosen when used. Numba picks it when a function is defined (at import):
   a ``NUMBA_CACHE_DIR`` with a file in the way silently moves the cache into the source
   tree's ``__pycache__``, and with no writable folder at all Numba refuses to define the
   function. Here nothing touches the disk before the first compile, and a refused folder
   is replaced by a temporary one, with one line saying so.

What the checks cost: nothing measurable. Time to the first training sample of `train
--optimizer sgd` on a warm cache, 5 interleaved fresh processes each on a shared 2-core
AMD EPYC (Zen 4): 2.89 s wall, 0.93 s CPU (medians) with this cache, 2.92 s and 0.94 s with
plain ``njit(cache=True)`` and ``NUMBA_CACHE_DIR``; a cold compile 34 and 35 s of CPU.

So the cache class below subclasses ``numba.core.caching``'s FunctionCache (its locator,
its implementation class and its index/data file class), overriding the documented-nowhere
``_load_index``/``_save_index``/``_load_data``/``_save_data`` hooks and reading the file
class's private attributes (``_cache_path``, ``_index_path``, ``_index_name``,
``_version``, ``_source_stamp``, ``_data_path``, ``_open_for_write``, ``_dump``), and
:func:`attach` sets a dispatcher's private ``_cache`` (what ``Dispatcher.enable_caching``
does, with this class). :func:`indexed_signatures` reads what that cache's index lists.
4. A view with no reference count. kernels/simd.flat_view (the engine's per-layer views of
   its flat buffers) builds the array struct itself with ``numba.np.arrayobj.populate_array``
   (:func:`c_array_view`): the documented ``numba.carray`` over a pointer gives the same
   view, and was measured slower in the per-sample loop (see flat_view's docstring).

5. The CPU target, chosen before anything is compiled. shipped_cache.py loads compiled code
   made on another machine of the same kind; Numba keys each entry by the CPU name and
   feature list its code generator was made for, read from ``NUMBA_CPU_NAME`` /
   ``NUMBA_CPU_FEATURES`` when Numba is imported. :func:`set_cpu_target` sets those
   (``numba.config``'s attributes, documented only as environment variables) for a process
   that has imported Numba but compiled nothing, and :func:`target_in_use` says whether
   the code generator exists already (the CPU target's private ``_toplevel_target_context``,
   made when the first function is defined): after that a new target would not apply.
Nothing else in the package touches a private name of Numba (the SIMD kernels use the
documented extension API: ``numba.extending.intrinsic``, ``register_model``, llvmlite IR).

These names have been stable across the Numba versions pyproject.toml allows, and CI runs
the kernel tests on the lowest of them; a Numba that moves them fails here, in one file.
The policy (where the folder is, how entries are framed and locked, what to say) stays in
jit_cache.py and reaches this module as a ``policy`` object with:

    folder() -> str                     the folder for the package's entries, now
    subpath(py_file) -> str             a source file's folder inside it (the same wherever the package is)
    lock(folder, exclusive)             a context manager around one function's file operations
    frame(payload) / unframe(raw, path) add / check-and-strip an entry's checksum framing
    damaged(exc)                        an entry failed to load (it is discarded: say so)
    unwritable(exc) -> bool             a save failed: True to retry (a new folder was chosen)
"""

import os
import pickle

from llvmlite import ir
from numba.core import caching, types

_INTP = types.intp


class _CheckedFiles(caching.IndexDataCacheFile):
    """Numba's index + data files, each framed by the policy, read and written under its lock."""

    def __init__(self, cache_path, filename_base, source_stamp, policy):
        super().__init__(cache_path, filename_base, source_stamp)
        self._policy = policy

    def save(self, key, data):
        with self._policy.lock(self._cache_path, exclusive=True):
            super().save(key, data)

    def load(self, key):
        with self._policy.lock(self._cache_path, exclusive=False):
            return super().load(key)

    def _load_index(self):
        try:
            with open(self._index_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        version, stamp, overloads = pickle.loads(self._policy.unframe(raw, self._index_path))
        if version != self._version or stamp != self._source_stamp:
            return {}  # another numba, or an edited file: stale entries are overwritten
        return overloads

    def _save_index(self, overloads):
        payload = pickle.dumps((self._version, self._source_stamp, overloads), protocol=-1)
        with self._open_for_write(self._index_path) as f:
            f.write(self._policy.frame(payload))

    def _load_data(self, name):
        path = self._data_path(name)
        with open(path, "rb") as f:
            raw = f.read()
        return pickle.loads(self._policy.unframe(raw, path))

    def _save_data(self, name, data):
        # a CompileResult's reduced form (CompileResult._reduce): its 7th item is the type
        # annotation's text, with the absolute paths of the source file and of every module
        # it names; left out (Numba shows no annotation of cached code anyway), so that an
        # entry says nothing of the machine it was compiled on (shipped_cache.py)
        if isinstance(data, tuple) and len(data) == 9 and isinstance(data[6], str):
            data = data[:6] + ("",) + data[7:]
        with self._open_for_write(self._data_path(name)) as f:
            f.write(self._policy.frame(self._dump(data)))

    def signatures(self):
        """The signatures the index lists (none without an index)."""
        if not os.path.exists(self._index_path):
            return []
        with self._policy.lock(self._cache_path, exclusive=False):
            return [key[0] for key in self._load_index()]

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


def _locator_class(policy):
    class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """The function's folder inside policy.folder(), looked up when used (not at import)."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._subpath = policy.subpath(py_file)  # Numba's own names the folder by a hash of its absolute path

        def get_cache_path(self):
            return os.path.join(policy.folder(), self._subpath)

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)

    return _Locator


class CheckedCache(caching.FunctionCache):
    """A dispatcher's cache: Numba's FunctionCache with a folder chosen at use, entries
    checked by the policy, and every failure to read turned into a recompile."""

    def __init__(self, py_func, policy):  # numba's __init__ would fix the folder now; it is chosen at use
        self._policy = policy
        self._impl_class = type("_Impl", (caching.CompileResultCacheImpl,),
                                {"_locator_classes": [_locator_class(policy)]})
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
            self._files = _CheckedFiles(path, self._impl.filename_base, self._impl.locator.get_source_stamp(),
                                        self._policy)
        return self._files

    def indexed_signatures(self):
        return self._cache_file.signatures()

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except OSError:  # no readable folder: nothing cached (save_overload says why, if it matters)
            return None
        except Exception as e:  # noqa: BLE001  any failure to read an entry means: compile it again
            self._cache_file.discard()
            self._policy.damaged(e)
            return None

    def save_overload(self, sig, data):
        for _ in range(2):
            try:
                return super().save_overload(sig, data)
            except OSError as e:
                if not self._policy.unwritable(e):  # no other folder to try: keep it in memory
                    self.disable()
                    return None
        return None


def attach(dispatcher, policy):
    """Give ``dispatcher`` (a numba.njit result) a CheckedCache: what the dispatcher's
    enable_caching() does with Numba's own cache class."""
    dispatcher._cache = CheckedCache(dispatcher.py_func, policy)
    return dispatcher


def cache_path(dispatcher):
    """The folder ``dispatcher``'s CheckedCache writes to now (None without one)."""
    cache = getattr(dispatcher, "_cache", None)
    return cache.cache_path if isinstance(cache, CheckedCache) else None


def indexed_signatures(dispatcher):
    """The signatures the on-disk cache of ``dispatcher`` lists ([] for one without a CheckedCache)."""
    cache = getattr(dispatcher, "_cache", None)
    return cache.indexed_signatures() if isinstance(cache, CheckedCache) else []


def c_array_view(context, builder, arrty, data, dims):
    """Inside an intrinsic's codegen: the value of a C-contiguous array of type ``arrty``
    over the pointer ``data`` with shape ``dims`` (intp values), no meminfo, no parent."""
    from numba.np.arrayobj import get_itemsize, populate_array  # at compile time only: 0.15 s to import

    itemsize = ir.Constant(context.get_value_type(_INTP), get_itemsize(context, arrty))
    strides, step = [], itemsize
    for d in reversed(dims):
        strides.insert(0, step)
        step = builder.mul(step, d)
    out = context.make_array(arrty)(context, builder)
    populate_array(out, data=data, shape=dims, strides=strides, itemsize=itemsize, meminfo=None)
    return out._getvalue()


def target_in_use():
    """True once Numba's CPU code generator exists (the first njit function was defined):
    from then on the CPU name and features it was made for are fixed for the process."""
    from numba.core.registry import cpu_target
    return "_toplevel_target_context" in vars(cpu_target)


def set_cpu_target(name, features):
    """Compile for ``name`` with ``features`` (an LLVM feature string) from now on, as
    ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` would at Numba's import; False (nothing
    changed) when the code generator exists already."""
    if target_in_use():
        return False
    from numba import config
    config.CPU_NAME, config.CPU_FEATURES = name, features
    return True
