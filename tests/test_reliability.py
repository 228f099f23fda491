"""A user who trains for an hour must never lose work or get a silently wrong result.

* resuming (at an epoch boundary or mid-epoch, after Ctrl-C or SIGTERM) gives the same
  bits as never stopping; ``--checkpoint-every`` keeps the last good epoch on disk;
* a checkpoint killed mid-write (SIGKILL) is the old complete file or the new one;
* a diverging run stops with a message naming where, and keeps its last good checkpoint;
* damaged checkpoints, .npy inputs and data files give a one-line error, never a
  traceback, a hang or a different result;
* the same seed and options give the same bits, whatever the chunk size.

Training runs use the real USPS files (their sha256 is checked, so small fakes are
refused) with the fast recipes and two or three epochs, or a small slice of them handed
to ``lenet_numba.experiment.run`` where only the bookkeeping is under test.
"""

import gzip
import io
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_numba import experiment
from lenet_numba.checkpoint import load_checkpoint, save_checkpoint
from lenet_numba.data import load_usps, read_usps_file
from lenet_numba.data.parsed_cache import cache_path
from lenet_numba.data.sources import USPS_FILES
from lenet_numba.errors import CheckpointError, DataError
from lenet_numba.experiment import TrainConfig, model_from_checkpoint, run
from lenet_numba.model import Model
from lenet_numba.optim import SGD
from clitools import assert_ok, invoke, no_crash

TIMING = ("seconds", "samples_per_s")  # the only metrics allowed to differ between runs
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EPOCH_LINE = re.compile(r"^\s*(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+%")

pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: private parsed-data cache


def one_line_error(res, code=1):
    no_crash(res)
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def param_bytes(path):
    return {k: v.tobytes() for k, v in load_checkpoint(path)[0].items()}


def no_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def read_metrics(path):
    """A metrics file's records, each checked to name its numerics policy (which a checkpoint
    keeps once, in its metadata) and returned without it, as a checkpoint's history has them."""
    records = [json.loads(line) for line in open(path)]
    assert all(r.pop("numerics") in ("exact", "fast") for r in records)
    return records


# The run every resumed run is compared with: recipe "modern" (shuffled, augmented, rate
# decaying per epoch), seed 3. Its epoch-k checkpoint equals a k-epoch run's.
MODERN = ["--recipe", "modern", "--seed", "3"]


def config(data_root, dtype="float32", epochs=2, recipe="modern", **kw):
    return TrainConfig.from_options(recipe=recipe, seed=3, overrides=dict(epochs=epochs, dtype=dtype),
                       data_dir=str(data_root), download=False, **kw)


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory):
    """Uninterrupted runs, computed once per (recipe, dtype, epochs), with the checkpoint
    that ``checkpoint_every=1`` left on disk after every epoch (read inside on_epoch)."""
    cache = {}

    def get(dtype="float32", epochs=2, recipe="modern"):
        key = (recipe, dtype, epochs)
        if key not in cache:
            d = tmp_path_factory.mktemp(f"ref-{recipe}-{dtype}-{epochs}")
            out, metrics = d / "ref.npz", d / "ref.jsonl"
            seen = {}

            def on_epoch(stats):
                _, meta, _ = load_checkpoint(out)
                seen[stats.epoch] = (meta["epoch"], meta["position"], param_bytes(out))

            summary = run(config(data_root, dtype, epochs, recipe, out=str(out), metrics=str(metrics),
                                 checkpoint_every=1), on_epoch=on_epoch)
            cache[key] = {"out": out, "params": param_bytes(out), "metrics": read_metrics(metrics),
                          "seen": seen, "summary": summary}
        return cache[key]

    return get


# --------------------------------------------------------------------------- --checkpoint-every


