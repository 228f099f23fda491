"""`eval --reject-rule nips` / `--thresholds`: reject rules with fixed thresholds on a checkpoint,
fitted on the digits its run held out (never on the test digits), applied to the test digits."""

import json
import math

import numpy as np
import pytest

from clitools import assert_ok, assert_user_error, invoke
from lenet_numba import metrics
from lenet_numba.errors import UsageError
from lenet_numba.reject_report import parse_thresholds


def test_parse_thresholds():
    assert parse_thresholds("0.5,none,0.25") == {"t1": 0.5, "t2": math.inf, "td": 0.25}
    assert parse_thresholds("none, -0.5 ,") == {"t1": -math.inf, "t2": -0.5, "td": -math.inf}
    for bad in ("1,2", "a,b,c", "nan,0,0", "1,2,3,4"):
        with pytest.raises(UsageError, match="--thresholds"):
            parse_thresholds(bad)


def test_given_thresholds_are_applied_to_the_test_digits(run_checkpoint, data_opts, data_root):
    from lenet_numba.data import read_usps_file
    from lenet_numba.run_checkpoint import model_from_checkpoint

    path = run_checkpoint()
    rep = json.loads(assert_ok(invoke("eval", path, *data_opts, "--thresholds", "0.1,none,0.05", "--json")).stdout)
    model, _ = model_from_checkpoint(str(path))
    x, y = read_usps_file(data_root / "usps" / "zip.test.gz")
    expect = metrics.apply_reject_rule(model.predict(x), y, {"t1": 0.1, "td": 0.05})
    got = rep["reject_rules"]["nips"]
    assert (got["test_reject"], got["test_error"]) == pytest.approx((expect["reject"], expect["error"]))
    assert (got["t1"], got["t2"], got["td"]) == (0.1, None, 0.05)


def test_thresholds_come_from_the_held_out_digits(run_checkpoint, data_opts, data_root):
    from lenet_numba.data import read_usps_file, stratified_holdout
    from lenet_numba.run_checkpoint import model_from_checkpoint

    config = {"arch": "lenet1", "recipe": "1989", "seed": 3, "dataset": "usps", "init_from": None, "validation": 300}
    path = run_checkpoint(config=config)
    res = assert_ok(invoke("eval", path, *data_opts, "--reject-rule", "nips", "--json"))
    rules = json.loads(res.stdout)["reject_rules"]
    model, _ = model_from_checkpoint(str(path))
    x, y = read_usps_file(data_root / "usps" / "zip.train.gz")
    _, held = stratified_holdout(y, 300, 3)
    for rule in ("gap", "nips"):
        fit = metrics.fit_reject_rule(model.predict(x[held]), y[held], rule)
        assert rules[rule]["valid_reject"] == fit["reject"] and rules[rule]["valid_error"] <= 0.01
    assert rules["nips"]["valid_reject"] <= rules["gap"]["valid_reject"]
    text = assert_ok(invoke("eval", path, *data_opts, "--reject-rule", "nips")).stdout
    assert "nips rule" in text and "gap  rule" in text and "held-out digits" in text


def test_no_held_out_digits_is_one_line(run_checkpoint, data_opts):
    assert_user_error(invoke("eval", run_checkpoint(), *data_opts, "--reject-rule", "nips"), 2,
                      "trained without --validation", "--thresholds")
    assert_user_error(invoke("eval", run_checkpoint(), *data_opts, "--thresholds", "1,x,2"), 2, "not a number")
