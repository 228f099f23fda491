"""``lenet-numba plot`` and lenet_numba.plots: valid PNGs of the stated size showing the library's numbers.

Every PNG is parsed here (signature, every chunk's CRC, IHDR first, IEND last) and its
IHDR size compared with figsize x dpi. The plotted data is what each plotting function
read back from its artists; it must equal the metrics file, ``eval --json`` and the model.
Tests needing matplotlib skip without it; the missing-matplotlib error is tested always.
"""

import json
import struct
import sys
import zlib

import numpy as np
import pytest

from lenet_numba import metrics
from lenet_numba.experiment import load_test_set, model_from_checkpoint
from lenet_numba.model import Model
from clitools import assert_ok, assert_user_error, invoke

pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: private parsed-data cache


def png_size(path):
    """(width, height) from IHDR of a PNG whose structure and every CRC are valid."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        kinds.append(kind)
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds, kinds
    return width, height


def expected_pixels(figsize, dpi):
    return int(figsize[0] * dpi), int(figsize[1] * dpi)  # Agg truncates, as here


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_opts):
    """A real 3-epoch training run on USPS (article recipe): checkpoint and metrics file."""
    d = tmp_path_factory.mktemp("trained")
    out, metrics_file = d / "m.npz", d / "m.jsonl"
    assert_ok(invoke("train", "--epochs", 3, "--recipe", "article", "--out", out, "--metrics", metrics_file,
                     *data_opts))
    return {"out": out, "metrics": metrics_file}


# --------------------------------------------------------------------------- metrics


def test_metrics_png_and_plotted_values_equal_the_file(trained, tmp_path):
    pytest.importorskip("matplotlib")
    from lenet_numba import plots

    res = assert_ok(invoke("plot", "metrics", trained["metrics"], "--out-dir", tmp_path / "a", "--json"))
    out = json.loads(res.stdout)
    assert out["epochs"] == 3 and out["files"]["metrics"].endswith("m-metrics.png")
    assert png_size(out["files"]["metrics"]) == (1000, 400) == expected_pixels(plots.METRICS_FIGSIZE, 100)

    records = [json.loads(line) for line in open(trained["metrics"])]
    drawn = plots.metrics_figure(str(trained["metrics"]), str(tmp_path / "b"), prefix="x-", dpi=50)
    assert drawn["path"].endswith("x-metrics.png")
    assert png_size(drawn["path"]) == (500, 200) == tuple(drawn["pixels"])
    for key in ("epoch", "train_error", "test_error", "train_loss", "test_loss"):
        assert np.array_equal(drawn[key], [r[key] for r in records]), key
    assert drawn["reference_error"] == 0.05


def test_metrics_without_reference_line(trained, tmp_path):
    pytest.importorskip("matplotlib")
    from lenet_numba import plots

    drawn = plots.plot_metrics(plots.read_metrics(trained["metrics"]), tmp_path / "m.png", reference_error=None)
    assert drawn["reference_error"] is None
    assert_ok(invoke("plot", "metrics", trained["metrics"], "--out-dir", tmp_path, "--no-reference",
                     "--prefix", ""))
    assert png_size(tmp_path / "metrics.png") == (1000, 400)


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_pngs_and_numbers_equal_eval_json(trained, tmp_path, data_opts, data_root):
    pytest.importorskip("matplotlib")
    from lenet_numba import plots

    digit = 7
    res = assert_ok(invoke("plot", "checkpoint", trained["out"], "--out-dir", tmp_path / "cli", "--digit", digit,
                           "--json", *data_opts))
    files = json.loads(res.stdout)["files"]
    assert set(files) == {"kernels-conv1", "kernels-conv2", "feature-maps", "confusion", "reject-curve"}
    assert files["feature-maps"].endswith(f"m-feature-maps-{digit}.png")
    sizes = {k: png_size(p) for k, p in files.items()}
    assert sizes["confusion"] == (650, 550) and sizes["reject-curve"] == (600, 400)
    assert sizes["kernels-conv1"] == (500, 150)    # 1 input row x 4 maps (width floor 5 in)
    assert sizes["kernels-conv2"] == (750, 300)    # 4 input rows x 12 maps
    assert sizes["feature-maps"] == (900, 650)     # input + 4 map rows + 2 dense strips

    ev = json.loads(assert_ok(invoke("eval", trained["out"], "--json", *data_opts)).stdout)
    figs = plots.checkpoint_figures(str(trained["out"]), str(tmp_path / "lib"), digit=digit, data_dir=str(data_root),
                                    download=False)
    for kind, d in figs.items():
        if kind != "report":
            assert png_size(d["path"]) == expected_pixels(d["figsize"], d["dpi"]) == tuple(d["pixels"]), kind
    # confusion heat map: the drawn array and the numbers in the cells are eval's matrix
    assert np.array_equal(figs["confusion"]["confusion"], ev["confusion"])
    assert np.array_equal(figs["confusion"]["cells"], ev["confusion"])
    # reject curve: every sample from 0 to 20%, through eval's operating points
    rc = figs["reject-curve"]
    n = ev["n"]
    assert rc["reject"][0] == 0 and rc["reject"][-1] == pytest.approx(0.2, abs=1 / n)
    assert np.allclose(np.diff(rc["reject"]), 1 / n)
    assert np.array_equal(rc["points"], ev["reject_curve"])
    model, meta = model_from_checkpoint(trained["out"])
    x, y = load_test_set("usps", str(data_root), False)
    scores = model.predict(x)
    assert np.array_equal(rc["error"], [e for _, e in metrics.reject_curve(scores, y, rc["reject"])])
    for r, e in ev["reject_curve"]:
        assert e == rc["error"][round(r * n)]
    # kernels: the drawn cells are the checkpoint's weights
    for layer in ("conv1", "conv2"):
        assert np.array_equal(figs[f"kernels-{layer}"]["weights"], model[f"{layer}.weight"]), layer
    # feature maps: the drawn input is the digit, the last layer the network's output
    fm = figs["feature-maps"]
    assert np.array_equal(fm["input"], x[digit])
    assert [name for name, _ in fm["layers"]] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"]
    assert [a.shape for _, a in fm["layers"]] == [(4, 16, 16), (4, 8, 8), (12, 4, 4), (12, 2, 2), (30, 1, 1),
                                                   (10, 1, 1)]
    # the maps come from the one-image forward, the scores from batch inference: the same
    # bits under the exact numerics, the last bits apart under fast (whose inference fuses
    # its multiply-adds; docs/numerics.md), which a trained run uses by default
    assert model.numerics == "fast"
    np.testing.assert_allclose(fm["layers"][-1][1].ravel(), scores[digit], rtol=1e-5, atol=1e-5)
    exact = type(model)(model.arch.name, model.activation, model.output_activation, model.dtype, init=False)
    exact.params[:] = model.params
    assert np.array_equal(exact.layer_outputs(x[digit])[-1][1].ravel(), exact.predict(x[digit:digit + 1])[0])
    assert fm["prediction"] == int(np.argmax(scores[digit])) and fm["label"] == int(y[digit])


def test_zipcode_kernels_leave_unconnected_cells_blank(tmp_path):
    pytest.importorskip("matplotlib")
    from lenet_numba import plots

    model = Model("zipcode1989", seed=3)
    h1 = plots.plot_kernels(model, "h1", tmp_path / "h1.png")
    assert np.array_equal(h1["weights"], model["h1.weight"])
    assert png_size(tmp_path / "h1.png") == (750, 150)
    h2 = plots.plot_kernels(model, "h2", tmp_path / "h2.png")
    assert h2["weights"].shape == (12, 12, 5, 5)
    assert png_size(tmp_path / "h2.png") == (750, 700)
    connected = ~np.isnan(h2["weights"][:, :, 0, 0])
    assert connected.sum(axis=1).tolist() == [8] * 12     # each H2 map reads 8 of the 12 H1 maps
    w = model["h2.weight"]
    for o in range(12):
        for slot, i in enumerate(h2["connections"][o]):
            assert np.array_equal(h2["weights"][o, i], w[o, slot])
    with pytest.raises(Exception, match="no conv layer"):
        plots.plot_kernels(model, "h3", tmp_path / "x.png")


def test_zipcode_feature_maps_are_the_compiled_forward_pass(tmp_path):
    pytest.importorskip("matplotlib")
    from lenet_numba import plots

    model = Model("zipcode1989", activation="scaled-tanh", output_activation="scaled-tanh", seed=1)
    image = np.random.default_rng(0).uniform(-1, 1, (16, 16)).astype(np.float32)
    fm = plots.plot_feature_maps(model, image, tmp_path / "f.png", label=4)
    assert [(n, a.shape) for n, a in fm["layers"]] == [("h1", (12, 8, 8)), ("h2", (12, 4, 4)), ("h3", (30, 1, 1)),
                                                      ("out", (10, 1, 1))]
    assert np.array_equal(fm["scores"], model.predict(image)[0])
    assert png_size(tmp_path / "f.png") == (900, 450)


# --------------------------------------------------------------------------- errors


def test_missing_matplotlib_is_one_line_exit_1(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib...` now raises ImportError
    for args in (["metrics", tmp_path / "m.jsonl"], ["checkpoint", tmp_path / "m.npz"]):
        assert_user_error(invoke("plot", *args, "--out-dir", tmp_path), 1,
                          "plotting needs matplotlib: pip install 'lenet-numba[plot]'")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content, words", [
    (None, ["no such metrics file"]),
    ("", ["no epochs"]),
    ("not json\n", ["line 1", "not JSON"]),
    ('{"epoch": 1, "train_error": 0.1, "test_error": 0.2, "train_loss": 1, "test_loss": 1}\n[1]\n',
     ["line 2", "JSON object"]),
    ('{"epoch": 1}\n', ["line 1", "lacks train_error"]),
    ('{"epoch": 1, "train_error": "x", "test_error": 0.2, "train_loss": 1, "test_loss": 1}\n',
     ["train_error not a number"]),
])
def test_bad_metrics_files(tmp_path, content, words):
    pytest.importorskip("matplotlib")
    path = tmp_path / "m.jsonl"
    if content is not None:
        path.write_text(content)
    assert_user_error(invoke("plot", "metrics", path, "--out-dir", tmp_path / "o"), 1, str(path), *words)


def test_checkpoint_plot_user_errors(trained, tmp_path, data_opts):
    pytest.importorskip("matplotlib")
    assert_user_error(invoke("plot", "checkpoint", trained["out"], "--digit", 2007, "--out-dir", tmp_path,
                             *data_opts), 2, "--digit", "0..2006")
    assert_user_error(invoke("plot", "checkpoint", tmp_path / "none.npz", "--out-dir", tmp_path, *data_opts), 1,
                      "none.npz")
    (tmp_path / "file").write_text("")
    assert_user_error(invoke("plot", "metrics", trained["metrics"], "--out-dir", tmp_path / "file" / "sub"), 2,
                      "--out-dir", "cannot create")
    assert_user_error(invoke("plot", "metrics", trained["metrics"], "--out-dir", tmp_path / "file"), 2,
                      "--out-dir", "exists and is not a folder")


METRICS_LINE = '{"epoch": 1, "train_error": 0.1, "test_error": 0.2, "train_loss": 1, "test_loss": 1}\n'


@pytest.fixture
def random_ckpt(tmp_path):
    from lenet_numba.checkpoint import save_checkpoint

    path = tmp_path / "r.npz"
    m = Model("lenet1", "tanh", "identity", seed=0)
    save_checkpoint(path, m.state_dict(), {"arch": "lenet1", "activation": "tanh",
                                           "output_activation": "identity", "dtype": "float32"})
    return path


@pytest.mark.parametrize("dpi", [100000, 601, 19, 0, -5])
def test_dpi_out_of_range_is_one_line_exit_2(tmp_path, dpi):
    (tmp_path / "m.jsonl").write_text(METRICS_LINE)
    for args in (["metrics", tmp_path / "m.jsonl"], ["checkpoint", tmp_path / "m.npz"]):
        assert_user_error(invoke("plot", *args, "--dpi", dpi, "--out-dir", tmp_path / "o"), 2,
                          "--dpi must be an integer in 20..600", str(dpi))
        assert not (tmp_path / "o").exists()


def test_dpi_at_the_bounds(tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "m.jsonl").write_text(METRICS_LINE)
    for dpi in (20, 600):
        assert_ok(invoke("plot", "metrics", tmp_path / "m.jsonl", "--dpi", dpi, "--out-dir", tmp_path / f"d{dpi}"))
        assert png_size(tmp_path / f"d{dpi}" / "m-metrics.png") == expected_pixels((10.0, 4.0), dpi)


def test_bad_inputs_create_no_out_dir(tmp_path, random_ckpt, data_opts):
    pytest.importorskip("matplotlib")
    out = tmp_path / "p3"
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    assert_user_error(invoke("plot", "checkpoint", bad, "--out-dir", out, *data_opts), 1, str(bad))
    assert_user_error(invoke("plot", "checkpoint", tmp_path / "none.npz", "--out-dir", out, *data_opts), 1,
                      "none.npz")
    assert_user_error(invoke("plot", "checkpoint", random_ckpt, "--digit", -1, "--out-dir", out, *data_opts), 2,
                      "--digit")
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert_user_error(invoke("plot", "metrics", tmp_path / "bad.jsonl", "--out-dir", out), 1, "bad.jsonl")
    assert_user_error(invoke("plot", "metrics", tmp_path / "none.jsonl", "--out-dir", out), 1, "none.jsonl")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["metrics", "checkpoint"])
def test_out_dir_paths_are_one_line_exit_2(tmp_path, random_ckpt, data_opts, kind):
    pytest.importorskip("matplotlib")
    (tmp_path / "m.jsonl").write_text(METRICS_LINE)
    (tmp_path / "file").write_text("keep")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    args = ["metrics", tmp_path / "m.jsonl"] if kind == "metrics" else ["checkpoint", random_ckpt, *data_opts]
    for out_dir, words in [
        (tmp_path / "missing" / "o", ["cannot create it", "missing does not exist"]),
        (tmp_path / "file" / "o", ["cannot create it", "file is not a folder"]),
        (tmp_path / "file", ["exists and is not a folder"]),
        (tmp_path / "dangling", ["broken symbolic link"]),
    ]:
        assert_user_error(invoke("plot", *args, "--out-dir", out_dir), 2, f"--out-dir {out_dir}", *words)
    assert (tmp_path / "file").read_text() == "keep"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "nowhere").exists()


def test_output_png_that_is_a_folder_is_refused_before_any_work(tmp_path, random_ckpt, data_opts):
    pytest.importorskip("matplotlib")
    (tmp_path / "m.jsonl").write_text(METRICS_LINE)
    (tmp_path / "o" / "m-metrics.png").mkdir(parents=True)
    assert_user_error(invoke("plot", "metrics", tmp_path / "m.jsonl", "--out-dir", tmp_path / "o"), 2,
                      "m-metrics.png", "exists and is not a regular file")
    (tmp_path / "o" / "r-reject-curve.png").mkdir()
    assert_user_error(invoke("plot", "checkpoint", random_ckpt, "--out-dir", tmp_path / "o", *data_opts), 2,
                      "r-reject-curve.png", "exists and is not a regular file")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["m-metrics.png", "r-reject-curve.png"]


def test_plot_help():
    res = assert_ok(invoke("plot", "--help"))
    assert "metrics" in res.stdout and "checkpoint" in res.stdout
    res = assert_ok(invoke("plot", "checkpoint", "--help"))
    for w in ("--out-dir", "--digit", "--dpi", "--prefix", "--dataset", "--json"):
        assert w in res.stdout, w
