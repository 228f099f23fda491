"""Numba's on-disk cache, keyed by the whole package's source.

Numba checks a cached function against its own file's timestamp only: edit a kernel in
kernels/conv.py and the cached engine in network.py (which inlined the old kernel) keeps
running the old code. That would be a silently wrong result, so every function of this
package caches under ``$LENET_NUMBA_JIT_CACHE/<hash of all our .py files>`` (default
``<user cache>/lenet-numba/numba``): any
change to any file starts a fresh cache (and one recompile, ~20 s), an unchanged tree
reuses it. ``NUMBA_CACHE_DIR``, when set, is respected as is.

Old versions' folders are pruned: besides the current one, the KEEP most recently used
stay, and none used within the last MIN_AGE_DAYS is removed (another checkout may be
running it).

This hooks numba's cache-locator list, which is not public API: if it is not there, the
package still works with numba's default (per-file) caching.
"""

import hashlib
import os
import re
import shutil
import time

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def source_hash():
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
    base = os.environ.get("LENET_NUMBA_JIT_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "lenet-numba", "numba")
    return base


def cache_root():
    return os.path.join(cache_base(), source_hash())


KEEP = 3
MIN_AGE_DAYS = 1.0


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


def install():
    """Register the locator (once); returns the cache directory, or None if not used."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        base = getattr(caching, "UserProvidedCacheLocator", None) or getattr(caching, "_UserProvidedCacheLocator")
        root = cache_root()
        os.makedirs(root, exist_ok=True)
        os.utime(root)  # "last used": what prune() keeps
        prune(os.path.dirname(root), os.path.basename(root))
        # child processes (sweeps, subprocess tests) share it even if they change XDG_CACHE_HOME
        os.environ.setdefault("LENET_NUMBA_JIT_CACHE", cache_base())
    except (ImportError, AttributeError, OSError):
        return None
    if any(getattr(c, "lenet_numba", False) for c in impl._locator_classes):
        return root

    class PackageSourceLocator(base):
        lenet_numba = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(PACKAGE_DIR + os.sep):
                return None  # somebody else's function: numba's usual locators
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    impl._locator_classes.insert(0, PackageSourceLocator)
    return root