def test_checkpoint_every_1_rewrites_out_after_each_epoch(reference):
    ref = reference("float32", 3)
    seen = ref["seen"]
    assert sorted(seen) == [1, 2, 3]
    for epoch, (meta_epoch, position, _) in seen.items():
        assert (meta_epoch, position) == (epoch, 0)
    assert len({seen[e][2]["conv1.weight"] for e in seen}) == 3  # really rewritten each time
    assert seen[3][2] == ref["params"]


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_at_an_epoch_boundary_is_bit_identical(reference, data_opts, tmp_path, dtype):
    ref = reference(dtype, 2)
    ckpt, metrics = tmp_path / "c.npz", tmp_path / "c.jsonl"
    common = [*MODERN, "--dtype", dtype, "--metrics", metrics, *data_opts]
    assert_ok(invoke("train", "--epochs", 1, "--out", ckpt, *common))
    assert load_checkpoint(ckpt)[1]["epoch"] == 1
    # the same file as --resume and --out
    summary = json.loads(assert_ok(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 2, "--json",
                                          *common)).stdout)

    assert summary["epochs"] == 2 and summary["test_error"] == ref["summary"]["test_error"]
    assert param_bytes(ckpt) == ref["params"]
    _, meta, _ = load_checkpoint(ckpt)
    assert (meta["epoch"], meta["position"], meta["dtype"]) == (2, 0, dtype)
    assert no_timing(read_metrics(metrics)) == no_timing(ref["metrics"])
    assert no_timing(meta["history"]) == no_timing(ref["metrics"])


def stop_after(epoch, chunks):
    """should_stop/on_chunk pair: stop once ``chunks`` chunks of (0-based) ``epoch`` are done."""
    count = {"n": 0}

    def on_chunk(e, done, total):
        if e == epoch:
            count["n"] += 1

    return on_chunk, lambda: count["n"] >= chunks


@pytest.mark.parametrize("dtype, recipe", [("float32", "modern"), ("float64", "modern"), ("float32", "1989")])
def test_resume_mid_epoch_is_bit_identical(reference, data_root, tmp_path, dtype, recipe):
    """Stopped twice inside a pass (as Ctrl-C does), resumed twice: the same bits and metrics.

    The 1989 recipe adds SDLM, whose per-pass step sizes must come back from the checkpoint.
    """
    ref = reference(dtype, 2, recipe)
    out, metrics = tmp_path / "c.npz", tmp_path / "c.jsonl"
    kw = dict(out=str(out), metrics=str(metrics))

    on_chunk, should_stop = stop_after(0, 5)
    s = run(config(data_root, dtype, 2, recipe, **kw), on_chunk=on_chunk, should_stop=should_stop)
    assert s["interrupted"] and s["epochs"] == 0 and s["position"] == 5 * 512
    _, meta, state = load_checkpoint(out)
    assert (meta["epoch"], meta["position"]) == (0, 2560)
    assert not metrics.exists()  # no pass finished: nothing to record, nothing written

    on_chunk, should_stop = stop_after(1, 3)
    s = run(config(data_root, dtype, 2, recipe, resume=str(out), **kw), on_chunk=on_chunk, should_stop=should_stop)
    assert s["interrupted"] and s["epochs"] == 1 and s["position"] == 3 * 512
    assert load_checkpoint(out)[1]["position"] == 1536

    s = run(config(data_root, dtype, 2, recipe, resume=str(out), **kw))
    assert not s["interrupted"] and s["epochs"] == 2
    assert param_bytes(out) == ref["params"]
    assert no_timing(read_metrics(metrics)) == no_timing(ref["metrics"])  # running loss/error included
    assert no_timing(load_checkpoint(out)[1]["history"]) == no_timing(ref["metrics"])


def test_resume_past_the_end_is_refused_and_changes_nothing(reference, data_opts, tmp_path):
    ref = reference("float32", 2)
    ckpt = tmp_path / "done.npz"
    ckpt.write_bytes(ref["out"].read_bytes())
    line = one_line_error(invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 1, *data_opts), code=2)
    assert str(ckpt) in line and "already trained 2 epochs" in line
    assert ckpt.read_bytes() == ref["out"].read_bytes()


# --------------------------------------------------------------------------- bookkeeping on small data


def test_metrics_after_a_crash_and_resume_match_an_uninterrupted_run(small_data, tmp_path):
    def cfg(epochs, out, metrics, **kw):
        return TrainConfig.from_options(recipe="article", seed=1, overrides=dict(epochs=epochs), out=str(out), metrics=str(metrics),
                           checkpoint_every=2, **kw)

    run(cfg(4, tmp_path / "ref.npz", tmp_path / "ref.jsonl"))

    class Crash(Exception):
        pass

    def crash(stats):
        if stats.epoch == 3:  # epoch 3 is in the metrics file, the checkpoint holds epoch 2
            raise Crash

    with pytest.raises(Crash):
        run(cfg(4, tmp_path / "c.npz", tmp_path / "c.jsonl"), on_epoch=crash)
    assert load_checkpoint(tmp_path / "c.npz")[1]["epoch"] == 2
    run(cfg(4, tmp_path / "c.npz", tmp_path / "c.jsonl", resume=str(tmp_path / "c.npz")))
    assert param_bytes(tmp_path / "c.npz") == param_bytes(tmp_path / "ref.npz")
    assert [r["epoch"] for r in read_metrics(tmp_path / "c.jsonl")] == [1, 2, 3, 4]


