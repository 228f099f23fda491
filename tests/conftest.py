"""Shared fixtures, defined once here.

Real data: the tests find it as the program does (``$LENET_NUMBA_DATA``, the user cache,
a download when online). When there is none, the tests that need it skip, all of them on one
short reason line of the summary (tests/optional.py), except under CI (env ``CI`` set), where
they fail with the whole look-up error: a CI run without the data can never pass silently.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

import optional
from lenet_numba.procs import SINGLE_THREAD_ENV

DATA_ENV = "LENET_NUMBA_DATA"
THREAD_ENV = tuple(SINGLE_THREAD_ENV)  # what a sweep sets for its workers (restored after a module)
# The environment pytest was started with: data look-ups use it even inside a test that
# points XDG_CACHE_HOME or HOME elsewhere.
USER_ENV = {k: os.environ.get(k) for k in (DATA_ENV, "XDG_CACHE_HOME", "HOME")}

# Under CI the property tests draw the same examples every run (derandomize): a red CI is then
# a regression of the code, not the luck of one draw. Developer runs keep exploring new
# examples (and hypothesis's database replays the failures they find).
# No deadline in either: an example's first call may compile, and a loaded machine is slow.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _pin_compiled_code_cache():
    """Every process of the run (and tests that move XDG_CACHE_HOME) shares the user's
    compiled-code cache, so no test pays a cold compile for a moved cache folder."""
    from lenet_numba import jit_cache

    os.environ.setdefault("LENET_NUMBA_JIT_CACHE", jit_cache.cache_base())


_pin_compiled_code_cache()


def _find_data(dataset, names):
    """The data root holding every file of ``names`` by the program's own look-up (with the
    user's environment, downloading when online), or a skip (a failure under CI)."""
    from lenet_numba.data.locate import find_file
    from lenet_numba.errors import DataError

    with pytest.MonkeyPatch.context() as mp:
        for key, value in USER_ENV.items():
            if value is None:
                mp.delenv(key, raising=False)
            else:
                mp.setenv(key, value)
        try:
            paths = [find_file(dataset, name, download=True) for name in names]
        except DataError as e:
            problem = str(e)
        else:
            roots = {Path(p).absolute().parent.parent for p in paths}
            if len(roots) == 1:
                return roots.pop()
            problem = None
    # the look-up's own message lists every place searched, the URL and how to point the
    # program at a copy: a CI failure says all that, a skip says in one line what is missing
    if problem is None:
        optional.skip(f"the {dataset} files are in different data roots (see `lenet-numba data info`)",
                      f"the {dataset} files are in different data roots: {', '.join(map(str, sorted(roots)))}")
    optional.skip(f"no {dataset} data: not under ${DATA_ENV} or the user cache, and downloading failed",
                  f"no {dataset} data for the real-data tests: {problem}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tests skipped for one reason given by tests/optional.py: one line of the summary."""
    outcome = yield
    optional.fold_skip_report(outcome.get_result())


@pytest.fixture(scope="session")
def data_root():
    """Absolute path of a data root holding usps/zip.train.gz and usps/zip.test.gz."""
    from lenet_numba.data.sources import USPS_FILES

    return _find_data("usps", list(USPS_FILES))


@pytest.fixture(scope="session")
def mnist_data_root():
    """Absolute path of a data root holding the MNIST t10k files under mnist/."""
    from lenet_numba.data.sources import MNIST_FILES

    return _find_data("mnist", list(MNIST_FILES))


@pytest.fixture(scope="session")
def data_opts(data_root):
    """The CLI options that point a command at the real data, offline."""
    return ["--data-dir", str(data_root), "--no-download"]


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """For a module: the parsed-data cache and any download in a private folder (subprocesses
    inherit it), and the thread variables a command sets restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        for key in THREAD_ENV:
            if key in os.environ:
                mp.setenv(key, os.environ[key])
            else:
                mp.delenv(key, raising=False)
        yield


@pytest.fixture
def isolated_data_env(monkeypatch, tmp_path):
    """No data env var, the user cache in tmp_path, no proxy: data look-up sees only what the
    test sets up (test_data*.py use it for every test)."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def small_data(data_root, monkeypatch):
    """experiment.run on 600 training / 200 test digits (only the bookkeeping is under test)."""
    from lenet_numba import experiment
    from lenet_numba.data import read_usps_file

    xtr, ytr = read_usps_file(data_root / "usps" / "zip.train.gz")
    xte, yte = read_usps_file(data_root / "usps" / "zip.test.gz")
    monkeypatch.setattr(experiment, "load_dataset", lambda *a, **k: (xtr[:600], ytr[:600], xte[:200], yte[:200]))


@pytest.fixture
def run_checkpoint(tmp_path):
    """Write a valid, resumable training checkpoint of a fresh network (no data, no
    training): ``run_checkpoint(recipe="1989", epochs=1, **meta_changes)`` -> path."""
    from lenet_numba import recipes
    from lenet_numba.checkpoint import save_checkpoint
    from lenet_numba.experiment import build_model, checkpoint_meta, make_optimizer

    def write(recipe="1989", name="run.npz", epochs=1, **changes):
        r = recipes.get(recipe).with_overrides(epochs=epochs).for_arch("lenet1").validate()
        model = build_model("lenet1", r, 3)
        defining = {"arch": "lenet1", "recipe": r.name, "seed": 3, "dataset": "usps", "init_from": None}
        meta = {**checkpoint_meta(defining, r, model, 0, []), **changes}
        path = tmp_path / name
        save_checkpoint(path, model.state_dict(), meta, make_optimizer(r, 3).state())
        return path

    return write
