"""A real tiny sweep on USPS, on two executors (lenet_numba.sweep.run and the CLI).

2 learning rates x 2 seeds x 1 epoch of the article recipe, once on a ProcessPoolExecutor
(library API) and once on a local Dask cluster (through the CLI's --dask-scheduler). The
table's numbers must be the per-run results (median/min/max over seeds), each run's
JSONL its epochs, and the same setting and seed must give the same numbers on both.
Ctrl-C in the middle keeps the finished runs, and --resume runs only the rest.
"""

import json
import os
import signal
import statistics
import subprocess
import sys

import pytest

from clitools import assert_user_error, invoke
from lenet_numba import sweep
from optional import require
from lenet_numba.experiment import TIMING_KEYS
from sweeptools import read_jsonl, table_rows

GRID = {"lr": [0.01, 0.03]}
SEEDS = (0, 1)
RESULT_KEYS = ("status", "epochs", "train_error", "valid_error", "train_loss", "valid_loss", "params")
VALIDATION = 1000  # the sweep chooses on these held-out training digits and never reads the test set

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def spec(data_root):
    return sweep.SweepSpec(arch="lenet1", recipe="article", epochs=1, grid=GRID, seeds=SEEDS,
                           data_dir=str(data_root), download=False, validation=VALIDATION)


