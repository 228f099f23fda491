"""Per-sample SGD of LeNet-1 against the peers a user could pick, single-threaded, in one run.

    python bench/peers.py [--out peers.json] [--repeats 3] [--samples 2000] [--data DIR] [--cpu N]
                          [--peers lenet-numba torch-eager torch-compile jax]
    python bench/peers.py --render bench/results/peers.json         # docs/performance.md's table

The same network (LeNet-1 as lenet_numba builds it: tanh hidden units, identity output,
softmax cross-entropy, 3,128 parameters, float32), the same initial weights (``Model
("lenet1", "tanh", "identity", seed=0)``), the same USPS training digits in file order,
lr 0.01, one update after every sample:

* lenet-numba: the compiled loop ``train.train_chunk`` (what ``lenet-numba train`` runs);
* PyTorch, eager: lenet_numba.interop's module, ``optimizer.step()`` after every sample;
* PyTorch, ``torch.compile``: the same module and loss compiled (forward and backward), and
  the optimizer's step compiled;
* JAX: one ``jax.jit`` of a ``lax.scan`` whose body is one sample's SGD step
  (``jax.grad`` of the loss, ``params - lr * grad``).

Each peer runs in fresh processes (one at a time, the order alternating between repeats),
pinned to one CPU (--cpu, default: the first this process may use) with every thread
pool set to 1. Reported per peer, medians over --repeats fresh processes:

* time to the first sample: wall seconds from launching the process to the end of its
  first training sample (imports, data, building the network, compiling), and the CPU
  seconds the process (and compile workers it waited for) spent to get there, on an
  empty compile cache (lenet-numba's JIT cache, TorchInductor's cache: fresh temporary
  folders; JAX keeps none by default), and for lenet-numba also on the cache the cold
  process left (warm);
* steady state: µs per sample of process CPU time over a pass of --samples digits, after
  one untimed pass (JAX: the compiled scan over those samples, its compile excluded).

And the same computation: max |Δ parameter| of each peer against lenet-numba after the
same 100-sample pass from the same initial weights.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

PEERS = ("lenet-numba", "torch-eager", "torch-compile", "jax")
THREADS = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "LENET_NUMBA_COMPILE_AHEAD": "0",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
           "JAX_PLATFORMS": "cpu"}
LR = 0.01
AGREE_SAMPLES = 100


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inside a peer's process

def load_digits(data_dir):
    """(x float32 (N, 16, 16), y int64, source)."""
    import numpy as np
    try:
        from lenet_numba.data.usps import load_usps
        x, y = load_usps("train", data_dir=data_dir, download=False)
        return np.asarray(x, np.float32), np.asarray(y, np.int64), "USPS zip.train"
    except Exception as e:  # noqa: BLE001  speed does not depend on the pixel values
        rng = np.random.default_rng(0)
        return (rng.uniform(-1, 1, (7291, 16, 16)).astype(np.float32), rng.integers(0, 10, 7291),
                f"random stand-in digits (USPS not found: {type(e).__name__})")


def initial_params():
    """{name: float32 array} of Model("lenet1", "tanh", "identity", seed=0)."""
    from lenet_numba.model import Model
    m = Model("lenet1", "tanh", "identity", dtype="float32", seed=0)
    return {n: m[n].copy() for n in m.param_names}, list(m.param_names)


def numba_peer(x, y):
    """run(n): an n-sample pass (from fresh weights at the first call and for the agreement
    pass, else from where the last pass left them); returns the flat parameters. Likewise
    torch_peer and jax_peer (JAX's passes always start from the initial weights)."""
    import numpy as np
    from lenet_numba.kernels.losses import NAMES
    from lenet_numba.model import Model
    from lenet_numba.train import train_chunk

    state = {}

    def run(n):
        m = state.get("model")
        if m is None or n == AGREE_SAMPLES:
            m = state["model"] = Model("lenet1", "tanh", "identity", dtype="float32", seed=0)
            xs, ys = m.as_images(x), np.ascontiguousarray(y, np.int64)
            acts, dacts, grads = m.buffers()
            state["args"] = (m.table, m.pad_values, m.conn, m.params, acts, dacts, grads,
                             np.full(m.n_params, LR, np.float32), xs, ys, np.arange(len(ys), dtype=np.int64))
        bad = train_chunk(*state["args"], 0, n, NAMES["ce"], np.zeros(2), None, 0, 0,
                          np.zeros((16, 16), np.float32), np.zeros(0), 0.0, 0.0)
        assert bad < 0, "diverged"
        return m.params
    return run


def torch_peer(x, y, compiled):
    import torch
    import torch.nn.functional as F

    import torch_reference
    torch_reference.setup_threads()
    xt, yt = torch_reference.tensors(x, y, "float32")
    state = {}

    def fresh():
        net = torch_reference.module("lenet1", "float32", seed=0)
        opt = torch.optim.SGD(net.parameters(), lr=LR)

        def loss_of(xi, yi):
            return F.cross_entropy(net(xi), yi)

        def update():
            opt.step()
        if compiled:
            loss_of, update = torch.compile(loss_of), torch.compile(update)
        state.update(net=net, opt=opt, loss_of=loss_of, update=update)

    def run(n):
        if "net" not in state or n == AGREE_SAMPLES:
            fresh()
        opt, loss_of, update = state["opt"], state["loss_of"], state["update"]
        for i in range(n):
            loss = loss_of(xt[i:i + 1], yt[i:i + 1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            update()
        return torch_reference.flat_params(state["net"], initial_params()[1])
    return run


def jax_peer(x, y):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    params0, names = initial_params()
    dn = ("NCHW", "OIHW", "NCHW")

    def conv(h, w, b, pad):
        out = lax.conv_general_dilated(h[None], w, (1, 1), [(pad, pad), (pad, pad)], dimension_numbers=dn)[0]
        return out + b[:, None, None]

    def subsample(h, a, b):
        C, H, W = h.shape
        return a[:, None, None] * h.reshape(C, H // 2, 2, W // 2, 2).mean(axis=(2, 4)) + b[:, None, None]

    def logits(p, image):
        h = jnp.tanh(conv(image[None], p["conv1.weight"], p["conv1.bias"], 2))
        h = jnp.tanh(subsample(h, p["pool1.alpha"], p["pool1.beta"]))
        h = jnp.tanh(conv(h, p["conv2.weight"], p["conv2.bias"], 0))
        h = jnp.tanh(subsample(h, p["pool2.alpha"], p["pool2.beta"]))
        h = jnp.tanh(p["fc1.weight"] @ h.reshape(-1) + p["fc1.bias"])
        return p["fc2.weight"] @ h + p["fc2.bias"]

    def loss(p, image, label):
        return -jax.nn.log_softmax(logits(p, image))[label]

    def step(p, sample):
        g = jax.grad(loss)(p, *sample)
        return jax.tree_util.tree_map(lambda v, d: v - LR * d, p, g), None

    @jax.jit
    def sgd_pass(p, images, labels):
        return lax.scan(step, p, (images, labels))[0]

    xs, ys = jnp.asarray(x), jnp.asarray(y, jnp.int32)
    compiled = {}

    def run(n):
        if n not in compiled:
            compiled[n] = sgd_pass.lower(params0, xs[:n], ys[:n]).compile()
        p = compiled[n](params0, xs[:n], ys[:n])
        p = jax.block_until_ready(p)
        return np.concatenate([np.asarray(p[k]).ravel() for k in names])
    return run


def peer_main(peer, launched, samples, data_dir):
    """A peer's process: time to its first sample, steady µs/sample, the agreement pass."""
    x, y, source = load_digits(data_dir)
    if peer == "lenet-numba":
        run = numba_peer(x, y)
    elif peer == "jax":
        run = jax_peer(x, y)
    else:
        run = torch_peer(x, y, compiled=peer == "torch-compile")
    run(1)  # imports, data, network, compile, and the first sample's update
    first_s = time.time() - launched
    t = os.times()  # CPU of this process and the ones it waited for (TorchInductor's compile workers)
    first_cpu_s = t.user + t.system + t.children_user + t.children_system
    run(samples)  # untimed (JAX: compiles the scan for this pass length)
    cpu = []
    for _ in range(3):
        c0 = time.process_time()
        run(samples)
        cpu.append((time.process_time() - c0) / samples * 1e6)
    params = run(AGREE_SAMPLES)
    print("PEER " + json.dumps({"first_sample_s": first_s, "first_sample_cpu_s": first_cpu_s, "us_per_sample": cpu, "source": source,
                                "params": [float(v) for v in params], "versions": versions(peer)}), flush=True)


def versions(peer):
    import numpy as np
    v = {"numpy": np.__version__}
    if peer == "lenet-numba":
        import numba
        v["numba"] = numba.__version__
    elif peer == "jax":
        import jax
        v["jax"] = jax.__version__
    else:
        import torch
        v["torch"] = torch.__version__
    return v


# ---------------------------------------------------------------- the driver

def launch(peer, samples, data_dir, cpu, env):
    """One fresh peer process pinned to ``cpu``; its PEER record, or {"error": ...}."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--peer", peer, "--launched", repr(t0),
                           "--samples", str(samples), "--cpu", str(cpu)] + (["--data", data_dir] if data_dir else []),
                          cwd=ROOT, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("PEER "):
            return json.loads(line[5:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail[:300]}"}


def available(peer):
    mod = {"lenet-numba": "numba", "torch-eager": "torch", "torch-compile": "torch", "jax": "jax"}[peer]
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


def summary(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}


def run(repeats, samples, data_dir, cpu, only=PEERS):
    from machine import cpu_info
    from provenance import git_rev

    info = cpu_info()
    scratch = tempfile.mkdtemp(prefix="lenet-numba-peers-")
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    base.update(THREADS, PYTHONPATH=os.pathsep.join([ROOT, HERE]))
    if data_dir:
        base["LENET_NUMBA_DATA"] = data_dir
    peers = [p for p in PEERS if p in only and available(p)]
    res = {"command": "python bench/peers.py " + " ".join(sys.argv[1:]), "commit": git_rev("+uncommitted"),
           "machine": {k: info[k] for k in ("cpu", "vendor", "family", "model", "core", "mhz", "logical_cpus")},
           "settings": {"repeats": repeats, "samples": samples, "cpu": cpu, "lr": LR, "dtype": "float32",
                        "network": "lenet1 (tanh, identity output, softmax CE)", "threads": THREADS,
                        "timer": "process CPU time (steady); wall from launch (first sample)"},
           "loadavg_start": os.getloadavg(), "skipped": [p for p in only if p not in peers], "peers": {}}
    raw = {p: [] for p in peers + (["lenet-numba-warm"] if "lenet-numba" in peers else [])}
    try:
        for r in range(repeats):
            for peer in (peers if r % 2 == 0 else peers[::-1]):
                env = dict(base, LENET_NUMBA_JIT_CACHE=os.path.join(scratch, f"jit-{r}"),
                           TORCHINDUCTOR_CACHE_DIR=os.path.join(scratch, f"inductor-{r}-{peer}"))
                out = launch(peer, samples, data_dir, cpu, env)
                raw[peer].append(out)
                if peer == "lenet-numba":  # again, on the cache the cold process left
                    raw["lenet-numba-warm"].append(launch(peer, samples, data_dir, cpu, env))
                log(f"repeat {r + 1}: {peer}: " + (out.get("error") or
                    f"first sample {out['first_sample_s']:.1f} s, {statistics.median(out['us_per_sample']):.1f} us/sample"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    res["loadavg_end"] = os.getloadavg()
    ref = next((o["params"] for o in raw.get("lenet-numba", []) if "params" in o), None)
    for peer, outs in raw.items():
        good = [o for o in outs if "error" not in o]
        if not good:
            res["peers"][peer] = {"errors": [o["error"] for o in outs]}
            continue
        row = {"first_sample_s": summary([o["first_sample_s"] for o in good]),
               "first_sample_cpu_s": summary([o["first_sample_cpu_s"] for o in good]),
               "us_per_sample": summary([statistics.median(o["us_per_sample"]) for o in good]),
               "versions": good[0]["versions"], "source": good[0]["source"], "runs": len(good)}
        if ref is not None:
            row["max_abs_param_diff"] = max(abs(a - b) for a, b in zip(good[0]["params"], ref))
        res["peers"][peer] = row
    return res


# ---------------------------------------------------------------- the report

LABELS = {"lenet-numba": "lenet-numba (`train_chunk`), empty JIT cache",
          "lenet-numba-warm": "lenet-numba, cache of the cold run",
          "torch-eager": "PyTorch eager", "torch-compile": "PyTorch `torch.compile`",
          "jax": "JAX `jax.jit` of a `lax.scan`"}


def fmt(r, digits=1):
    return f"{r['median']:,.{digits}f} [{r['min']:,.{digits}f}–{r['max']:,.{digits}f}]"


def markdown(res):
    m, s = res["machine"], res["settings"]
    rows = res["peers"]
    ours = rows.get("lenet-numba", {}).get("us_per_sample", {}).get("median")
    L = [f"Measured by `{res['command']}` at commit `{res['commit']}` on {m['cpu']} (family {m['family']}, "
         f"model {m['model']}: {m['core']}), one CPU, every thread pool at 1; median [min–max] over "
         f"{s['repeats']} fresh processes per peer, interleaved; load average {res['loadavg_start'][0]:.2f} at "
         f"start, {res['loadavg_end'][0]:.2f} at end. LeNet-1 float32, per-sample SGD (lr {s['lr']}, softmax CE, "
         f"file order) over {s['samples']:,} USPS digits; steady state in process CPU time.", "",
         "| peer | version | first sample: wall s from launch | its CPU s | steady µs/sample | × lenet-numba "
         "| max \\|Δ param\\| after 100 samples |", "|---|---|---|---|---|---|---|"]
    for peer in ("lenet-numba", "lenet-numba-warm", "torch-eager", "torch-compile", "jax"):
        row = rows.get(peer)
        if row is None:
            if peer in res.get("skipped", []):
                L.append(f"| {LABELS[peer]} | not installed | – | – | – | – | – |")
            continue
        if "errors" in row:
            L.append(f"| {LABELS[peer]} | – | failed: {row['errors'][0][:80]} | – | – | – | – |")
            continue
        ver = ", ".join(f"{k} {v}" for k, v in row["versions"].items() if k != "numpy")
        us = row["us_per_sample"]
        x = f"{us['median'] / ours:.1f}×" if ours else "–"
        diff = row.get("max_abs_param_diff")
        L.append(f"| {LABELS[peer]} | {ver} | {fmt(row['first_sample_s'])} | {fmt(row['first_sample_cpu_s'])} | "
                 f"{fmt(us, 1)} | {x} | "
                 f"{'–' if diff is None else f'{diff:.2g}'} |")
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="peers.json", help="results file [./peers.json]")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per peer")
    ap.add_argument("--samples", type=int, default=2000, help="digits per timed pass")
    ap.add_argument("--data", default=None, help="data root with usps/ (default: $LENET_NUMBA_DATA)")
    ap.add_argument("--cpu", type=int, default=None, help="the CPU every peer is pinned to")
    ap.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS), help="which peers to run [all]")
    ap.add_argument("--render", metavar="FILE", help="print the markdown table of a results file and exit")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            sys.stdout.write(markdown(json.load(f)))
        return
    cpu = min(os.sched_getaffinity(0)) if a.cpu is None else a.cpu
    if a.peer:
        os.sched_setaffinity(0, {cpu})
        return peer_main(a.peer, a.launched, a.samples, a.data or os.environ.get("LENET_NUMBA_DATA"))
    res = run(a.repeats, a.samples, a.data, cpu, a.peers)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
