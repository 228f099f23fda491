"""The sweep's grid (lenet_numba.sweep.grid): --set and --seeds parsing, and every
setting checked as `train` checks it before anything runs."""

import time

import pytest

from clitools import assert_user_error, invoke
from lenet_numba import sweep
from lenet_numba.errors import UsageError


def test_parsing_of_grid_and_seeds():
    assert sweep.parse_assignment("lr=0.01, 3e-2") == ("lr", [0.01, 0.03])
    assert sweep.parse_assignment("shuffle=true,no") == ("shuffle", [True, False])
    assert sweep.parse_assignment("epochs=1,2") == ("epochs", [1, 2])
    assert sweep.parse_assignment("activation=tanh,scaled-tanh") == ("activation", ["tanh", "scaled-tanh"])
    assert sweep.parse_seeds(["0", "2-4", "7,9"]) == (0, 2, 3, 4, 7, 9)
    assert sweep.run_name({"activation": "scaled-tanh", "lr": 0.5}, 3) == "activation=scaled-tanh_lr=0.5_seed=3"
    for bad in ("lr", "lr=", "=1", "lr=nan", "lr=1,1", "epochs=1.5", "shuffle=maybe", "name=x", "nope=1"):
        with pytest.raises(UsageError):
            sweep.parse_assignment(bad)
    for bad in (["x"], ["-1"], ["3-1"], ["1", "1"]):
        with pytest.raises(UsageError):
            sweep.parse_seeds(bad)
    spec = sweep.SweepSpec(grid={"lr": [1, 2], "mu": [3, 4, 5]}, seeds=(0,))
    assert spec.settings()[:2] == [{"lr": 1, "mu": 3}, {"lr": 1, "mu": 4}] and len(spec.tasks()) == 6


@pytest.mark.parametrize("args, code, words", [
    (["--set", "foo=1"], 2, ["--set foo", "not a recipe field"]),
    (["--set", "lr=0.1,0.1"], 2, ["listed twice"]),
    (["--set", "lr=-1"], 2, ["setting lr=-1.0", "lr must be a number in (0"]),
    (["--set", "activation=relu"], 2, ["unknown activation"]),
    (["--set", "epochs=1", "--epochs", "2"], 2, ["epochs is both"]),
    (["--seeds", "0", "x"], 2, ["--seeds x"]),
    (["3", "4"], 2, ["seed numbers go after --seeds"]),
    (["--dask-scheduler", "tcp://x:1", "--jobs", "2"], 2, ["--jobs is for local processes"]),
    # every setting's recipe is checked as `train` checks it (Recipe.validate) before any run
    (["--set", "max_shift=-1"], 2, ["setting max_shift=-1.0: max_shift must be a number in [0"]),
    (["--set", "max_shift=9"], 2, ["setting max_shift=9.0: max_shift must be a number in [0, 8]"]),
    (["--set", "elastic_sigma=-1"], 2, ["setting elastic_sigma=-1.0: elastic_sigma must be a number in [0"]),
    (["--recipe", "modern", "--set", "augment_epochs=-5"], 2,
     ["setting augment_epochs=-5: augment_epochs must be an integer in [0,"]),
    # settings that would do nothing
    (["--set", "augment_epochs=3"], 2, ["setting augment_epochs=3: augment_epochs has no effect without augment"]),
    (["--recipe", "article", "--set", "mu=0.1,0.2"], 2, ["setting mu=0.1: mu has no effect with optimizer sgd"]),
    (["--set", "max_shift=2"], 2, ["setting max_shift=2.0: max_shift has no effect without augment"]),
    (["--set", "epochs=-1"], 2, ["setting epochs=-1: epochs must be an integer in [0,"]),
    (["--recipe", "article", "--set", "elastic_alpha=4"], 2, ["setting elastic_alpha=4.0: ", "elastic_sigma"]),
    (["--recipe", "article", "--set", "augment=true"], 2, ["setting augment=true: augmentation is on"]),
    (["--recipe", "article", "--set", "label_smoothing=0.1", "--set", "loss=ce,mse"], 2,
     ["setting label_smoothing=0.1 loss=mse: label_smoothing needs the cross-entropy loss"]),
    (["--set", "lr=0.01,-1,0.02"], 2, ["setting lr=-1.0: lr must be"]),            # the first bad one
    (["--set", "weight_decay=2"], 2, ["setting weight_decay=2.0: weight_decay must be a number in [0, 1]"]),
    (["--dask-scheduler", "notanaddress"], 2, ["--dask-scheduler notanaddress: not a scheduler address"]),
])
def test_sweep_user_errors(tmp_path, args, code, words):
    assert_user_error(invoke("sweep", "--out-dir", tmp_path / "o", *args), code, *words)
    assert not (tmp_path / "o").exists()


def test_sweep_out_dir_paths_are_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "holds-dirs" / "results.jsonl").mkdir(parents=True)
    (tmp_path / "runs-file").mkdir()
    (tmp_path / "runs-file" / "runs").write_text("")
    for out_dir, words in [
        (tmp_path / "file" / "x", ["cannot create it", "file is not a folder"]),
        (tmp_path / "missing" / "x", ["cannot create it", "missing does not exist"]),
        (tmp_path / "file", ["exists and is not a folder"]),
        (tmp_path / "dangling", ["broken symbolic link"]),
        (tmp_path / "holds-dirs", ["results.jsonl exists and is not a regular file"]),
        (tmp_path / "runs-file", ["runs exists and is not a folder"]),
    ]:
        res = invoke("sweep", "--recipe", "article", "--epochs", 1, "--out-dir", out_dir)
        assert "Traceback" not in res.output
        assert_user_error(res, 2, f"--out-dir {out_dir}", *words)
    assert (tmp_path / "file").read_text() == "keep"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "nowhere").exists()
    assert [p.name for p in (tmp_path / "holds-dirs").iterdir()] == ["results.jsonl"]
    with pytest.raises(UsageError, match="cannot create it"):
        sweep.check_out_dir(str(tmp_path / "file" / "x"))


def test_many_seeds_are_checked_in_linear_time(tmp_path):
    t0 = time.perf_counter()
    assert len(sweep.parse_seeds(["0-50000"])) == 50001
    with pytest.raises(UsageError, match="seed 50000 is listed twice"):
        sweep.parse_seeds(["0-50000", "50000"])
    assert time.perf_counter() - t0 < 1.0
    # the whole command up to the first write: parse, check every setting, build the tasks
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / sweep.RESULTS).write_text("{}\n")
    t0 = time.perf_counter()
    assert_user_error(invoke("sweep", "--out-dir", tmp_path / "o", "--recipe", "article", "--seeds", "0-50000"), 2,
                      "already holds")
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize("seeds", ["0-99999999999999", "0-600000,600001-1200000", "1" * 40])
def test_a_huge_seed_list_is_refused_before_it_is_built(tmp_path, seeds):
    t0 = time.perf_counter()
    res = invoke("sweep", "--out-dir", tmp_path / "o", "--seeds", seeds)
    assert_user_error(res, 2, "--seeds")
    assert time.perf_counter() - t0 < 5.0


def test_a_grid_is_checked_with_every_option_its_runs_get():
    """A run's options beyond the grid (its chunk size) are checked up front too, by the very
    config each worker builds, not after every worker has started and failed."""
    with pytest.raises(UsageError, match="chunk_size must be an integer"):
        sweep.SweepSpec(chunk_size=3_000_000_000).validate()
