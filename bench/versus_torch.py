"""Single-core speed of lenet-numba against PyTorch (1 thread) and plain NumPy, in one run.

    python bench/versus_torch.py [--quick] [--out versus_torch.json] [--data DIR] [--cpu N]
    python bench/versus_torch.py --render bench/results/versus_torch.json   # README's table

(bench/speed.py compares the engine with an earlier revision of itself; this compares it
with other software running the same per-sample loop.)

Workloads, for lenet1 and zipcode1989 in float32 and float64:
  * per-sample SGD training: forward + softmax cross-entropy + backward + update, batch of
    1, lr 0.01, samples in file order. lenet-numba: the compiled loop (train.train_chunk,
    what ``train`` runs); PyTorch: the identical loop, ``optimizer.step()`` after every
    sample; NumPy: bench/numpy_reference.py;
  * batched inference over the 2,007 USPS test digits;
  * SDLM's extra cost per pass (its curvature estimate before each pass).

Every competitor runs single-threaded (NUMBA/OMP/MKL/OPENBLAS threads = 1, torch
set_num_threads(1)); each measurement is one warm-up, then >= 5 repeats, reported as
median [min, max]. Times are this thread's CPU time (time.thread_time), which a busy
shared machine inflates much less than wall time; the wall-clock medians are in the JSON.
GFLOP/s use the exact per-sample FLOP counts of bench/flops.py.

Writes --out (JSON) and prints the full markdown report.
"""

import os

# before numpy / numba / torch are imported
for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from machine import cpu_info, peak_gflops  # noqa: E402
from provenance import git_rev  # noqa: E402

flops = numpy_reference = torch_reference = None  # imported by main() when measuring (--render needs none)

ARCHS = ("lenet1", "zipcode1989")
DTYPES = ("float32", "float64")
LR = 0.01


# ---------------------------------------------------------------- the machine

def versions(have_torch=True):
    import llvmlite
    import numba
    v = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
         "llvmlite": llvmlite.__version__, "torch": torch_reference.version() if have_torch else None}
    try:
        from llvmlite import binding
        v["llvm"] = ".".join(map(str, binding.llvm_version_info))
        v["llvm_cpu"] = binding.get_host_cpu_name()
    except Exception:  # pragma: no cover - informational only
        pass
    return v


def git_commit():
    return git_rev("+uncommitted")


# ---------------------------------------------------------------- timing

