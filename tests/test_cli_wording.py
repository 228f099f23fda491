"""Counts the command line prints agree with their number: "1 epoch", "2 epochs"."""

import json

import pytest

from clitools import assert_ok, invoke
from lenet_numba import sweep
from lenet_numba.wording import count


@pytest.mark.parametrize("n, noun, plural, said", [
    (0, "epoch", None, "0 epochs"), (1, "epoch", None, "1 epoch"), (2, "epoch", None, "2 epochs"),
    (1, "pass", "passes", "1 pass"), (3, "pass", "passes", "3 passes"), (7291, "digit", None, "7,291 digits"),
])
def test_count(n, noun, plural, said):
    assert count(n, noun, plural) == said


def test_train_of_one_epoch_says_one_epoch(small_data):
    out = assert_ok(invoke("train", "--recipe", "1989", "--epochs", 1, "--chunk-size", 200)).stdout
    header, done = out.splitlines()[0], out.splitlines()[-1]
    assert ", 1 epoch, " in header and "epochs" not in header, header
    assert done.startswith("done: 1 epoch, train error"), done


def test_sweep_of_one_run_says_one_setting_one_seed_one_run(tmp_path):
    """A finished one-run sweep resumed (nothing runs, no data needed), with one line of
    its results file torn: every count is one."""
    spec = sweep.SweepSpec(recipe="article", epochs=1, grid={"lr": [0.01]}, seeds=(0,))
    task = spec.tasks()[0]
    out = tmp_path / "s"
    (out / "runs").mkdir(parents=True)
    line = json.dumps({"task_key": sweep.task_key(task), "seed": 0, "setting": task["setting"], "status": "ok",
                       "test_error": 0.05, "train_error": 0.02})
    (out / sweep.RESULTS).write_text(line + "\nnot a result\n")
    res = assert_ok(invoke("sweep", "--recipe", "article", "--epochs", 1, "--set", "lr=0.01", "--out-dir", out,
                           "--resume"))
    assert "lenet-numba sweep: 1 setting x 1 seed = 1 run of lenet1" in res.stdout, res.stdout
    assert "on 1 single-threaded process;" in res.stdout, res.stdout
    assert "1 line is not whole results" in res.stderr, res.stderr


def test_gradcheck_of_one_sample_says_one_sample():
    res = invoke("gradcheck", "--samples", 1, "--activation", "tanh", "--output-activation", "identity")
    assert res.exit_code in (0, 1) and ", float64, 1 sample, " in res.stdout, res.output
