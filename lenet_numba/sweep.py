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
Every run is single-threaded (the engine has no parallel regions; NUMBA_NUM_THREADS and
the BLAS thread counts are set to 1 in the worker), so ``jobs`` runs use ``jobs`` cores.

Results are written as each run finishes (``out_dir/runs/NAME.jsonl`` its epochs,
``results.jsonl`` one line per finished run, and ``sweep.md``/``sweep.json`` rewritten
from what has finished), so an interrupted sweep keeps everything it completed and
``resume=True`` runs only what is missing.

This module imports no Numba at import time, so a fresh worker process can set its
thread counts before the engine is loaded.
"""

import contextlib
import itertools
import json
import math
import multiprocessing
import os
import re
import signal
import socket
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields

from . import recipes
from .atomic import atomic_open, check_output_dir
from .errors import DivergenceError, LenetError, UsageError

SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}
NOT_SWEEPABLE = ("name", "description")
RESULTS = "results.jsonl"
TIMING_KEYS = ("seconds", "samples_per_s")  # per-epoch keys that depend on the machine, not the run
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class MissingDependency(LenetError):
    """An optional extra is not installed."""


# --------------------------------------------------------------------------- the grid


def field_types():
    """Recipe field name -> Python type, for the fields a sweep may set."""
    hints = {"str": str, "float": float, "int": int, "bool": bool}
    return {f.name: (hints.get(f.type, f.type) if isinstance(f.type, str) else f.type)
            for f in fields(recipes.Recipe) if f.name not in NOT_SWEEPABLE}


def convert(name, token):
    """One value of recipe field ``name`` from its text, by the field's type."""
    types = field_types()
    if name not in types:
        raise UsageError(f"--set {name}: not a recipe field; choose one of {', '.join(types)}")
    kind, text = types[name], token.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise UsageError(f"--set {name}={token}: not a finite {kind.__name__}") from None
    if not text:
        raise UsageError(f"--set {name}: empty value")
    return text


def parse_assignment(text):
    """``"lr=0.01,0.03"`` -> ``("lr", [0.01, 0.03])`` (values typed by the recipe field)."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise UsageError(f"--set {text!r}: expected FIELD=VALUE[,VALUE...], e.g. lr=0.01,0.03")
    parsed = [convert(name, v) for v in values.split(",")]
    dup = [v for i, v in enumerate(parsed) if v in parsed[:i]]
    if dup:
        raise UsageError(f"--set {name}: {format_value(dup[0])} is listed twice")
    return name, parsed


def parse_grid(assignments):
    """Several ``--set`` texts -> {field: [values]} in the order given (each field once)."""
    grid = {}
    for text in assignments:
        name, values = parse_assignment(text)
        if name in grid:
            raise UsageError(f"--set {name} is given twice; list all its values in one --set")
        grid[name] = values
    return grid


def parse_seeds(tokens):
    """Seeds from tokens like ``0``, ``0,1,2`` or ``0-4`` (inclusive); duplicates refused."""
    seeds = []
    for token in tokens:
        for part in str(token).split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise UsageError(f"--seeds {token}: expected non-negative integers like 0 1 2, 0,1,2 or 0-4")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise UsageError(f"--seeds {part}: empty range")
            seeds.extend(range(lo, hi + 1))
    dup = [s for i, s in enumerate(seeds) if s in seeds[:i]]
    if dup:
        raise UsageError(f"--seeds: seed {dup[0]} is listed twice")
    return tuple(seeds)


def format_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def setting_label(setting):
    """``{"lr": 0.01, "mu": 0.02}`` -> ``"lr=0.01 mu=0.02"`` (``"recipe defaults"`` if empty)."""
    return " ".join(f"{k}={format_value(v)}" for k, v in setting.items()) or "recipe defaults"


def run_name(setting, seed):
    """A file-name-safe name of one run, e.g. ``lr=0.01_mu=0.02_seed=0``."""
    parts = [f"{k}={format_value(v)}" for k, v in setting.items()] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts))


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a base (arch, recipe, epochs, data) and a grid of recipe fields x seeds."""

    arch: str = "lenet1"
    recipe: str = recipes.DEFAULT_RECIPE
    epochs: int = None                       # None: the recipe's
    grid: dict = field(default_factory=dict)  # recipe field -> list of values
    seeds: tuple = (0,)
    dataset: str = "usps"
    data_dir: str = None
    download: bool = True
    chunk_size: int = 512

    def settings(self):
        """Every combination of the grid's values, in the order given (last field fastest)."""
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]

    def tasks(self):
        """One task (a JSON-able dict, the unit of work) per setting and seed; settings outer."""
        out = []
        for setting in self.settings():
            for seed in self.seeds:
                overrides = dict(setting)
                if self.epochs is not None:
                    overrides["epochs"] = self.epochs
                out.append({"name": run_name(setting, seed), "setting": setting, "seed": int(seed),
                            "arch": self.arch, "recipe": self.recipe, "overrides": overrides,
                            "dataset": self.dataset, "data_dir": self.data_dir, "download": self.download,
                            "chunk_size": self.chunk_size})
        return out

    def as_dict(self):
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    def validate(self):
        """Refuse a bad grid before anything runs (one-line UsageError)."""
        from .architectures import get as get_arch
        from .experiment import TrainConfig

        get_arch(self.arch)
        recipes.get(self.recipe)
        recipes.check_name("dataset", self.dataset)
        if not self.seeds:
            raise UsageError("no seeds to run")
        if self.epochs is not None and "epochs" in self.grid:
            raise UsageError("epochs is both --epochs and a --set field; use one of them")
        for seed in (min(self.seeds), max(self.seeds)):
            recipes.check_seed(seed, "--seeds")
        for task in self.tasks()[::len(self.seeds)]:  # one task per setting
            setting = task["setting"]
            try:
                TrainConfig(arch=self.arch, recipe=self.recipe, overrides=task["overrides"]).validate()
            except UsageError as e:
                raise UsageError(f"setting {setting_label(setting)}: {e}") from None

    def prefetch_data(self, progress=None):
        """Find (or download) and parse the data once here, not in every worker at once."""
        from .experiment import load_dataset

        load_dataset(self.dataset, self.data_dir, self.download, self.seeds[0], progress)