def measure(fn, repeats, n_items):
    """One warm-up call, then ``repeats`` timed calls; per-item µs (CPU and wall)."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - c0) * 1e6 / n_items)
        wall.append((time.perf_counter() - w0) * 1e6 / n_items)
    return {"us": statistics.median(cpu), "min": min(cpu), "max": max(cpu), "wall_us": statistics.median(wall),
            "wall_min": min(wall), "wall_max": max(wall), "items": n_items, "repeats": repeats, "cpu_all": cpu}


# ---------------------------------------------------------------- data

def load_data(data_dir):
    """(x_train, y_train, x_test, y_test, source) — the real USPS digits, or a stand-in."""
    try:
        from lenet_numba.data.usps import load_usps
        xtr, ytr = load_usps("train", data_dir=data_dir, download=False)
        xte, yte = load_usps("test", data_dir=data_dir, download=False)
        return xtr, ytr, xte, yte, "USPS (zip.train 7,291 / zip.test 2,007)"
    except Exception as e:  # no data: same shapes, random pixels (speed does not depend on them)
        rng = np.random.default_rng(0)
        return (rng.uniform(-1, 1, (7291, 16, 16)).astype(np.float32), rng.integers(0, 10, 7291),
                rng.uniform(-1, 1, (2007, 16, 16)).astype(np.float32), rng.integers(0, 10, 2007),
                f"random stand-in digits (USPS not found: {e})")


# ---------------------------------------------------------------- competitors

def numba_trainer(model, x, y, n):
    """A callable running one per-sample SGD pass over x[:n] in the compiled loop, as train() does."""
    from lenet_numba.kernels.losses import NAMES
    from lenet_numba.train import train_chunk

    xs = model.as_images(x)
    ys = np.ascontiguousarray(y, np.int64)
    acts, dacts, grads = model.buffers()
    step = np.full(model.n_params, LR, model.dtype)
    totals = np.zeros(2, np.float64)
    order = np.arange(len(ys), dtype=np.int64)
    image_buf = np.zeros(xs.shape[1:], model.dtype)
    aug_work = np.zeros(0, np.float64)  # no augmentation here

    def run():
        bad = train_chunk(model.table, model.pad_values, model.conn, model.params, acts, dacts, grads, step,
                          xs, ys, order, 0, n, NAMES["ce"], totals, None, 0, 0, image_buf, aug_work)
        assert bad < 0, "diverged"
    return run


def agreement(x, y, n, have_torch):
    """max |params - lenet-numba's params| after the same n-sample SGD pass from the same init."""
    from lenet_numba.model import Model
    out = {}
    for arch in ARCHS:
        for dt in DTYPES:
            m = Model(arch, "tanh", "identity", dtype=dt, seed=0)
            ref = numpy_reference.NumpyNet(m)
            numba_trainer(m, x, y, n)()
            ref.sgd_pass(x, y, LR, range(n))
            row = {"numpy": float(np.abs(ref.params - m.params).max()),
                   "moved": float(np.abs(ref.params - Model(arch, "tanh", "identity", dtype=dt, seed=0).params).max())}
            if have_torch:
                net = torch_reference.module(arch, dt, seed=0)
                xt, yt = torch_reference.tensors(x, y, dt)
                torch_reference.sgd_pass(net, xt, yt, LR, n)
                row["torch"] = float(np.abs(torch_reference.flat_params(net, m.param_names) - m.params).max())
            out[f"{arch}/{dt}"] = row
    return out


def sdlm_cost(x, y, pass_us):
    """Seconds of SDLM's curvature estimate before a pass, and its share of the pass."""
    try:
        from lenet_numba.sdlm import SDLM
    except ImportError:
        return None
    from lenet_numba.kernels.losses import NAMES
    from lenet_numba.model import Model
    out = {}
    for arch in ARCHS:
        for dt in DTYPES:
            m = Model(arch, "tanh", "identity", dtype=dt, seed=0)
            opt = SDLM()
            step = np.zeros(m.n_params, m.dtype)
            r = measure(lambda: opt.step_for_epoch(m, 0, x, y, NAMES["ce"], step), 5, 1)
            pass_s = pass_us[f"{arch}/{dt}"] * len(y) / 1e6
            out[f"{arch}/{dt}"] = {"n_estimate": opt.n_estimate, "seconds": r["us"] / 1e6,
                                   "min_s": r["min"] / 1e6, "max_s": r["max"] / 1e6,
                                   "us_per_estimate_sample": r["us"] / opt.n_estimate,
                                   "pass_seconds": pass_s, "extra_fraction": r["us"] / 1e6 / pass_s}
    return out


# ---------------------------------------------------------------- the run

