"""Every command that writes refuses an output that is one of its inputs, and takes any
legal output name.

"One of its inputs" is decided by identity (atomic.check_distinct_paths, the check `train`
makes): the same name, another spelling of it, a symbolic or a hard link. The refusal is
one line, exit 2, before anything is read or written, and the input is left byte for
byte. A name of up to 255 bytes (the file system's limit) is written, its temporary file
included; one byte more is refused up front.
"""

import json
import os
import shutil

import pytest

from clitools import assert_ok, assert_user_error, invoke
from lenet_numba import sweep
from optional import require
from random_checkpoint import save_random_lenet1

pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: private parsed-data cache

SPELLINGS = ["same", "dot", "symlink", "hardlink"]


def another_name(path, spelling):
    """A name for ``path`` (a file) spelled as ``spelling``: made on disk for the links."""
    folder = path.parent
    if spelling == "same":
        return path
    if spelling == "dot":
        (folder / "sub").mkdir()
        return folder / "sub" / ".." / path.name
    other = folder / f"{spelling}-{path.stem}.out"
    (other.symlink_to if spelling == "symlink" else other.hardlink_to)(path)
    return other


@pytest.fixture
def ckpt(tmp_path):
    """A checkpoint of a seeded random LeNet-1 (no training needed to test outputs)."""
    return save_random_lenet1(tmp_path / "m.npz")


def long_name(length, ext):
    return "m" * (length - len(ext)) + ext


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_export_over_its_own_checkpoint_is_refused(ckpt, spelling):
    """Reproduction: `lenet-numba export m.npz m.npz` wrote the ONNX bytes over the
    checkpoint, exit 0: the trained network was lost."""
    require("onnx", "pip install 'lenet-numba[onnx]'")
    before = ckpt.read_bytes()
    out = another_name(ckpt, spelling)
    assert_user_error(invoke("export", ckpt, out), 2, f"OUT {out} is the same file as CHECKPOINT {ckpt}")
    assert ckpt.read_bytes() == before


@pytest.mark.parametrize("length", [240, 255])
def test_export_takes_a_name_as_long_as_the_file_system_allows(ckpt, length):
    """Reproduction: a legal 240- or 255-character name was refused, the temporary name
    beside it being longer than 255."""
    require("onnx", "pip install 'lenet-numba[onnx]'")
    out = ckpt.parent / long_name(length, ".onnx")
    assert_ok(invoke("export", ckpt, out))
    assert sorted(os.listdir(ckpt.parent)) == sorted([ckpt.name, out.name]) and out.stat().st_size > 1000


def test_export_refuses_a_name_one_byte_too_long(ckpt):
    require("onnx", "pip install 'lenet-numba[onnx]'")
    out = ckpt.parent / long_name(256, ".onnx")
    assert_user_error(invoke("export", ckpt, out), 2, "too long for the file system (256 bytes, at most 255)")
    assert os.listdir(ckpt.parent) == [ckpt.name]


def test_train_takes_a_255_character_out_name(tmp_path, data_opts):
    out = tmp_path / long_name(255, ".npz")
    assert_ok(invoke("train", "--epochs", 0, "--recipe", "article", "--out", out, *data_opts))
    assert os.listdir(tmp_path) == [out.name]


# --------------------------------------------------------------------------- plot


