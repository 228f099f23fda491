"""`lenet-numba train` as a user meets it: what it says it saves, how it says to resume,
and what a signal means once the run is finished."""

import os
import shlex
import signal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clitools import assert_ok, assert_user_error, invoke, no_crash
from lenet_numba import experiment
from lenet_numba_cli.train_cmd import train_cmd

RUN = ["--recipe", "1989", "--epochs", "2", "--seed", "1", "--chunk-size", "200"]


def test_without_out_it_says_nothing_is_saved(small_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = assert_ok(invoke("train", *RUN))
    assert "no --out given: the trained network will not be saved" in res.stderr
    assert os.listdir(tmp_path) == []
    help_text = assert_ok(invoke("train", "--help")).output
    assert "Nothing is saved unless --out" in " ".join(help_text.split())


def interrupt_at(monkeypatch, epoch, done):
    """Make the next run get SIGINT after its chunk ending at (epoch, done), as Ctrl-C would."""
    real = experiment.train

    def train(*args, on_chunk=None, **kwargs):
        def chunk(e, d, total):
            if (e, d) == (epoch, done):
                os.kill(os.getpid(), signal.SIGINT)
            if on_chunk is not None:
                on_chunk(e, d, total)
        return real(*args, on_chunk=chunk, **kwargs)

    monkeypatch.setattr(experiment, "train", train)


def test_the_resume_command_is_shell_quoted_and_complete(small_data, tmp_path, monkeypatch):
    """Reproduction: v0.1.0 printed `--resume my run.npz` unquoted, plus "(and the same
    options)" though resuming restores them."""
    monkeypatch.chdir(tmp_path)
    assert_ok(invoke("train", *RUN, "--out", "whole run.npz"))
    train = experiment.train
    interrupt_at(monkeypatch, 0, 400)
    res = invoke("train", *RUN, "--out", "my run.npz", "--metrics", "it's.jsonl")
    assert res.exit_code == 130, res.output
    line = res.stderr.strip().splitlines()[-1]
    command = line.split("Resume with: ")[1]
    assert "same options" not in line
    argv = shlex.split(command)
    assert argv[:2] == ["lenet-numba", "train"] and argv.count("my run.npz") == 2 and "it's.jsonl" in argv
    monkeypatch.setattr(experiment, "train", train)
    assert_ok(invoke(*argv[1:]))
    assert (tmp_path / "my run.npz").read_bytes() == (tmp_path / "whole run.npz").read_bytes()


def test_a_signal_during_the_final_save_of_a_finished_run_is_not_an_interruption(small_data, tmp_path,
                                                                                    monkeypatch):
    real = experiment.save_checkpoint

    def save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "save_checkpoint", save)
    res = invoke("train", *RUN, "--out", tmp_path / "m.npz")
    assert res.exit_code == 0, res.output
    assert "interrupted" not in res.stderr and "done: 2 epochs" in res.stdout
    assert (tmp_path / "m.npz").exists()


def test_an_empty_out_is_a_clear_message(tmp_path):
    assert_user_error(invoke("train", "--out", ""), 2, "--out: expected a file name, got ''")


def test_resume_restores_every_option_and_refuses_a_different_one(small_data, tmp_path):
    ckpt = tmp_path / "m.npz"
    assert_ok(invoke("train", *RUN, "--out", ckpt, "--epochs", "1"))
    assert_user_error(invoke("train", "--resume", ckpt, "--out", ckpt, "--seed", "2"), 2, "--seed 2 differs")
    assert_user_error(invoke("train", "--resume", ckpt, "--out", ckpt, "--init-from", ckpt), 2, "--init-from")
    res = assert_ok(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", "2"))
    assert "seed 1" in res.stdout and "2 epochs (resuming after 1)" in res.stdout


FUZZED_OPTIONS = sorted({p.opts[0] for p in train_cmd.params if p.opts[0].startswith("--")} - {"--epochs", "--help"})
ODD_TEXT = st.sampled_from(["", "0", "-1", "1", "0.5", "nan", "inf", "-inf", "1e309", str(2 ** 64), "x", "lenet1",
                            "tanh", "ce", "sgd", "usps", ".", "/", "/dev/null", "no/such/dir/f.npz", "a b.npz",
                            "out.npz", "m.jsonl"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(st.sampled_from(FUZZED_OPTIONS), ODD_TEXT), min_size=1, max_size=3))
def test_fuzz_option_values_run_or_one_line_and_nothing_overwritten(small_data, tmp_path, monkeypatch, pairs):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.npz").write_bytes(b"keep")
    (tmp_path / "m.jsonl").write_bytes(b"keep")
    args = ["train", "--epochs", "0"]
    for option, value in pairs:
        param = next(p for p in train_cmd.params if option in p.opts or option in p.secondary_opts)
        args += [option] if param.is_flag else [option, value]
    res = invoke(*args)
    no_crash(res)
    if res.exit_code != 0:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(("error: ", "Error: ")) or "Usage:" in res.stderr, res.stderr
        assert (tmp_path / "out.npz").read_bytes() == b"keep" and (tmp_path / "m.jsonl").read_bytes() == b"keep"
