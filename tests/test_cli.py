"""The ``lenet-numba`` command line: every command, every user error, exit codes and messages.

All commands run in-process through click's CliRunner. Training uses the real USPS files
(``load_usps`` verifies their sha256, so a small fake data root is refused) with the fast
``seed`` recipe and one or two epochs. Policy under test (cli/lenet_numba_cli/main.py):
a user error prints exactly one line ``error: ...`` on stderr and exits 1 (2 for a bad
option value); click's own usage errors exit 2; nothing the user can do prints a traceback.
"""

import json
import math
import os
import re
import shutil

import numpy as np
import pytest

from lenet_numba import __version__
from lenet_numba.checkpoint import load_checkpoint, save_checkpoint
from lenet_numba.data import read_usps_file
from lenet_numba.experiment import model_from_checkpoint
from clitools import assert_ok, assert_user_error, invoke, no_crash

EPOCH_LINE = re.compile(r"^\s*(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+%\s+[\d.]+%\s+[\d.]+\s+\d+\s*$")
SUMMARY_KEYS = {"params", "epochs", "train_error", "test_error", "train_loss", "test_loss",
                "train_seconds", "us_per_sample", "checkpoint"}

pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: private parsed-data cache


def assert_usage_error(res, *fragments):
    """click's own usage error: exit 2, 'Error: ...' naming the option."""
    no_crash(res)
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Error:" in res.stderr
    for f in fragments:
        assert f in res.stderr, (f, res.stderr)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_opts):
    """One real ``train --json`` run (1 epoch, article recipe), shared by the read-only tests."""
    d = tmp_path_factory.mktemp("trained")
    out, metrics = d / "m.npz", d / "m.jsonl"
    res = assert_ok(invoke("train", "--epochs", 1, "--recipe", "article", "--out", out, "--metrics", metrics,
                           "--json", *data_opts))
    return {"res": res, "out": out, "metrics": metrics, "dir": d}


@pytest.fixture(scope="module")
def test_set(data_root):
    return read_usps_file(data_root / "usps" / "zip.test.gz")


# --------------------------------------------------------------------------- version, help


def test_version():
    res = assert_ok(invoke("--version"))
    assert res.stdout.strip() == f"lenet-numba, version {__version__}"


def test_every_recipe_field_has_its_own_train_option():
    """Every field of a recipe can be overridden by its own option (and so a sweep
    or a resume check sees it under the same name)."""
    import dataclasses

    from lenet_numba.recipes import Recipe
    from lenet_numba_cli.train_cmd import train_cmd

    options = {p.name for p in train_cmd.params}
    fields = {f.name for f in dataclasses.fields(Recipe)} - {"name", "description"}
    assert fields - options == set()


@pytest.mark.parametrize("command, words", [
    ([], ["train", "eval", "predict", "gradcheck", "data"]),
    (["train"], ["--arch", "--recipe", "--epochs", "--lr", "--out", "--metrics", "--resume",
                 "--checkpoint-every", "--chunk-size", "--data-dir", "--no-download", "--json"]),
    (["eval"], ["CHECKPOINT", "--dataset", "--json", "reject"]),
    (["predict"], ["CHECKPOINT", "INPUTS", "--json", ".npy"]),
    (["gradcheck"], ["--arch", "--tolerance", "--samples"]),
    (["data"], ["info", "fetch"]),
    (["data", "info"], ["--data-dir", "--json"]),
    (["data", "fetch"], ["--data-dir", "sha256"]),
])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command(command, words, flag):
    res = assert_ok(invoke(*command, flag))
    assert res.stdout.startswith("Usage: lenet-numba " + " ".join(command)), res.stdout[:80]
    for w in words:
        assert w in res.stdout, w


def test_unknown_command_is_a_usage_error():
    assert_usage_error(invoke("frobnicate"), "frobnicate")


# --------------------------------------------------------------------------- train


