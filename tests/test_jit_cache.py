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


def test_prune_keeps_the_current_the_recent_and_the_young(tmp_path):
    from lenet_numba.jit_cache import prune

    now = 1_000_000_000.0
    day = 86400.0
    ages = {"a" * 16: 10, "b" * 16: 9, "c" * 16: 8, "d" * 16: 7, "e" * 16: 6, "0" * 16: 30}
    for name, days in ages.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.nbi").write_text("cache")
        os.utime(tmp_path / name, (now - days * day, now - days * day))
    (tmp_path / "not-a-version").mkdir()
    os.utime(tmp_path / "not-a-version", (now - 99 * day, now - 99 * day))
    # current "0"*16 (oldest of all) stays; the 3 most recently used others (e, d, c) stay
    assert sorted(prune(str(tmp_path), "0" * 16, keep=3, min_age_days=1, now=now)) == ["a" * 16, "b" * 16]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["0" * 16, "c" * 16, "d" * 16, "e" * 16,
                                                                 "not-a-version"])
    # used within min_age_days: kept even beyond keep
    os.utime(tmp_path / ("c" * 16), (now - 0.5 * day, now - 0.5 * day))
    assert prune(str(tmp_path), "0" * 16, keep=0, min_age_days=1, now=now) == ["e" * 16, "d" * 16]
    assert (tmp_path / ("c" * 16)).exists() and (tmp_path / ("0" * 16)).exists()
    assert prune(str(tmp_path / "missing"), "0" * 16) == []
