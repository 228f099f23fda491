"""Sweeps: a grid of recipe settings x seeds, one training run per task, on any Executor.

    >>> from lenet_numba.sweep import SweepSpec, parse_assignment, process_pool, run_sweep
    >>> spec = SweepSpec(arch="lenet1", recipe="article", epochs=5,
    ...                  grid=dict([parse_assignment("lr=0.005,0.01,0.02")]), seeds=(0, 1, 2))
    >>> with process_pool(jobs=2) as ex:
    ...     summary = run_sweep(spec, ex, out_dir="sweep-out")
    >>> print(markdown_table(summary))

A task is a plain dict (arch, recipe, overrides, seed, dataset, ...) and :func:`run_one`
trains it with ``experiment.run`` and returns a JSON-able result with the per-epoch
history; so any ``concurrent.futures.Executor`` can run it: a process pool here, or a Dask
cluster through ``distributed.Client(address).get_executor()`` (:func:`dask_executor`).
Every run is single-threaded, so ``jobs`` runs use ``jobs`` cores.

Results are written as each run finishes (``out_dir/runs/NAME.jsonl`` its epochs,
``results.jsonl`` one line per finished run, and ``sweep.md``/``sweep.json`` rewritten
from what has finished), so an interrupted sweep keeps everything it completed and
``resume=True`` runs only what is missing.

The parts: grid (options -> tasks), worker (one run), executors (process pool, Dask),
results (the results file), run (the loop), report (summary and tables). Nothing here
imports Numba at import time, so a fresh worker can set its thread counts first.
"""

from .executors import check_scheduler_address, dask_executor, process_pool
from .grid import (SweepSpec, convert, field_types, format_value, parse_assignment, parse_grid, parse_seeds,
                   run_name, setting_label, task_key)
from .report import markdown_report, markdown_table, summarize
from .results import RESULTS, check_out_dir, read_results
from .run import run_sweep
from ..procs import SINGLE_THREAD_ENV, default_jobs, single_threaded
from .worker import run_one

__all__ = ["RESULTS", "SINGLE_THREAD_ENV", "SweepSpec", "check_out_dir", "check_scheduler_address", "convert",
           "dask_executor", "default_jobs", "field_types", "format_value", "markdown_report", "markdown_table",
           "parse_assignment", "parse_grid", "parse_seeds", "process_pool", "read_results", "run_name", "run_one",
           "run_sweep", "setting_label", "single_threaded", "summarize", "task_key"]
