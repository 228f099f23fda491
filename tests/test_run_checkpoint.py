"""Crafted training checkpoints: valid zips with valid checksums and wrong content.

Every field a command reads from a checkpoint is checked before use: metadata of the wrong
type or value, arrays of the wrong dtype or shape, optimizer state that does not fit, and
sizes that would make the reader allocate more than the network needs. Each case ends in
one line on stderr, a non-zero exit, no traceback and nothing overwritten; the memory
bombs run in a child process under an address-space limit.
"""

import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clitools import assert_one_line_error, invoke, no_crash, run_cli
from lenet_numba.checkpoint import ENTRIES_KEY, META_KEY, load_checkpoint
from lenet_numba.errors import CheckpointError
from lenet_numba.run_checkpoint import read_run_checkpoint

SENTINEL = b"the user's file, not to be touched"


def contents(path):
    """(meta, arrays) of a checkpoint written by save_checkpoint, read plainly."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {n: npz[n] for n in npz.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes())
    meta.pop(ENTRIES_KEY)
    return meta, arrays


def write_raw(path, meta, arrays, compress=False):
    """A checkpoint as an attacker writes it: any metadata (NaN too), any arrays, and the
    entry list and checksums right, so only its content can give it away."""
    meta = {**meta, ENTRIES_KEY: list(arrays)}
    all_arrays = {**arrays, META_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, a in all_arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, np.asarray(a), allow_pickle=False)


META_KEYS = ["arch", "activation", "output_activation", "dtype", "epoch", "position", "totals", "seed", "dataset",
             "recipe", "config", "history", "format_version", "recipe.lr", "recipe.mu", "recipe.epochs",
             "recipe.loss", "recipe.optimizer", "recipe.augment", "recipe.max_shift", "recipe.dtype",
             "recipe.name", "recipe.weight_decay", "config.init_from"]
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "lenet1", "tanh", "float16", "ce", "sgd", "usps", "x" * 300]),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.sampled_from(["a", "epoch"]), st.integers(), max_size=2))
ODD_DTYPES = ["int8", "int64", "bool", "complex64", "complex128", "M8[s]", "m8[s]", "float16", ">f4", ">f8", "U3",
              [("a", "<f4")], "u1", "f8"]


def mutate_meta(meta, key, value):
    meta = json.loads(json.dumps(meta))
    if "." in key:
        outer, inner = key.split(".")
        if isinstance(meta.get(outer), dict):
            meta[outer][inner] = value
    else:
        meta[key] = value
    return meta


def mutate_arrays(arrays, name, how, dtype, shape_delta):
    arrays = dict(arrays)
    old = arrays.get(name, np.zeros(3, np.float32))
    if how == "dtype":
        arrays[name] = np.zeros(old.shape, np.dtype(dtype))
    elif how == "shape":
        arrays[name] = np.zeros(tuple(max(d + shape_delta, 0) for d in old.shape) or (abs(shape_delta),), old.dtype)
    elif how == "nan":
        arrays[name] = np.full(old.shape, np.nan, old.dtype) if old.dtype.kind == "f" else old
    elif how == "remove":
        arrays.pop(name, None)
    else:  # add one more
        arrays[name + "x"] = old
    return arrays


def sorted_cases():
    return st.one_of(
        st.tuples(st.just("meta"), st.sampled_from(META_KEYS), ODD_VALUES),
        st.tuples(st.just("array"), st.sampled_from(["conv1.weight", "out.bias", "state/h", "state/mu",
                                                     "state/seed", "state/epoch", "state/n_estimate",
                                                     "state/step_sizes"]),
                  st.tuples(st.sampled_from(["dtype", "shape", "nan", "remove", "add"]),
                            st.sampled_from([str(d) for d in ODD_DTYPES]), st.integers(-2, 3))))


def crafted(run_checkpoint, tmp_path, case):
    """A checkpoint of a 1-pass SDLM run done (so it has h), changed by one case."""
    base = run_checkpoint(name="base.npz")
    meta, arrays = contents(base)
    meta = {**meta, "epoch": 1, "history": [{"epoch": 1, "train_loss": 0.1, "train_error": 0.1, "test_loss": 0.1,
                                              "test_error": 0.1, "running_loss": 0.1, "running_error": 0.1}]}
    arrays = {**arrays, "state/h": np.ones(3128), "state/epoch": np.array(0, np.int64)}
    kind, name, change = case
    if kind == "meta":
        meta = mutate_meta(meta, name, change)
    else:
        how, dtype, delta = change
        dtype = eval(dtype) if dtype.startswith("[") else dtype  # the structured one
        arrays = mutate_arrays(arrays, name, how, dtype, delta)
    path = tmp_path / "crafted.npz"
    write_raw(path, meta, arrays)
    return path


def check_outcome(res, out):
    no_crash(res)
    event(f"exit {res.exit_code}")
    if res.exit_code == 0:
        return
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert out.read_bytes() == SENTINEL


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=sorted_cases(), command=st.sampled_from(["eval", "predict", "resume", "init-from"]))
def test_fuzz_crafted_checkpoint_one_line_error_or_a_sound_answer(run_checkpoint, small_data, data_root, tmp_path,
                                                                   case, command):
    path = crafted(run_checkpoint, tmp_path, case)
    out = tmp_path / "out.npz"
    out.write_bytes(SENTINEL)
    digits = tmp_path / "digits.npy"
    np.save(digits, np.zeros((2, 16, 16), np.float32))
    data = ["--data-dir", data_root, "--no-download"]
    args = {"eval": ["eval", path, *data], "predict": ["predict", path, digits],
            "resume": ["train", "--resume", path, "--out", out, *data],
            "init-from": ["train", "--init-from", path, "--recipe", "1989", "--epochs", "1", "--out", out, *data]}
    check_outcome(invoke(*args[command]), out)


@pytest.mark.parametrize("key, value, fragment", [
    ("epoch", float("nan"), "epoch"), ("epoch", "3", "epoch"), ("epoch", -1, "epoch"), ("epoch", 10 ** 9, "epoch"),
    ("position", [1], "position"), ("position", -5, "position"), ("seed", 2 ** 63, "seed"), ("seed", -1, "seed"),
    ("totals", [float("inf"), 0], "totals"), ("history", "x", "history"), ("dataset", "mnist", "dataset"),
    ("recipe.lr", float("nan"), "lr"), ("recipe.optimizer", "adam", "optimizer"), ("recipe.epochs", [23], "epochs"),
    ("arch", ["lenet1"], "architecture"), ("dtype", "float16", "dtype"), ("recipe.loss", "hinge", "loss"),
])
def test_each_metadata_field_is_checked_before_use(run_checkpoint, small_data, tmp_path, key, value, fragment):
    meta, arrays = contents(run_checkpoint())
    write_raw(tmp_path / "bad.npz", mutate_meta(meta, key, value), arrays)
    out = tmp_path / "out.npz"
    out.write_bytes(SENTINEL)
    res = invoke("train", "--resume", tmp_path / "bad.npz", "--out", out)
    no_crash(res)
    assert res.exit_code != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert fragment in res.stderr and str(tmp_path / "bad.npz") in res.stderr
    assert out.read_bytes() == SENTINEL


@pytest.mark.parametrize("dtype", ["int32", "bool", "complex64", "M8[s]", "float16", ">f4", [("a", "<f4")]])
def test_parameter_arrays_of_other_dtypes_are_refused(run_checkpoint, tmp_path, dtype):
    meta, arrays = contents(run_checkpoint())
    arrays["conv1.weight"] = np.zeros(arrays["conv1.weight"].shape, np.dtype(dtype))
    write_raw(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(CheckpointError, match="conv1.weight.*dtype"):
        read_run_checkpoint(tmp_path / "bad.npz")


def test_optimizer_state_of_the_wrong_shape_is_refused(run_checkpoint, tmp_path):
    meta, arrays = contents(run_checkpoint())
    arrays["state/h"] = np.ones(3127)
    write_raw(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(CheckpointError, match=r"state/h.*shape \(3127,\), expected \(3128,\)"):
        read_run_checkpoint(tmp_path / "bad.npz")


def bomb(path, entry="conv1.weight", n=300_000_000):
    """A valid checkpoint whose one array declares (and holds) n zeros: ~2.4 GB inflated
    from about 2.3 MB on disk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(entry + ".npy", "w", force_zip64=True) as m:
            header = {"descr": "<f8", "fortran_order": False, "shape": (n,)}
            np.lib.format.write_array_header_1_0(m, header)
            block = bytes(1 << 24)
            for _ in range(n * 8 // len(block)):
                m.write(block)
        meta = {"arch": "lenet1", "activation": "tanh", "output_activation": "identity", "format_version": 1,
                ENTRIES_KEY: [entry]}
        with zf.open(META_KEY + ".npy", "w") as m:
            np.lib.format.write_array(m, np.frombuffer(json.dumps(meta).encode(), np.uint8))


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    bomb(path)
    assert path.stat().st_size < 4 << 20
    return path


@pytest.mark.parametrize("command", ["eval", "predict", "resume", "init-from", "plain-load"])
def test_a_checkpoint_inflating_to_gigabytes_is_refused_cheaply(bomb_file, tmp_path, command):
    """Sizes are checked from the zip directory and the .npy header before reading: one
    line, in a child limited to 1 GB of address space (the bomb inflates to 2.4 GB)."""
    if command == "plain-load":  # the library without a spec still bounds every array
        with pytest.raises(CheckpointError, match="declares"):
            load_checkpoint(bomb_file)
        return
    out = tmp_path / "out.npz"
    out.write_bytes(SENTINEL)
    args = {"eval": ["eval", bomb_file], "predict": ["predict", bomb_file, "x.npy"],
            "resume": ["train", "--resume", bomb_file, "--out", out],
            "init-from": ["train", "--init-from", bomb_file, "--out", out]}
    assert_one_line_error(run_cli(*args[command], cwd=tmp_path), str(bomb_file), "declares")
    assert out.read_bytes() == SENTINEL


def test_a_checkpoint_file_larger_than_any_checkpoint_is_refused_unread(tmp_path):
    big = tmp_path / "big.npz"
    with open(big, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(100 << 20)  # sparse: costs no disk
    assert_one_line_error(run_cli("eval", big), "larger than any checkpoint")


def test_eval_of_a_fifo_refuses_at_once(tmp_path):
    fifo = tmp_path / "pipe.npz"
    import os

    os.mkfifo(fifo)
    assert_one_line_error(run_cli("eval", fifo, timeout=60), str(fifo), "not a regular file")


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a": ' * 50_000])
def test_deeply_nested_metadata_is_a_one_line_error(tmp_path, text):
    path = tmp_path / "deep.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open(META_KEY + ".npy", "w") as m:
            np.lib.format.write_array(m, np.frombuffer(text.encode(), np.uint8))
    with pytest.raises(CheckpointError, match="nested too deeply|not valid UTF-8 JSON"):
        load_checkpoint(path)


def declared_only(path, entry, shape, descr):
    """A checkpoint whose one array's header declares ``shape`` of ``descr`` but holds only
    a few bytes: a reader that trusts the header allocates what it declares."""
    meta = {"arch": "lenet1", "activation": "tanh", "output_activation": "identity", "format_version": 1,
            ENTRIES_KEY: [] if entry == META_KEY else [entry]}
    with zipfile.ZipFile(path, "w") as zf:
        if entry != META_KEY:
            with zf.open(entry + ".npy", "w") as m:
                np.lib.format.write_array_header_1_0(m, {"descr": descr, "fortran_order": False, "shape": shape})
                m.write(bytes(64))
        with zf.open(META_KEY + ".npy", "w") as m:
            if entry == META_KEY:
                np.lib.format.write_array_header_1_0(m, {"descr": "|u1", "fortran_order": False, "shape": shape})
                m.write(json.dumps(meta).encode())
            else:
                np.lib.format.write_array(m, np.frombuffer(json.dumps(meta).encode(), np.uint8))


@settings(max_examples=12, deadline=None)
@given(entry=st.sampled_from(["conv1.weight", "state/h", "state/step_sizes", META_KEY]),
       shape=st.lists(st.integers(1, 2 ** 20), min_size=1, max_size=3).filter(
           lambda s: int(np.prod(s, dtype=np.float64)) > 1 << 27),
       descr=st.sampled_from(["<f4", "<f8", "|u1", "<c16"]),
       command=st.sampled_from(["eval", "predict", "resume"]))
def test_fuzz_declared_sizes_in_a_child_under_a_memory_limit(tmp_path_factory, entry, shape, descr, command):
    """Headers declaring 128M+ elements: one line, non-zero exit, within 1 GB, nothing written."""
    d = tmp_path_factory.mktemp("declared")
    path = d / "c.npz"
    declared_only(path, entry, tuple(shape), descr)
    args = {"eval": ["eval", path], "predict": ["predict", path, "x.npy"],
            "resume": ["train", "--resume", path, "--out", d / "out.npz"]}[command]
    assert_one_line_error(run_cli(*args, cwd=d), str(path))
    assert sorted(p.name for p in d.iterdir()) == ["c.npz"]