@pytest.fixture(scope="module")
def pool_sweep(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    seen = []
    with sweep.process_pool(jobs=2) as ex:
        summary = sweep.run_sweep(spec, ex, str(out), on_result=lambda r, done, total: seen.append((done, total)))
    return {"summary": summary, "out": out, "seen": seen}




def pct(v):
    return f"{100 * v:.2f}%"


def check_sweep_output(summary, out):
    """Table and JSON numbers are the per-run results; every run's JSONL is its epochs."""
    results = read_jsonl(out / "results.jsonl")
    assert len(results) == 4 and summary["complete"] and summary["finished"] == 4
    assert json.load(open(out / "sweep.json")) == json.loads(json.dumps(summary))
    by_run = {(r["setting"]["lr"], r["seed"]): r for r in results}
    assert set(by_run) == {(lr, s) for lr in GRID["lr"] for s in SEEDS}
    for r in results:
        assert r["status"] == "ok" and r["epochs"] == 1 and r["numba_threads"] == 1
        assert r["pid"] != os.getpid()
        epochs = read_jsonl(out / r["metrics"])
        assert len(epochs) == 1
        assert "test_error" not in r and "test_loss" not in r
        for k in ("train_error", "valid_error", "train_loss", "valid_loss"):
            assert epochs[-1][k] == r[k]
    rows = table_rows(open(out / "sweep.md").read())
    assert len(rows) == len(summary["settings"]) == 2
    for row, cells in zip(summary["settings"], rows):
        runs = [by_run[(row["setting"]["lr"], s)] for s in SEEDS]
        te = [r["valid_error"] for r in runs]
        tr = [r["train_error"] for r in runs]
        assert row["error"] == {"median": statistics.median(te), "min": min(te), "max": max(te)}
        assert row["train_error"]["median"] == statistics.median(tr)
        expected = [repr(row["setting"]["lr"]), "2/2", pct(statistics.median(te)), pct(min(te)), pct(max(te)),
                    pct(statistics.median(tr))]
        assert [c.strip("*") for c in cells] == expected
        assert all(c.startswith("**") for c in cells) == row["best"]
    assert summary["chosen_on"] == "valid_error"
    best = min(summary["settings"], key=lambda s: (s["error"]["median"], s["error"]["max"]))
    assert best["best"] and summary["best"] == best["label"]
    assert sum(s["best"] for s in summary["settings"]) == 1
    return by_run


def test_process_pool_sweep_table_equals_per_run_results(pool_sweep):
    by_run = check_sweep_output(pool_sweep["summary"], pool_sweep["out"])
    assert pool_sweep["seen"] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len({r["pid"] for r in by_run.values()}) <= 2          # --jobs 2: two worker processes


def test_dask_cluster_gives_identical_results(pool_sweep, data_root, tmp_path):
    distributed = require("distributed", "pip install 'lenet-numba[dask]'")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster:
        res = invoke("sweep", "--recipe", "article", "--epochs", 1, "--set", "lr=0.01,0.03", "--seeds", 0, 1,
                     "--validation", VALIDATION,
                     "--dask-scheduler", cluster.scheduler_address, "--out-dir", tmp_path, "--json",
                     "--data-dir", data_root, "--no-download")
    assert res.exit_code == 0, (res.output, res.exception)
    summary = json.loads(res.stdout)
    by_run = check_sweep_output(summary, tmp_path)
    pool = {(r["setting"]["lr"], r["seed"]): r for r in read_jsonl(pool_sweep["out"] / "results.jsonl")}
    for key, r in by_run.items():
        assert {k: r[k] for k in RESULT_KEYS} == {k: pool[key][k] for k in RESULT_KEYS}, key
        a = read_jsonl(tmp_path / r["metrics"])
        b = read_jsonl(pool_sweep["out"] / pool[key]["metrics"])
        strip = lambda epochs: [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in epochs]
        assert strip(a) == strip(b), key
    assert summary["settings"] == pool_sweep["summary"]["settings"]
    assert res.stderr.count("] lr=") == 4   # one progress line per run


# The sweep CLI in a child process whose results file, the moment a run's line is on it,
# sends Ctrl-C to the whole process group (workers too): the interrupt lands exactly between
# "recorded in results.jsonl" and "taken in by the sweep loop", on any machine at any load.
CTRL_C_AFTER_FIRST_RESULT = """
import os, signal, sys
import lenet_numba.sweep.run as run
from lenet_numba_cli.main import main
recorded = run.append_result
def append_then_ctrl_c(path, result):
    recorded(path, result)
    os.killpg(0, signal.SIGINT)
run.append_result = append_then_ctrl_c
sys.argv[0] = "lenet-numba"
main()
"""


def test_ctrl_c_keeps_finished_runs_and_resume_runs_the_rest(data_root, tmp_path):
    """Ctrl-C just after a run is recorded: the summary (sweep.json, sweep.md, the table
    printed, the count on stderr) agrees with results.jsonl, and --resume runs the rest."""
    out = tmp_path / "s"
    args = [sys.executable, "-c", CTRL_C_AFTER_FIRST_RESULT, "sweep", "--recipe", "article", "--epochs", "2",
            "--set", "lr=0.01,0.02", "--seeds", "0", "1", "--jobs", "1", "--out-dir", str(out),
            "--data-dir", str(data_root), "--no-download"]
    p = subprocess.run(args, capture_output=True, text=True, start_new_session=True, timeout=600,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stdout, stderr = p.stdout, p.stderr
    results = out / "results.jsonl"
    assert p.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    finished = read_jsonl(results)
    summary = json.load(open(out / "sweep.json"))
    assert len(finished) == 1 and summary["finished"] == 1 and not summary["complete"], summary["finished"]
    assert [r["task_key"] for r in summary["runs"]] == [finished[0]["task_key"]]
    assert "interrupted: 1 of 4 runs finished" in stderr and "--resume" in stderr
    assert table_rows(stdout) == table_rows(open(out / "sweep.md").read())
    assert [row[1].strip("*") for row in table_rows(stdout)] == ["1/2", "0/2"]

    res = invoke(*args[3:], "--json")   # same command, no --resume: refused
    assert_user_error(res, 2, "already holds", "--resume")
    res = invoke(*args[3:], "--resume", "--json")
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"resuming: {len(finished)} finished, {4 - len(finished)} to run" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["complete"] and len(read_jsonl(results)) == 4
    runs = {r["task_key"]: r for r in summary["runs"]}
    assert all(runs[f["task_key"]] == f for f in finished)   # the interrupted sweep's runs, kept as they were


class MadeUpRuns:
    """An executor that finishes each task at once with a made-up result (no training)."""

    def submit(self, fn, task):
        from concurrent.futures import Future

        done = Future()
        done.set_result({"name": task["name"], "setting": task["setting"], "seed": task["seed"], "status": "ok",
                         "test_error": 0.05, "train_error": 0.02, "history": [{"epoch": 1, "test_error": 0.05}]})
        return done


def test_a_run_named_after_many_long_settings_gets_a_legal_file_name(tmp_path):
    """Reproduction: a run whose name (its settings and seed) passed 255 bytes trained, then
    failed to save its epochs ("File name too long"), and its result was lost."""
    grid = sweep.parse_grid(["lr=0.0012345678901234567", "mu=0.0012345678901234567", "lr_decay=0.12345678901234567",
                             "weight_decay=0.00012345678901234567", "output_activation=scaled-tanh",
                             "activation=scaled-tanh", "shuffle=false", "loss=mse", "dtype=float32",
                             "optimizer=sdlm", "augment=false"])
    spec = sweep.SweepSpec(recipe="1989", epochs=1, grid=grid, seeds=(2 ** 63 - 2, 2 ** 63 - 3))
    assert all(len(t["name"]) > 255 for t in spec.tasks())
    summary = sweep.run_sweep(spec, MadeUpRuns(), str(tmp_path))
    assert summary["complete"] and summary["finished"] == 2
    files = [r["metrics"] for r in read_jsonl(tmp_path / "results.jsonl")]
    assert len(set(files)) == 2 and all(len(os.path.basename(f)) <= 255 for f in files)
    assert all(read_jsonl(tmp_path / f) == [{"epoch": 1, "test_error": 0.05}] for f in files)
