"""The reproduction loop: submit every missing run to an executor, record each as it ends.

Results are appended to ``out_dir/results.jsonl`` as runs finish (the sweep's results file:
a torn line is skipped and rerun, never fatal), so an interrupted reproduction keeps what
it finished and ``resume=True`` runs only the rest. The executor is any
``concurrent.futures.Executor``: ``sweep.process_pool`` or ``sweep.dask_executor``.
"""

import os
from concurrent.futures import as_completed

from ..atomic import atomic_open
from ..errors import UsageError
from ..sweep.results import RESULTS, append_result, check_out_dir
from .rows import task_key
from .worker import run_task

TABLE = "reproduction.md"


def check_results_dir(out_dir, resume=False, skipped=None):
    """The results already in ``out_dir`` (nothing is created); refused unless resuming.
    The sweep's check: the same results file, the same rules."""
    return check_out_dir(out_dir, resume, skipped)


def run_reproduction(tasks, executor, out_dir, *, resume=False, on_result=None, render=None):
    """Run every task not yet in ``out_dir``; returns the results of ``tasks`` (finished ones).

    ``on_result(result, done, total)`` is called after each run; ``render(results)`` (a
    function returning text) writes ``out_dir/reproduction.md`` at the end, Ctrl-C included.
    """
    previous = check_results_dir(out_dir, resume)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out-dir {out_dir}: cannot create it ({e.strerror})") from None
    wanted = {task_key(t) for t in tasks}
    results = {r["task_key"]: r for r in previous if r["task_key"] in wanted}
    pending = [t for t in tasks if task_key(t) not in results]
    futures = {}
    try:
        for t in pending:
            futures[executor.submit(run_task, t)] = t
        for fut in as_completed(futures):
            result = fut.result()
            result["task_key"] = task_key(futures[fut])
            append_result(os.path.join(out_dir, RESULTS), result)
            results[result["task_key"]] = result
            if on_result is not None:
                on_result(result, len(results), len(tasks))
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    finally:
        if render is not None:
            with atomic_open(os.path.join(out_dir, TABLE), "w") as f:
                f.write(render(list(results.values())))
    return [results[k] for k in (task_key(t) for t in tasks) if k in results]
