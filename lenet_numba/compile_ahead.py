"""SDLM's curvature estimate compiled in a second process while this one compiles the
training loop.

Before its first training sample, a default ``lenet-numba train`` (SDLM) on an empty JIT
cache compiles two large and independent things: the per-sample SGD loop
(``train.train_chunk``) and SDLM's second-order walk (``network.estimate_curvature``,
float64, with its own conv kernels). One after the other they took ~27 s on this
machine kind (2 cores). A second process compiling the estimate into the same cache
while this one compiles the loop brings the wall time down to about the longer of the
two; this process then loads the estimate from the cache.

The second process writes nothing but cache entries (the ones this process would have
written, each atomically); if it fails or is not done in time, this process compiles the
estimate itself, as before. Nothing is started when the estimate is cached already, so a
warm start pays nothing.

The compiled estimate depends only on the dtype: the network's shape and layers are data
(the plan table), so a LeNet-1 of the same dtype compiles exactly what any network needs.
"""

import os
import subprocess
import sys

import numpy as np

WAIT_S = 600  # the second process compiles in ~15 s; past this it is stopped and ignored


def start(model, optimizer):
    """The started process, or None when it would gain nothing (no curvature estimate to
    compile, or the estimate's compiled code is in the cache already)."""
    from .sdlm import SDLM

    if not isinstance(optimizer, SDLM) or cached():
        return None
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)  # the same cache folder (prepare() puts it in the environment)
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        return subprocess.Popen([sys.executable, "-m", "lenet_numba.compile_ahead", model.dtype.name],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
    except OSError:
        return None


def cached():
    """True when the estimate's index file exists in the cache (or cannot be looked up: then
    start nothing)."""
    from .network import estimate_curvature

    try:
        return os.path.exists(estimate_curvature._cache._cache_file._index_path)
    except AttributeError:
        return True


def finish(proc, ok=True):
    """Wait for the process (ok), or stop it (this process is leaving with an error)."""
    if proc is None:
        return
    if ok:
        try:
            proc.wait(WAIT_S)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


def main(argv):
    """python -m lenet_numba.compile_ahead DTYPE: compile SDLM's estimate into the cache."""
    from .model import Model
    from .sdlm import SDLM

    model = Model("lenet1", dtype=argv[0], init=False)
    _, H, W = model.arch.input_shape
    SDLM().warm_up(model, np.zeros((1, H, W), model.dtype), np.zeros(1, np.int64), 0,
                   np.zeros(model.n_params, model.dtype))


if __name__ == "__main__":
    main(sys.argv[1:])
