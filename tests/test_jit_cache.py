"""The compiled-code cache is keyed by the package's whole source (see jit_cache.py)."""

import os
import shutil

import pytest

from lenet_numba import jit_cache
from lenet_numba.kernels.conv import conv2d_forward


def test_any_source_change_moves_the_cache(tmp_path, monkeypatch):
    copy = tmp_path / "lenet_numba"
    shutil.copytree(jit_cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(jit_cache, "PACKAGE_DIR", str(copy))
    before = jit_cache.source_hash()
    assert jit_cache.source_hash() == before                    # stable
    conv = copy / "kernels" / "conv.py"
    conv.write_text(conv.read_text() + "\n# a comment counts too\n")
    assert jit_cache.source_hash() != before                    # a callee's edit changes every path


def test_package_functions_cache_under_the_source_hash():
    if os.environ.get("NUMBA_CACHE_DIR"):
        pytest.skip("NUMBA_CACHE_DIR is set: the user's cache directory wins")
    root = jit_cache.cache_root()
    locator = conv2d_forward._cache._cache_path
    assert locator.startswith(root), (locator, root)