def test_train_json_summary_metrics_and_checkpoint(trained):
    res = trained["res"]
    summary = json.loads(res.stdout)  # stdout is exactly one JSON object; the log went to stderr
    assert SUMMARY_KEYS <= set(summary)
    assert summary["params"] == 3128 and summary["epochs"] == 1
    assert summary["checkpoint"] == os.path.abspath(trained["out"])
    for k in ("train_error", "test_error"):
        assert 0.0 <= summary[k] < 0.3, (k, summary[k])  # one pass of LeNet-1 already learns a lot
    assert summary["train_seconds"] > 0 and summary["us_per_sample"] > 0
    assert "epoch" in res.stderr  # the per-epoch table still goes somewhere: stderr

    records = [json.loads(line) for line in trained["metrics"].read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    for k in ("train_error", "test_error", "train_loss", "test_loss"):
        assert records[0][k] == summary[k]

    params, meta, _ = load_checkpoint(trained["out"])
    assert meta["arch"] == "lenet1" and meta["epoch"] == 1 and meta["position"] == 0
    assert sum(v.size for v in params.values()) == 3128


def test_train_human_output_has_one_line_per_epoch(tmp_path, data_opts):
    res = assert_ok(invoke("train", "--epochs", 2, "--recipe", "article", "--out", tmp_path / "m.npz", *data_opts))
    epochs = [int(m.group(1)) for m in map(EPOCH_LINE.match, res.stdout.splitlines()) if m]
    assert epochs == [1, 2], res.stdout
    assert res.stdout.splitlines()[-1].startswith("done: 2 epochs")
    assert str(tmp_path / "m.npz") in res.stdout.splitlines()[-1]
    assert res.stderr == ""


def test_train_zero_epochs_reports_the_initial_network(tmp_path, data_opts):
    res = assert_ok(invoke("train", "--epochs", 0, "--recipe", "article", "--json", "--out", tmp_path / "m0.npz",
                           *data_opts))
    summary = json.loads(res.stdout)
    assert summary["epochs"] == 0 and 0.5 < summary["test_error"] <= 1.0
    assert load_checkpoint(tmp_path / "m0.npz")[1]["epoch"] == 0


# --------------------------------------------------------------------------- eval


def naive_reject(scores, labels, fraction):
    """Reject ceil(fraction * N) least confident (smallest top-2 gap, ties by index); error on the rest."""
    n = len(labels)
    gaps = [sorted(s)[-1] - sorted(s)[-2] for s in scores]
    order = sorted(range(n), key=lambda i: (gaps[i], i))
    k = math.ceil(round(fraction * n, 9))
    kept = order[k:]
    wrong = sum(int(np.argmax(scores[i])) != labels[i] for i in kept)
    return k / n, wrong / len(kept)


def naive_reject_for(scores, labels, target):
    n = len(labels)
    gaps = [sorted(s)[-1] - sorted(s)[-2] for s in scores]
    order = sorted(range(n), key=lambda i: (gaps[i], i))
    wrong = [int(np.argmax(scores[i])) != labels[i] for i in order]
    left = sum(wrong)
    for k in range(n):
        if left / (n - k) <= target:
            return k / n
        left -= wrong[k]
    return 1.0


def test_eval_json_against_a_naive_recomputation_from_predict(trained, test_set, tmp_path, data_opts):
    res = assert_ok(invoke("eval", trained["out"], "--json", *data_opts))
    rep = json.loads(res.stdout)
    assert {"test_error", "test_loss", "confusion", "reject_curve", "reject_for_1pct_error"} <= set(rep)

    x, y = test_set
    np.save(tmp_path / "test.npy", x)
    pred = json.loads(assert_ok(invoke("predict", trained["out"], tmp_path / "test.npy", "--json")).stdout)
    assert [p["index"] for p in pred] == list(range(2007))
    scores = np.array([p["scores"] for p in pred])
    labels = [int(v) for v in y]
    digits = [p["digit"] for p in pred]
    assert digits == [int(np.argmax(s)) for s in scores]

    wrong = sum(d != t for d, t in zip(digits, labels))
    assert rep["test_error"] == pytest.approx(wrong / 2007, abs=1e-12)
    assert rep["misses"] == wrong
    # the line the public ports of the 1989 paper print, so runs can be diffed across them
    human = assert_ok(invoke("eval", trained["out"], *data_opts)).stdout
    assert f"eval: split test . loss {rep['test_loss']:.3e}. error {100 * wrong / 2007:.2f}%. misses: {wrong}\n" in human
    conf = np.array(rep["confusion"])
    assert conf.shape == (10, 10) and conf.sum() == 2007
    naive_conf = np.zeros((10, 10), int)
    for d, t in zip(digits, labels):
        naive_conf[t, d] += 1
    assert (conf == naive_conf).all()

    assert [r for r, _ in rep["reject_curve"]] == pytest.approx([0.0, 101 / 2007, 181 / 2007, 241 / 2007])
    for (r, e), want in zip(rep["reject_curve"], (0.0, 0.05, 0.09, 0.12)):
        nr, ne = naive_reject(scores, labels, want)
        assert r == pytest.approx(nr, abs=1e-12) and e == pytest.approx(ne, abs=1e-12), (want, r, e, nr, ne)
    assert rep["reject_curve"][0][1] == pytest.approx(rep["test_error"])
    assert rep["reject_for_1pct_error"] == pytest.approx(naive_reject_for(scores, labels, 0.01), abs=1e-12)


def test_eval_human_output(trained, data_opts):
    res = assert_ok(invoke("eval", trained["out"], *data_opts))
    out = res.stdout
    assert "2007 test digits" in out and "confusion" in out and "reject needed for 1% error" in out
    assert len(re.findall(r"reject\s+[\d.]+%\s+->\s+error", out)) == 4


# --------------------------------------------------------------------------- predict


def test_predict_npy_single_and_batch(trained, test_set, tmp_path):
    x, _ = test_set
    np.save(tmp_path / "one.npy", x[5])
    np.save(tmp_path / "many.npy", x[:7].astype(np.float64))
    model, _ = model_from_checkpoint(trained["out"])
    want = model.predict(x[:7])

    many = json.loads(assert_ok(invoke("predict", trained["out"], tmp_path / "many.npy", "--json")).stdout)
    assert len(many) == 7 and [r["index"] for r in many] == list(range(7))
    for r, w in zip(many, want):
        assert r["input"] == str(tmp_path / "many.npy")
        assert np.array(r["scores"], np.float32).tobytes() == w.tobytes()
        assert r["digit"] == int(np.argmax(w))

    one = json.loads(assert_ok(invoke("predict", trained["out"], tmp_path / "one.npy", "--json")).stdout)
    assert len(one) == 1 and one[0]["index"] == 0 and one[0]["scores"] == many[5]["scores"]

    human = assert_ok(invoke("predict", trained["out"], tmp_path / "one.npy", tmp_path / "many.npy")).stdout
    lines = human.strip().splitlines()
    assert len(lines) == 8
    assert lines[0].startswith(f"{tmp_path / 'one.npy'}[0]: {one[0]['digit']}   scores ")
    assert lines[-1].startswith(f"{tmp_path / 'many.npy'}[6]: {many[6]['digit']}")


def digit_picture(invert):
    """A blurred grey-level '7' on a 60x44 canvas: dark on light, or the exact inverse."""
    Image = pytest.importorskip("PIL.Image")
    from PIL import ImageDraw, ImageFilter, ImageOps

    im = Image.new("L", (44, 60), 255)
    draw = ImageDraw.Draw(im)
    draw.line([(8, 10), (36, 10), (18, 52)], fill=0, width=5)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    return ImageOps.invert(im) if invert else im


def test_predict_png_dark_on_light_and_inverse_give_the_same_input(trained, tmp_path):
    from lenet_numba.images import preprocess, read_image

    paths = []
    for invert in (False, True):
        p = tmp_path / f"seven-{int(invert)}.png"
        digit_picture(invert).save(p)
        paths.append(p)
    a, b = (preprocess(read_image(p)) for p in paths)
    assert a.shape == (16, 16) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-5)
    assert a[0, 0] == -1.0 and a.min() == -1.0 and 0.5 < a.max() <= 1.0  # background -1, ink towards +1

    res = json.loads(assert_ok(invoke("predict", trained["out"], *paths, "--json")).stdout)
    assert len(res) == 2 and res[0]["digit"] == res[1]["digit"]
    assert np.allclose(res[0]["scores"], res[1]["scores"], atol=1e-4)
    model, _ = model_from_checkpoint(trained["out"])
    assert np.allclose(res[0]["scores"], model.predict(a)[0], atol=1e-6)