@pytest.mark.parametrize("option", [["--lr", "0.5"], ["--dtype", "float64"], ["--seed", "9"]])
def test_resume_with_a_conflicting_option_is_refused_or_honoured(small_data, tmp_path, option):
    ckpt = tmp_path / "c.npz"
    assert_ok(invoke("train", "--recipe", "article", "--epochs", 1, "--out", ckpt))
    res = invoke("train", "--resume", ckpt, "--out", ckpt, "--epochs", 2, *option)
    if res.exit_code == 0:
        _, meta, _ = load_checkpoint(ckpt)
        got = {"--lr": meta["recipe"]["lr"], "--dtype": meta["dtype"], "--seed": meta["seed"]}[option[0]]
        assert str(got) == option[1]
    else:
        assert option[0] in one_line_error(res, 2)


# --------------------------------------------------------------------------- divergence


def test_divergence_stops_with_where_and_keeps_the_last_good_checkpoint(data_opts, tmp_path, monkeypatch):
    """A rate that is fine for epoch 1 and absurd (1e6) from epoch 2 on, with an MSE loss on linear
    outputs so the weights really blow up: exit 1 naming epoch and sample; the epoch-1 checkpoint stays."""
    common = ["--recipe", "article", "--loss", "mse", *data_opts]
    good = tmp_path / "one-epoch.npz"
    assert_ok(invoke("train", "--epochs", 1, "--out", good, *common))

    monkeypatch.setattr(experiment, "make_optimizer",
                        lambda recipe, seed=0: SGD(lambda e: recipe.lr if e == 0 else 1e6))
    out, metrics = tmp_path / "c.npz", tmp_path / "c.jsonl"
    res = invoke("train", "--epochs", 3, "--checkpoint-every", 1, "--out", out, "--metrics", metrics, *common)
    line = one_line_error(res, 1)
    assert re.search(r"training diverged: .*epoch 2, sample \d+ \(position \d+\)", line), line
    _, meta, _ = load_checkpoint(out)  # loads: finite parameters
    assert (meta["epoch"], meta["position"]) == (1, 0)
    assert param_bytes(out) == param_bytes(good)
    assert [r["epoch"] for r in read_metrics(metrics)] == [1]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- signals


def start_train(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lenet_numba_cli.main", "train", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines, err = queue.Queue(), []

    def pump(stream, sink):
        for line in stream:
            sink(line)
        stream.close()

    threads = [threading.Thread(target=pump, args=(proc.stdout, lines.put), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err.append), daemon=True)]
    for t in threads:
        t.start()
    return proc, lines, err, threads


def finish(proc, threads, timeout=120):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"lenet-numba train did not finish within {timeout} s")
    for t in threads:
        t.join(10)
    return proc.returncode


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_says_how_to_resume_and_resume_is_bit_identical(reference, data_opts, tmp_path, signum, code):
    ref = reference("float32", 3)
    args = ["--epochs", 3, *MODERN, "--out", "c.npz", "--checkpoint-every", 1, *data_opts]
    proc, lines, err, threads = start_train(args, tmp_path)
    out = []
    deadline = time.monotonic() + 120
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            pytest.fail(f"no epoch line within 120 s; stdout so far: {out}, stderr: {err}")
        out.append(line)
        m = EPOCH_LINE.match(line)
        if m and m.group(1) == "1":
            break
    assert load_checkpoint(tmp_path / "c.npz")[1]["epoch"] == 1  # --checkpoint-every already wrote it
    proc.send_signal(signum)
    rc = finish(proc, threads)
    while not lines.empty():
        out.append(lines.get())
    stderr = "".join(err)
    assert rc == code, (rc, out, stderr)
    assert "Traceback" not in stderr and "Traceback" not in "".join(out)
    assert "Resume with: lenet-numba train --resume c.npz --out c.npz" in stderr, stderr

    _, meta, _ = load_checkpoint(tmp_path / "c.npz")
    assert (meta["epoch"], meta["position"]) < (3, 0)  # really stopped early, and the file loads
    model_from_checkpoint(tmp_path / "c.npz")

    # the printed command, as printed (it needs only the data location added)
    command = stderr.split("Resume with: lenet-numba train ")[1].split(" (and")[0].split()
    proc, lines, err, threads = start_train([*command, *data_opts], tmp_path)
    rc = finish(proc, threads)
    assert rc == 0, "".join(err)
    _, meta, _ = load_checkpoint(tmp_path / "c.npz")
    assert (meta["epoch"], meta["position"]) == (3, 0)
    assert param_bytes(tmp_path / "c.npz") == ref["params"]
    assert no_timing(meta["history"]) == no_timing(ref["metrics"])


