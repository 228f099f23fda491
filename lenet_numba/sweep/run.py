"""The sweep loop: submit every missing task, record each result as it arrives."""

import contextlib
import json
import os
import signal
import threading
from concurrent.futures import as_completed

from ..atomic import atomic_open, fit_name, name_max
from ..errors import UsageError
from .grid import task_key
from .report import markdown_report, summarize
from .results import RESULTS, append_result, check_out_dir, read_results
from .worker import run_one


def run_sweep(spec, executor, out_dir=None, *, resume=False, on_result=None, command=None):
    """Run every task of ``spec`` on ``executor``; returns the summary (see :func:`summarize`).

    With ``out_dir``: each finished run's epochs go to ``runs/NAME.jsonl``, its result is
    appended to ``results.jsonl``, and ``sweep.json``/``sweep.md`` are rewritten, at once;
    on any exit (Ctrl-C too) the summary of what finished is written before re-raising.
    ``resume``: keep the results already in ``out_dir`` and run only the missing tasks
    (without it, an ``out_dir`` holding results is refused). ``on_result(result, done,
    total)`` is called in this process after each run.
    """
    spec.validate()
    tasks = spec.tasks()
    keys = [task_key(t) for t in tasks]
    results = {}
    if out_dir is not None:
        previous = check_out_dir(out_dir, resume)
        try:
            os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out-dir {out_dir}: cannot create it ({e.strerror})") from None
        wanted = set(keys)
        results = {r["task_key"]: r for r in previous if r["task_key"] in wanted}
    pending = [t for t, k in zip(tasks, keys) if k not in results]
    total = len(tasks)

    def write_summary():
        summary = summarize(spec, tasks, results, command=command)
        if out_dir is not None:
            with atomic_open(os.path.join(out_dir, "sweep.json"), "w") as f:
                json.dump(summary, f, indent=1)
                f.write("\n")
            with atomic_open(os.path.join(out_dir, "sweep.md"), "w") as f:
                f.write(markdown_report(summary))
        return summary

    futures = {}
    try:
        for t in pending:
            futures[executor.submit(run_one, t)] = t
        for fut in as_completed(futures):
            task = futures[fut]
            result = fut.result()  # a DivergenceError is a result; anything else ends the sweep
            result["task_key"] = task_key(task)
            history = result.pop("history")
            if out_dir is not None:
                # a run named after many long settings is cut to a legal file name
                name = fit_name(task["name"], name_max(os.path.join(out_dir, "runs")) - len(".jsonl"))
                result["metrics"] = os.path.join("runs", name + ".jsonl")
                with atomic_open(os.path.join(out_dir, result["metrics"]), "w") as f:
                    f.writelines(json.dumps(r) + "\n" for r in history)
                append_result(os.path.join(out_dir, RESULTS), result)
            result["history"] = history
            results[result["task_key"]] = result
            write_summary()
            if on_result is not None:
                on_result(result, len(results), total)
    except BaseException:
        for fut in futures:
            fut.cancel()
        with _signals_ignored():  # a second Ctrl-C must not leave the summary half-updated
            if out_dir is not None:
                # the results file is the record: a run appended just before the interrupt,
                # not yet taken in above, counts in the summary as it will on --resume
                with contextlib.suppress(OSError):
                    results.update({r["task_key"]: r for r in read_results(out_dir)
                                    if r["task_key"] in wanted and r["task_key"] not in results})
            write_summary()
        raise
    return write_summary()


@contextlib.contextmanager
def _signals_ignored():
    """Ctrl-C and SIGTERM ignored inside (the process is stopping already); only the main
    thread may change signal handlers, elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
