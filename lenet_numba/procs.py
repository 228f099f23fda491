"""Process helpers for whoever starts or runs in a worker process: the cores this process
may use, single-threaded workers, and dying with the parent.

A leaf: it imports nothing of the package, so the training loop (compile_ahead) and the
sweep can both use it without importing each other.
"""

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time


def default_jobs():
    """The cores this process may use (its CPU affinity where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# a worker runs single-threaded (and starts no compile_ahead second process: the workers use
# every core already)
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "LENET_NUMBA_COMPILE_AHEAD": "0"}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
