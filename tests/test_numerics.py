"""The fast numerics policy (lenet_numba/numerics.py) against the naive twins, finite
differences and the exact policy: it may move results within its stated tolerances, and
nothing else: runs stay deterministic, the exact policy stays the default and unchanged,
and checkpoints and metrics files say which policy made them."""

import itertools
import json
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from lenet_numba import architectures, recipes
from lenet_numba.architectures import ACT
from lenet_numba.errors import CheckpointError
from lenet_numba.kernels import activations
from lenet_numba.model import Model
from lenet_numba.numerics import DEFAULT_NUMERICS, NUMERICS
from lenet_numba.reproduce import select_rows, task_key, tasks
from lenet_numba.reproduce.rows import numerics_of
from lenet_numba.run_checkpoint import read_run_checkpoint
from lenet_numba.train import train
from digits import synthetic
from test_model import ACTS, ARCHS, block_errors, images, randomize

# How far the fast policy's backward may be from the finite differences of its own forward,
# relative to the block's largest gradient (block_errors): the backward takes tanh's f' at
# the approximate output, which is off the approximation's own slope by at most 5.2e-7 per
# unit (most where tanh saturates and f' is tiny); seen up to 5.7e-6 (a wrong index or sign
# in a backward gives errors of order 1)
FAST_GRADIENT_TOLERANCE = 3e-5


def test_runs_default_to_fast_a_model_to_exact_and_fast_changes_only_the_activation_codes():
    assert DEFAULT_NUMERICS == "fast" and set(NUMERICS) == {"exact", "fast"}
    assert all(recipes.get(name).numerics == "fast" for name in recipes.RECIPES)
    for arch in ARCHS:
        exact = architectures.build(arch, "scaled-tanh", "identity")
        fast = architectures.build(arch, "scaled-tanh", "identity", "fast")
        assert Model(arch).numerics == "exact"
        columns = [c for c in range(exact.table.shape[1]) if c != ACT]
        np.testing.assert_array_equal(exact.table[:, columns], fast.table[:, columns])
        assert list(fast.table[:-1, ACT]) == [activations.SCALED_TANH_FAST] * (len(fast.table) - 1)
        assert fast.table[-1, ACT] == activations.IDENTITY


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden,output", list(itertools.product(ACTS, ACTS)))
def test_fast_predict_matches_the_naive_network(arch, dtype, hidden, output):
    rng = np.random.default_rng(zlib.crc32(f"fast {arch} {dtype} {hidden} {output}".encode()))
    m = randomize(Model(arch, hidden, output, dtype=dtype, numerics="fast"), rng)
    x = images(rng, 5)
    got = m.predict(x)
    want = np.stack([naive.network_forward(m.arch, m.state_dict(), hidden, output, img) for img in x.astype(dtype)])
    # tanh within 4e-7, carried through at most four layers of weights of gain 1.5
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))
    for n in range(len(x)):  # in lanes as one image at a time: the same bits
        np.testing.assert_array_equal(m.predict(x[n])[0], got[n])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fast_differs_from_exact_only_in_the_last_digits(arch, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{arch} {dtype}".encode()))
    exact = randomize(Model(arch, "scaled-tanh", "scaled-tanh", dtype=dtype), rng)
    fast = Model(arch, "scaled-tanh", "scaled-tanh", dtype=dtype, numerics="fast", init=False)
    fast.params[:] = exact.params
    x = images(rng, 16)
    a, b = exact.predict(x), fast.predict(x)
    assert not np.array_equal(a, b), "the fast policy computed the exact policy's bits"
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)


GRAD_COMBOS = list(itertools.product(ARCHS, ["mse", "ce"], ["tanh", "scaled-tanh"], ["identity", "scaled-tanh"]))


@pytest.mark.parametrize("arch,loss,hidden,output", GRAD_COMBOS)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), label=st.integers(0, 9))
def test_fast_gradient_finite_differences_in_float64(arch, loss, hidden, output, seed, label):
    rng = np.random.default_rng(seed)
    m = randomize(Model(arch, hidden, output, dtype="float64", numerics="fast"), rng)
    errs = block_errors(m, images(rng, 1)[0], label, loss, rng)
    assert set(errs) == set(m.param_names)
    for name, (directional, entry, gmax) in errs.items():
        assert gmax > 0.0, f"{name}: zero gradient, the check would be vacuous"
        assert directional < FAST_GRADIENT_TOLERANCE, (name, directional)
        assert entry < FAST_GRADIENT_TOLERANCE, (name, entry)


def _trained(numerics):
    """Five SGD passes over 400 made-up digits (the error falls from 88% on the fourth)."""
    x, y = synthetic(400, 0)
    m = Model("lenet1", "scaled-tanh", "identity", dtype="float32", seed=3, numerics=numerics)
    result = train(m, x, y, epochs=5, lr=0.05, loss="ce")
    assert result.history[-1].train_error < 0.5
    return m, result


def test_fast_training_is_deterministic_and_stays_near_exact():
    a, ra = _trained("fast")
    b, rb = _trained("fast")
    assert a.params.tobytes() == b.params.tobytes()
    assert [h.train_loss for h in ra.history] == [h.train_loss for h in rb.history]
    e, re = _trained("exact")
    assert a.params.tobytes() != e.params.tobytes()
    np.testing.assert_allclose(a.params, e.params, rtol=0, atol=1e-4 * np.abs(e.params).max())
    assert abs(ra.history[-1].train_loss - re.history[-1].train_loss) < 1e-4 * re.history[-1].train_loss


