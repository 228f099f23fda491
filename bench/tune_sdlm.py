"""Grid search for SDLM's eta scale and mu on real USPS (see docs/sdlm-tuning.md).

Each run: Model(arch, "scaled-tanh", "scaled-tanh", float32, seed), MSE, fixed presentation
order, 23 passes, SDLM(eta = scale * LENET5_ETA, mu, n_estimate=500, seed). The grid is
written as (mu, cap) with cap = eta_0 / mu, the step of a parameter whose curvature h is
negligible next to mu (at the initial weights that is almost every weight), and
scale = cap * mu / 5e-4. Runs go one at a time; each appends one JSON line to --out.
A run whose training error is still > 50% after 3 passes is stopped (recorded "stalled").

    python bench/tune_sdlm.py --arch lenet1 --seeds 0 --out docs/sdlm-tuning.jsonl
    python bench/tune_sdlm.py --arch lenet1 --seeds 1 --only 0.0002:0.1 --out ...
    python bench/tune_sdlm.py --summary docs/sdlm-tuning.jsonl      # markdown tables
    python bench/tune_sdlm.py --timing        # one curvature estimate vs one training pass
"""

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lenet_numba.errors import DivergenceError  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from lenet_numba.optim import SGD  # noqa: E402
from lenet_numba.sdlm import LENET5_ETA, SDLM, scaled_schedule  # noqa: E402
from lenet_numba.train import train  # noqa: E402

MUS = (0.02, 0.002, 0.0002, 0.00002)
CAPS = (0.025, 0.05, 0.1, 0.2)


def load(split, root):
    path = Path(root) / "usps" / f"zip.{split}.gz"
    d = np.loadtxt(gzip.open(path))
    return d[:, 1:].reshape(-1, 16, 16).astype(np.float32), d[:, 0].astype(np.int64)


def run(arch, mu, cap, seed, data, epochs, shape="lenet5"):
    (x, y), (xt, yt) = data
    scale = cap * mu / LENET5_ETA[0]
    model = Model(arch, "scaled-tanh", "scaled-tanh", dtype="float32", seed=seed)
    eta = {"lenet5": scaled_schedule(scale),             # LENET5_ETA x scale
           "flat": scale * LENET5_ETA[0],                 # constant eta_0
           "boost2": [2 * scale * LENET5_ETA[0]] * 2 + [scale * LENET5_ETA[0]],  # 2 eta_0 for 2 passes
           "sgd": None}[shape]
    # shape "sgd": the baseline, plain SGD with the constant rate `cap` (mu is ignored)
    opt = SGD(cap) if shape == "sgd" else SDLM(eta=eta, mu=mu, n_estimate=500, seed=seed)
    history, est = [], []
    stop = {"flag": False}

    def on_epoch(s):
        history.append({"epoch": s.epoch, "train_error": s.train_error, "test_error": s.test_error,
                        "seconds": s.seconds})
        est.append(getattr(opt, "estimate_seconds", 0.0))
        if s.epoch >= 3 and s.train_error > 0.5:
            stop["flag"] = True

    status = "ok"
    t0 = time.perf_counter()
    try:
        train(model, x, y, epochs=epochs, optimizer=opt, loss="mse", test_images=xt, test_labels=yt,
              on_epoch=on_epoch, should_stop=lambda: stop["flag"])
    except DivergenceError:
        status = "diverged"
    if stop["flag"]:
        status = "stalled"
    last = history[-1] if history else {}
    h_median = {} if getattr(opt, "h", None) is None else {n: float(np.median(model.view(opt.h, n))) for n in model.param_names}
    return {"arch": arch, "shape": shape, "mu": mu, "cap": cap, "eta_scale": scale, "eta0": scale * LENET5_ETA[0], "seed": seed,
            "status": status, "epochs_run": len(history), "train_error": last.get("train_error"),
            "test_error": last.get("test_error"), "wall_seconds": time.perf_counter() - t0,
            "pass_seconds": float(np.mean([h["seconds"] for h in history])) if history else None,
            "estimate_seconds": float(np.median(est)) if est else None,
            # per pass [train error, test error], then the median h per parameter tensor at the end
            "history": [[round(h["train_error"], 6), round(h["test_error"], 6)] for h in history],
            "h_median_last": h_median}


