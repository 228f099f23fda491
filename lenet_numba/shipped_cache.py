"""Compiled code that ships with the package, so that a first run loads instead of compiling.

Numba compiles the engine on first use, about 50 CPU seconds for a default ``lenet-numba
train`` (docs/performance.md): most of it Numba's own typing and lowering, which no choice
of code shortens to a few seconds. So the package carries the cache that a set of first
commands leaves (``compiled/``, made by ``python -m lenet_numba.shipped_cache build``;
COMMANDS below), with a manifest of what it was made from. A command that finds its cache
folder empty copies it in first, when every check passes:

- the same source: the manifest's jit_cache.source_hash (an edited .py file of the package
  makes it stale, and a test fails until it is made again);
- the same Python (major.minor), Numba and llvmlite: the cache's format and the code;
- a CPU with every feature the code was compiled for (LLVM's feature list of the host).

The command then compiles for the manifest's CPU name and features (set by the command
line's launcher before anything is compiled, and passed on to its worker processes), so
what it loads and what it adds are keyed alike. Otherwise nothing changes: the engine
compiles for the host, as without this. ``LENET_NUMBA_SHIPPED_CACHE=0`` turns it off.

Loading gives the same results as compiling: every sum has a fixed order (kernels/simd.py);
the exact numerics policy's code has no fused multiply-add and no fastmath, and the fast
policy's fuses multiply-adds only on a CPU with FMA, which the features checked include. So
it computes the same bits on any CPU that can run it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata

from . import jit_cache, numba_private

BUNDLE = os.path.join(jit_cache.PACKAGE_DIR, "compiled")
MANIFEST = "manifest.json"
OFF = "LENET_NUMBA_SHIPPED_CACHE"  # "0": never load it, never change the CPU target
# what `build` runs on an empty cache: the first commands of README's quick start, and the
# other recipes' training loops (the networks are data: one compiled loop serves all three)
COMMANDS = (
    ("train", "--epochs", "1", "--out", "m.npz"),
    ("train", "--optimizer", "sgd", "--epochs", "1", "--out", "sgd.npz"),
    ("train", "--recipe", "article", "--epochs", "1", "--out", "article.npz"),
    ("train", "--recipe", "modern", "--epochs", "1", "--out", "modern.npz"),
    ("train", "--numerics", "exact", "--epochs", "1", "--out", "exact.npz"),
    ("eval", "m.npz"),
    ("predict", "m.npz", "digits.npy"),
    ("gradcheck", "--samples", "1"),
)


def read_manifest(bundle=BUNDLE):
    """The bundle's manifest (a dict), or None when there is none or it cannot be read."""
    try:
        with open(os.path.join(bundle, MANIFEST), encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def host():
    """What a bundle must match here: Python, Numba, llvmlite, the CPU's LLVM features."""
    import llvmlite.binding as llvm  # no Numba import: the target is chosen before Numba's

    return {"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "numba": metadata.version("numba"),
            "llvmlite": metadata.version("llvmlite"), "cpu_features": llvm.get_host_cpu_features().flatten()}


def _enabled(features):
    return {f[1:] for f in features.split(",") if f.startswith("+")}


def mismatch(manifest, here, source):
    """Why code made as ``manifest`` says cannot be loaded ``here`` for ``source``, or None."""
    if manifest is None:
        return "no shipped compiled code"
    if manifest.get("source_hash") != source:
        return "made from another version of the source"
    for key in ("python", "numba", "llvmlite"):
        if manifest.get(key) != here[key]:
            return f"made with {key} {manifest.get(key)}, this is {here[key]}"
    missing = _enabled(manifest.get("cpu_features", "")) - _enabled(here["cpu_features"])
    if missing:
        return f"compiled for CPU features this CPU lacks: {', '.join(sorted(missing)[:5])}"
    return None


def usable(bundle=BUNDLE):
    """The manifest when the bundle can be loaded here (and is not turned off), else None."""
    if os.environ.get(OFF) == "0":
        return None
    m = read_manifest(bundle)
    return m if mismatch(m, host(), jit_cache.source_hash()) is None else None


def choose_target(bundle=BUNDLE):
    """Compile for the bundle's CPU from now on, in this process and the ones it starts:
    True when set. Only before anything is compiled, and never over a NUMBA_CPU_NAME or
    NUMBA_CPU_FEATURES of the user's."""
    if "NUMBA_CPU_NAME" in os.environ or "NUMBA_CPU_FEATURES" in os.environ:
        return False
    m = usable(bundle)
    if m is None or not numba_private.set_cpu_target(m["cpu_name"], m["cpu_features"]):
        return False
    os.environ["NUMBA_CPU_NAME"], os.environ["NUMBA_CPU_FEATURES"] = m["cpu_name"], m["cpu_features"]
    return True


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def install(root, bundle=BUNDLE):
    """Copy the bundle into the cache folder ``root`` if it is empty and the bundle can be
    loaded here; returns the number of files copied. Every file is checked against the
    manifest first (a damaged bundle copies nothing), and each lands by rename."""
    m = usable(bundle)
    if m is None or not jit_cache.is_cold(root):
        return 0
    files = m.get("files", {})
    if not files or any(_sha256(os.path.join(bundle, rel)) != digest for rel, digest in files.items()):
        return 0
    for rel in files:
        dest = os.path.join(root, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.tmp"
        shutil.copyfile(os.path.join(bundle, rel), tmp)
        os.replace(tmp, dest)
    return len(files)


def _cache_files(root):
    """{relative path: sha256} of the compiled-code entries under root."""
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            if name.endswith((".nbi", ".nbc")):
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, root).replace(os.sep, "/")] = _sha256(path)
    return out


def build(bundle=BUNDLE):
    """Run COMMANDS on an empty cache (the data as the commands find it: $LENET_NUMBA_DATA
    or the user cache) and make ``bundle`` what they leave, with its manifest."""
    import llvmlite.binding as llvm
    import numpy as np

    work = tempfile.mkdtemp(prefix="lenet-numba-bundle-")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
        env.update({jit_cache.ENV_VAR: os.path.join(work, "jit"), OFF: "0", "LENET_NUMBA_COMPILE_AHEAD": "0",
                    "PYTHONPATH": os.pathsep.join([os.path.dirname(jit_cache.PACKAGE_DIR)]
                                                  + [p for p in [env.get("PYTHONPATH")] if p])})
        np.save(os.path.join(work, "digits.npy"), np.zeros((3, 16, 16), np.float32))
        for args in COMMANDS:
            print("lenet-numba", " ".join(args), file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "lenet_numba", *args], cwd=work, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        root = os.path.join(work, "jit", jit_cache.source_hash())
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.copytree(root, bundle, ignore=shutil.ignore_patterns("*.lock", ".lock", "*.json"))
        manifest = dict(host(), source_hash=jit_cache.source_hash(), cpu_name=llvm.get_host_cpu_name(),
                        commands=[" ".join(a) for a in COMMANDS], files=_cache_files(bundle))
        with open(os.path.join(bundle, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m lenet_numba.shipped_cache build")
    made = build()
    print(f"{len(made['files'])} files for {made['cpu_name']}, source {made['source_hash']}, "
          f"numba {made['numba']}, python {made['python']}: {BUNDLE}")
