"""Checkpoints: exact round trip, one clear error per failure, fuzzing, atomic writes."""

import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lenet_numba
from lenet_numba.checkpoint import load_checkpoint, save_checkpoint
from lenet_numba.errors import CheckpointError

SHAPES = {"conv1.weight": (4, 1, 5, 5), "conv1.bias": (4,), "out.weight": (10, 12)}


def make_params(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape).astype(dtype) for name, shape in SHAPES.items()}


META = {"arch": "lenet1", "epoch": 3, "seed": 42, "options": {"lr": 0.01, "activation": "tanh"},
        "data_sha256": "ab" * 32}
STATE = {"sgd.velocity": np.arange(6, dtype=np.float64).reshape(2, 3),
         "rng": np.array([1, 2, 2**64 - 1], dtype=np.uint64),
         "history.test_error": np.array([0.05, np.nan, 0.03])}  # NaN allowed outside params


def assert_same_arrays(got, want):
    assert list(got) == list(want)
    for name in want:
        w = np.asarray(want[name])
        assert got[name].dtype == w.dtype and got[name].shape == w.shape, name
        assert got[name].tobytes() == w.tobytes(), name  # bit-identical, NaN included


def write_npz(path, **arrays):
    """A hand-made .npz (np.savez appends .npz unless the name already ends with it)."""
    assert str(path).endswith(".npz")
    np.savez(path, **arrays)
    return path


def meta_bytes(obj):
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, make_params(), META, STATE)
    return path


def expect_error(path, *fragments, **kwargs):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, dtype):
    path = tmp_path / "model.npz"
    params = make_params(dtype)
    save_checkpoint(path, params, META, STATE)
    got_params, got_meta, got_state = load_checkpoint(path, expected_arch="lenet1", expected_shapes=SHAPES)
    assert_same_arrays(got_params, params)
    assert_same_arrays(got_state, STATE)
    assert got_meta == {**META, "format_version": 1, "package_version": lenet_numba.__version__}


def test_file_is_a_plain_npz_without_pickle(ckpt):
    with np.load(ckpt, allow_pickle=False) as npz:
        assert set(npz.files) == set(SHAPES) | {"state/" + k for k in STATE} | {"__meta__"}
        assert npz["__meta__"].dtype == np.uint8
        assert json.loads(npz["__meta__"].tobytes().decode())["format_version"] == 1


def test_meta_details(tmp_path):
    path = tmp_path / "m.npz"
    # numpy scalars become JSON numbers; a caller's version wins; format_version is forced.
    save_checkpoint(path, make_params(), {"epoch": np.int64(7), "loss": np.float32(0.5),
                                          "package_version": "9.9", "format_version": 99})
    _, meta, state = load_checkpoint(path)
    assert meta == {"epoch": 7, "loss": 0.5, "package_version": "9.9", "format_version": 1}
    assert state == {}


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(
    st.text(st.characters(codec="ascii", exclude_characters="/\x00"), min_size=1, max_size=12)
    .filter(lambda s: s != "__meta__"),
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32, np.uint8]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
               elements={"allow_nan": False, "allow_infinity": False}),
    max_size=4))
def test_round_trip_random_arrays(tmp_path_factory, params):
    path = tmp_path_factory.mktemp("rt") / "x.npz"
    save_checkpoint(path, params, {"arch": "x"})
    got, _, _ = load_checkpoint(path, expected_arch="x")
    assert_same_arrays(got, params)


def test_save_rejects_bad_names_and_meta(tmp_path):
    path = tmp_path / "m.npz"
    for bad in ["", "__meta__", "state/x"]:
        with pytest.raises(ValueError):
            save_checkpoint(path, {bad: np.zeros(1)}, {})
    with pytest.raises(TypeError):
        save_checkpoint(path, make_params(), {"when": object()})
    with pytest.raises(ValueError):
        save_checkpoint(path, make_params(), {"loss": float("nan")})
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- every error


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.npz", "no such checkpoint file")


def test_directory(tmp_path):
    expect_error(tmp_path, "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    expect_error(path, "empty")


@pytest.mark.parametrize("content", [b"hello, not a checkpoint\n", b"\x93NUMPY\x01\x00"])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    expect_error(path, "not a checkpoint (.npz) file")


def test_truncated(ckpt):
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    expect_error(ckpt, "corrupt or truncated")


def test_missing_meta(tmp_path):
    path = write_npz(tmp_path / "nometa.npz", **make_params())
    expect_error(path, "missing __meta__")


def test_foreign_zip(tmp_path):
    path = tmp_path / "docs.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__meta__.npy", "not an npy member")
    expect_error(path, "corrupt", "magic string")


@pytest.mark.parametrize("raw, problem", [
    (np.frombuffer(b"{not json", dtype=np.uint8), "not valid UTF-8 JSON"),
    (np.frombuffer(b"\xff\xfe{}", dtype=np.uint8), "not valid UTF-8 JSON"),
    (meta_bytes([1, 2]), "not a JSON object"),
    (meta_bytes({"arch": "lenet1"}), "no integer format_version"),
    (meta_bytes({"format_version": "1"}), "no integer format_version"),
    (meta_bytes({"format_version": 2}), "unknown checkpoint format_version 2"),
    (np.array([1.0, 2.0]), "'__meta__' has dtype float64, expected uint8"),
])
def test_bad_meta(tmp_path, raw, problem):
    path = write_npz(tmp_path / "badmeta.npz", __meta__=raw, **make_params())
    expect_error(path, problem)


