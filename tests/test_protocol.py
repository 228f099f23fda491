"""Choosing settings without the test set, and the networks' published counts.

* ``stratified_holdout``: seeded, by class, disjoint, sized as asked.
* ``train --validation N``: valid_error/valid_loss each pass (table, --metrics, --json),
  trained on the other 7,291 - N digits.
* experiments/tune.py runs with the test file absent: the tuning code never loads it.
* ``lenet-numba summary`` prints the papers' counts for the 1989 networks.
"""

import json
import os
import shutil
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clitools import assert_ok, assert_user_error, invoke
from lenet_numba import architectures
from lenet_numba.data import stratified_holdout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=2, max_size=300), st.data(), st.integers(0, 2**32 - 1))
def test_holdout_is_stratified_disjoint_and_seeded(labels, data, seed):
    labels = np.asarray(labels)
    n = data.draw(st.integers(0, len(labels) - 1))
    keep, held = stratified_holdout(labels, n, seed)
    assert len(held) == n and len(keep) == len(labels) - n
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(labels)))
    for c in np.unique(labels):  # each class gives its share, within one digit
        share = n * np.sum(labels == c) / len(labels)
        assert abs(np.sum(labels[held] == c) - share) < 1.0
    again = stratified_holdout(labels, n, seed)
    assert np.array_equal(again[1], held)


def test_holdout_refuses_impossible_sizes():
    from lenet_numba.errors import UsageError

    for n in (-1, 10, 2.5):
        with pytest.raises(UsageError, match="validation size"):
            stratified_holdout(np.arange(10) % 3, n)


def test_train_validation_reports_held_out_error(tmp_path, data_root):
    metrics = tmp_path / "m.jsonl"
    res = assert_ok(invoke("train", "--recipe", "article", "--epochs", 2, "--validation", 700, "--metrics", metrics,
                           "--json", "--data-dir", data_root, "--no-download"))
    summary = json.loads(res.stdout)
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(0 <= r["valid_error"] <= 1 and r["valid_loss"] > 0 for r in records)
    assert summary["validation"] == 700 and summary["valid_error"] == records[-1]["valid_error"]
    # the table has the columns too; without --validation neither table nor metrics has them
    human = assert_ok(invoke("train", "--recipe", "article", "--epochs", 1, "--validation", 700,
                             "--data-dir", data_root, "--no-download")).stdout
    assert "valid_err" in human.splitlines()[1]
    plain = tmp_path / "p.jsonl"
    assert_ok(invoke("train", "--recipe", "article", "--epochs", 1, "--metrics", plain, "--data-dir", data_root,
                     "--no-download"))
    assert "valid_error" not in json.loads(plain.read_text())


def test_train_validation_too_large_is_one_line(data_root):
    assert_user_error(invoke("train", "--epochs", 1, "--validation", 7291, "--data-dir", data_root, "--no-download"),
                      2, "validation size")


def test_tuning_never_loads_the_test_set(tmp_path, data_root, isolated_data_env):
    """experiments/tune.py on a data folder that has no test file at all."""
    (tmp_path / "usps").mkdir()
    shutil.copy(data_root / "usps" / "zip.train.gz", tmp_path / "usps" / "zip.train.gz")
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import tune
    from lenet_numba.errors import LenetError
    from lenet_numba.experiment import load_test_set

    with pytest.raises(LenetError):  # there really is no test set to load
        load_test_set("usps", str(tmp_path), download=False)
    rec = tune.one_run("lenet1", "1989", {"lr": 5e-4, "mu": 0.02, "lr_decay": 0.95}, seed=0, validation=500,
                       data_dir=str(tmp_path), epochs=1)
    assert 0 <= rec["valid_error"] < 0.5 and rec["epochs"] == 1
    best, err, n_settings, n_seeds = tune.choose([rec, dict(rec, setting={"lr": 1.0}, valid_error=0.9)])[
        ("lenet1", "1989")]
    assert best == rec["setting"] and err == rec["valid_error"] and (n_settings, n_seeds) == (2, 1)


@pytest.mark.parametrize("arch", list(architectures.ARCHITECTURES))
def test_summary_prints_the_published_counts(arch):
    published = {"zipcode1989": (1256, 64660, 9760), "lenet1-nips1989": (4635, 98442, 2578),
                 "lenet1": (1816, 49316, 3128)}[arch]  # lenet1: no paper states these; our layout's
    s = json.loads(assert_ok(invoke("summary", "--arch", arch, "--json")).stdout)
    assert (s["units"], s["connections"], s["params"]) == published
    assert sum(layer["params"] for layer in s["layers"]) == s["params"]
    assert s["input_units"] + sum(layer["units"] for layer in s["layers"]) == s["units"]
    text = assert_ok(invoke("summary", "--arch", arch)).stdout
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert all(f"{v:,}" in total for v in published)


def test_summary_flops_follow_the_connections():
    s = json.loads(assert_ok(invoke("summary", "--arch", "lenet1-nips1989", "--json")).stdout)
    h1, h2, h3, h4, out = s["layers"]
    assert h1["flops_forward"] == 2 * 4 * 24 * 24 * 25 + 4 * 24 * 24  # multiply-adds + bias adds
    assert h1["flops_backward"] == 2 * 4 * 24 * 24 * 25 + 4 * 24 * 24  # dW + db, no dx for the image
    assert h3["flops_forward"] == 2 * 64 * 20 * 25 + 12 * 64  # 20 kernels, not the 24 slots
    assert out["flops_forward"] == 2 * 10 * 192 + 10
    res = invoke("summary", "--arch", "lenet5")  # click's own refusal, naming the choices
    assert res.exit_code == 2 and "'lenet5' is not one of" in res.stderr and "lenet1-nips1989" in res.stderr


def test_resume_keeps_the_hold_out(tmp_path, small_data):
    """A resumed --validation run trains on the same digits: the hold-out comes from the checkpoint."""
    from lenet_numba.experiment import TrainConfig, run

    out = tmp_path / "m.npz"
    first = run(TrainConfig.from_options(recipe="article", overrides={"epochs": 1}, validation=100, out=str(out)))
    again = run(TrainConfig.from_options(resume=str(out), overrides={"epochs": 2}, out=str(out)))
    assert first["validation"] == again["validation"] == 100
    assert [("valid_error" in r) for r in again["history"]] == [True, True]
