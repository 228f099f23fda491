"""experiment.run: outputs checked up front, colliding paths, resuming from a checkpoint
read once, and byte-identical files however a run was stopped and resumed.

The reproductions use only the API v0.1.0 had too (TrainConfig(overrides=...), run), so
``LENET_NUMBA_TEST_SOURCE``-style runs against that release show them failing there.
"""

import builtins
import errno
import io
import os
import shutil
import subprocess

import pytest

from lenet_numba import experiment
from lenet_numba.errors import UsageError
from lenet_numba.experiment import TrainConfig, run


def config(out=None, epochs=2, recipe="1989", **kw):
    return TrainConfig.from_options(recipe=recipe, seed=1, overrides={"epochs": epochs}, out=out and str(out), chunk_size=200, **kw)


@pytest.fixture
def data_loads(small_data, monkeypatch):
    """small_data, counting how often the training data is loaded (0: refused up front)."""
    calls, load = [], experiment.load_dataset
    monkeypatch.setattr(experiment, "load_dataset", lambda *a, **k: calls.append(a) or load(*a, **k))
    return calls


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_root):
    """A finished 2-pass SDLM run (600 digits) and where it stopped inside its last pass."""
    from lenet_numba.data import read_usps_file

    d = tmp_path_factory.mktemp("finished")
    xtr, ytr = read_usps_file(data_root / "usps" / "zip.train.gz")
    xte, yte = read_usps_file(data_root / "usps" / "zip.test.gz")
    mp = pytest.MonkeyPatch()
    mp.setattr(experiment, "load_dataset", lambda *a, **k: (xtr[:600], ytr[:600], xte[:200], yte[:200]))
    try:
        run(config(d / "full.npz"))
        chunks = []
        run(config(d / "part.npz"), on_chunk=lambda e, done, total: chunks.append((e, done)),
            should_stop=lambda: chunks[-1] == (1, 400))  # inside the last pass
    finally:
        mp.undo()
    return d


def test_resuming_a_finished_run_keeps_the_file_byte_identical(finished, small_data, tmp_path):
    """Reproduction: v0.1.0 dropped the optimizer state (state/h gone, state/epoch -1)."""
    run(config(tmp_path / "again.npz", resume=str(finished / "full.npz")))
    assert (tmp_path / "again.npz").read_bytes() == (finished / "full.npz").read_bytes()


def test_resuming_a_run_stopped_in_its_last_pass_is_byte_identical(finished, small_data, tmp_path):
    run(config(tmp_path / "rest.npz", resume=str(finished / "part.npz")))
    assert (tmp_path / "rest.npz").read_bytes() == (finished / "full.npz").read_bytes()


def test_resume_reads_its_checkpoint_once_even_if_replaced_meanwhile(finished, small_data, tmp_path, monkeypatch):
    """Reproduction: v0.1.0 read it five times; a file replaced between the reads gave one
    run's metadata with another's weights. Here the second open (if any) finds another run."""
    ckpt = tmp_path / "ckpt.npz"
    shutil.copy(finished / "part.npz", ckpt)
    other = tmp_path / "other.npz"
    run(config(other, epochs=1))  # another run of the same network
    opens = []

    def counting(real):
        def wrapper(path, *a, **k):
            if isinstance(path, (str, os.PathLike)) and os.path.abspath(path) == str(ckpt):
                opens.append(path)
                if len(opens) == 2:  # another process replaces the file between two reads
                    os.replace(other, ckpt)
            return real(path, *a, **k)
        return wrapper

    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    run(config(tmp_path / "out.npz", resume=str(ckpt)))
    monkeypatch.undo()
    assert len(opens) == 1
    assert (tmp_path / "out.npz").read_bytes() == (finished / "full.npz").read_bytes()


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
def test_metrics_naming_the_resumed_checkpoint_is_refused_by_identity(finished, data_loads, tmp_path, spelling):
    """Reproduction: `--resume R.npz --out R2.npz --metrics R.npz` turned the only checkpoint
    into JSON lines after one pass."""
    ckpt = tmp_path / "R.npz"
    shutil.copy(finished / "part.npz", ckpt)
    before = ckpt.read_bytes()
    other = {"same": ckpt, "dot": tmp_path / "." / "R.npz", "symlink": tmp_path / "link.npz",
             "hardlink": tmp_path / "hard.npz"}[spelling]
    if spelling == "symlink":
        other.symlink_to(ckpt)
    if spelling == "hardlink":
        os.link(ckpt, other)
    with pytest.raises(UsageError, match="is the same file as"):
        run(config(tmp_path / "R2.npz", resume=str(ckpt), metrics=str(other)))
    assert ckpt.read_bytes() == before and not data_loads


def test_metrics_and_out_naming_one_file_are_refused(data_loads, tmp_path):
    with pytest.raises(UsageError, match="--metrics .* is the same file as --out"):
        run(config(tmp_path / "m.npz", metrics=str(tmp_path / "sub" / ".." / "m.npz")))
    assert not data_loads


def test_an_out_name_too_long_for_the_file_system_fails_before_training(data_loads, tmp_path):
    """A 256-byte --out name (one past the file system's limit) fails before training, not
    at save; a legal one of 240 or 255 is taken (its temp name is cut to fit: test_atomic)."""
    out = tmp_path / ("m" * 252 + ".npz")
    with pytest.raises(UsageError, match="too long"):
        run(config(out))
    assert not data_loads and os.listdir(tmp_path) == []  # (the name is too long even to stat)


def test_an_immutable_out_fails_before_training(data_loads, tmp_path):
    """Reproduction: an immutable target passed the up-front check and failed at save."""
    out = tmp_path / "m.npz"
    out.write_bytes(b"keep")
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", out]).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system with attributes)")
    try:
        with pytest.raises(UsageError, match="immutable"):
            run(config(out))
        assert not data_loads and out.read_bytes() == b"keep"
    finally:
        subprocess.run(["chattr", "-i", out])


def test_init_from_gives_the_same_bytes_however_its_path_is_spelled(finished, small_data, tmp_path, monkeypatch):
    shutil.copy(finished / "full.npz", tmp_path / "pre.npz")
    monkeypatch.chdir(tmp_path)
    for spelling, out in (("pre.npz", "a.npz"), ("./pre.npz", "b.npz"), (str(tmp_path / "pre.npz"), "c.npz")):
        run(config(out, epochs=1, init_from=spelling))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes() == (tmp_path / "c.npz").read_bytes()


def test_a_full_disk_names_the_file_it_could_not_write(small_data, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        run(config(tmp_path / "m.npz", epochs=1, metrics=str(tmp_path / "m.jsonl")))
    assert info.value.filename == os.path.realpath(tmp_path / "m.jsonl") and info.value.errno == errno.ENOSPC


def test_empty_out_is_a_clear_message(tmp_path):
    with pytest.raises(UsageError, match="--out: expected a file name, got ''"):
        run(config(""))


def test_a_run_with_held_out_digits_resumes_byte_identically(small_data, tmp_path):
    """Its history carries valid_* and its config the number held out: both read back."""
    run(TrainConfig.from_options(recipe="article", seed=2, epochs=2, validation=100, out=str(tmp_path / "whole.npz")))
    run(TrainConfig.from_options(recipe="article", seed=2, epochs=1, validation=100, out=str(tmp_path / "part.npz")))
    run(TrainConfig.from_options(resume=str(tmp_path / "part.npz"), epochs=2, out=str(tmp_path / "part.npz")))
    assert (tmp_path / "part.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
