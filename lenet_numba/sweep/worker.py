"""One run of a sweep, in a worker process: single-threaded, and gone when its parent is.

Every run is single-threaded (the engine has no parallel regions; NUMBA_NUM_THREADS and
the BLAS thread counts are set to 1 here), so ``jobs`` workers use ``jobs`` cores.
"""

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
import time

from ..errors import DivergenceError

# (and no compile_ahead second process: the workers use every core already)
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "LENET_NUMBA_COMPILE_AHEAD": "0"}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESULT_KEYS = ("epochs", "train_error", "test_error", "train_loss", "test_loss", "valid_error", "valid_loss",
               "train_seconds", "us_per_sample", "params")


def single_threaded():
    """Make this process single-threaded for the engine: env for anything loaded later, and
    Numba's config if it is loaded already (its threading layer starts only on demand)."""
    os.environ.update(SINGLE_THREAD_ENV)
    if "numba" in sys.modules:
        with contextlib.suppress(Exception):
            from numba.core import config
            config.reload_config()


def die_with_parent(parent_pid, poll_seconds=0.5):
    """End this process when ``parent_pid`` ends, even by SIGKILL (which no handler sees).

    Linux: the kernel sends SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG). Anywhere:
    a daemon thread notices the process being re-parented and exits too."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def init_pool_worker(parent_pid):
    """Pool worker start: single-threaded, Ctrl-C is for the parent (it stops the pool), and
    the worker dies with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    single_threaded()


def run_one(task):
    """Train one task; returns its JSON-able result (summary, history, where and how it ran).

    A diverging run is a result (status "diverged"), not an exception: in a sweep over
    learning rates some settings are expected to blow up. Other errors propagate.
    """
    single_threaded()
    from numba.core import config

    from ..experiment import TrainConfig, run

    t0 = time.perf_counter()
    base = {k: task[k] for k in ("name", "setting", "seed", "arch", "recipe", "dataset")}
    base.update(overrides=task["overrides"], host=socket.gethostname(), pid=os.getpid(),
                numba_threads=int(config.NUMBA_NUM_THREADS))
    config_ = TrainConfig(arch=task["arch"], recipe=task["recipe"], overrides=dict(task["overrides"]),
                          seed=task["seed"], dataset=task["dataset"], data_dir=task.get("data_dir"),
                          download=task.get("download", True), chunk_size=task.get("chunk_size", 512),
                          validation=task.get("validation") or None, test=not task.get("validation"))
    base["resolved_recipe"] = config_.resolved_recipe().as_dict()  # what the run really used
    try:
        summary = run(config_)
    except DivergenceError as e:
        return dict(base, status="diverged", error=str(e), wall_seconds=time.perf_counter() - t0, history=[])
    summary.pop("model")
    return dict(base, status="ok", error=None, **{k: summary[k] for k in RESULT_KEYS if k in summary and not (k.startswith("test_") and task.get("validation"))},
                wall_seconds=time.perf_counter() - t0, history=summary["history"])