def run(quick=False, data_dir=None, repeats=None, use_torch=True):
    from lenet_numba.model import Model

    repeats = repeats or (5 if quick else 7)
    n_numba = 1000 if quick else 7291
    n_torch = 100 if quick else 1000
    n_numpy = 50 if quick else 300
    xtr, ytr, xte, yte, source = load_data(data_dir)
    have_torch = use_torch and torch_reference.available()
    torch_threads = torch_reference.setup_threads() if have_torch else None
    info = cpu_info()
    peak, peak_why = peak_gflops(info)
    counts = {arch: flops.count(arch) for arch in ARCHS}
    res = {"settings": {"quick": quick, "repeats": repeats, "lr": LR, "loss": "ce", "timer": "thread CPU time",
                        "samples": {"numba": n_numba, "torch": n_torch, "numpy": n_numpy}, "data": source,
                        "threads": {k: os.environ[k] for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                                               "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
                        "torch_threads": torch_threads, "affinity": sorted(os.sched_getaffinity(0))},
           "machine": {"cpu": info["cpu"], "vendor": info["vendor"], "family": info["family"],
                       "model": info["model"], "core": info["core"], "mhz": info["mhz"],
                       "logical_cpus": info["logical_cpus"], "simd_flags": info["simd_flags"],
                       "fp32_peak_gflops": peak, "peak_assumption": peak_why,
                       "loadavg_start": os.getloadavg()},
           "versions": versions(have_torch), "commit": git_commit(), "flops": counts,
           "train": {}, "infer": {}}

    def log(*a):
        print(*a, file=sys.stderr, flush=True)

    # ---- per-sample SGD
    for arch in ARCHS:
        for dt in DTYPES:
            key = f"{arch}/{dt}"
            row = {}
            m = Model(arch, "tanh", "identity", dtype=dt, seed=0)
            row["numba"] = measure(numba_trainer(m, xtr, ytr, n_numba), repeats, n_numba)
            log(f"train {key}: lenet-numba {row['numba']['us']:.2f} us/sample")
            net_np = numpy_reference.NumpyNet(Model(arch, "tanh", "identity", dtype=dt, seed=0))
            row["numpy"] = measure(lambda: net_np.sgd_pass(xtr, ytr, LR, range(n_numpy)), repeats, n_numpy)
            log(f"train {key}: numpy {row['numpy']['us']:.0f} us/sample")
            if have_torch:
                net = torch_reference.module(arch, dt, seed=0)
                xt, yt = torch_reference.tensors(xtr, ytr, dt)
                row["torch"] = measure(lambda: torch_reference.sgd_pass(net, xt, yt, LR, n_torch), repeats, n_torch)
                log(f"train {key}: torch {row['torch']['us']:.0f} us/sample")
            row["gflops"] = counts[arch]["train"] / (row["numba"]["us"] * 1e3)
            res["train"][key] = row

    # ---- batched inference
    for arch in ARCHS:
        for dt in DTYPES:
            key = f"{arch}/{dt}"
            row = {}
            m = Model(arch, "tanh", "identity", dtype=dt, seed=0)
            xs = m.as_images(xte)
            row["numba"] = measure(lambda: m.predict(xs), repeats, len(xs))
            net_np = numpy_reference.NumpyNet(m)
            row["numpy"] = measure(lambda: net_np.forward_batch(xs), repeats, len(xs))
            if have_torch:
                net = torch_reference.module(arch, dt, seed=0)
                xt, _ = torch_reference.tensors(xte, yte, dt)
                row["torch"] = measure(lambda: torch_reference.infer(net, xt), repeats, len(xs))
            row["gflops"] = counts[arch]["forward"] / (row["numba"]["us"] * 1e3)
            log(f"infer {key}: lenet-numba {row['numba']['us']:.2f} us/image")
            res["infer"][key] = row

    # ---- SDLM, agreement, JIT
    res["sdlm"] = sdlm_cost(xtr, ytr, {k: v["numba"]["us"] for k, v in res["train"].items()})
    log("sdlm done")
    res["agreement"] = {"samples": 100, "max_abs_param_diff": agreement(xtr, ytr, 100, have_torch)}
    log("agreement done")
    res["machine"]["loadavg_end"] = os.getloadavg()
    return res


# ---------------------------------------------------------------- the report

def fmt_us(r):
    return f"{r['us']:,.1f} [{r['min']:,.1f}–{r['max']:,.1f}]" if r["us"] < 100 else \
        f"{r['us']:,.0f} [{r['min']:,.0f}–{r['max']:,.0f}]"


def markdown(res):
    s, m, v = res["settings"], res["machine"], res["versions"]
    have_torch = v["torch"] is not None
    peak = m["fp32_peak_gflops"]
    torch_threads = f", torch.set_num_threads({s['torch_threads']})" if have_torch else ""
    L = ["# lenet-numba single-core speed", "",
         f"Generated by `python bench/versus_torch.py{' --quick' if s['quick'] else ''}` at commit `{res['commit']}`.", "",
         f"- CPU: {m['cpu']} (vendor {m['vendor']}, family {m['family']}, model {m['model']}), "
         f"{m['logical_cpus']} logical CPUs, {m['mhz']:.0f} MHz nominal; SIMD flags: {', '.join(m['simd_flags'])}",
         f"- fp32 peak of one core: {peak:.1f} GFLOP/s = {m['peak_assumption']}",
         f"- Python {v['python']}, NumPy {v['numpy']}, Numba {v['numba']} (llvmlite {v['llvmlite']}, LLVM "
         f"{v.get('llvm', '?')}, target {v.get('llvm_cpu', '?')}), PyTorch {v['torch'] or 'skipped: torch not installed'}",
         f"- Threads: {', '.join(f'{k}={x}' for k, x in s['threads'].items())}"
         f"{torch_threads}; "
         f"load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end",
         f"- Data: {s['data']}",
         f"- Timer: {s['timer']} per sample (wall-clock medians in speed.json); one warm-up, then "
         f"median [min–max] of {s['repeats']} repeats over {s['samples']['numba']:,} (lenet-numba), "
         f"{s['samples']['torch']:,} (PyTorch), {s['samples']['numpy']:,} (NumPy) samples", ""]
    if not have_torch:
        L += ["**PyTorch: skipped: torch not installed** (or --no-torch); `pip install torch` adds its columns.", ""]

    L += ["## Per-sample SGD training (forward + backward + update, batch of 1)", "",
          "lr 0.01, softmax cross-entropy, samples in file order. PyTorch runs the identical loop "
          "(`optimizer.step()` after every sample) on lenet_numba.interop's module (`to_torch`).", "",
          "| network | dtype | lenet-numba µs/sample | samples/s | PyTorch µs/sample | × PyTorch "
          "| NumPy µs/sample | × NumPy | GFLOP/s | % fp32 peak |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for key, row in res["train"].items():
        arch, dt = key.split("/")
        nb = row["numba"]
        t = row.get("torch")
        vs_torch = f"{fmt_us(t)} | {t['us'] / nb['us']:.0f}×" if t else "skipped: torch not installed | –"
        L.append(f"| {arch} | {dt} | {fmt_us(nb)} | {1e6 / nb['us']:,.0f} | {vs_torch} | "
                 f"{fmt_us(row['numpy'])} | {row['numpy']['us'] / nb['us']:.0f}× | {row['gflops']:.1f} | "
                 f"{100 * row['gflops'] / peak:.1f}% |")
    L += ["", "## Batched inference (2,007 test images)", "",
          "lenet-numba: `Model.predict` (one compiled loop over the images); PyTorch: one batch under "
          "`torch.no_grad()`; NumPy: batches of 256.", "",
          "| network | dtype | lenet-numba µs/image | images/s | PyTorch µs/image | × PyTorch "
          "| NumPy µs/image | × NumPy | GFLOP/s |", "|---|---|---|---|---|---|---|---|---|"]
    for key, row in res["infer"].items():
        arch, dt = key.split("/")
        nb, t = row["numba"], row.get("torch")
        L.append(f"| {arch} | {dt} | {fmt_us(nb)} | {1e6 / nb['us']:,.0f} | "
                 + (f"{fmt_us(t)} | {t['us'] / nb['us']:.1f}× |" if t else "skipped: torch not installed | – |")
                 + f" {fmt_us(row['numpy'])} | {row['numpy']['us'] / nb['us']:.1f}× | {row['gflops']:.1f} |")
    L += ["", "## FLOPs per sample (bench/flops.py)", "",
          "A multiply-add is 2 FLOPs. Forward: conv/dense multiply-adds, bias adds, subsampling "
          "(5 per output). Backward: dW multiply-adds, db sums, dX multiply-adds where the plan "
          "computes dx (not the first layer), subsampling. Update: 2 per parameter. tanh, loss and "
          "padding are not counted.", "",
          "| network | parameters | forward | backward | update | training sample |", "|---|---|---|---|---|---|"]
    for arch, c in res["flops"].items():
        L.append(f"| {arch} | {c['params']:,} | {c['forward']:,} | {c['backward']:,} | {c['update']:,} | "
                 f"{c['train']:,} |")
    if res.get("sdlm"):
        L += ["", "## SDLM's extra cost per pass", "",
              "`SDLM().step_for_epoch` (the diagonal Gauss-Newton estimate on its n_estimate samples, "
              "before each pass), against one per-sample SGD pass over the 7,291 training digits.", "",
              "| network | dtype | samples | seconds per pass | µs per estimate sample | SGD pass seconds "
              "| extra |", "|---|---|---|---|---|---|---|"]
        for key, r in res["sdlm"].items():
            arch, dt = key.split("/")
            L.append(f"| {arch} | {dt} | {r['n_estimate']} | {r['seconds'] * 1e3:.1f} ms | "
                     f"{r['us_per_estimate_sample']:.1f} | {r['pass_seconds']:.3f} | "
                     f"+{100 * r['extra_fraction']:.0f}% |")
    a = res["agreement"]
    L += ["", "## Same computation", "",
          f"max |Δ parameter| against lenet-numba after the same {a['samples']}-sample SGD pass from the "
          "same initial weights (parameters move by the 'moved' column):", "",
          "| network | dtype | moved | NumPy | PyTorch |", "|---|---|---|---|---|"]
    for key, r in a["max_abs_param_diff"].items():
        arch, dt = key.split("/")
        L.append(f"| {arch} | {dt} | {r['moved']:.3g} | {r['numpy']:.2g} | "
                 f"{r['torch']:.2g} |" if "torch" in r else f"| {arch} | {dt} | {r['moved']:.3g} | {r['numpy']:.2g} | skipped |")
    return "\n".join(L) + "\n"


def readme_table(res):
    """README's excerpt: per-sample SGD and batched inference, lenet-numba and PyTorch."""
    m = res["machine"]
    L = [f"Measured by `python bench/versus_torch.py` at commit `{res['commit']}` on {m['cpu']} "
         f"(family {m['family']}, model {m['model']}), PyTorch {res['versions']['torch']} with "
         f"`torch.set_num_threads(1)`, median of {res['settings']['repeats']} repeats of thread CPU time:", "",
         "| network | dtype | SGD: lenet-numba µs/sample | PyTorch µs/sample | × | predict: lenet-numba µs/image "
         "| PyTorch µs/image | × |", "|---|---|---|---|---|---|---|---|"]
    for key, row in res["train"].items():
        arch, dt = key.split("/")
        t, i = row.get("torch"), res["infer"][key]
        if not t or not i.get("torch"):
            continue
        L.append(f"| {arch} | {dt} | {row['numba']['us']:.1f} | {t['us']:,.0f} | {t['us'] / row['numba']['us']:.0f}× | "
                 f"{i['numba']['us']:.1f} | {i['torch']['us']:,.1f} | {i['torch']['us'] / i['numba']['us']:.1f}× |")
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples and repeats (about a minute)")
    ap.add_argument("--out", default="versus_torch.json", help="results file [./versus_torch.json]")
    ap.add_argument("--render", metavar="FILE", help="print README's table from a results file and exit")
    ap.add_argument("--data", default=None, help="data root with usps/ (default: LENET_NUMBA_DATA, the usual places)")
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            sys.stdout.write(readme_table(json.load(f)))
        return
    global flops, numpy_reference, torch_reference
    import flops
    import numpy_reference
    import torch_reference
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    res = run(quick=a.quick, data_dir=a.data, repeats=a.repeats, use_torch=not a.no_torch)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=float)
    print(markdown(res))


if __name__ == "__main__":
    main()
