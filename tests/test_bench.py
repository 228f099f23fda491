"""The speed harness's own arithmetic: the FLOP counts, the NumPy reference network, the
peers' network and the reports."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import flops  # noqa: E402
import numpy_reference  # noqa: E402

from lenet_numba import architectures  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from lenet_numba.train import train  # noqa: E402


def test_forward_multiply_adds_are_the_papers_connections():
    """LeCun et al. 1989: the zip-code net has 64,660 connections (multiply-adds + biases)."""
    c = flops.count("zipcode1989")
    assert c["macs_forward"] + (12 * 8 * 8 + 12 * 4 * 4 + 30 + 10) == 64_660
    assert architectures.build("zipcode1989").connections == 64_660


def test_lenet1_counts_by_hand():
    c = flops.count("lenet1")
    conv1, conv2 = 4 * 16 * 16 * 25, 12 * 4 * 4 * 4 * 25
    assert c["macs_forward"] == conv1 + conv2 + 48 * 30 + 30 * 10
    # backward: dW (2/MAC) and db sums; dX (2/MAC) for every layer but the first;
    # subsampling 5 per output, + 1 per input for its dx
    backward = ((2 * conv1 + 4 * 256)                         # conv1: no dx
                + (5 * 4 * 8 * 8 + 4 * 16 * 16)               # pool1
                + (2 * conv2 + 12 * 16 + 2 * conv2)           # conv2
                + (5 * 12 * 2 * 2 + 12 * 4 * 4)               # pool2
                + (48 * 30 + 2 * 48 * 30) + (30 * 10 + 2 * 30 * 10))  # fc1, fc2
    assert c["backward"] == backward == 137_172
    assert c["update"] == 2 * 3128


@pytest.mark.parametrize("arch", ["lenet1", "zipcode1989"])
def test_numpy_reference_is_the_same_network(arch):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (20, 16, 16))
    y = rng.integers(0, 10, 20)
    m = Model(arch, "tanh", "identity", dtype="float64", seed=1)
    ref = numpy_reference.NumpyNet(m)
    np.testing.assert_allclose(ref.forward_batch(x), m.predict(x), rtol=1e-12, atol=1e-12)
    train(m, x, y, epochs=1, lr=0.05, loss="ce")
    ref.sgd_pass(x, y, 0.05)
    np.testing.assert_allclose(ref.params, m.params, rtol=1e-10, atol=1e-12)


def _speed_result(train_new_us, cold_s):
    """A bench/speed.py results file in miniature: one SGD workload and the two start-ups
    (an SGD run's cold start 15 s, the default recipe's cold_s)."""
    stat = lambda v: {"median": v, "min": v, "max": v, "all": [v]}  # noqa: E731
    start = lambda s: {"cold": stat(s), "warm": stat(0.4), "cold_cpu": stat(s), "warm_cpu": stat(0.4)}  # noqa: E731
    return {"workloads": {"train/lenet1/float32": {"items": 7291, "baseline": {"cpu": stat(7.2)},
                                                   "new": {"cpu": stat(train_new_us)}}},
            "settings": {"start_commands": {"sgd": ["--optimizer", "sgd"], "default": ["--epochs", "1"]}},
            "targets": {"cold_s": 20.0, "warm_s": 1.0,  # what the file was measured against
                        "train": {"train/lenet1/float32": 1.8}},
            "start": {"baseline": {"sgd": start(18.0), "default": start(24.0)},
                      "new": {"sgd": start(15.0), "default": start(cold_s)}}}


def test_speed_shortfalls_say_how_far_off_and_where_the_time_goes():
    import speed
    roofline = {"tables": [{"arch": "lenet1", "dtype": "float32", "peak": 100.0,
                            "rows": [["conv1", "conv fwd", 1.0, 50_000, 0], ["conv1", "activation fwd", 3.0, 0, 0]]}]}
    (line, cold) = speed.shortfalls(_speed_result(5.0, 30.0), roofline)
    # 7.2 / 1.8 = 4.0 us would meet the target: 5.0 is 20% too slow
    assert "1.44× of ≥ 1.8×" in line and "where 4.00 would meet it (20% to cut)" in line
    assert "conv1 activation fwd 75% (no FLOPs counted), conv1 conv fwd 25% (50% of peak)" in line
    assert cold.startswith("- `train --epochs 1`")
    assert "30.0 s to the first training sample where 20 s would meet it (33% to cut)" in cold
    assert speed.shortfalls(_speed_result(3.9, 19.0), roofline) == []  # all met: nothing to say
    untargeted = _speed_result(3.9, 19.0)
    del untargeted["targets"]  # no targets recorded: today's (8 s cold, 0.5 s warm) apply
    assert [m for m in speed.shortfalls(untargeted, roofline) if "where 8 s would meet it" in m] != []
    no_start = _speed_result(5.0, 30.0)
    del no_start["start"]  # a results file without start-up figures still lists the rest
    assert speed.shortfalls(no_start, {"tables": []}) == [line.split(". Largest")[0] + "."]


# ---- bench/peers.py: the peers that compile


def test_the_jax_peer_trains_the_same_network_as_the_engine(tmp_path):
    """bench/peers.py's JAX LeNet-1 (its own layers, from the engine's initial weights) makes
    the same per-sample SGD updates as the compiled loop, to float32 rounding. JAX runs in a
    process of its own: its threads in this one would make every later fork unsafe."""
    if importlib.util.find_spec("jax") is None:  # not imported here: see above
        pytest.skip("jax not installed (pip install jax jaxlib)")
    import peers

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (30, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 30)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    code = ("import sys, numpy as np, peers; d = sys.argv[1]; "
            "np.save(d + '/theirs.npy', np.array(peers.jax_peer(np.load(d + '/x.npy'), np.load(d + '/y.npy'))(30)))")
    bench = os.path.dirname(peers.__file__)
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=600, cwd=bench,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join([bench, os.path.dirname(bench)])})
    theirs = np.load(tmp_path / "theirs.npy")
    ours = np.array(peers.numba_peer(x, y)(30))
    start = np.concatenate([v.ravel() for v in peers.initial_params()[0].values()])
    moved = np.abs(ours - start).max()
    assert moved > 1e-3                                   # the pass changed the weights...
    assert np.abs(theirs - ours).max() < 1e-3 * moved     # ...and both changed them alike


def test_the_peers_table_names_skipped_and_failed_peers_and_ratios_against_the_engine():
    import peers

    def row(first, us, diff):
        return {"first_sample_s": {"median": first, "min": first, "max": first},
                "first_sample_cpu_s": {"median": first, "min": first, "max": first},
                "us_per_sample": {"median": us, "min": us, "max": us}, "versions": {"x": "1"},
                "max_abs_param_diff": diff}

    res = {"command": "python bench/peers.py", "commit": "abc1234", "loadavg_start": [1, 1, 1],
           "loadavg_end": [1, 1, 1], "skipped": ["torch-eager"],
           "machine": {"cpu": "AMD EPYC", "family": 25, "model": 17, "core": "Zen 4"},
           "settings": {"repeats": 3, "samples": 1000, "lr": 0.01},
           "peers": {"lenet-numba": row(20.0, 5.0, 0.0), "lenet-numba-warm": row(1.0, 5.0, 0.0),
                     "jax": row(2.0, 60.0, 1e-7), "torch-compile": {"errors": ["exit 1: no compiler"]}}}
    text = peers.markdown(res)
    assert "| PyTorch eager | not installed |" in text
    assert "failed: exit 1: no compiler" in text
    jax_row = next(line for line in text.splitlines() if line.startswith("| JAX"))
    assert "| 12.0× |" in jax_row and "| 2.0 [2.0–2.0] |" in jax_row


def test_the_compile_events_table_shares_add_up():
    import compile_events

    fns = {f"f{i}": {"inclusive_s": 2.0 * i, "exclusive_s": float(i)} for i in range(1, 16)}
    res = {"command": "python bench/compile_events.py", "commit": "abc1234", "numba": "0.68.1",
           "machine": {"cpu": "AMD EPYC", "family": 25, "model": 17, "core": "Zen 4"}, "loadavg_start": [1, 1, 1],
           "train_args": ["--epochs", "1"], "wall_s": 130.0, "cpu_s": 125.0, "llvm_lock_s": 30.0,
           "compile_s": sum(t["exclusive_s"] for t in fns.values()), "functions": fns}
    text = compile_events.markdown(res)
    rows = [line for line in text.splitlines() if line.startswith("| `f") or line.startswith("| 3 others")]
    assert rows[0].startswith("| `f15` | 15.0 | 30.0 |") and len(rows) == compile_events.TOP + 1
    assert "| 3 others | 6.0 |" in rows[-1]
    assert "of which 30.0 s in LLVM (25%" in text
