"""``lenet-numba sweep``: a grid of recipe settings x seeds, one single-threaded process per run."""

import contextlib
import json
import os
import shlex
import signal
import sys

import click

from lenet_numba import architectures, recipes
from lenet_numba.errors import UsageError
from lenet_numba.limits import DATASETS, DEFAULT_ARCH, DEFAULT_CHUNK, DEFAULT_DATASET
from lenet_numba.wording import count

from .options import data_dir_option, json_option, no_download_option, non_negative, positive


@click.command("sweep")
@click.argument("more_seeds", nargs=-1, metavar="")
@click.option("--out-dir", type=click.Path(), required=True,
              help="Results: sweep.md (table), sweep.json, results.jsonl (one line per finished run), "
                   "runs/NAME.jsonl (each run's epochs). Created if missing; its parent must exist.")
@click.option("--arch", type=click.Choice(list(architectures.ARCHITECTURES)), default=DEFAULT_ARCH, show_default=True)
@click.option("--recipe", type=click.Choice(list(recipes.RECIPES)), default=recipes.DEFAULT_RECIPE,
              show_default=True, help="The base every setting changes.")
@click.option("--epochs", type=int, default=None, callback=non_negative, help="Passes per run [recipe].")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=V1,V2,...",
              help="Sweep a recipe field over these values (repeatable: the grid is every combination), "
                   "e.g. --set lr=0.01,0.03 --set mu=0.02,0.002. Any recipe field: lr, mu, lr_decay, "
                   "optimizer, loss, activation, shuffle, augment, max_shift, ...")
@click.option("--seeds", "seed_tokens", multiple=True, metavar="S [S ...]",
              help="Seeds per setting: --seeds 0 1 2, or 0,1,2, or 0-2 [0].")
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=DEFAULT_DATASET, show_default=True)
@click.option("--jobs", type=int, default=None, callback=positive,
              help="Runs at a time, one single-threaded process each [number of cores].")
@click.option("--dask-scheduler", metavar="ADDRESS", default=None,
              help="Run on this Dask cluster (tcp://host:8786) instead of local processes; "
                   "needs pip install 'lenet-numba[dask]'.")
@click.option("--validation", type=int, default=0, callback=non_negative, metavar="N",
              help="Hold out N of the training digits in every run (seeded, stratified by class), tabulate "
                   "and choose the best setting on them; the runs never read the test set. Without it "
                   "the table shows test error and picks nothing.")
@click.option("--resume", is_flag=True, help="Keep the finished runs in --out-dir and run only the missing ones.")
@click.option("--chunk-size", type=int, default=DEFAULT_CHUNK, callback=positive, show_default=True,
              help="Samples per compiled chunk (never changes results).")
@data_dir_option
@no_download_option
@json_option
def sweep_cmd(more_seeds, out_dir, arch, recipe, epochs, assignments, seed_tokens, dataset, jobs, dask_scheduler,
              validation, resume, chunk_size, data_dir, no_download, as_json):
    """Train every combination of --set values for every seed; tabulate errors over seeds.

    Each run is single-threaded in its own process (--jobs at a time), or a task on a Dask
    cluster (--dask-scheduler). Results are written as each run finishes; the table shows
    the median, min and max error over the seeds of each setting (and the median train
    error). With --validation N that is the error on N held-out training digits, the best
    setting is in bold and the test set is never read; without it, the test error, and no
    setting is picked. Ctrl-C stops the sweep, keeps what finished and writes the table
    from it; --resume runs the rest.

    Example: lenet-numba sweep --recipe article --set lr=0.005,0.01,0.02 --seeds 0 1 2 --validation 1000 --out-dir s
    """
    from lenet_numba import sweep

    if more_seeds and not seed_tokens:
        raise UsageError(f"unexpected argument {more_seeds[0]!r}: seed numbers go after --seeds")
    if dask_scheduler and jobs:
        raise UsageError("--jobs is for local processes; a Dask cluster runs as many as it has workers")
    if dask_scheduler:
        sweep.check_scheduler_address(dask_scheduler)  # the same answer with or without Dask installed
    spec = sweep.SweepSpec(arch=arch, recipe=recipe, epochs=epochs, grid=sweep.parse_grid(assignments),
                           seeds=sweep.parse_seeds(seed_tokens + more_seeds) if seed_tokens else (0,),
                           dataset=dataset, data_dir=data_dir and os.path.abspath(data_dir),
                           download=not no_download, chunk_size=chunk_size, validation=validation)
    spec.validate()  # every setting's recipe, as `train` checks it, before anything runs
    keys = {sweep.task_key(t) for t in spec.tasks()}
    skipped = []
    finished = len({r["task_key"] for r in sweep.check_out_dir(out_dir, resume, skipped)} & keys)
    if skipped:
        click.echo(f"warning: {os.path.join(out_dir, sweep.RESULTS)}: {count(len(skipped), 'line')} "
                   f"{'is' if len(skipped) == 1 else 'are'} not whole results "
                   f"(first: line {skipped[0]}); ignored, and their runs run again", err=True)
    # a Dask cluster is connected to (or refused, in seconds) before anything is printed or written
    with sweep.dask_executor(dask_scheduler) if dask_scheduler else contextlib.nullcontext() as dask_ex:
        _run(spec, out_dir, arch, recipe, jobs, dask_scheduler, dask_ex, resume, finished, as_json)