# --------------------------------------------------------------------------- atomic writes vs SIGKILL

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from lenet_numba.checkpoint import save_checkpoint

    path, version = sys.argv[1], int(sys.argv[2])
    base = np.arange(4_000_000, dtype=np.float32)  # 16 MB: most of the time is spent inside a write
    print("ready", flush=True)
    while True:
        save_checkpoint(path, {"w": base + version, "v": np.full(1000, version, np.int64)},
                        {"arch": "fuzz", "version": version})
        version += 1
""")


def test_checkpoint_killed_mid_write_is_always_a_complete_version(tmp_path):
    """SIGKILL at random moments while a process rewrites one checkpoint over and over: the
    final name always holds one complete version, never a torn or older one."""
    path = tmp_path / "c.npz"
    base = np.arange(4_000_000, dtype=np.float32)
    save_checkpoint(path, {"w": base, "v": np.zeros(1000, np.int64)}, {"arch": "fuzz", "version": 0})
    (tmp_path / "writer.py").write_text(WRITER)
    rng = random.Random(1234)
    last, progressed, inside_a_write = 0, 0, 0
    for kill in range(10):
        start = (kill + 1) * 1_000_000
        proc = subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(path), str(start)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.5))
        finally:
            proc.kill()  # SIGKILL
            proc.wait(timeout=30)
            proc.stdout.close()
        params, meta, _ = load_checkpoint(path)  # never torn: loads, CRCs and entry list check out
        v = meta["version"]
        assert params["w"].tobytes() == (base + v).tobytes() and (params["v"] == v).all()
        assert v >= last  # never an older version
        progressed += v >= start
        last = v
        # what this kill left (the next writer removes it, so look now)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("c.npz", "writer.py")]
        assert all(re.fullmatch(r"\.c\.npz\..+\.tmp", n) for n in leftovers), leftovers
        inside_a_write += bool(leftovers)
    assert progressed >= 5, "the writer hardly ever finished a write: the kills tested little"
    assert inside_a_write, "no kill landed inside a write: the test tested nothing"
    # a SIGKILLed writer cannot clean up its temp file: the next write of that file does
    save_checkpoint(path, {"w": base, "v": np.zeros(1000, np.int64)}, {"arch": "fuzz", "version": -1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "writer.py"]


# --------------------------------------------------------------------------- fuzzing


def mutations(n):
    """Ways a file gets damaged: truncation, bit flips, overwritten or inserted bytes, garbage."""
    pos = st.integers(0, max(n - 1, 0))
    return st.one_of(
        st.tuples(st.just("truncate"), pos),
        st.tuples(st.just("flip"), st.lists(st.tuples(pos, st.integers(0, 7)), min_size=1, max_size=4)),
        st.tuples(st.just("overwrite"), pos, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("garbage"), st.binary(max_size=4096)),
    )


def mutate(data, m, lo=0):
    """Apply mutation ``m``; positions are offsets from ``lo`` (to aim at one region)."""
    kind = m[0]
    if kind == "truncate":
        return data[: lo + m[1]]
    if kind == "flip":
        b = bytearray(data)
        for p, bit in m[1]:
            b[min(lo + p, len(b) - 1)] ^= 1 << bit
        return bytes(b)
    if kind == "overwrite":
        p = lo + m[1]
        return data[:p] + m[2] + data[p + len(m[2]):]
    if kind == "insert":
        return data[: lo + m[1]] + m[2] + data[lo + m[1]:]
    return m[1]


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_ckpt")
    model = Model("lenet1", "tanh", "identity", "float32", seed=5)
    path = d / "m.npz"
    save_checkpoint(path, model.state_dict(), {"arch": "lenet1", "activation": "tanh",
                                               "output_activation": "identity", "dtype": "float32",
                                               "epoch": 1}, {"step_sizes": np.full(model.n_params, 0.01, np.float32)})
    np.save(d / "x.npy", np.linspace(-1, 1, 3 * 256, dtype=np.float32).reshape(3, 16, 16))
    answer = assert_ok(invoke("predict", path, d / "x.npy")).stdout
    return {"path": path, "bytes": path.read_bytes(), "loaded": load_checkpoint(path), "dir": d, "answer": answer}


def same_checkpoint(a, b):
    (pa, ma, sa), (pb, mb, sb) = a, b
    return (ma == mb and list(pa) == list(pb) and list(sa) == list(sb)
            and all(pa[k].dtype == pb[k].dtype and pa[k].tobytes() == pb[k].tobytes() for k in pa)
            and all(sa[k].tobytes() == sb[k].tobytes() for k in sa))


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoint_library_error_or_identical(small_ckpt, tmp_path, data):
    m = data.draw(mutations(len(small_ckpt["bytes"])))
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(mutate(small_ckpt["bytes"], m))
    try:
        got = load_checkpoint(path)
    except CheckpointError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    assert same_checkpoint(got, small_ckpt["loaded"]), m  # never a silently different checkpoint
    model, _ = model_from_checkpoint(path)
    assert model.n_params == 3128


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoint_cli_one_line_error_or_same_answer(small_ckpt, tmp_path, data):
    x = small_ckpt["dir"] / "x.npy"
    m = data.draw(mutations(len(small_ckpt["bytes"])))
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(mutate(small_ckpt["bytes"], m))
    res = invoke("predict", path, x)
    if res.exit_code == 0:
        assert res.stdout == small_ckpt["answer"]
    else:
        assert str(path) in one_line_error(res, 1)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


NPY = npy_bytes(np.linspace(-0.9, 0.9, 4 * 256, dtype=np.float32).reshape(4, 16, 16))
NPY_HEADER = 128  # version 1.0 header, padded to 128 bytes by numpy


@FUZZ
@given(m=mutations(len(NPY) - NPY_HEADER))
def test_fuzz_npy_data_cli_one_line_error_or_an_answer(small_ckpt, tmp_path, m):
    """Damage after the .npy header: a changed value may go unnoticed (.npy has no checksum),
    but it is an answer for every digit or one error line, never a traceback."""
    path = tmp_path / "fuzzed.npy"
    path.write_bytes(mutate(NPY, m, lo=NPY_HEADER) if m[0] != "garbage" else NPY[:NPY_HEADER] + m[1])
    res = invoke("predict", small_ckpt["path"], path, "--json")
    if res.exit_code == 0:
        assert len(json.loads(res.stdout)) >= 1
    else:
        assert str(path) in one_line_error(res, 1)


@pytest.mark.parametrize("offset, value", [(10, ord("z")),   # '{' of the header dict -> TokenError
                                           (8, 0x36),        # header length 118 -> 54: TokenError
                                           (22, ord(","))])  # "'<f4'" -> "',f4'": SyntaxError
def test_damaged_npy_header_is_a_one_line_error(small_ckpt, tmp_path, offset, value):
    b = bytearray(NPY)
    b[offset] = value
    path = tmp_path / "damaged.npy"
    path.write_bytes(bytes(b))
    assert str(path) in one_line_error(invoke("predict", small_ckpt["path"], path), 1)


def esl_text(seed, n=12):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    pixels = rng.uniform(-1, 1, (n, 256))
    return "".join(f"{y:.4f} " + " ".join(f"{v:.4f}" for v in row) + "\n" for y, row in zip(labels, pixels)).encode()


ESL = esl_text(0)
ESL_GZ = gzip.compress(ESL, mtime=0)


@FUZZ
@given(compressed=st.booleans(), data=st.data())
def test_fuzz_esl_file_data_error_or_valid(tmp_path, compressed, data):
    """A damaged ESL file gives a DataError naming the file, or digits that are still valid;
    gzip's CRC means a damaged .gz never yields different digits."""
    original = ESL_GZ if compressed else ESL
    m = data.draw(mutations(len(original)))
    path = tmp_path / ("zip.fuzz.gz" if compressed else "zip.fuzz")
    path.write_bytes(mutate(original, m))
    try:
        x, y = read_usps_file(path)
    except DataError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    assert x.dtype == np.float32 and x.shape[1:] == (16, 16) and len(x) == len(y) >= 1
    assert np.all(np.abs(x) <= 1) and set(y.tolist()) <= set(range(10))
    if compressed and path.read_bytes()[:2] == b"\x1f\x8b":
        x0, y0 = read_usps_file_bytes(ESL_GZ, tmp_path)
        assert x.tobytes() == x0.tobytes() and y.tobytes() == y0.tobytes(), m