def task_key(task):
    """Identity of a run (what it computes), for resuming: everything but names and paths."""
    return json.dumps({k: task[k] for k in ("arch", "recipe", "overrides", "seed", "dataset")}, sort_keys=True)


# --------------------------------------------------------------------------- one run (the worker)


def single_threaded():
    """Make this process single-threaded for the engine: env for anything loaded later, and
    Numba's config if it is loaded already (its threading layer starts only on demand)."""
    os.environ.update(SINGLE_THREAD_ENV)
    if "numba" in sys.modules:
        with contextlib.suppress(Exception):
            from numba.core import config
            config.reload_config()


def _init_pool_worker():
    """Pool worker start: single-threaded, and Ctrl-C is for the parent (it stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    single_threaded()


def run_one(task):
    """Train one task; returns its JSON-able result (summary, history, where and how it ran).

    A diverging run is a result (status "diverged"), not an exception: in a sweep over
    learning rates some settings are expected to blow up. Other errors propagate.
    """
    single_threaded()
    from numba.core import config

    from .experiment import TrainConfig, run

    t0 = time.perf_counter()
    base = {k: task[k] for k in ("name", "setting", "seed", "arch", "recipe", "dataset")}
    base.update(overrides=task["overrides"], host=socket.gethostname(), pid=os.getpid(),
                numba_threads=int(config.NUMBA_NUM_THREADS))
    config_ = TrainConfig(arch=task["arch"], recipe=task["recipe"], overrides=dict(task["overrides"]),
                          seed=task["seed"], dataset=task["dataset"], data_dir=task.get("data_dir"),
                          download=task.get("download", True), chunk_size=task.get("chunk_size", 512))
    base["resolved_recipe"] = config_.resolved_recipe().as_dict()  # what the run really used
    try:
        summary = run(config_)
    except DivergenceError as e:
        return dict(base, status="diverged", error=str(e), wall_seconds=time.perf_counter() - t0, history=[])
    summary.pop("model")
    keep = ("epochs", "train_error", "test_error", "train_loss", "test_loss", "train_seconds",
            "us_per_sample", "params")
    return dict(base, status="ok", error=None, **{k: summary[k] for k in keep},
                wall_seconds=time.perf_counter() - t0, history=summary["history"])


# --------------------------------------------------------------------------- executors


@contextlib.contextmanager
def process_pool(jobs=None):
    """A ProcessPoolExecutor of ``jobs`` single-threaded workers (default: usable cores).

    Fresh ("spawn") processes, so each loads the engine itself with one thread; workers
    ignore SIGINT. Leaving the block by an exception (Ctrl-C included) cancels what has not
    started and terminates the workers instead of waiting for their runs.
    """
    jobs = jobs or default_jobs()
    ex = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_pool_worker)
    try:
        yield ex
    except BaseException:
        _stop_pool(ex)
        raise
    ex.shutdown(wait=True)


def _stop_pool(ex):
    processes = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    if hasattr(ex, "terminate_workers"):  # Python >= 3.14
        with contextlib.suppress(Exception):
            ex.terminate_workers()
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(5)


@contextlib.contextmanager
def dask_executor(address, timeout=5):
    """``distributed.Client(address).get_executor()``: the same sweep on a Dask cluster.

    The workers need this package and the data (same ``data_dir``, or their own
    LENET_NUMBA_DATA / cache); each run sets its own process single-threaded. Connecting
    gives up after ``timeout`` seconds: a malformed address is a UsageError (exit 2), a
    scheduler that does not answer a LenetError; either way the half-made client is
    closed here, so nothing is left to complain at exit.
    """
    try:
        import distributed
    except ImportError:
        raise MissingDependency("the Dask executor needs dask.distributed: "
                                "pip install 'lenet-numba[dask]'") from None
    failure = None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except BaseException as e:
        _close_failed_client(e, distributed.Client)
        if isinstance(e, ValueError):
            failure = UsageError(f"--dask-scheduler {address}: not a scheduler address ({_first_line(e)}); "
                                 "expected e.g. tcp://host:8786")
        elif isinstance(e, (OSError, TimeoutError)):
            failure = LenetError(f"cannot connect to the Dask scheduler at {address}: {_first_line(e)}")
        else:
            raise
    if failure is not None:  # raised outside the except block: no traceback keeps the client alive
        raise failure
    try:
        yield client.get_executor(pure=False)
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=timeout)


def _first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _close_failed_client(exc, client_class):
    """Close the Client a failed ``Client(...)`` left behind (found in the traceback's frames).

    Otherwise its ``__del__`` runs at interpreter exit, when its event loop is gone, waits
    for it, and prints "Exception ignored in: Client.__del__" with a traceback.
    """
    tb = exc.__traceback__
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, client_class):
            with contextlib.suppress(Exception):
                obj.close(timeout=2)
            with contextlib.suppress(Exception):
                obj.status = "closed"  # __del__ then has nothing to do
            break
        tb = tb.tb_next


def default_jobs():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- the sweep


def read_results(out_dir):
    """The results already in ``out_dir/results.jsonl`` (a torn last line is ignored)."""
    path = os.path.join(out_dir, RESULTS)
    out = []
    with contextlib.suppress(FileNotFoundError), open(path) as f:
        for line in f:
            with contextlib.suppress(json.JSONDecodeError):
                rec = json.loads(line)
                if isinstance(rec, dict) and "task_key" in rec:
                    out.append(rec)
    return out


def check_out_dir(out_dir, resume=False):
    """The results already in ``out_dir``; refused (UsageError) unless resuming.

    ``out_dir`` must be a folder, or a new folder whose parent exists; the files a sweep
    writes there (results.jsonl, sweep.json, sweep.md, runs/) must not be something else.
    Nothing is created here.
    """
    check_output_dir(out_dir, "--out-dir")
    full = os.path.abspath(os.fspath(out_dir))
    if not os.path.exists(full):
        return []
    for name in (RESULTS, "sweep.json", "sweep.md"):
        path = os.path.join(full, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UsageError(f"--out-dir {out_dir}: {name} exists and is not a regular file")
    runs = os.path.join(full, "runs")
    if os.path.lexists(runs) and not os.path.isdir(runs):
        raise UsageError(f"--out-dir {out_dir}: runs exists and is not a folder")
    try:
        previous = read_results(out_dir)
    except (OSError, UnicodeDecodeError) as e:
        raise LenetError(f"{os.path.join(out_dir, RESULTS)}: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    if previous and not resume:
        raise UsageError(f"{out_dir} already holds a sweep's results ({RESULTS}); add --resume to "
                         "continue it, or choose another --out-dir")
    return previous


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
                result["metrics"] = os.path.join("runs", task["name"] + ".jsonl")
                with atomic_open(os.path.join(out_dir, result["metrics"]), "w") as f:
                    f.writelines(json.dumps(r) + "\n" for r in history)
                with open(os.path.join(out_dir, RESULTS), "a") as f:
                    f.write(json.dumps(result) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            result["history"] = history
            results[result["task_key"]] = result
            write_summary()
            if on_result is not None:
                on_result(result, len(results), total)
    except BaseException:
        for fut in futures:
            fut.cancel()
        write_summary()
        raise
    return write_summary()


def _stats(values):
    if not values:
        return None
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def summarize(spec, tasks, results, command=None):
    """Per setting: runs done, median/min/max test and train error over its seeds; the best.

    ``results``: task_key -> result. The best setting has the lowest median test error
    among the settings with at least one finished run and none diverged (ties: lower
    worst-seed test error, then lower median train error, then grid order).
    """
    rows = []
    by_setting = {}
    for t in tasks:
        by_setting.setdefault(json.dumps(t["setting"], sort_keys=True), (t["setting"], []))[1].append(t)
    for setting, ts in by_setting.values():
        done = [results[task_key(t)] for t in ts if task_key(t) in results]
        ok = [r for r in done if r["status"] == "ok"]
        rows.append({
            "setting": setting, "label": setting_label(setting), "seeds": [t["seed"] for t in ts],
            "seeds_done": [r["seed"] for r in ok], "runs": len(ok), "diverged": len(done) - len(ok),
            "planned": len(ts),
            "test_error": _stats([r["test_error"] for r in ok]),
            "train_error": _stats([r["train_error"] for r in ok]),
            "runs_files": [r.get("metrics") for r in done],
            "best": False,
        })
    eligible = [i for i, r in enumerate(rows) if r["runs"] and not r["diverged"]]
    best = None
    if eligible:
        best = min(eligible, key=lambda i: (rows[i]["test_error"]["median"], rows[i]["test_error"]["max"],
                                            rows[i]["train_error"]["median"], i))
        rows[best]["best"] = True
    runs = [dict({k: v for k, v in results[task_key(t)].items() if k != "history"}) for t in tasks
            if task_key(t) in results]
    return {
        "spec": spec.as_dict(),
        "command": command,
        "grid_fields": list(spec.grid),
        "planned": len(tasks),
        "finished": len(runs),
        "complete": len(runs) == len(tasks),
        "settings": rows,
        "best": rows[best]["label"] if best is not None else None,
        "runs": runs,
    }


def _pct(v):
    return f"{100 * v:.2f}%"


def markdown_table(summary):
    """The summary as a Markdown table; the best setting's row in bold."""
    names = summary["grid_fields"] or ["setting"]
    head = names + ["runs", "test error median", "test min", "test max", "train error median"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for row in summary["settings"]:
        cells = ([format_value(row["setting"][n]) for n in summary["grid_fields"]]
                 or [row["label"]])
        runs = f"{row['runs']}/{row['planned']}"
        if row["diverged"]:
            runs += f" ({row['diverged']} diverged)"
        cells.append(runs)
        te, tr = row["test_error"], row["train_error"]
        if te is None:
            cells += ["–"] * 4
        else:
            cells += [_pct(te["median"]), _pct(te["min"]), _pct(te["max"]), _pct(tr["median"])]
        if row["best"]:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_report(summary):
    """sweep.md: what was run, the table, the best setting, where the per-run files are."""
    s = summary["spec"]
    seeds = " ".join(str(x) for x in s["seeds"])
    epochs = s["epochs"] if s["epochs"] is not None else recipes.get(s["recipe"]).epochs
    out = [f"# Sweep: {s['arch']}, recipe {s['recipe']}, {epochs} epoch{'s' * (epochs != 1)}, "
           f"seed{'s' * (len(s['seeds']) != 1)} {seeds}, {s['dataset']}", ""]
    if summary.get("command"):
        out += ["```", summary["command"], "```", ""]
    out += [markdown_table(summary)]
    state = ("all runs finished" if summary["complete"]
             else f"{summary['finished']} of {summary['planned']} runs finished (interrupted or still running)")
    best = f"best (bold): {summary['best']}" if summary["best"] else "no setting finished without divergence"
    out += [f"Errors over seeds after the last epoch; {state}; {best}. Per-run epochs: `runs/*.jsonl`; "
            f"every run: `{RESULTS}`; all numbers: `sweep.json`.", ""]
    return "\n".join(out)
