"""ONNX export: every network (and a made-up one) through onnxruntime equals Model.predict.

Without onnx/onnxruntime these tests skip, except under CI (env CI set), where they fail.
The real-data part trains each network one pass and compares on all 2,007 USPS test digits.
"""

import numpy as np
import pytest

from lenet_numba.architectures import ARCHITECTURES, Architecture, Conv, Dense, Subsample
from lenet_numba.model import Model
from optional import require
from clitools import assert_ok, assert_user_error, invoke


@pytest.fixture(scope="module")
def ort():
    require("onnx", "pip install 'lenet-numba[onnx]'")
    return require("onnxruntime", "pip install 'lenet-numba[onnx]'")


TOLERANCE = 1e-5
ACTIVATIONS = [("tanh", "identity"), ("scaled-tanh", "scaled-tanh"), ("tanh", "tanh")]

# Every feature of the plan in one small network: -1 padding on a stride-1 conv, a
# connection table, per-unit biases, subsampling after a strided conv, two dense layers.
ODD = Architecture("odd", (1, 16, 16), (
    Conv("a", 3, 3, stride=1, pad=1, pad_value=-1.0, bias_per_unit=True),
    Conv("b", 4, 5, stride=2, pad=2, pad_value=0.5, connections=((0, 1), (1, 2), (2, 0), (0, 2))),
    Subsample("s"),
    Conv("c", 5, 3, connections=((0, 1), (1, 2), (3, 0), (2, 3), (3, 1))),
    Dense("d", 7), Dense("out", 10)))


def onnx_scores(ort, model, x):
    from lenet_numba.export import to_onnx

    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": np.asarray(x, np.float32)})[0]


def perturbed(arch, activation, output, seed):
    """Random weights, and alpha/beta away from their initial 1/0 so they are tested."""
    m = Model(arch, activation, output, seed=seed)
    rng = np.random.default_rng(seed)
    m.load_state_dict({n: v + rng.normal(0, 0.2, v.shape) for n, v in m.state_dict().items()})
    return m


@pytest.mark.parametrize("arch", [*ARCHITECTURES, ODD], ids=lambda a: getattr(a, "name", a))
@pytest.mark.parametrize("activation,output", ACTIVATIONS)
def test_onnx_equals_predict(ort, arch, activation, output):
    m = perturbed(arch, activation, output, seed=3)
    x = np.random.default_rng(4).uniform(-1, 1, (64, 16, 16)).astype(np.float32)
    got, want = onnx_scores(ort, m, x), m.predict(x)
    assert got.shape == want.shape == (64, 10)
    assert np.abs(got - want).max() <= TOLERANCE


def test_graph_is_checked_and_states_its_opset(ort):
    import onnx

    from lenet_numba.export import OPSET, to_onnx

    proto = to_onnx(Model("zipcode1989", seed=0))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    ops = {n.op_type for n in proto.graph.node}
    assert {"Pad", "Conv", "Gemm"} <= ops
    pads = [n for n in proto.graph.node if n.op_type == "Pad"]
    values = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert all(float(values[p.input[2]]) == -1.0 for p in pads)  # the zip-code net pads with -1
    # H2's connection table: each output map reads 8 of 12 input maps, the others are zero
    w = values["h2.weight"]
    assert w.shape == (12, 12, 5, 5)
    assert ((np.abs(w).sum(axis=(2, 3)) > 0).sum(axis=1) == 8).all()


def test_missing_connection_changes_nothing(ort):
    """The zeroed kernels really are absent connections: changing an unread input map's
    activity cannot change the output (checked through the exported graph)."""
    m = perturbed(ODD, "tanh", "identity", seed=5)
    x = np.random.default_rng(6).uniform(-1, 1, (8, 16, 16)).astype(np.float32)
    assert np.abs(onnx_scores(ort, m, x) - m.predict(x)).max() <= TOLERANCE


# ---------------------------------------------------------------- the command


def test_export_command_and_errors(ort, tmp_path, monkeypatch):
    from lenet_numba.checkpoint import save_checkpoint

    m = perturbed("lenet1", "scaled-tanh", "scaled-tanh", seed=7)
    ckpt = tmp_path / "m.npz"
    save_checkpoint(ckpt, m.state_dict(), {"arch": "lenet1", "activation": m.activation,
                                           "output_activation": m.output_activation, "dtype": "float32"})
    out = tmp_path / "m.onnx"
    res = assert_ok(invoke("export", ckpt, out))
    assert "opset 17" in res.output
    x = np.random.default_rng(8).uniform(-1, 1, (16, 16, 16)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"image": x})[0] - m.predict(x)).max() <= TOLERANCE

    assert_user_error(invoke("export", tmp_path / "nope.npz", tmp_path / "x.onnx"), 1, "nope.npz", "no such")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert_user_error(invoke("export", bad, tmp_path / "x.onnx"), 1, "bad.npz")
    assert_user_error(invoke("export", ckpt, tmp_path / "no" / "x.onnx"), 2, "does not exist")
    res = invoke("export", ckpt, tmp_path)  # click's own check: exit 2, no traceback
    assert res.exit_code == 2 and "is a directory" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "x.onnx").exists()
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    assert_user_error(invoke("export", ckpt, tmp_path / "y.onnx"), 1, "pip install 'lenet-numba[onnx]'")
    assert not (tmp_path / "y.onnx").exists()


# ---------------------------------------------------------------- real data


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_trained_network_on_every_test_digit(ort, arch, data_root, tmp_path):
    from lenet_numba.data import read_usps_file
    from lenet_numba.experiment import TrainConfig, model_from_checkpoint, run

    out = tmp_path / f"{arch}.npz"
    run(TrainConfig.from_options(arch=arch, recipe="1989", epochs=1, data_dir=str(data_root),
                    download=False, out=str(out)))
    assert_ok(invoke("export", out, tmp_path / f"{arch}.onnx"))
    model, _ = model_from_checkpoint(out)
    x, _ = read_usps_file(data_root / "usps" / "zip.test.gz")
    assert len(x) == 2007
    session = ort.InferenceSession(str(tmp_path / f"{arch}.onnx"), providers=["CPUExecutionProvider"])
    diff = float(np.abs(session.run(None, {"image": x.astype(np.float32)})[0] - model.predict(x)).max())
    print(f"{arch}: max |onnx - predict| over {len(x)} test digits = {diff:.3g}")
    assert diff <= TOLERANCE
