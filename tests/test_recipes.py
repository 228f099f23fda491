"""One home for "is this allowed": the library refuses what the CLI refuses, with the same
message, whichever door a value comes in by (TrainConfig/run, train(), a sweep setting, a
checkpoint, the command line)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clitools import assert_one_line_error, assert_user_error, invoke, run_cli
from lenet_numba import recipes
from lenet_numba.errors import CheckpointError, UsageError
from lenet_numba.experiment import RECIPE_FIELDS, TrainConfig, run
from lenet_numba.model import Model
from lenet_numba.run_checkpoint import read_run_checkpoint, resume_rules
from lenet_numba.sweep import SweepSpec
from lenet_numba.train import train
from lenet_numba_cli.train_cmd import train_cmd


def test_train_config_takes_the_cli_names():
    config = TrainConfig.from_options(epochs=1, lr=0.5, recipe="article", max_shift=None)
    assert config.validate().recipe.epochs == 1 and config.validate().recipe.lr == 0.5
    assert TrainConfig(overrides={"epochs": 2}).validate().recipe.epochs == 2  # the older spelling still works
    cli_names = {p.name for p in train_cmd.params}
    config_names = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)}
    assert config_names <= cli_names, config_names - cli_names


def test_cli_options_and_choices_come_from_the_library():
    by_name = {p.name: p for p in train_cmd.params}
    for f in RECIPE_FIELDS:
        if "choices" in f.metadata:
            assert list(by_name[f.name].type.choices) == recipes.names(f.metadata["choices"])
    assert list(by_name["arch"].type.choices) == recipes.names("architecture")
    assert list(by_name["recipe"].type.choices) == list(recipes.RECIPES)


@pytest.mark.parametrize("kind", ["loss", "activation", "optimizer", "dtype", "architecture", "recipe", "dataset"])
def test_unknown_names_get_one_message_listing_the_valid_ones(kind):
    with pytest.raises(UsageError, match=f"unknown {kind} 'nope'; choose one of " + ", ".join(recipes.names(kind))):
        recipes.check_name(kind, "nope")


def test_a_distortion_size_without_augment_is_refused_by_the_library_too(small_data):
    message = "max_shift has no effect without augment"
    with pytest.raises(UsageError, match=message):
        run(TrainConfig.from_options(max_shift=2))
    with pytest.raises(UsageError, match=message):
        SweepSpec(grid={"max_shift": [2.0]}).validate()
    assert_user_error(invoke("train", "--max-shift", "2"), 2, message)
    # with augmentation on it is a setting, not a mistake
    assert TrainConfig.from_options(max_shift=2, augment=True).validate().recipe.max_shift == 2


@pytest.mark.parametrize("change, fragment", [
    (dict(loss="hinge"), "unknown loss"), (dict(epochs=-1), "epochs"), (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(weight_decay=float("nan")), "weight_decay"), (dict(seed=-1), "seed"), (dict(chunk_size=0), "chunk_size"),
])
def test_train_applies_the_same_rules(change, fragment):
    x, y = np.zeros((4, 16, 16), np.float32), np.arange(4)
    with pytest.raises(UsageError, match=fragment):
        train(Model("lenet1"), x, y, **{"epochs": 1, "loss": "ce", **change})


SEEDS = [-1, 2 ** 63, 2 ** 64, 2 ** 64 + 5, True, 1.5]


@pytest.mark.parametrize("seed", SEEDS)
def test_one_seed_rule_everywhere(seed):
    """0 <= seed < 2**63 (stored as int64, fed to the splitmix64 stream): train, the
    run options, a sweep and gradcheck refuse the rest with one message."""
    message = r"seed.* must be an integer in \[0, 2\*\*63\)"
    for call in (lambda: train(Model("lenet1"), np.zeros((2, 16, 16)), [0, 1], epochs=0, seed=seed),
                 lambda: TrainConfig.from_options(seed=seed).validate(),
                 lambda: SweepSpec(seeds=(0, seed)).validate()):
        with pytest.raises(UsageError, match=message):
            call()
    from lenet_numba.gradcheck import gradcheck
    with pytest.raises(UsageError, match=message):
        gradcheck(seed=seed)


@pytest.mark.parametrize("args", [["train", "--seed", "-1"], ["train", "--seed", str(2 ** 64)],
                                  ["train", "--seed", str(2 ** 63)], ["gradcheck", "--seed", "-1"],
                                  ["gradcheck", "--seed", str(2 ** 64)],
                                  ["sweep", "--out-dir", "s", "--seeds", str(2 ** 63)]])
def test_seed_out_of_range_is_one_line_before_any_work(tmp_path, args):
    """Reproduction: v0.1.0 gave tracebacks for -1 and 2**64, and trained a whole run with a
    seed in [2**63, 2**64) before failing at save, writing nothing."""
    out = tmp_path / "m.npz"
    proc = run_cli(*args, *(["--out", out, "--epochs", "1"] if args[0] == "train" else []), cwd=tmp_path,
                   timeout=120)
    assert_one_line_error(proc, "seed", "2**63", code=2)
    assert not out.exists() and not (tmp_path / "s").exists()


def test_a_checkpoint_with_a_seed_out_of_range_is_refused(run_checkpoint):
    path = run_checkpoint(seed=2 ** 63)
    ckpt = read_run_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        resume_rules(TrainConfig.from_options(resume=str(path)), ckpt)


@pytest.mark.parametrize("tolerance", ["inf", "nan", "0", "-1"])
def test_gradcheck_refuses_a_tolerance_that_can_never_fail_or_pass(tolerance):
    assert_user_error(invoke("gradcheck", "--tolerance", tolerance), 2, "tolerance must be a number in (0, 1]")


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from([f.name for f in RECIPE_FIELDS]),
       value=st.one_of(st.none(), st.booleans(), st.integers(-2 ** 65, 2 ** 65),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                       st.lists(st.integers(), max_size=2)))
def test_fuzz_run_options_are_accepted_or_refused_by_one_usage_error(field, value):
    """Any value of any recipe field: a config that validates, or one UsageError line."""
    try:
        recipe = TrainConfig.from_options(**{field: value}, recipe="modern").validate().validate().recipe
    except UsageError as e:
        assert "\n" not in str(e)
        return
    assert value is None or getattr(recipe, field) == value