def read_usps_file_bytes(raw, tmp_path):
    p = tmp_path / "zip.original.gz"
    p.write_bytes(raw)
    return read_usps_file(p)


# The parsed-data cache (lenet_numba/data/parsed_cache.py): an .npz of the parsed USPS
# arrays in the user cache. Damaged, it must be re-parsed, never trusted or fatal.


@pytest.fixture(scope="module")
def usps_test_cache(data_root):
    x, y = load_usps("test", str(data_root), download=False)  # writes the cache
    path = cache_path("zip.test.gz", USPS_FILES["zip.test.gz"][2])
    assert path.is_file()
    return {"x": x, "y": y, "path": path, "bytes": path.read_bytes()}


@pytest.fixture
def usps_test(usps_test_cache):
    yield usps_test_cache
    usps_test_cache["path"].write_bytes(usps_test_cache["bytes"])  # later tests get a sound cache


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(m=mutations(2000))
def test_fuzz_parsed_cache_data_damage_never_changes_the_digits(usps_test, data_root, m):
    """Damage inside the cached pixel array (past the member headers) is caught by the zip CRC."""
    raw = usps_test["bytes"]
    lo = raw.index(b"NUMPY") + 200
    usps_test["path"].write_bytes(mutate(raw, m, lo=lo) if m[0] != "garbage" else raw[:lo] + m[1])
    x, y = load_usps("test", str(data_root), download=False)
    assert x.tobytes() == usps_test["x"].tobytes() and y.tobytes() == usps_test["y"].tobytes()