def _run(spec, out_dir, arch, recipe, jobs, dask_scheduler, dask_ex, resume, finished, as_json):
    from lenet_numba import sweep

    os.environ.update(sweep.SINGLE_THREAD_ENV)  # inherited by the worker processes
    log = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo
    n_tasks = len(spec.tasks())
    where = f"Dask cluster {dask_scheduler}" if dask_scheduler else \
        count(min(jobs or sweep.default_jobs(), n_tasks), "single-threaded process", "single-threaded processes")
    log(f"lenet-numba sweep: {count(len(spec.settings()), 'setting')} x {count(len(spec.seeds), 'seed')} = "
        f"{count(n_tasks, 'run')} "
        f"of {arch}, recipe {recipe}, on {where}; results in {out_dir}")
    if resume:
        log(f"resuming: {finished} finished, {n_tasks - finished} to run")
    if not dask_scheduler and finished < n_tasks:  # workers read the data; find or download it once, here
        spec.prefetch_data()
        from lenet_numba import jit_cache
        from lenet_numba.compile_notice import ESTIMATES

        if jit_cache.is_cold():  # the workers compile, silently: say so here
            log(f"first run of this version: each worker compiles the engine before its first run "
                f"(about {ESTIMATES['sweep']} s), later runs load it from the cache")

    def on_result(r, done, total):
        held = "valid_error" if "valid_error" in r else "test_error"
        what = (f"{held.split('_')[0]} {100 * r[held]:.2f}%  train {100 * r['train_error']:.2f}%"
                if r["status"] == "ok" else "diverged")
        log(f"[{done:>{len(str(total))}}/{total}] {sweep.setting_label(r['setting'])} seed {r['seed']}: "
            f"{what}  ({r['wall_seconds']:.1f} s)")

    stopped = {"signal": None}

    def on_term(signum, frame):
        stopped["signal"] = signum
        raise KeyboardInterrupt

    command = "lenet-numba " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["sweep"] else None
    old = signal.signal(signal.SIGTERM, on_term)
    try:
        executor = contextlib.nullcontext(dask_ex) if dask_scheduler else sweep.process_pool(jobs)
        with executor as ex:
            summary = sweep.run_sweep(spec, ex, out_dir, resume=resume, on_result=on_result, command=command)
    except KeyboardInterrupt:
        stopped["signal"] = stopped["signal"] or signal.SIGINT
        try:  # run_sweep wrote the table of what finished before re-raising
            with open(os.path.join(out_dir, "sweep.json")) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            click.echo("interrupted before any run finished", err=True)
            sys.exit(130 if stopped["signal"] == signal.SIGINT else 143)
    finally:
        signal.signal(signal.SIGTERM, old)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(sweep.markdown_table(summary), nl=False)
        if summary["best"]:
            click.echo(f"best: {summary['best']}")
    if stopped["signal"] is not None:
        rest = "" if summary["complete"] else "; run the rest with the same command and --resume"
        click.echo(f"interrupted: {summary['finished']} of {summary['planned']} runs finished, kept in "
                   f"{out_dir}{rest}", err=True)
        sys.exit(130 if stopped["signal"] == signal.SIGINT else 143)
