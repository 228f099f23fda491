"""The fast numerics policy against the exact one, in one process, interleaved.

    python bench/numerics.py [--repeats 9] [--out numerics.json]
    python bench/numerics.py --render bench/results/numerics.json

Per network and dtype, the same workloads as bench/speed.py (one per-sample SGD pass over
the 7,291 training digits in the compiled loop; ``Model.predict`` on the 2,007 test
digits), each under both policies, with the article's activations (tanh, linear outputs;
as bench/speed.py) and with the 1989 recipe's (scaled tanh everywhere, the default
recipe's network). Every repeat times each workload once per policy, alternating which
goes first; median [min–max] of thread CPU time. Single-threaded.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402

from machine import cpu_info, measured_ghz  # noqa: E402
from provenance import git_rev  # noqa: E402
from speed_worker import load_data, sgd_pass  # noqa: E402

ARCHS = ("lenet1", "zipcode1989", "lenet1-nips1989")
DTYPES = ("float32", "float64")
ACTIVATIONS = {"article": ("tanh", "identity"), "1989": ("scaled-tanh", "scaled-tanh")}
POLICIES = ("exact", "fast")


def workload(kind, arch, dtype, acts, numerics, data):
    """(callable, items) for one timed run."""
    from lenet_numba.model import Model

    xtr, ytr, xte, _ = data
    model = Model(arch, *ACTIVATIONS[acts], dtype=dtype, seed=0, numerics=numerics)
    if kind == "train":
        return sgd_pass(model, xtr, ytr), len(ytr)
    xs = model.as_images(xte)
    return (lambda: model.predict(xs)), len(xs)


def measure(repeats, data):
    rows = {}
    for kind in ("train", "infer"):
        for arch in ARCHS:
            for dtype in DTYPES:
                for acts in ACTIVATIONS:
                    runs = {p: workload(kind, arch, dtype, acts, p, data) for p in POLICIES}
                    times = {p: [] for p in POLICIES}
                    for p in POLICIES:
                        runs[p][0]()  # compile or load, and warm up
                    for r in range(repeats):
                        for p in (POLICIES if r % 2 == 0 else POLICIES[::-1]):
                            fn, n = runs[p]
                            t0 = time.thread_time()
                            fn()
                            times[p].append((time.thread_time() - t0) / n * 1e6)
                    key = f"{kind}/{arch}/{dtype}/{acts}"
                    rows[key] = {p: {"median": float(np.median(t)), "min": float(min(t)), "max": float(max(t))}
                                 for p, t in times.items()}
                    print(key, {p: round(v["median"], 2) for p, v in rows[key].items()}, file=sys.stderr, flush=True)
    return rows


def render(res):
    m = res["machine"]
    lines = [f"Measured by `{res['command']}` at commit `{res['commit']}`; both policies in one process, "
             f"interleaved; median [min–max] of {res['repeats']} repeats of thread CPU time; single-threaded; "
             f"load average {m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end. CPU: {m['cpu']} "
             f"(family {m['family']}, model {m['model']}: {m['core']}), measured clock {m['measured_ghz']:.2f} GHz.",
             "", "| workload | network | dtype | activations | exact | fast | × |", "|---|---|---|---|---|---|---|"]
    for key, row in res["rows"].items():
        kind, arch, dtype, acts = key.split("/")
        e, f = row["exact"], row["fast"]
        label = "SGD µs/sample" if kind == "train" else "predict µs/image"
        act = "scaled tanh (1989 recipe)" if acts == "1989" else "tanh, linear out (article)"
        lines.append(f"| {label} | {arch} | {dtype} | {act} | {e['median']:.2f} [{e['min']:.2f}–{e['max']:.2f}] | "
                     f"{f['median']:.2f} [{f['min']:.2f}–{f['max']:.2f}] | {e['median'] / f['median']:.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", default="numerics.json", help="results file [./numerics.json]")
    ap.add_argument("--data", help="data root (default: $LENET_NUMBA_DATA)")
    ap.add_argument("--render", metavar="FILE", help="print the markdown of a results file and exit")
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            sys.stdout.write(render(json.load(f)))
        return
    info = cpu_info()
    argv = sys.argv[1:] if argv is None else argv
    res = {"command": "python bench/numerics.py " + " ".join(argv), "commit": git_rev("+uncommitted"),
           "repeats": a.repeats,
           "machine": {**{k: info[k] for k in ("cpu", "family", "model", "core", "mhz")},
                       "loadavg_start": os.getloadavg()[0], "measured_ghz": measured_ghz()}}
    data = load_data(a.data)
    res["data"] = data[4]
    res["rows"] = measure(a.repeats, data[:4])
    res["machine"]["loadavg_end"] = os.getloadavg()[0]
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(render(res))


if __name__ == "__main__":
    main()
