"""One run of a sweep, in a worker process: single-threaded, and gone when its parent is.

Every run is single-threaded (the engine has no parallel regions; NUMBA_NUM_THREADS and
the BLAS thread counts are set to 1 here), so ``jobs`` workers use ``jobs`` cores.
"""

import os
import signal
import socket
import time

from ..errors import DivergenceError
from ..procs import die_with_parent, single_threaded

RESULT_KEYS = ("epochs", "train_error", "test_error", "train_loss", "test_loss", "valid_error", "valid_loss",
               "train_seconds", "us_per_sample", "params")


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

    from ..experiment import run
    from .grid import task_config

    t0 = time.perf_counter()
    base = {k: task[k] for k in ("name", "setting", "seed", "arch", "recipe", "dataset")}
    base.update(overrides=task["overrides"], host=socket.gethostname(), pid=os.getpid(),
                numba_threads=int(config.NUMBA_NUM_THREADS))
    config_ = task_config(task).validate()
    base["resolved_recipe"] = config_.recipe.as_dict()  # what the run really used
    try:
        summary = run(config_)
    except DivergenceError as e:
        return dict(base, status="diverged", error=str(e), wall_seconds=time.perf_counter() - t0, history=[])
    summary.pop("model")
    return dict(base, status="ok", error=None, **{k: summary[k] for k in RESULT_KEYS if k in summary and not (k.startswith("test_") and task.get("validation"))},
                wall_seconds=time.perf_counter() - t0, history=summary["history"])