def test_predict_unreadable_image(trained, tmp_path):
    pytest.importorskip("PIL")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    assert_user_error(invoke("predict", trained["out"], bad), 1, str(bad), "not a readable image")
    assert_user_error(invoke("predict", trained["out"], tmp_path / "nope.png"), 1, "nope.png", "no such file")


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("arch", ["lenet1", "zipcode1989"])
def test_gradcheck_passes_with_one_line_per_block(arch):
    res = assert_ok(invoke("gradcheck", "--arch", arch))
    lines = res.stdout.strip().splitlines()
    blocks = [line for line in lines if re.match(r"^\s+\S+\s+max rel error \S+\s+ok$", line)]
    assert len(blocks) == len(lines) - 2 and len(blocks) >= 8, res.stdout
    assert any(b.split()[0].endswith(".weight") for b in blocks) and any(".bias" in b for b in blocks)
    assert lines[-1].startswith("PASS: max ")


def test_gradcheck_json_and_failure_exit_code():
    rep = json.loads(assert_ok(invoke("gradcheck", "--json", "--samples", 1)).stdout)
    assert rep["passed"] is True and set(rep["blocks"]) >= {"conv1.weight", "conv1.bias"}
    assert max(rep["blocks"].values()) == rep["max_rel_error"] <= 1e-6
    res = invoke("gradcheck", "--samples", 1, "--tolerance", 1e-300)
    no_crash(res)
    assert res.exit_code == 1 and res.stdout.strip().splitlines()[-1].startswith("FAIL: max")