@pytest.fixture
def synthetic_run(tmp_path, monkeypatch):
    """experiment.run on 300 made-up training digits (only the bookkeeping is under test):
    ``synthetic_run(**recipe_overrides)`` -> the config it ran."""
    from lenet_numba import experiment
    from lenet_numba.experiment import TrainConfig

    xtr, ytr = synthetic(300, 1)
    xte, yte = synthetic(100, 2)
    monkeypatch.setattr(experiment, "load_dataset", lambda *a, **k: (xtr, ytr, xte, yte))

    def go(**overrides):
        config = TrainConfig(overrides={"epochs": 2, **overrides}, out=str(tmp_path / "run.npz"),
                             metrics=str(tmp_path / "run.jsonl")).validate()
        experiment.run(config)
        return config

    return go


def test_checkpoint_and_metrics_file_record_the_policy(synthetic_run):
    config = synthetic_run()  # a run's default
    back = read_run_checkpoint(config.out)
    assert back.model.numerics == "fast" and back.meta["numerics"] == "fast"
    assert back.meta["recipe"]["numerics"] == "fast"
    lines = [json.loads(line) for line in open(config.metrics)]
    assert len(lines) == 2 and all(r["numerics"] == "fast" for r in lines)
    assert read_run_checkpoint(config.out, "float64").model.numerics == "fast"  # a conversion keeps it
    exact = synthetic_run(numerics="exact")
    assert read_run_checkpoint(exact.out).model.numerics == "exact"
    assert all(json.loads(line)["numerics"] == "exact" for line in open(exact.metrics))


def test_a_checkpoint_without_a_policy_is_exact_and_an_unknown_one_is_refused(tmp_path):
    from lenet_numba.checkpoint import save_checkpoint
    from lenet_numba.experiment import build_model, checkpoint_meta, make_optimizer

    r = recipes.get("1989").for_arch("lenet1").validate()
    model = build_model("lenet1", r, 3)
    defining = {"arch": "lenet1", "recipe": r.name, "seed": 3, "dataset": "usps", "init_from": None}
    meta = checkpoint_meta(defining, r, model, 0, [])
    del meta["numerics"]  # as a 0.1 checkpoint has it
    save_checkpoint(tmp_path / "old.npz", model.state_dict(), meta, make_optimizer(r, 3).state())
    assert read_run_checkpoint(tmp_path / "old.npz").model.numerics == "exact"
    save_checkpoint(tmp_path / "bad.npz", model.state_dict(), {**meta, "numerics": "approximate"},
                    make_optimizer(r, 3).state())
    with pytest.raises(CheckpointError, match="numerics"):
        read_run_checkpoint(tmp_path / "bad.npz")


def test_a_run_from_before_the_policies_resumes_exact(tmp_path, synthetic_run):
    """A checkpoint whose metadata and recipe predate the numerics field continues as it
    was trained (exact), not under today's default, and says so in its next checkpoint; a
    recipe that contradicts the network's policy is refused."""
    from lenet_numba.checkpoint import save_checkpoint
    from lenet_numba.experiment import TrainConfig, run
    from lenet_numba.run_checkpoint import saved_recipe

    config = synthetic_run(numerics="exact", epochs=1)
    ckpt = read_run_checkpoint(config.out)
    meta = {k: v for k, v in ckpt.meta.items() if k != "numerics"}
    meta["recipe"] = {k: v for k, v in meta["recipe"].items() if k != "numerics"}
    meta["recipe"]["epochs"] = 2
    old = tmp_path / "old.npz"
    save_checkpoint(old, ckpt.model.state_dict(), meta, ckpt.state)
    assert saved_recipe(read_run_checkpoint(old)).numerics == "exact"
    out = tmp_path / "resumed.npz"
    run(TrainConfig(resume=str(old), out=str(out)).validate())
    resumed = read_run_checkpoint(out)
    assert resumed.meta["numerics"] == "exact" and resumed.meta["recipe"]["numerics"] == "exact"
    mixed = tmp_path / "mixed.npz"
    save_checkpoint(mixed, ckpt.model.state_dict(), {**meta, "recipe": {**meta["recipe"], "numerics": "fast"}},
                    ckpt.state)
    with pytest.raises(CheckpointError, match="does not match its network"):
        saved_recipe(read_run_checkpoint(mixed))


def test_reproduce_tells_fast_runs_from_exact_ones():
    rows = select_rows(["lenet1-1989"])
    exact, fast = tasks(rows, seeds=[0], holdout=0, numerics="exact"), tasks(rows, seeds=[0], holdout=0)
    assert exact[0]["overrides"] == {"numerics": "exact"} and fast[0]["overrides"] == {"numerics": "fast"}
    assert task_key(exact[0]) == "lenet1-1989/seed0/holdout0"  # results made before the choice still match
    assert task_key(fast[0]) != task_key(exact[0])
    assert numerics_of({"overrides": {}}) == "exact"  # a result made before there was a choice
