"""Where a run writes: --out and --metrics are checked before any work, a failed run leaves
the user's files as they were, and a checkpoint holds only what decides the weights (so
the same seed and options give the same bytes, wherever the file goes and whatever the
chunk size)."""

import json
import os

import numpy as np
import pytest

from lenet_numba import experiment
from lenet_numba.checkpoint import load_checkpoint
from lenet_numba.model import Model
from lenet_numba.optim import SGD
from lenet_numba.train import train
from clitools import assert_ok, assert_user_error, invoke

SEED_1 = ["--recipe", "article", "--epochs", 1]


def test_same_options_same_checkpoint_bytes_wherever_it_goes(data_opts, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "x.npz", tmp_path / "b" / "other-name.npz"
    assert_ok(invoke("train", *SEED_1, "--out", a, "--metrics", tmp_path / "a.jsonl", *data_opts))
    assert_ok(invoke("train", *SEED_1, "--out", b, "--chunk-size", 97, *data_opts))
    assert a.read_bytes() == b.read_bytes()
    meta = load_checkpoint(a)[1]
    assert "seconds" not in meta["history"][0] and "out" not in meta["config"]
    # the metrics file keeps the timings
    assert "seconds" in json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize("where", ["missing-folder", "a-file-as-folder"])
def test_unusable_out_fails_before_training(data_opts, tmp_path, where):
    (tmp_path / "f").write_text("x")
    out = tmp_path / ("nodir" if where == "missing-folder" else "f") / "m.npz"
    res = invoke("train", *SEED_1, "--out", out, *data_opts)
    assert_user_error(res, 2, "--out", str(out))
    assert res.stdout == ""  # not one epoch was trained


def test_out_that_is_not_a_regular_file_is_refused_and_left_alone(data_opts, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_user_error(invoke("train", *SEED_1, "--out", fifo, *data_opts), 2, "not a regular file")
    assert fifo.is_fifo()


def test_out_through_a_symlink_writes_its_target(data_opts, tmp_path):
    target, link = tmp_path / "target.npz", tmp_path / "link.npz"
    link.symlink_to(target)
    assert_ok(invoke("train", *SEED_1, "--out", link, *data_opts))
    assert link.is_symlink() and target.is_file()
    assert load_checkpoint(link)[1]["epoch"] == 1


def test_unwritable_metrics_fails_before_training(data_opts, tmp_path):
    res = invoke("train", *SEED_1, "--metrics", tmp_path / "nodir" / "m.jsonl", *data_opts)
    assert_user_error(res, 2, "--metrics", "does not exist")


def test_a_diverging_run_leaves_the_metrics_file_and_checkpoint_whole(data_opts, tmp_path):
    out, metrics = tmp_path / "keep.npz", tmp_path / "keep.jsonl"
    assert_ok(invoke("train", "--recipe", "article", "--epochs", 2, "--out", out, "--metrics", metrics, *data_opts))
    before = out.read_bytes(), metrics.read_bytes()
    res = invoke("train", "--recipe", "article", "--loss", "mse", "--lr", "1e6", "--epochs", 2, "--out", out,
                 "--metrics", metrics, *data_opts)
    assert_user_error(res, 1, "diverged")
    assert (out.read_bytes(), metrics.read_bytes()) == before


def test_resume_with_fewer_epochs_than_done_is_refused(data_opts, tmp_path):
    out = tmp_path / "r.npz"
    assert_ok(invoke("train", "--recipe", "article", "--epochs", 2, "--out", out, *data_opts))
    before = out.read_bytes()
    assert_user_error(invoke("train", "--resume", out, "--out", out, "--epochs", 1, *data_opts), 2,
                      str(out), "already trained 2 epochs")
    assert out.read_bytes() == before


def test_resume_of_a_checkpoint_with_an_unusable_recipe_names_the_file(data_opts, tmp_path):
    from lenet_numba.checkpoint import save_checkpoint

    good = tmp_path / "g.npz"
    assert_ok(invoke("train", *SEED_1, "--out", good, *data_opts))
    params, meta, state = load_checkpoint(good)
    meta["recipe"]["lr"] = -1.0
    bad = tmp_path / "bad.npz"
    save_checkpoint(bad, params, meta, state)
    assert_user_error(invoke("train", "--resume", bad, *data_opts), 1, str(bad), "recipe", "lr")


def test_a_failing_disk_is_one_line_not_a_traceback(data_opts, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "m.npz"))

    monkeypatch.setattr(experiment, "save_checkpoint", full)
    assert_user_error(invoke("train", *SEED_1, "--out", tmp_path / "m.npz", *data_opts), 1,
                      "No space left on device", "m.npz")


def test_sdlm_kernels_are_compiled_before_the_timed_passes():
    """train() calls the optimizer's warm_up before it starts timing the first pass, so a
    cold JIT cache does not land in train_seconds / us_per_sample."""
    calls = []

    class Probe(SGD):
        def warm_up(self, *args):
            calls.append("warm_up")

        def step_for_epoch(self, *args):
            calls.append("step_for_epoch")
            super().step_for_epoch(*args)

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 16, 16)).astype(np.float32)
    train(Model("lenet1", seed=0), x, np.arange(8) % 10, epochs=2, optimizer=Probe(0.01))
    assert calls == ["warm_up", "step_for_epoch", "step_for_epoch"]
