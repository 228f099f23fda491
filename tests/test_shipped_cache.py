"""The compiled code that ships with the package (lenet_numba/shipped_cache.py).

* It was made from this source, and every file is the one its manifest names: a change to
  the package's source without `python -m lenet_numba.shipped_cache build` fails here.
* It is loaded only where it can run: the same source, Python, Numba and llvmlite, and a
  CPU with every feature it was compiled for; only into an empty folder; never a damaged
  file; never when turned off; never over the user's own NUMBA_CPU_NAME.
* Where it can be loaded, a first `lenet-numba train` on an empty cache compiles nothing,
  and trains to the same bits as the engine compiled here.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lenet_numba import jit_cache, numba_private, shipped_cache

HERE = shipped_cache.host()
SOURCE = jit_cache.source_hash()
REBUILD = "python -m lenet_numba.shipped_cache build"


def test_the_shipped_code_was_made_from_this_source_and_is_whole():
    m = shipped_cache.read_manifest()
    assert m is not None, f"no lenet_numba/compiled/manifest.json: run `{REBUILD}`"
    assert m["source_hash"] == SOURCE, f"the shipped compiled code is of another source: run `{REBUILD}`"
    assert m["files"] and all(rel.endswith((".nbi", ".nbc")) for rel in m["files"])
    for rel, digest in m["files"].items():
        assert shipped_cache._sha256(os.path.join(shipped_cache.BUNDLE, rel)) == digest, rel
    for rel in m["files"]:  # no path of the machine it was made on (Numba's type annotations name them)
        with open(os.path.join(shipped_cache.BUNDLE, rel), "rb") as f:
            data = f.read()
        assert b"# File: " not in data and b" from '/" not in data, rel
    on_disk = shipped_cache._cache_files(shipped_cache.BUNDLE)
    assert on_disk == m["files"], "files in lenet_numba/compiled/ that the manifest does not list, or the reverse"


def manifest(**changes):
    return {**HERE, "source_hash": SOURCE, "cpu_name": "znver4", **changes}


def test_a_mismatch_names_what_differs():
    assert shipped_cache.mismatch(manifest(), HERE, SOURCE) is None
    assert shipped_cache.mismatch(None, HERE, SOURCE) == "no shipped compiled code"
    assert "another version of the source" in shipped_cache.mismatch(manifest(source_hash="0" * 16), HERE, SOURCE)
    for key in ("python", "numba", "llvmlite"):
        why = shipped_cache.mismatch(manifest(**{key: "0.0"}), HERE, SOURCE)
        assert why == f"made with {key} 0.0, this is {HERE[key]}"
    lacking = shipped_cache.mismatch(manifest(cpu_features=HERE["cpu_features"] + ",+avx9000"), HERE, SOURCE)
    assert lacking == "compiled for CPU features this CPU lacks: avx9000"
    # a CPU with more than the code needs runs it; a feature the code was built without is no matter
    fewer = ",".join(f for f in HERE["cpu_features"].split(",") if f != "+avx2")
    assert shipped_cache.mismatch(manifest(cpu_features=fewer), HERE, SOURCE) is None
    assert shipped_cache.mismatch(manifest(), dict(HERE, cpu_features=fewer), SOURCE) == \
        "compiled for CPU features this CPU lacks: avx2"


def fake_bundle(tmp_path, **changes):
    bundle = tmp_path / "bundle"
    (bundle / "lenet_numba").mkdir(parents=True)
    files = {}
    for name, payload in (("lenet_numba/f-1.py311.nbi", b"index"), ("lenet_numba/f-1.py311.1.nbc", b"code")):
        (bundle / name).write_bytes(payload)
        files[name] = shipped_cache._sha256(bundle / name)
    (bundle / "manifest.json").write_text(json.dumps(manifest(files=files, **changes)))
    return bundle


def test_install_fills_an_empty_folder_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.delenv(shipped_cache.OFF, raising=False)
    bundle = fake_bundle(tmp_path)
    root = tmp_path / "root"
    assert shipped_cache.install(str(root), str(bundle)) == 2
    assert (root / "lenet_numba" / "f-1.py311.1.nbc").read_bytes() == b"code"
    assert not [p for p in root.rglob("*.tmp")]
    (root / "lenet_numba" / "f-1.py311.1.nbc").write_bytes(b"mine")
    assert shipped_cache.install(str(root), str(bundle)) == 0          # not empty: left alone
    assert (root / "lenet_numba" / "f-1.py311.1.nbc").read_bytes() == b"mine"


def test_install_copies_nothing_from_a_damaged_stale_or_disabled_bundle(tmp_path, monkeypatch):
    monkeypatch.delenv(shipped_cache.OFF, raising=False)
    bundle = fake_bundle(tmp_path)
    (bundle / "lenet_numba" / "f-1.py311.1.nbc").write_bytes(b"c0de")   # not what the manifest says
    assert shipped_cache.install(str(tmp_path / "a"), str(bundle)) == 0
    assert not (tmp_path / "a").exists()
    stale = fake_bundle(tmp_path / "s", numba="0.1")
    assert shipped_cache.install(str(tmp_path / "b"), str(stale)) == 0
    monkeypatch.setenv(shipped_cache.OFF, "0")
    assert shipped_cache.install(str(tmp_path / "c"), str(fake_bundle(tmp_path / "o"))) == 0
    assert shipped_cache.usable(str(fake_bundle(tmp_path / "p"))) is None


def test_the_target_is_never_changed_once_compiled_or_over_the_users_choice(tmp_path, monkeypatch):
    import numba

    monkeypatch.delenv(shipped_cache.OFF, raising=False)
    numba.njit(lambda x: x + 1)(1)
    assert numba_private.target_in_use()   # this process has compiled: too late to change
    assert numba_private.set_cpu_target("znver4", HERE["cpu_features"]) is False
    assert shipped_cache.choose_target(str(fake_bundle(tmp_path))) is False
    code = ("import os, sys; from lenet_numba import shipped_cache; "
            f"print(shipped_cache.choose_target({str(fake_bundle(tmp_path / 'u'))!r}), os.environ['NUMBA_CPU_NAME'])")
    env = dict(os.environ, NUMBA_CPU_NAME="generic")
    env.pop(shipped_cache.OFF, None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["False", "generic"], r.stderr


def test_a_fresh_process_compiles_for_the_bundles_cpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
                                                             shipped_cache.OFF)}
    bundle = fake_bundle(tmp_path, cpu_name="x86-64")
    code = ("from lenet_numba import shipped_cache; import numba, os; "
            f"ok = shipped_cache.choose_target({str(bundle)!r}); "
            "f = numba.njit(lambda x: x + 1); f(1); "
            "from numba.core.registry import cpu_target; "
            "print(ok, os.environ['NUMBA_CPU_NAME'], cpu_target.target_context.codegen().magic_tuple()[1])")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["True", "x86-64", "x86-64"], r.stderr


@pytest.mark.skipif(shipped_cache.usable() is None, reason="the shipped compiled code cannot run here: "
                    + str(shipped_cache.mismatch(shipped_cache.read_manifest(), HERE, SOURCE)))
def test_a_first_train_loads_the_shipped_code_and_trains_the_same_bits(tmp_path, data_opts):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
                                                             shipped_cache.OFF)}
    args = [sys.executable, "-m", "lenet_numba", "train", "--epochs", "1", *data_opts]
    first = subprocess.run([*args, "--out", str(tmp_path / "shipped.npz")], capture_output=True, text=True,
                           timeout=300, env=dict(env, LENET_NUMBA_JIT_CACHE=str(tmp_path / "empty")))
    assert first.returncode == 0, first.stderr
    assert "compiling" not in first.stderr, first.stderr
    ours = subprocess.run([*args, "--out", str(tmp_path / "compiled.npz")], capture_output=True, text=True,
                          timeout=900, env=dict(env, **{shipped_cache.OFF: "0"}))
    assert ours.returncode == 0, ours.stderr
    with np.load(tmp_path / "shipped.npz") as a, np.load(tmp_path / "compiled.npz") as b:
        names = [n for n in a.files if n != "metadata"]
        assert names and all(np.array_equal(a[n], b[n]) for n in names)
