"""``lenet-numba reproduce``: the 1989 papers' figures against ours, every row over many seeds."""

import os
import signal
import sys

import click

from lenet_numba import architectures, recipes
from lenet_numba.errors import UsageError
from lenet_numba.numerics import DEFAULT_NUMERICS, NUMERICS
from lenet_numba.wording import count
from lenet_numba.reproduce import BY_NAME, TABLES

from .options import ProgressBar, data_dir_option, no_download_option, non_negative, positive


@click.command("reproduce")
@click.option("--out-dir", type=click.Path(), required=True,
              help="Results: results.jsonl (one line per finished run) and reproduction.md (the tables).")
@click.option("--rows", "row_names", multiple=True, type=click.Choice(list(BY_NAME)), help="Rows to run [all].")
@click.option("--arch", "archs", multiple=True, type=click.Choice(list(architectures.ARCHITECTURES)),
              help="Only the rows of this network (repeatable).")
@click.option("--recipe", "recipe_names", multiple=True, type=click.Choice(list(recipes.RECIPES)),
              help="Only the rows of this recipe (repeatable).")
@click.option("--seeds", "seed_tokens", multiple=True, metavar="S", help="Seeds: 0-19 or 0,1,2 (repeatable) [0-19].")
@click.option("--holdout", type=int, default=1000, show_default=True, callback=non_negative, metavar="N",
              help="Also train every row and seed on all but N training digits and fit both reject rules' "
                   "thresholds on those N (0: no reject-rule runs).")
@click.option("--numerics", type=click.Choice(list(NUMERICS)), default=DEFAULT_NUMERICS, show_default=True,
              help="The arithmetic of every run: " + "; ".join(f"{k}: {v}" for k, v in NUMERICS.items()) + ".")
@click.option("--jobs", type=int, default=None, callback=positive, help="Runs at a time, one core each [cores].")
@click.option("--dask-scheduler", metavar="ADDRESS", default=None, help="Run on this Dask cluster instead.")
@click.option("--resume", is_flag=True, help="Keep the finished runs in --out-dir and run only the rest.")
@click.option("--table", type=click.Choice(sorted(TABLES)),
              default="all", show_default=True, help="Which table to print at the end.")
@data_dir_option
@no_download_option
def reproduce_cmd(out_dir, row_names, archs, recipe_names, seed_tokens, holdout, numerics, jobs, dask_scheduler, resume,
                  table, data_dir, no_download):
    """Train the rows of the 1989 comparison over seeds; print the published figures against ours.

    Each run trains on the USPS training digits without reading the test set, then reads it
    once. Rows: lenet1-{article,1989,modern}, zipcode-{article,1989}, nips-1989,
    zipcode-1989-fit and lenet1-1989-staged (10 passes on MNIST16 first). Ctrl-C keeps what
    finished; --resume runs the rest.
    """
    from lenet_numba import reproduce, sweep

    if dask_scheduler and jobs:
        raise UsageError("--jobs is for local processes; a Dask cluster runs as many as it has workers")
    if dask_scheduler:
        sweep.check_scheduler_address(dask_scheduler)
    seeds = sweep.parse_seeds(seed_tokens) if seed_tokens else reproduce.SEEDS
    tasks = reproduce.tasks(reproduce.select_rows(row_names, archs, recipe_names), seeds, holdout,
                            data_dir and os.path.abspath(data_dir), not no_download, numerics)
    finished = len({r["task_key"] for r in reproduce.check_results_dir(out_dir, resume)}
                   & {reproduce.task_key(t) for t in tasks})
    click.echo(f"lenet-numba reproduce: {count(len(tasks), 'run')} ({finished} finished), results in {out_dir}", err=True)
    os.environ.update(sweep.SINGLE_THREAD_ENV)  # inherited by the worker processes
    bar = ProgressBar()
    bar.update(finished, len(tasks), "reproduce")

    def on_result(r, done, total):
        bar.update(done, total, "reproduce")
        if not bar.tty:
            what = f"test {100 * r['test_error']:.2f}%" if r["status"] == "ok" else "diverged"
            click.echo(f"[{done}/{total}] {r['task_key']}: {what} ({r['wall_seconds']:.1f} s)", err=True)

    def on_term(signum, frame):  # a kill is an interrupt: finished runs are kept, the table written
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        with (sweep.dask_executor(dask_scheduler) if dask_scheduler else sweep.process_pool(jobs)) as ex:
            results = reproduce.run_reproduction(tasks, ex, out_dir, resume=resume, on_result=on_result,
                                                 render=reproduce.render_all)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"interrupted: finished runs kept in {out_dir}; run the rest with the same command and "
                   "--resume", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, old)
    bar.close()
    click.echo(TABLES[table](results), nl=False)
