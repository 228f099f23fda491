"""SDLM's curvature estimate compiled in a second process while this one compiles the
training loop.

Before its first training sample, a default ``lenet-numba train`` (SDLM) on an empty JIT
cache compiles two large and independent things: the per-sample SGD loop
(``train.train_chunk``) and SDLM's second-order walk (``network.estimate_curvature``,
float64, with its own conv kernels). One after the other they took ~27 s on a 2-core
AMD EPYC (Zen 4). A second process compiling the estimate into the same cache
while this one compiles the loop brings the wall time down to about the longer of the
two; this process then loads the estimate from the cache.

The second process writes nothing but cache entries (the ones this process would have
written; saves are serialized by jit_cache.cache_lock); if it fails or is not done in
time, this process compiles the estimate itself, as before. Nothing is started when the
estimate is cached already, so a warm start pays nothing. The second process ends with
this one (killed if this one leaves with an error or an interrupt, or dies).

The compiled estimate depends only on the dtype: the network's shape and layers are data
(the plan table), so a LeNet-1 of the same dtype compiles exactly what any network needs.
"""

import os
import subprocess
import sys
import time

import numpy as np

from . import compile_notice
from .procs import default_jobs, die_with_parent

WAIT_S = 600  # the second process compiles in ~15 s; past this it is stopped and ignored
OFF = "LENET_NUMBA_COMPILE_AHEAD"  # "0": never start one (a sweep's workers use every core already)


def start(model, optimizer):
    """The started process, or None when it would gain nothing: no curvature estimate to
    compile, its compiled code already cached (or in memory) for this dtype, fewer than
    two cores, or turned off (OFF)."""
    from . import jit_cache
    from .sdlm import SDLM

    if (not isinstance(optimizer, SDLM) or os.environ.get(OFF) == "0" or default_jobs() < 2 or not sys.executable
            or cached(model.dtype)):
        return None
    # this very package, not one another folder would give first (the cache is keyed by its
    # source): run from the folder that holds it, which -m puts first on the path
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env[jit_cache.ENV_VAR] = os.path.abspath(os.path.dirname(jit_cache.cache_root()))  # the folder in use
    try:
        return subprocess.Popen([sys.executable, "-m", "lenet_numba.compile_ahead", model.dtype.name,
                                 str(os.getpid())], cwd=root, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except Exception:  # noqa: BLE001  no second process: this one compiles, as without it
        return None


def cached(dtype):
    """True when the estimate for float arrays of ``dtype`` is compiled in this process or
    listed in the cache's index (or when that cannot be read: then start nothing)."""
    from .jit_cache import indexed_signatures
    from .network import estimate_curvature

    def wanted(sig):
        return len(sig) > 3 and str(getattr(sig[3], "dtype", "")) == np.dtype(dtype).name  # params

    try:
        return any(map(wanted, estimate_curvature.signatures)) or any(
            map(wanted, indexed_signatures(estimate_curvature)))
    except Exception:  # noqa: BLE001  an unreadable index
        return True


def finish(proc, ok=True):
    """Wait for the process (ok), or stop it (this process is leaving with an error); an
    interrupt while waiting stops it too."""
    if proc is None:
        return
    t0 = time.perf_counter()
    try:
        if ok:
            proc.wait(WAIT_S)
            compile_notice.waited(time.perf_counter() - t0)
            return
    except subprocess.TimeoutExpired:
        pass
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.kill()
    proc.wait()


def main(argv):
    """Second process: DTYPE PARENT_PID. Compile SDLM's estimate into the cache; end with
    the parent if it ends first."""
    from .model import Model
    from .sdlm import SDLM

    die_with_parent(int(argv[1]))
    model = Model("lenet1", dtype=argv[0], init=False)
    _, H, W = model.arch.input_shape
    SDLM().warm_up(model, np.zeros((1, H, W), model.dtype), np.zeros(1, np.int64), 0,
                   np.zeros(model.n_params, model.dtype))


if __name__ == "__main__":
    main(sys.argv[1:])