def damage_cache(raw, how):
    b = bytearray(raw)
    if how == "npy-header":  # '{' of x.npy's header dict -> numpy raises tokenize.TokenError
        b[raw.index(b"{'descr'")] = ord("z")
    else:  # the central directory entry of the first member (x.npy)
        cd = raw.index(b"PK\x01\x02")
        if how == "method":
            b[cd + 10] = 99  # compression method 99 -> zipfile raises NotImplementedError
        else:
            b[cd + 8] |= 1  # "encrypted" flag bit -> zipfile raises RuntimeError
    return bytes(b)


@pytest.mark.parametrize("how", ["npy-header", "method", "encrypted"])
def test_damaged_parsed_cache_is_reparsed(usps_test, data_root, how):
    usps_test["path"].write_bytes(damage_cache(usps_test["bytes"], how))
    x, y = load_usps("test", str(data_root), download=False)  # re-parsed from the verified source
    assert x.tobytes() == usps_test["x"].tobytes() and y.tobytes() == usps_test["y"].tobytes()


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("chunk", [512, 1, 333])
def test_same_seed_same_bits_whatever_the_chunk_size(reference, data_opts, tmp_path, chunk):
    """One epoch of the shuffled, augmented recipe: the same parameter bytes as the reference
    run (a separate run with chunk 512), with chunk sizes that split the pass differently."""
    ref = reference("float32", 3)
    out = tmp_path / "d.npz"
    assert_ok(invoke("train", "--epochs", 1, *MODERN, "--chunk-size", chunk, "--out", out, *data_opts))
    assert param_bytes(out) == ref["seen"][1][2]


def test_sdlm_same_bits_with_chunk_size_1(reference, data_opts, tmp_path):
    ref = reference("float32", 2, "1989")
    out = tmp_path / "d.npz"
    assert_ok(invoke("train", "--epochs", 1, "--recipe", "1989", "--seed", 3, "--chunk-size", 1, "--out", out,
                     *data_opts))
    assert param_bytes(out) == ref["seen"][1][2]