def test_members_hidden_by_a_damaged_zip_directory(tmp_path):
    # What one flipped comment-length byte in the zip directory does: members vanish while
    # every checksum still passes. Simulated by leaving a listed member out of the file.
    params = make_params()
    meta = {"format_version": 1, "__entries__": [*params, "state/sgd.velocity"]}
    path = write_npz(tmp_path / "hidden.npz", **params, __meta__=meta_bytes(meta))
    expect_error(path, "corrupt checkpoint: its entries do not match the list in __meta__")
    meta["__entries__"] = list(params)  # consistent again -> loads
    write_npz(path, **params, __meta__=meta_bytes(meta))
    assert list(load_checkpoint(path)[0]) == list(params)


def test_wrong_architecture(tmp_path):
    path = tmp_path / "zip.npz"
    save_checkpoint(path, make_params(), {"arch": "zipcode1989"})
    expect_error(path, "checkpoint is for 'zipcode1989', expected 'lenet1'", expected_arch="lenet1")


def test_no_architecture_recorded(tmp_path):
    path = tmp_path / "noarch.npz"
    save_checkpoint(path, make_params(), {})
    expect_error(path, "checkpoint is for None, expected 'lenet1'", expected_arch="lenet1")


def test_missing_parameter(tmp_path):
    path = tmp_path / "m.npz"
    params = make_params()
    del params["conv1.bias"]
    save_checkpoint(path, params, META)
    expect_error(path, "missing parameter 'conv1.bias'", expected_shapes=SHAPES)


def test_wrong_shape(ckpt):
    shapes = {**SHAPES, "conv1.weight": (12, 1, 5, 5)}
    expect_error(ckpt, "entry 'conv1.weight' has shape (4, 1, 5, 5), expected (12, 1, 5, 5)",
                 expected_shapes=shapes)


def test_unexpected_parameter(ckpt):
    shapes = dict(SHAPES)
    del shapes["out.weight"]
    expect_error(ckpt, "unexpected parameter 'out.weight'", expected_shapes=shapes)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_parameter(tmp_path, bad):
    path = tmp_path / "nan.npz"
    params = make_params()
    params["out.weight"][3, 4] = bad
    save_checkpoint(path, params, META)
    expect_error(path, "parameter 'out.weight' has non-finite values")


# ---------------------------------------------------------------- fuzzing


def load_or_checkpoint_error(path, want):
    """The only two acceptable outcomes: the exact saved content, or a CheckpointError."""
    try:
        params, meta, state = load_checkpoint(path)
    except CheckpointError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return False
    assert_same_arrays(params, want[0])
    assert meta == want[1]
    assert_same_arrays(state, want[2])
    return True


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("pristine") / "good.npz"
    save_checkpoint(path, make_params(), META, STATE)
    return path.read_bytes(), load_checkpoint(path)


def test_every_truncation(tmp_path, pristine):
    data, want = pristine
    path = tmp_path / "cut.npz"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        assert not load_or_checkpoint_error(path, want), n


@pytest.mark.parametrize("xor", [0x01, 0x80, 0xFF])
def test_every_single_byte_flip(tmp_path, pristine, xor):
    data, want = pristine
    path = tmp_path / "flip.npz"
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= xor
        path.write_bytes(bytes(damaged))
        load_or_checkpoint_error(path, want)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_truncations_and_byte_flips(tmp_path_factory, pristine, data):
    good, want = pristine
    damaged = bytearray(good[: data.draw(st.integers(0, len(good)), label="length")])
    for _ in range(data.draw(st.integers(0, 8), label="n_flips")):
        if damaged:
            i = data.draw(st.integers(0, len(damaged) - 1), label="position")
            damaged[i] = data.draw(st.integers(0, 255), label="byte")
    path = tmp_path_factory.mktemp("fuzz") / "f.npz"
    path.write_bytes(bytes(damaged))
    load_or_checkpoint_error(path, want)


# ---------------------------------------------------------------- atomicity


def test_failed_write_keeps_previous_file_and_leaves_no_temp(ckpt, monkeypatch):
    before = ckpt.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def write_array_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # one member already in the temp file
            raise OSError("disk full (simulated)")
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array_then_fail)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(ckpt, make_params(seed=1), {**META, "epoch": 4})
    assert len(calls) == 2
    assert ckpt.read_bytes() == before
    assert os.listdir(ckpt.parent) == [ckpt.name]


def test_unpicklable_array_fails_midway_cleanly(ckpt):
    before = ckpt.read_bytes()
    params = {**make_params(), "zz.object": np.array([object()], dtype=object)}
    with pytest.raises(ValueError):  # allow_pickle=False refuses object arrays
        save_checkpoint(ckpt, params, META)
    assert ckpt.read_bytes() == before
    assert os.listdir(ckpt.parent) == [ckpt.name]


def test_error_carries_no_chained_traceback(ckpt):
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(ckpt)
    assert info.value.__cause__ is None and info.value.__suppress_context__
