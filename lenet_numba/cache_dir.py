"""The user's cache folder for this package (downloaded data, compiled code)."""

import os
from pathlib import Path


def user_cache_root():
    """``$XDG_CACHE_HOME/lenet-numba``, else ``~/.cache/lenet-numba`` (XDG ignores relative paths)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "lenet-numba"
