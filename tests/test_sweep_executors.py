"""Where a sweep runs (lenet_numba.sweep.executors): the Dask address, Dask missing or
unreachable, and worker processes that die with the sweep."""

import os
import subprocess
import sys
import time

import pytest

from clitools import assert_user_error, invoke
from optional import require


@pytest.mark.parametrize("address, code, words", [
    ("notanaddress", 2, "--dask-scheduler notanaddress: not a scheduler address"),
    ("tcp://127.0.0.1:9", 1, "cannot connect to the Dask scheduler at tcp://127.0.0.1:9"),  # nothing listens
])
def test_dask_scheduler_failure_is_quick_and_one_line(tmp_path, address, code, words):
    """In a real process: the half-made Client is closed, so nothing is printed at exit."""
    require("distributed", "pip install 'lenet-numba[dask]'")
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


@pytest.mark.parametrize("dask_installed", [True, False], ids=["with-dask", "without-dask"])
def test_a_bad_address_is_refused_the_same_with_or_without_dask(monkeypatch, tmp_path, dask_installed):
    if not dask_installed:
        monkeypatch.setitem(sys.modules, "distributed", None)
    assert_user_error(invoke("sweep", "--out-dir", tmp_path / "o", "--dask-scheduler", "notanaddress"), 2,
                      "--dask-scheduler notanaddress: not a scheduler address")
    assert not (tmp_path / "o").exists()


def test_scheduler_address_shapes():
    from lenet_numba.errors import UsageError
    from lenet_numba.sweep import check_scheduler_address

    for good in ("tcp://127.0.0.1:8786", "localhost:8786", "tls://[::1]:8786", "tcp://sched-01.example.org:1"):
        assert check_scheduler_address(good) == good
    for bad in ("notanaddress", "tcp://host", ":8786", "tcp://h:0", "tcp://h:70000", "http://h:8786", "", "h:87 86"):
        with pytest.raises(UsageError, match="not a scheduler address"):
            check_scheduler_address(bad)


POOL_SCRIPT = """
import os, sys, time
from lenet_numba.sweep import process_pool
with process_pool(jobs=2) as ex:
    pids = sorted({ex.submit(time.sleep, 0.3) and ex.submit(os.getpid).result() for _ in range(8)})
    for _ in range(2):
        ex.submit(time.sleep, 300)
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(300)
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is dead too
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_sweep_leaves_no_worker_running():
    p = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        workers = [int(w) for w in line.split()]
        assert workers and all(alive(w) for w in workers), line
    finally:
        p.kill()
        p.wait()
    deadline = time.time() + 10
    while any(alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if alive(w)]
    for w in left:  # do not leave them behind even when the test fails
        os.kill(w, 9)
    assert not left, f"workers {left} outlived the killed sweep"
