"""``lenet-numba sweep`` and lenet_numba.sweep: a real tiny sweep on USPS, on two executors.

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
import time

import pytest

from lenet_numba.experiment import TIMING_KEYS
from lenet_numba import sweep
from lenet_numba.errors import UsageError
from clitools import invoke

GRID = {"lr": [0.01, 0.03]}
SEEDS = (0, 1)
RESULT_KEYS = ("status", "epochs", "train_error", "test_error", "train_loss", "test_loss", "params")


def assert_user_error(res, code, *fragments):
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), res.stderr
    assert not any(line.startswith("error: ") for line in lines[:-1])
    for f in fragments:
        assert f in lines[-1], (f, lines[-1])


@pytest.fixture(scope="module", autouse=True)
def private_env(tmp_path_factory):
    """A private parsed-data cache; and the thread variables the CLI sets, restored after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        for k in sweep.SINGLE_THREAD_ENV:
            if k in os.environ:
                mp.setenv(k, os.environ[k])
            else:
                mp.delenv(k, raising=False)
        yield


@pytest.fixture(scope="module")
def spec(data_root):
    return sweep.SweepSpec(arch="lenet1", recipe="article", epochs=1, grid=GRID, seeds=SEEDS,
                           data_dir=str(data_root), download=False)


@pytest.fixture(scope="module")
def pool_sweep(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    seen = []
    with sweep.process_pool(jobs=2) as ex:
        summary = sweep.run_sweep(spec, ex, str(out), on_result=lambda r, done, total: seen.append((done, total)))
    return {"summary": summary, "out": out, "seen": seen}


def read_jsonl(path):
    return [json.loads(line) for line in open(path)]


def table_rows(markdown):
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


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
        for k in ("train_error", "test_error", "train_loss", "test_loss"):
            assert epochs[-1][k] == r[k]
    rows = table_rows(open(out / "sweep.md").read())
    assert len(rows) == len(summary["settings"]) == 2
    for row, cells in zip(summary["settings"], rows):
        runs = [by_run[(row["setting"]["lr"], s)] for s in SEEDS]
        te = [r["test_error"] for r in runs]
        tr = [r["train_error"] for r in runs]
        assert row["test_error"] == {"median": statistics.median(te), "min": min(te), "max": max(te)}
        assert row["train_error"]["median"] == statistics.median(tr)
        expected = [repr(row["setting"]["lr"]), "2/2", pct(statistics.median(te)), pct(min(te)), pct(max(te)),
                    pct(statistics.median(tr))]
        assert [c.strip("*") for c in cells] == expected
        assert all(c.startswith("**") for c in cells) == row["best"]
    best = min(summary["settings"], key=lambda s: (s["test_error"]["median"], s["test_error"]["max"]))
    assert best["best"] and summary["best"] == best["label"]
    assert sum(s["best"] for s in summary["settings"]) == 1
    return by_run


def test_process_pool_sweep_table_equals_per_run_results(pool_sweep):
    by_run = check_sweep_output(pool_sweep["summary"], pool_sweep["out"])
    assert pool_sweep["seen"] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len({r["pid"] for r in by_run.values()}) <= 2          # --jobs 2: two worker processes


def test_dask_cluster_gives_identical_results(pool_sweep, data_root, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster:
        res = invoke("sweep", "--recipe", "article", "--epochs", 1, "--set", "lr=0.01,0.03", "--seeds", 0, 1,
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


def test_ctrl_c_keeps_finished_runs_and_resume_runs_the_rest(data_root, tmp_path):
    out = tmp_path / "s"
    args = [sys.executable, "-m", "lenet_numba_cli.main", "sweep", "--recipe", "article", "--epochs", "6",
            "--set", "lr=0.01,0.02", "--seeds", "0", "1", "--jobs", "1", "--out-dir", str(out),
            "--data-dir", str(data_root), "--no-download"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while not (results.exists() and results.stat().st_size) and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers too
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    finished = read_jsonl(results)
    summary = json.load(open(out / "sweep.json"))
    assert 1 <= len(finished) < 4 and summary["finished"] == len(finished) and not summary["complete"]
    assert f"interrupted: {len(finished)} of 4 runs finished" in stderr and "--resume" in stderr
    assert table_rows(stdout) == table_rows(open(out / "sweep.md").read())
    assert [row[1].strip("*") for row in table_rows(stdout)] == [f"{min(len(finished), 2)}/2",
                                                                 f"{max(len(finished) - 2, 0)}/2"]

    res = invoke("sweep", *args[4:], "--json")   # same command, no --resume: refused
    assert_user_error(res, 2, "already holds", "--resume")
    res = invoke("sweep", *args[4:], "--resume", "--json")
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"resuming: {len(finished)} finished, {4 - len(finished)} to run" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["complete"] and len(read_jsonl(results)) == 4
    runs = {r["task_key"]: r for r in summary["runs"]}
    assert all(runs[f["task_key"]] == f for f in finished)   # the interrupted sweep's runs, kept as they were


# --------------------------------------------------------------------------- no data needed


def test_summary_of_diverged_and_unfinished_runs():
    spec = sweep.SweepSpec(recipe="article", grid={"lr": [0.01, 1.0, 0.03], "mu": [0.02]}, seeds=(0, 1, 2))
    tasks = spec.tasks()
    assert [t["name"] for t in tasks[:2]] == ["lr=0.01_mu=0.02_seed=0", "lr=0.01_mu=0.02_seed=1"]
    res = {}
    for t, err in zip(tasks, [0.05, 0.07, 0.06, None, 0.01, 0.02, 0.04, 0.05]):  # the last task unfinished
        r = {"seed": t["seed"], "status": "ok" if err is not None else "diverged", "metrics": t["name"]}
        if err is not None:
            r.update(test_error=err, train_error=err / 2)
        res[sweep.task_key(t)] = r
    s = sweep.summarize(spec, tasks, res)
    a, b, c = s["settings"]
    assert a["test_error"] == {"median": 0.06, "min": 0.05, "max": 0.07} and a["runs"] == 3
    assert b["runs"] == 2 and b["diverged"] == 1 and not b["best"]      # lowest errors, but one diverged
    assert c["runs"] == 2 and c["test_error"]["median"] == 0.045 and c["best"]  # even count: the mean of two
    assert s["best"] == "lr=0.03 mu=0.02" and s["finished"] == 8 and not s["complete"]
    rows = table_rows(sweep.markdown_table(s))
    assert rows[1][:3] == ["1.0", "0.02", "2/3 (1 diverged)"]
    assert rows[2] == ["**0.03**", "**0.02**", "**2/3**", "**4.50%**", "**4.00%**", "**5.00%**", "**2.25%**"]


def test_parsing_of_grid_and_seeds():
    assert sweep.parse_assignment("lr=0.01, 3e-2") == ("lr", [0.01, 0.03])
    assert sweep.parse_assignment("shuffle=true,no") == ("shuffle", [True, False])
    assert sweep.parse_assignment("epochs=1,2") == ("epochs", [1, 2])
    assert sweep.parse_assignment("activation=tanh,scaled-tanh") == ("activation", ["tanh", "scaled-tanh"])
    assert sweep.parse_seeds(["0", "2-4", "7,9"]) == (0, 2, 3, 4, 7, 9)
    assert sweep.run_name({"activation": "scaled-tanh", "lr": 0.5}, 3) == "activation=scaled-tanh_lr=0.5_seed=3"
    for bad in ("lr", "lr=", "=1", "lr=nan", "lr=1,1", "epochs=1.5", "shuffle=maybe", "name=x", "nope=1"):
        with pytest.raises(UsageError):
            sweep.parse_assignment(bad)
    for bad in (["x"], ["-1"], ["3-1"], ["1", "1"]):
        with pytest.raises(UsageError):
            sweep.parse_seeds(bad)
    spec = sweep.SweepSpec(grid={"lr": [1, 2], "mu": [3, 4, 5]}, seeds=(0,))
    assert spec.settings()[:2] == [{"lr": 1, "mu": 3}, {"lr": 1, "mu": 4}] and len(spec.tasks()) == 6


@pytest.mark.parametrize("args, code, words", [
    (["--set", "foo=1"], 2, ["--set foo", "not a recipe field"]),
    (["--set", "lr=0.1,0.1"], 2, ["listed twice"]),
    (["--set", "lr=-1"], 2, ["setting lr=-1.0", "lr must be a number in (0"]),
    (["--set", "activation=relu"], 2, ["unknown activation"]),
    (["--set", "epochs=1", "--epochs", "2"], 2, ["epochs is both"]),
    (["--seeds", "0", "x"], 2, ["--seeds x"]),
    (["3", "4"], 2, ["seed numbers go after --seeds"]),
    (["--dask-scheduler", "tcp://x:1", "--jobs", "2"], 2, ["--jobs is for local processes"]),
    # every setting's recipe is checked as `train` checks it (Recipe.validate) before any run
    (["--set", "max_shift=-1"], 2, ["setting max_shift=-1.0: max_shift must be a number in [0"]),
    (["--set", "max_shift=9"], 2, ["setting max_shift=9.0: max_shift must be a number in [0, 8]"]),
    (["--set", "elastic_sigma=-1"], 2, ["setting elastic_sigma=-1.0: elastic_sigma must be a number in [0"]),
    (["--set", "augment_epochs=-5"], 2, ["setting augment_epochs=-5: augment_epochs must be an integer in [0,"]),
    (["--set", "epochs=-1"], 2, ["setting epochs=-1: epochs must be an integer in [0,"]),
    (["--recipe", "article", "--set", "elastic_alpha=4"], 2, ["setting elastic_alpha=4.0: ", "elastic_sigma"]),
    (["--recipe", "article", "--set", "augment=true"], 2, ["setting augment=true: augmentation is on"]),
    (["--recipe", "article", "--set", "label_smoothing=0.1", "--set", "loss=ce,mse"], 2,
     ["setting label_smoothing=0.1 loss=mse: label_smoothing needs the cross-entropy loss"]),
    (["--set", "lr=0.01,-1,0.02"], 2, ["setting lr=-1.0: lr must be"]),            # the first bad one
    (["--set", "weight_decay=2"], 2, ["setting weight_decay=2.0: weight_decay must be a number in [0, 1]"]),
    (["--dask-scheduler", "notanaddress"], 2, ["--dask-scheduler notanaddress: not a scheduler address"]),
])
def test_sweep_user_errors(tmp_path, args, code, words):
    assert_user_error(invoke("sweep", "--out-dir", tmp_path / "o", *args), code, *words)
    assert not (tmp_path / "o").exists()


def test_sweep_out_dir_paths_are_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "holds-dirs" / "results.jsonl").mkdir(parents=True)
    (tmp_path / "runs-file").mkdir()
    (tmp_path / "runs-file" / "runs").write_text("")
    for out_dir, words in [
        (tmp_path / "file" / "x", ["cannot create it", "file is not a folder"]),
        (tmp_path / "missing" / "x", ["cannot create it", "missing does not exist"]),
        (tmp_path / "file", ["exists and is not a folder"]),
        (tmp_path / "dangling", ["broken symbolic link"]),
        (tmp_path / "holds-dirs", ["results.jsonl exists and is not a regular file"]),
        (tmp_path / "runs-file", ["runs exists and is not a folder"]),
    ]:
        res = invoke("sweep", "--recipe", "article", "--epochs", 1, "--out-dir", out_dir)
        assert "Traceback" not in res.output
        assert_user_error(res, 2, f"--out-dir {out_dir}", *words)
    assert (tmp_path / "file").read_text() == "keep"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "nowhere").exists()
    assert [p.name for p in (tmp_path / "holds-dirs").iterdir()] == ["results.jsonl"]
    with pytest.raises(UsageError, match="cannot create it"):
        sweep.check_out_dir(str(tmp_path / "file" / "x"))


@pytest.mark.parametrize("address, code, words", [
    ("notanaddress", 2, "--dask-scheduler notanaddress: not a scheduler address"),
    ("tcp://127.0.0.1:9", 1, "cannot connect to the Dask scheduler at tcp://127.0.0.1:9"),  # nothing listens
])
def test_dask_scheduler_failure_is_quick_and_one_line(tmp_path, address, code, words):
    """In a real process: the half-made Client is closed, so nothing is printed at exit."""
    pytest.importorskip("distributed")
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "lenet_numba_cli.main", "sweep", "--out-dir", str(tmp_path / "o"),
                        "--dask-scheduler", address, "--json"], capture_output=True, text=True, timeout=120)
    elapsed = time.time() - t0
    assert p.returncode == code, (p.returncode, p.stderr)
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith(f"error: {words}"), p.stderr
    assert p.stdout == ""
    assert elapsed < 20, elapsed    # a 5 s connect timeout, not 15 s plus a 30 s close at exit
    assert not (tmp_path / "o").exists()


def test_missing_dask_is_one_line_exit_1(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert_user_error(invoke("sweep", "--out-dir", tmp_path / "o", "--dask-scheduler", "tcp://127.0.0.1:1"), 1,
                      "pip install 'lenet-numba[dask]'")


def test_sweep_help():
    res = invoke("sweep", "--help")
    assert res.exit_code == 0 and res.stdout.startswith("Usage: lenet-numba sweep [OPTIONS]")
    for w in ("--set", "--seeds", "--jobs", "--dask-scheduler", "--out-dir", "--resume", "--epochs", "--recipe"):
        assert w in res.stdout, w