def summary(path):
    """Markdown: per setting the median over seeds, then every run."""
    rows = [json.loads(line) for line in open(path)]
    for arch in sorted({r["arch"] for r in rows}):
        mine = [r for r in rows if r["arch"] == arch]
        groups = {}
        for r in mine:
            groups.setdefault((r.get("shape", "lenet5"), r["mu"], r["cap"]), []).append(r)
        print(f"\n### {arch}\n")
        print("| schedule | mu | eta_0 | eta_0/mu | seeds | test err % (per seed) | median test % "
              "| median train % | test % after 3 passes (median) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (shape, mu, cap), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2])):
            rs = sorted(rs, key=lambda r: r["seed"])
            ok = [r for r in rs if r["status"] == "ok"]
            per_seed = ", ".join(f"{100 * r['test_error']:.2f}" if r["status"] == "ok" else r["status"] for r in rs)
            med = lambda v: f"{100 * float(np.median(v)):.2f}" if v else "-"  # noqa: E731
            eta0 = "-" if shape == "sgd" else f"{rs[0]['eta0']:.3g}"
            mu_s = "-" if shape == "sgd" else f"{mu:g}"
            cap_s = f"lr {cap:g}" if shape == "sgd" else f"{cap:g}"
            print(f"| {shape} | {mu_s} | {eta0} | {cap_s} | {','.join(str(r['seed']) for r in rs)} | {per_seed} "
                  f"| {med([r['test_error'] for r in ok])} | {med([r['train_error'] for r in ok])} "
                  f"| {med([r['history'][2][1] for r in ok if len(r['history']) > 2])} |")


def timing(data, reps=3):
    """Best of `reps`: SDLM's estimate (500 samples) vs one training pass, both compiled."""
    from lenet_numba.network import sample_curvature, sample_loss_and_grad
    (x, y), _ = data
    for arch in ("lenet1", "zipcode1989"):
        m = Model(arch, "scaled-tanh", "scaled-tanh", dtype="float32", seed=0)
        opt = SDLM(eta=1e-4, mu=0.002)
        est, pas = [], []
        for _ in range(reps):
            r = train(m.copy(), x, y, epochs=1, optimizer=opt, loss="mse")
            est.append(opt.estimate_seconds)
            pas.append(r.history[0].seconds)
        acts, dacts, grads = m.buffers()
        d2, h = np.zeros(m.plan.n_acts), np.zeros(m.n_params)
        per = {"grad": [], "curv": []}
        for _ in range(reps):  # per sample, called from Python (includes call overhead)
            t0 = time.perf_counter()
            for i in range(500):
                sample_loss_and_grad(m._table, m._pad_values, m._conn, m.params, acts, dacts, grads, x[i], y[i], 0)
            t1 = time.perf_counter()
            for i in range(500):
                sample_curvature(m._table, m._pad_values, m._conn, m.params, acts, d2, h, x[i], 0)
            per["grad"].append((t1 - t0) / 500)
            per["curv"].append((time.perf_counter() - t1) / 500)
        e, p = min(est), min(pas)
        print(f"{arch}: estimate (500 samples) {1e3 * e:.1f} ms, pass ({len(y)} samples) {1e3 * p:.0f} ms, "
              f"estimate/pass {100 * e / p:.1f}%; per sample: forward+backward {1e6 * min(per['grad']):.1f} us, "
              f"forward+backward_gn {1e6 * min(per['curv']):.1f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="lenet1", choices=("lenet1", "zipcode1989"))
    ap.add_argument("--seeds", default="0", help="comma-separated, e.g. 0,1")
    ap.add_argument("--only", default=None, help="mu:cap pairs, comma-separated (default: the full grid)")
    ap.add_argument("--epochs", type=int, default=23)
    ap.add_argument("--data", default=os.environ.get("LENET_NUMBA_DATA", "/work/shared/data"),
                    help="data root containing usps/zip.{train,test}.gz")
    ap.add_argument("--out", default="docs/sdlm-tuning.jsonl")
    ap.add_argument("--summary", default=None, metavar="JSONL")
    ap.add_argument("--timing", action="store_true")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary)
        return
    data = load("train", a.data), load("test", a.data)
    if a.timing:
        timing(data)
        return
    if a.only:
        grid = [tuple(p.split(":")) for p in a.only.split(",")]
        grid = [(float(g[0]), float(g[1]), g[2] if len(g) > 2 else "lenet5") for g in grid]
    else:
        grid = [(mu, cap, "lenet5") for mu in MUS for cap in CAPS]
    for seed in (int(s) for s in a.seeds.split(",")):
        for mu, cap, shape in grid:
            r = run(a.arch, mu, cap, seed, data, a.epochs, shape)
            with open(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            te = r["test_error"]
            print(f"{a.arch} {shape} mu={mu:g} cap={cap:g} scale={r['eta_scale']:.4g} seed={seed}: {r['status']} "
                  f"train={r['train_error']} test={te} ({r['wall_seconds']:.0f}s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
