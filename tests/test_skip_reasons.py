"""Without the data (or an optional package) the tests that need it skip with one short
reason line in pytest's summary, however many tests that is; under CI they fail instead,
with the look-up's whole error."""

import os
import re
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

NEEDS_DATA = '''
import pytest
from optional import require

def test_reads_usps(data_root):
    pass

def test_reads_usps_too(data_root):
    pass

@pytest.mark.parametrize("i", range(3))
def test_reads_mnist(mnist_data_root, i):
    pass

@pytest.mark.parametrize("i", range(2))
def test_needs_a_missing_package(i):
    require("lenet_numba_no_such_package", "pip install it")
'''


def run_without_data(tmp_path, **env_changes):
    """pytest -rs on NEEDS_DATA with tests/conftest.py, an empty data folder and home, and
    downloads sent to a closed loopback port (no traffic leaves the machine)."""
    (tmp_path / "test_needs_data.py").write_text(NEEDS_DATA)
    for name in ("data", "home"):
        (tmp_path / name).mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "XDG_CACHE_HOME", "no_proxy", "NO_PROXY", "PYTEST_ADDOPTS")}
    env.update(LENET_NUMBA_DATA=str(tmp_path / "data"), HOME=str(tmp_path / "home"),
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               PYTHONPATH=os.pathsep.join([TESTS, ROOT]), **env_changes)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "conftest", "-p", "no:cacheprovider",
                           "test_needs_data.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_each_missing_thing_is_one_short_summary_line(tmp_path):
    res = run_without_data(tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    skipped = [line for line in res.stdout.splitlines() if line.startswith("SKIPPED")]
    counts = sorted(int(re.search(r"\[(\d+)\]", line).group(1)) for line in skipped)
    assert counts == [2, 2, 3], res.stdout
    for what in ("no usps data", "no mnist data", "lenet_numba_no_such_package not installed"):
        assert sum(what in line for line in skipped) == 1, res.stdout
    for line in skipped:
        assert len(line) <= 160 and "http" not in line and str(tmp_path) not in line, line


def test_under_ci_a_missing_data_set_fails_with_the_whole_look_up_error(tmp_path):
    res = run_without_data(tmp_path, CI="1")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert "2 failed, 5 errors" in res.stdout and "During handling" not in res.stdout, res.stdout[-3000:]
    assert "CI must run these tests: no usps data for the real-data tests: zip.train.gz not found" in res.stdout
    assert "https://" in res.stdout and str(tmp_path / "data") in res.stdout
