"""The 1989 papers side by side with this engine: every row over many seeds, one command.

    >>> from lenet_numba import reproduce, sweep
    >>> tasks = reproduce.tasks(reproduce.select_rows(["nips-1989"]), seeds=range(20))
    >>> with sweep.process_pool(jobs=2) as ex:
    ...     results = reproduce.run_reproduction(tasks, ex, "repro-out")
    >>> print(reproduce.render_comparison(results))

Each run trains a row's recipe on the real USPS digits without reading the test set, then
reads it once (worker.py). Runs are spread over the sweep's executors (local processes or a
Dask cluster) and their results appended as they finish (run.py); the tables (table.py)
place each published figure (published.json) among our seeds. ``python -m
lenet_numba.reproduce RESULTS --table NAME`` prints a table from a results file.
"""

from .files import load_results
from .rows import BY_NAME, HOLDOUT, ROWS, SEEDS, Row, select_rows, task_key, tasks
from .run import TABLE, check_results_dir, run_reproduction
from .table import (TABLES, render_all, render_claim, render_comparison, render_published, render_reject,
                    render_runs)

__all__ = ["BY_NAME", "HOLDOUT", "ROWS", "Row", "SEEDS", "TABLE", "TABLES", "check_results_dir", "load_results",
           "render_all", "render_claim", "render_comparison", "render_published", "render_reject", "render_runs",
           "run_reproduction", "select_rows", "task_key", "tasks"]
