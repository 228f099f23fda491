"""The run's options: one config, checked once where it enters, each default in one place."""

import numpy as np
import pytest

from clitools import assert_ok, invoke
from lenet_numba import experiment, limits, recipes
from lenet_numba.config import TrainConfig
from lenet_numba.errors import UsageError
from lenet_numba.recipes import Recipe


@pytest.fixture
def tiny_digits(monkeypatch):
    """experiment.run on 40 random training and 20 test digits (no data files)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (60, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 60)
    monkeypatch.setattr(experiment, "load_dataset", lambda *a, **k: (x[:40], y[:40], x[40:], y[40:]))


@pytest.fixture
def recipe_checks(monkeypatch):
    """How many times a recipe's rules ran."""
    calls = []
    check = Recipe._check
    monkeypatch.setattr(Recipe, "_check", lambda self: calls.append(self.name) or check(self))
    return calls


def test_lenet_numba_train_checks_its_recipe_once(tiny_digits, recipe_checks, tmp_path):
    assert_ok(invoke("train", "--epochs", "1", "--recipe", "article", "--lr", "0.02",
                     "--out", str(tmp_path / "m.npz")))
    assert recipe_checks == ["article"]


@pytest.mark.parametrize("recipe", ["1989", "article", "modern"])
def test_run_checks_its_recipe_once(tiny_digits, recipe_checks, recipe):
    experiment.run(TrainConfig.from_options(recipe=recipe, epochs=1))
    assert recipe_checks == [recipe]


def test_a_checked_config_is_trusted_and_a_bad_one_refused_before_any_work(tiny_digits, recipe_checks):
    config = TrainConfig.from_options(epochs=1, lr=0.05, optimizer="sgd").validate()
    assert isinstance(config.recipe, Recipe) and config.recipe.lr == 0.05 and config.validate() is config
    experiment.run(config)
    assert len(recipe_checks) == 1
    with pytest.raises(UsageError, match="unknown option"):
        TrainConfig.from_options(epoch=3)
    with pytest.raises(UsageError, match="lr must be a number"):
        TrainConfig.from_options(lr=2 * limits.MAX_LR).validate()


def test_the_defaults_come_from_one_place():
    config = TrainConfig().validate()
    assert (config.arch, config.recipe.name, config.seed, config.dataset, config.chunk_size) == \
        (limits.DEFAULT_ARCH, limits.DEFAULT_RECIPE, limits.DEFAULT_SEED, limits.DEFAULT_DATASET,
         limits.DEFAULT_CHUNK)
    sgd = recipes.get("article").with_overrides(lr=None).for_arch("lenet1")
    assert sgd.lr == limits.DEFAULT_LR and recipes.Recipe("x").epochs == limits.DEFAULT_EPOCHS
    from lenet_numba.optim import SGD
    assert SGD().lr == limits.DEFAULT_LR
    assert tuple(recipes.DATASETS) == limits.DATASETS


def test_every_dataset_name_loads_by_one_table():
    from lenet_numba.data import datasets
    assert tuple(datasets._PARTS) == limits.DATASETS
    assert all(set(parts) == {"train", "test"} for parts in datasets._PARTS.values())
    with pytest.raises(UsageError, match="unknown dataset 'nope'"):
        datasets.load_part("nope", "train")


def test_the_config_and_the_sweep_load_no_numba_at_import():
    """A sweep's worker sets its thread counts before NumPy or Numba load."""
    import subprocess
    import sys
    code = ("import sys, lenet_numba.config, lenet_numba.sweep; "
            "print(sorted(m for m in ('numba', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_config_is_immutable_and_names_the_old_flat_spelling():
    config = TrainConfig.from_options(recipe="article", epochs=3)
    with pytest.raises(AttributeError, match="recipe field"):
        config.epochs
    with pytest.raises(Exception):
        config.seed = 4
    assert config.given("epochs") == 3 and TrainConfig(overrides=None).overrides == {}
    assert TrainConfig.from_options(epochs=None, overrides={"epochs": 2}).given("epochs") == 2


def test_train_refuses_fields_it_would_not_use_and_follows_a_recipes_optimizer():
    from lenet_numba.model import Model
    from lenet_numba.sdlm import SDLM
    from lenet_numba.train import train
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (20, 16, 16)), rng.integers(0, 10, 20)
    for field in ("lr_decay", "mu", "dtype", "output_activation"):
        with pytest.raises(UsageError, match="unexpected keyword"):
            train(Model(), x, y, epochs=1, **{field: getattr(recipes.get("1989"), field) or 0.5})
    with pytest.raises(UsageError, match="given both"):
        train(Model(), x, y, epochs=1, augment=recipes.get("modern"), max_shift=2.0)
    seen = []
    real = SDLM.step_for_epoch
    import lenet_numba.sdlm as sdlm_module
    try:
        sdlm_module.SDLM.step_for_epoch = lambda self, *a: seen.append(self) or real(self, *a)
        train(Model(), x, y, recipes.get("1989").with_overrides(epochs=1))
    finally:
        sdlm_module.SDLM.step_for_epoch = real
    assert len(seen) == 1 and seen[0].mu == recipes.get("1989").for_arch("lenet1").mu
