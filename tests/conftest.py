"""Shared fixtures. Keep this file small: other test modules may add their own."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

DATA_ENV = "LENET_NUMBA_DATA"

# Under CI the property tests draw the same examples every run (derandomize): a red CI is then
# a regression of the code, not the luck of one draw. Developer runs keep exploring new
# examples (and hypothesis's database replays the failures they find).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def data_root():
    """Absolute path of the real data root ($LENET_NUMBA_DATA: usps/ and mnist/).

    Unset: the test skips on a developer machine but FAILS under CI (env CI set), so a CI
    run without the data can never pass silently. Set but without the USPS files: fails.
    """
    value = os.environ.get(DATA_ENV, "")
    if not value:
        message = (f"{DATA_ENV} is not set; point it at a folder holding usps/zip.train.gz, "
                   "usps/zip.test.gz and mnist/t10k-*")
        if os.environ.get("CI"):
            pytest.fail("CI must run the real-data tests: " + message, pytrace=False)
        pytest.skip(message)
    root = Path(value).expanduser().absolute()  # CI gives a relative path: pin it before any chdir
    missing = [p for p in ("usps/zip.train.gz", "usps/zip.test.gz") if not (root / p).is_file()]
    if missing:
        pytest.fail(f"{DATA_ENV}={value} lacks {', '.join(missing)}", pytrace=False)
    return root


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