# --------------------------------------------------------------------------- data


def test_data_info_json_lists_roots_in_order_and_finds_files(data_root, tmp_path, monkeypatch):
    env_root = tmp_path / "env-root"
    monkeypatch.setenv("LENET_NUMBA_DATA", str(env_root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    rep = json.loads(assert_ok(invoke("data", "info", "--json", "--data-dir", data_root)).stdout)
    assert [(s["from"], s["path"]) for s in rep["searched"]] == [
        ("--data-dir", str(data_root)), ("LENET_NUMBA_DATA", str(env_root)),
        ("cache", str(tmp_path / "xdg" / "lenet-numba"))]
    files = {(f["dataset"], f["name"]): f for f in rep["files"]}
    for name in ("zip.train.gz", "zip.test.gz"):
        f = files[("usps", name)]
        assert f["ok"] is True and f["used"] == str(data_root / "usps" / name)
    assert all(f["ok"] for f in rep["files"] if f["dataset"] == "mnist")

    human = assert_ok(invoke("data", "info", "--data-dir", data_root)).stdout
    assert human.startswith("searched, in order:")
    assert "usps/zip.train.gz: ok" in human and "usps/zip.test.gz: ok" in human


def test_data_fetch_with_files_present_needs_no_network(data_root):
    res = assert_ok(invoke("data", "fetch", "--data-dir", data_root))
    assert res.stdout.splitlines() == [f"zip.train.gz: {data_root / 'usps' / 'zip.train.gz'}",
                                       f"zip.test.gz: {data_root / 'usps' / 'zip.test.gz'}"]


# --------------------------------------------------------------------------- errors: checkpoints


def test_missing_checkpoint(tmp_path, data_opts):
    missing = tmp_path / "missing.npz"
    for args in (["eval", missing, *data_opts], ["predict", missing, missing],
                 ["train", "--init-from", missing, "--epochs", 1, *data_opts],
                 ["train", "--resume", missing, *data_opts]):
        assert_user_error(invoke(*args), 1, str(missing), "no such checkpoint file")


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[: len(b) // 2], "corrupt or truncated"),
    (lambda b: b[:100], "corrupt or truncated"),
    (lambda b: b"", "empty"),
    (lambda b: os.urandom(3000), "not a checkpoint"),
    (lambda b: b"PK\x03\x04" + os.urandom(3000), "corrupt"),
    (lambda b: b[:2000] + bytes([b[2000] ^ 0x10]) + b[2001:], "corrupt"),
])
def test_corrupt_checkpoint(trained, tmp_path, data_opts, damage, words):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(damage(file_bytes(trained["out"])))
    np.save(tmp_path / "x.npy", np.zeros((16, 16), np.float32))
    for args in (["eval", bad, *data_opts], ["predict", bad, tmp_path / "x.npy"],
                 ["train", "--init-from", bad, "--epochs", 1, *data_opts], ["train", "--resume", bad, *data_opts]):
        assert_user_error(invoke(*args), 1, str(bad), words)


def test_checkpoint_for_the_other_architecture_with_init_from(trained, tmp_path, data_opts):
    out = tmp_path / "z.npz"
    line = assert_user_error(invoke("train", "--arch", "zipcode1989", "--init-from", trained["out"],
                                    "--epochs", 1, "--out", out, *data_opts),
                             1, str(trained["out"]), "'lenet1'", "'zipcode1989'")
    assert not out.exists(), line


def test_checkpoint_for_the_other_architecture_exits_1_like_other_checkpoint_errors(trained, data_opts):
    res = invoke("train", "--arch", "zipcode1989", "--init-from", trained["out"], "--epochs", 1, *data_opts)
    assert res.exit_code == 1
    assert res.stdout == "", "the run's header is printed only once every input has been checked"


def test_resume_of_a_checkpoint_that_is_not_a_training_run(tmp_path, data_opts):
    foreign = tmp_path / "foreign.npz"
    save_checkpoint(foreign, {"w": np.zeros(3, np.float32)}, {"arch": "lenet1"})
    assert_user_error(invoke("train", "--resume", foreign, *data_opts), 1, str(foreign), "does not describe a known network")
    assert_user_error(invoke("eval", foreign, *data_opts), 1, str(foreign))


# --------------------------------------------------------------------------- errors: .npy inputs


class _Marker:
    """Unpickling this creates a file: proof that a pickle was (wrongly) loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name, make, words", [
    ("shape", lambda: np.zeros((3, 15, 16), np.float32), "expected shape (16, 16) or (N, 16, 16), got (3, 15, 16)"),
    ("ndim4", lambda: np.zeros((1, 2, 16, 16), np.float32), "expected shape"),
    ("flat", lambda: np.zeros(256, np.float32), "expected shape"),
    ("nan", lambda: np.where(np.eye(16) > 0, np.nan, 0.0), "NaN or infinite"),
    ("inf", lambda: np.full((2, 16, 16), -np.inf), "NaN or infinite"),
    ("range", lambda: np.full((16, 16), 2.0), "values must be in [-1, 1]"),
    ("range255", lambda: np.full((16, 16), 255, np.uint8), "values must be in [-1, 1]"),
    ("strings", lambda: np.full((16, 16), "a"), "expected numbers"),
    ("bools", lambda: np.zeros((16, 16), bool), "expected numbers"),
])
def test_bad_npy_inputs(trained, tmp_path, name, make, words):
    path = tmp_path / f"{name}.npy"
    np.save(path, make())
    assert_user_error(invoke("predict", trained["out"], path), 1, str(path), words)


def test_pickled_object_array_is_refused_and_never_unpickled(trained, tmp_path):
    marker = tmp_path / "unpickled"
    obj = np.empty((16, 16), dtype=object)
    obj[0, 0] = _Marker(str(marker))
    path = tmp_path / "obj.npy"
    np.save(path, obj, allow_pickle=True)
    np.load(path, allow_pickle=True)  # sanity: loaded with pickles allowed, it does run code
    assert marker.exists()
    marker.unlink()
    assert_user_error(invoke("predict", trained["out"], path), 1, str(path), "expected numbers", "object")
    assert not marker.exists()


def test_missing_and_garbage_npy(trained, tmp_path):
    assert_user_error(invoke("predict", trained["out"], tmp_path / "no.npy"), 1, "no.npy", "no such file")
    junk = tmp_path / "junk.npy"
    junk.write_bytes(os.urandom(500))
    assert_user_error(invoke("predict", trained["out"], junk), 1, str(junk), "not a readable .npy")
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((40, 16, 16), np.float32))
    short.write_bytes(file_bytes(short)[:3000])
    assert_user_error(invoke("predict", trained["out"], short), 1, str(short), "truncated")


def test_empty_npy_is_a_one_line_error(trained, tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 16, 16), np.float32))
    assert_user_error(invoke("predict", trained["out"], path), 1, str(path))


def npy_with_header(shape, descr="<f4", data=b""):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, shape)
    header += " " * (117 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data


def test_npy_header_with_a_huge_shape_is_a_one_line_error(trained, tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_with_header((10**12, 16, 16)))
    assert_user_error(invoke("predict", trained["out"], path), 1, str(path))


def test_complex_npy_is_refused(trained, tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.full((16, 16), 0.5 + 0.5j, np.complex64))
    assert_user_error(invoke("predict", trained["out"], path), 1, str(path), "expected")


# --------------------------------------------------------------------------- errors: options


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "two"], ["'--epochs'"]),
    (["train", "--arch", "lenet5"], ["'--arch'", "lenet5"]),
    (["train", "--recipe", "2024"], ["'--recipe'", "2024"]),
    (["train", "--dtype", "float16"], ["'--dtype'"]),
    (["train", "--dataset", "cifar"], ["'--dataset'"]),
    (["train", "--bogus"], ["--bogus"]),
    (["eval"], ["CHECKPOINT"]),
    (["eval", "m.npz", "--dataset", "cifar"], ["'--dataset'"]),
    (["predict", "m.npz"], ["INPUTS"]),
    (["gradcheck", "--arch", "lenet5"], ["'--arch'"]),
])
def test_bad_option_values_exit_2(args, words):
    assert_usage_error(invoke(*args), *words)


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "-1"], ["epochs must be an integer in [0,"]),
    (["train", "--lr", "0"], ["lr must be a number in (0,"]),
    (["train", "--lr", "-0.5"], ["lr must be a number in (0,"]),
    (["train", "--mu", "0"], ["mu must be a number in (0,"]),
    (["train", "--chunk-size", "0"], ["chunk_size must be an integer in [1,"]),
    (["train", "--checkpoint-every", "-1"], ["checkpoint_every must be an integer in [0,"]),
    (["gradcheck", "--samples", "0"], ["samples must be an integer in [1, 1000]"]),
])
def test_out_of_range_option_values_exit_2_naming_the_value(args, words):
    """Checked by the library's rules (the same ones a Python caller meets), before any work."""
    assert_user_error(invoke(*args), 2, *words)


@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--lr", "inf"), ("--mu", "inf"),
                                           ("--lr-decay", "nan"), ("--max-shift", "nan"),
                                           ("--max-rotate", "inf"), ("--elastic-sigma", "-inf")])
