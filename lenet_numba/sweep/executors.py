"""Where a sweep's runs execute: local worker processes, or a Dask cluster.

Both are ``concurrent.futures.Executor``s used as context managers; leaving the block by
an exception (Ctrl-C included) stops what has not finished instead of waiting for it.
"""

import contextlib
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor

from ..errors import LenetError, MissingDependency, UsageError, first_line
from ..procs import default_jobs
from .worker import init_pool_worker

# [scheme://]host:port, as a Dask scheduler prints it (tcp://10.0.0.5:8786, tls://[::1]:8786)
_ADDRESS = re.compile(r"(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
                      r":(\d{1,5})")


@contextlib.contextmanager
def process_pool(jobs=None):
    """A ProcessPoolExecutor of ``jobs`` single-threaded workers (default: usable cores).

    Fresh ("spawn") processes, so each loads the engine itself with one thread; workers
    ignore SIGINT and die with this process (even a SIGKILL of it). Leaving the block by an
    exception cancels what has not started and stops the workers instead of waiting.
    """
    jobs = jobs or default_jobs()
    context = _RecordingContext()
    ex = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_pool_worker,
                             initargs=(os.getpid(),))
    try:
        yield ex
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        for p in context.processes:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in context.processes:
            with contextlib.suppress(Exception):
                p.join(5)
        raise
    ex.shutdown(wait=True)


class _RecordingContext:
    """The "spawn" multiprocessing context, keeping the processes it makes (the pool's
    workers) so they can be stopped without reaching into the executor."""

    def __init__(self):
        self._context = multiprocessing.get_context("spawn")
        self.processes = []

    def Process(self, *args, **kwargs):  # noqa: N802  (multiprocessing's name)
        process = self._context.Process(*args, **kwargs)
        self.processes.append(process)
        return process

    def __getattr__(self, name):
        return getattr(self._context, name)


def check_scheduler_address(address):
    """``address`` must look like a scheduler's (``[tcp://]host:port``): UsageError otherwise.
    Checked before Dask is imported, so a bad value is refused the same way without it."""
    m = _ADDRESS.fullmatch(address or "")
    if not m or not 0 < int(m.group(3)) < 65536:
        raise UsageError(f"--dask-scheduler {address}: not a scheduler address; expected e.g. tcp://host:8786")
    return address


@contextlib.contextmanager
def dask_executor(address, timeout=5):
    """``distributed.Client(address).get_executor()``: the same sweep on a Dask cluster.

    The workers need this package and the data (same ``data_dir``, or their own
    LENET_NUMBA_DATA / cache); each run sets its own process single-threaded. Connecting
    gives up after ``timeout`` seconds (a LenetError); the client is closed on every way out.
    """
    check_scheduler_address(address)
    try:
        import distributed
    except ImportError:
        raise MissingDependency("the Dask executor needs dask.distributed: "
                                "pip install 'lenet-numba[dask]'") from None
    # Made in two steps so that a Client whose connection fails is still ours to close
    # (otherwise its __del__ runs at exit, when its event loop is gone, and prints a traceback).
    client = distributed.Client.__new__(distributed.Client)
    failure = None
    try:
        client.__init__(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        failure = LenetError(f"cannot connect to the Dask scheduler at {address}: {first_line(e)}")
    except BaseException:
        _close(client, timeout)
        raise
    if failure is not None:  # raised outside the except block: no traceback keeps the client alive
        _close(client, timeout)
        raise failure
    try:
        yield client.get_executor(pure=False)
    finally:
        _close(client, timeout)


def _close(client, timeout):
    with contextlib.suppress(Exception):
        client.close(timeout=timeout)