def metrics_file(path):
    rows = [{"epoch": e, "train_error": 0.1 / e, "test_error": 0.2 / e, "train_loss": 1.0 / e, "test_loss": 1.5 / e}
            for e in (1, 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("how", ["prefix", "symlink", "hardlink"])
def test_plot_metrics_over_its_metrics_file_is_refused(tmp_path, how):
    """The figure's name (PREFIX-metrics.png in --out-dir) naming the metrics file itself,
    or a link to it, would turn the training record into a picture."""
    require("matplotlib", "pip install 'lenet-numba[plot]'")
    if how == "prefix":
        source = metrics_file(tmp_path / "r-metrics.png")
        args = ["--prefix", "r-"]
    else:
        source = metrics_file(tmp_path / "r.jsonl")
        link = tmp_path / "r-metrics.png"
        (link.symlink_to if how == "symlink" else link.hardlink_to)(source)
        args = []
    before = source.read_bytes()
    assert_user_error(invoke("plot", "metrics", source, "--out-dir", tmp_path, *args), 2,
                      "r-metrics.png is the same file as METRICS_FILE", "--prefix")
    assert source.read_bytes() == before


def test_plot_checkpoint_over_its_checkpoint_is_refused_before_any_figure(ckpt, data_opts):
    require("matplotlib", "pip install 'lenet-numba[plot]'")
    before = ckpt.read_bytes()
    (ckpt.parent / "m-confusion.png").symlink_to(ckpt)
    assert_user_error(invoke("plot", "checkpoint", ckpt, "--out-dir", ckpt.parent, *data_opts), 2,
                      "m-confusion.png is the same file as CHECKPOINT")
    assert ckpt.read_bytes() == before
    assert sorted(os.listdir(ckpt.parent)) == ["m-confusion.png", "m.npz"]   # not one figure written


# --------------------------------------------------------------------------- sweep


def finished_sweep(out):
    """``out`` holding a result for each of the 2 tasks of a small sweep (no run needed)."""
    spec = sweep.SweepSpec(recipe="article", epochs=1, grid={"lr": [0.01, 0.02]}, seeds=(0,))
    (out / "runs").mkdir(parents=True)
    lines = [json.dumps({"task_key": sweep.task_key(t), "seed": 0, "setting": t["setting"], "name": t["name"],
                         "status": "ok", "test_error": 0.05, "train_error": 0.02,
                         "metrics": f"runs/{t['name']}.jsonl"}) for t in spec.tasks()]
    (out / sweep.RESULTS).write_text("".join(line + "\n" for line in lines))
    return ["sweep", "--recipe", "article", "--epochs", 1, "--set", "lr=0.01,0.02", "--out-dir", out, "--resume"]


@pytest.mark.parametrize("written, link", [("sweep.json", "symlink"), ("sweep.md", "hardlink"),
                                           ("runs/x.jsonl", "symlink")])
def test_sweep_refuses_a_file_it_writes_that_is_its_results_file(tmp_path, written, link):
    """The summary (or a run's epochs) written through a link to results.jsonl, which
    --resume reads, would replace every finished run's record."""
    out = tmp_path / "s"
    args = finished_sweep(out)
    results = out / sweep.RESULTS
    before = results.read_bytes()
    target = out / written
    (target.symlink_to if link == "symlink" else target.hardlink_to)(results)
    assert_user_error(invoke(*args), 2, f"{written} ", "is the same file as results.jsonl", "remove the link")
    assert results.read_bytes() == before


def test_sweep_resume_with_its_own_files_still_runs(tmp_path):
    """The check sees links only: a finished sweep resumed runs nothing and writes its summary."""
    out = tmp_path / "s"
    summary = json.loads(assert_ok(invoke(*finished_sweep(out), "--json")).stdout)
    assert summary["complete"] and json.load(open(out / "sweep.json"))["finished"] == 2


# --------------------------------------------------------------------------- data fetch


def test_data_fetch_refuses_two_data_files_that_are_one(data_root, tmp_path, monkeypatch):
    """zip.test.gz a link to zip.train.gz: its checksum fails, and the download meant to
    replace it would have written the test digits over the training file."""
    from lenet_numba.data import info

    usps = tmp_path / "usps"
    usps.mkdir()
    shutil.copy(data_root / "usps" / "zip.train.gz", usps / "zip.train.gz")   # a copy: the real file stays safe
    (usps / "zip.test.gz").symlink_to(usps / "zip.train.gz")
    before = (usps / "zip.train.gz").read_bytes()
    downloads = []

    def download_file(dataset, name, dest, progress=None):  # as if online: the right bytes, written atomically
        from lenet_numba.atomic import atomic_open

        downloads.append(name)
        with atomic_open(dest) as f:
            f.write((data_root / dataset / name).read_bytes())
        return dest

    monkeypatch.setattr(info, "download_file", download_file)
    assert_user_error(invoke("data", "fetch", "--data-dir", tmp_path), 2,
                      "zip.test.gz", "zip.train.gz", "is the same file as", "remove the link")
    assert (usps / "zip.train.gz").read_bytes() == before and downloads == []


# --------------------------------------------------------------------------- hostile output names


@pytest.mark.parametrize("command", [["export", "CKPT"], ["train", "--epochs", 0, "--out"]])
def test_an_output_name_ending_with_a_slash_is_refused(ckpt, command):
    """Reproduction: `export m.npz x.onnx/` wrote a file named x.onnx, exit 0."""
    if command[0] == "export":
        require("onnx", "pip install 'lenet-numba[onnx]'")
    args = [ckpt if a == "CKPT" else a for a in command]
    assert_user_error(invoke(*args, f"{ckpt.parent}/x.out/"), 2, "ends with a slash")
    assert os.listdir(ckpt.parent) == [ckpt.name]


def test_a_newline_in_a_file_name_is_shown_escaped_on_the_one_error_line(ckpt):
    """Reproduction: a missing folder named with a newline gave a two-line error."""
    require("onnx", "pip install 'lenet-numba[onnx]'")
    line = assert_user_error(invoke("export", ckpt, ckpt.parent / "new\nline" / "x.onnx"), 2, "does not exist")
    assert "new\\nline" in line


def test_a_figure_name_too_long_is_refused_before_drawing(tmp_path):
    """Reproduction: a 250-character --prefix drew the figure, then failed to save it,
    naming the temporary file."""
    require("matplotlib", "pip install 'lenet-numba[plot]'")
    source = metrics_file(tmp_path / "r.jsonl")
    for out_dir in (tmp_path, tmp_path / "new"):
        assert_user_error(invoke("plot", "metrics", source, "--out-dir", out_dir, "--prefix", "p" * 250), 2,
                          "pmetrics.png: ", "too long for the file system (261 bytes, at most 255)")
    assert os.listdir(tmp_path) == ["r.jsonl"]


@pytest.mark.parametrize("source", ["fifo", "/dev/zero"])
def test_plot_metrics_refuses_a_pipe_or_device_without_reading_it(tmp_path, source):
    """Reproduction: a FIFO blocked the command forever and /dev/zero was read until memory
    ran out. Run in a child process bounded in time and memory."""
    require("matplotlib", "pip install 'lenet-numba[plot]'")
    from clitools import assert_one_line_error, run_cli

    if source == "fifo":
        source = tmp_path / "fifo"
        os.mkfifo(source)
    proc = run_cli("plot", "metrics", source, "--out-dir", tmp_path, timeout=60)
    assert_one_line_error(proc, f"{source}: is not a regular file", code=1)


@pytest.mark.parametrize("option", ["--out", "--metrics"])
def test_train_refuses_to_write_over_a_data_file(tmp_path, data_root, option):
    root = tmp_path / "data"
    shutil.copytree(data_root / "usps", root / "usps")
    target = root / "usps" / "zip.test.gz"
    before = target.read_bytes()
    res = invoke("train", "--data-dir", str(root), "--epochs", "1", option, str(target))
    assert_user_error(res, 2, f"same file as the data file {target}")
    assert target.read_bytes() == before


def test_a_run_that_reads_no_test_set_saves_its_checkpoint(tmp_path, data_root):
    """train --no-test --out: the history's test figures are NaN, which a checkpoint's JSON
    refuses; they are left out and the run resumes from the file."""
    out = tmp_path / "m.npz"
    common = ["--data-dir", str(data_root), "--no-download", "--recipe", "article", "--no-test",
              "--validation", "500", "--out", str(out)]
    assert_ok(invoke("train", "--epochs", "1", *common))
    assert_ok(invoke("train", "--resume", str(out), "--epochs", "2", "--data-dir", str(data_root),
                     "--no-download", "--no-test", "--out", str(out)))