def test_non_finite_option_values_are_refused_with_exit_2(data_opts, option, value):
    res = invoke("train", "--recipe", "article", "--augment", option, value, "--epochs", 1, *data_opts)
    no_crash(res)
    assert res.exit_code == 2 and f"{option[2:].replace('-', '_')} must be a number in" in res.stderr, res.stderr


@pytest.mark.parametrize("args, words", [
    (["--augment", "--elastic-alpha", "4"], ["elastic_alpha and elastic_sigma"]),   # sigma 0: a no-op
    (["--augment", "--elastic-alpha", "4", "--elastic-sigma", "1e9"], ["elastic_sigma", "[0, 8]"]),
    (["--augment", "--max-scale", "1.5"], ["max_scale", "[0, 0.9]"]),
    (["--max-shift", "1"], ["max_shift has no effect without augment"]),
    (["--lr-decay", "2"], ["lr_decay", "(0, 1]"]),
])
def test_recipe_values_no_run_can_use_are_refused_with_exit_2(data_opts, args, words):
    assert_user_error(invoke("train", "--recipe", "article", "--epochs", 1, *args, *data_opts), 2, *words)


# --------------------------------------------------------------------------- errors: data


def test_missing_data_lists_every_place_searched(tmp_path, monkeypatch):
    empty, env_root, xdg = tmp_path / "empty", tmp_path / "env-root", tmp_path / "xdg"
    empty.mkdir()
    monkeypatch.delenv("LENET_NUMBA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    places = [str(empty / "usps" / "zip.train.gz"), str(xdg / "lenet-numba" / "usps" / "zip.train.gz")]
    line = assert_user_error(invoke("train", "--epochs", 1, "--data-dir", empty, "--no-download"), 1,
                             "zip.train.gz not found", "downloading is off", *places)
    assert line.index(places[0]) < line.index(places[1])

    monkeypatch.setenv("LENET_NUMBA_DATA", str(env_root))
    places.insert(1, str(env_root / "usps" / "zip.train.gz"))
    line = assert_user_error(invoke("train", "--epochs", 1, "--data-dir", empty, "--no-download"), 1, *places)
    assert [line.index(p) for p in places] == sorted(line.index(p) for p in places)
    assert not list(xdg.rglob("*.gz"))  # nothing was downloaded


def test_eval_with_missing_data(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("LENET_NUMBA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke("eval", trained["out"], "--data-dir", tmp_path / "empty", "--no-download"), 1,
                      "not found", str(tmp_path / "empty" / "usps"), "downloading is off")


def test_eval_needs_only_the_test_file(trained, data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("LENET_NUMBA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "root" / "usps").mkdir(parents=True)
    shutil.copy(data_root / "usps" / "zip.test.gz", tmp_path / "root" / "usps" / "zip.test.gz")
    res = invoke("eval", trained["out"], "--json", "--data-dir", tmp_path / "root", "--no-download")
    assert_ok(res)
    assert json.loads(res.stdout)["n"] == 2007


def corrupt_data_root(data_root, tmp_path):
    """A data root with the real test file and a truncated training file."""
    root = tmp_path / "bad-root"
    (root / "usps").mkdir(parents=True)
    shutil.copy(data_root / "usps" / "zip.test.gz", root / "usps" / "zip.test.gz")
    raw = file_bytes(data_root / "usps" / "zip.train.gz")
    (root / "usps" / "zip.train.gz").write_bytes(raw[: len(raw) // 3])
    return root


def test_corrupt_data_file_is_a_one_line_error(data_root, tmp_path):
    root = corrupt_data_root(data_root, tmp_path)
    assert_user_error(invoke("train", "--epochs", 1, "--data-dir", root, "--no-download"), 1,
                      str(root / "usps" / "zip.train.gz"), "checksum mismatch")


# --------------------------------------------------------------------------- failed runs keep --out


def test_failed_runs_leave_an_existing_checkpoint_byte_identical(trained, data_root, tmp_path, data_opts,
                                                                 monkeypatch):
    monkeypatch.delenv("LENET_NUMBA_DATA", raising=False)  # so "missing data" below really misses
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "good.npz"
    shutil.copy(trained["out"], out)
    before = file_bytes(out)
    bad_root = corrupt_data_root(data_root, tmp_path)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(before[: len(before) // 2])

    failures = [
        # bad data
        (["--data-dir", bad_root, "--no-download"], 1, ["checksum mismatch"]),
        # missing data
        (["--data-dir", tmp_path / "nothing-here", "--no-download"], 1, ["not found"]),
        # divergence: an absurd rate with a loss that lets the outputs explode
        (["--loss", "mse", "--lr", "1e6", *data_opts], 1, ["diverged", "epoch 1, sample"]),
        # a corrupt starting point
        (["--init-from", corrupt, *data_opts], 1, ["corrupt"]),
        # an option value found bad only at run time
        (["--augment", "--elastic-alpha", "4", *data_opts], 2, ["elastic_sigma"]),
    ]
    for extra, code, words in failures:
        res = invoke("train", "--recipe", "article", "--epochs", 1, "--out", out, "--checkpoint-every", 1, *extra)
        assert_user_error(res, code, *words)
        assert file_bytes(out) == before, extra
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".good.npz")) == []  # no temp left


def test_divergence_message_names_epoch_and_sample(tmp_path, data_opts):
    res = invoke("train", "--recipe", "article", "--loss", "mse", "--lr", "1e6", "--epochs", 2,
                 "--out", tmp_path / "d.npz", *data_opts)
    line = assert_user_error(res, 1, "training diverged")
    assert re.search(r"epoch 1, sample \d+ \(position \d+\)", line), line
    assert "smaller learning rate" in line
    assert not (tmp_path / "d.npz").exists()


# --------------------------------------------------------------------------- silent no-ops


def test_augment_changes_training_or_is_refused(tmp_path, data_opts):
    plain = invoke("train", "--recipe", "article", "--epochs", 1, "--out", tmp_path / "a.npz", *data_opts)
    aug = invoke("train", "--recipe", "article", "--epochs", 1, "--augment", "--out", tmp_path / "b.npz", *data_opts)
    assert_ok(plain)
    if aug.exit_code == 0:  # either refused with a message, or it must actually distort
        a, b = load_checkpoint(tmp_path / "a.npz")[0], load_checkpoint(tmp_path / "b.npz")[0]
        assert any(a[k].tobytes() != b[k].tobytes() for k in a)
    else:
        assert_user_error(aug, 2, "augment")


def test_a_run_stuck_near_chance_gets_one_warning(data_opts):
    """mu 0.002 with eta 0.002 saturates LeNet-1 in the first pass: finite, so not a divergence,
    but ~84% training error that never moves. The user is told once, on stderr."""
    res = assert_ok(invoke("train", "--lr", "0.002", "--mu", "0.002", "--epochs", 3, *data_opts))
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "after epoch 2" in warnings[0] and "--lr" in warnings[0], res.stderr


def test_a_learning_run_gets_no_warning(data_opts):
    res = assert_ok(invoke("train", "--recipe", "article", "--epochs", 2, *data_opts))
    assert "warning" not in res.stderr


def test_a_vanishing_elastic_sigma_is_refused(data_opts):
    assert_user_error(invoke("train", "--recipe", "article", "--epochs", 1, "--augment", "--elastic-alpha", "4",
                             "--elastic-sigma", "1e-200", *data_opts), 2, "elastic_sigma", ">= 0.1")
