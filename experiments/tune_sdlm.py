"""Grid search for SDLM's eta scale and mu on real USPS (see docs/sdlm-tuning.md).

Each run: Model(arch, "scaled-tanh", "scaled-tanh", float32, seed), MSE, fixed presentation
order, 23 passes, SDLM(eta = scale * LENET5_ETA, mu, n_estimate=500, seed). The grid is
written as (mu, cap) with cap = eta_0 / mu, the step of a parameter whose curvature h is
negligible next to mu (at the initial weights that is almost every weight), and
scale = cap * mu / 5e-4. Runs go one at a time; each appends one JSON line to --out.
A run whose training error is still > 50% after 3 passes is stopped (recorded "stalled").

    python experiments/tune_sdlm.py --arch lenet1 --seeds 0 --out experiments/results/sdlm-tuning.jsonl.gz
    python experiments/tune_sdlm.py --arch lenet1 --seeds 1 --only 0.0002:0.1 --out ...
    python experiments/tune_sdlm.py --summary experiments/results/sdlm-tuning.jsonl.gz      # markdown tables
    python experiments/tune_sdlm.py --timing        # one curvature estimate vs one training pass

Round 2 additions: schedule ``expD`` (eta_0 x D**epoch, what Recipe.lr_decay does, e.g.
``--only 0.02:0.05:exp0.93``), ``--n-estimate``, ``--bias-init`` (biases drawn like the
weights, U(-2.4/F, 2.4/F) with the unit's fan-in F, from a separate rng so the weights are
those of Model(seed)), ``--recipe`` (the shipped 1989 recipe end to end through
experiment.run, as a check of sdlm.TUNED), per-tensor median steps eta/(mu+h) after the first
and last estimate, ``--round`` to tag/filter runs, and min/max over seeds in ``--summary``.
"""

import argparse
import json
import sys
import time

import numpy as np

from results_io import open_text, use_repo_paths

use_repo_paths()

from provenance import git_rev  # noqa: E402

from lenet_numba.data import load_usps  # noqa: E402
from lenet_numba.errors import DivergenceError  # noqa: E402
from lenet_numba.model import Model  # noqa: E402
from lenet_numba.optim import SGD  # noqa: E402
from lenet_numba.sdlm import LENET5_ETA, SDLM, scaled_schedule  # noqa: E402
from lenet_numba.train import train  # noqa: E402

MUS = (0.02, 0.002, 0.0002, 0.00002)
ROUND = 2  # tag written into every new record (round 1 records have none)


def eta_for(shape, scale):
    """The eta argument of SDLM for a schedule name (None for the SGD baseline)."""
    if shape.startswith("exp"):  # eta_0 x D**epoch (Recipe.lr_decay)
        d, e0 = float(shape[3:]), scale * LENET5_ETA[0]
        return lambda e: e0 * d ** e
    return {"lenet5": scaled_schedule(scale),             # LENET5_ETA x scale
            "flat": scale * LENET5_ETA[0],                 # constant eta_0
            "boost2": [2 * scale * LENET5_ETA[0]] * 2 + [scale * LENET5_ETA[0]],  # 2 eta_0 for 2 passes
            "sgd": None}[shape]


def init_biases_like_weights(model, seed):
    """Biases U(-2.4/F, 2.4/F), F the fan-in of their unit's weights (LeCun 1989 counts a
    bias as one more connection of the unit); own rng, so the weights stay Model(seed)'s."""
    rng = np.random.default_rng([seed, 1989])
    for name in model.param_names:
        if name.endswith(".bias"):
            r = 2.4 / model.plan.fan_in[name[:-len(".bias")] + ".weight"]
            model[name][...] = rng.uniform(-r, r, size=model[name].shape)
CAPS = (0.025, 0.05, 0.1, 0.2)


def load(split, root):
    """The USPS split from data root ``root`` (None: the package's own look-up), checksum verified."""
    return load_usps(split, root, download=False)


def per_tensor_median(model, v):
    return {n: float(np.median(model.view(v, n))) for n in model.param_names}


def run(arch, mu, cap, seed, data, epochs, shape="lenet5", n_estimate=500, bias_init=False):
    (x, y), (xt, yt) = data
    scale = cap * mu / LENET5_ETA[0]
    model = Model(arch, "scaled-tanh", "scaled-tanh", dtype="float32", seed=seed)
    if bias_init:
        init_biases_like_weights(model, seed)
    eta = eta_for(shape, scale)
    # shape "sgd": the baseline, plain SGD with the constant rate `cap` (mu is ignored)
    opt = SGD(cap) if shape == "sgd" else SDLM(eta=eta, mu=mu, n_estimate=n_estimate, seed=seed)
    history, est, steps = [], [], []
    stop = {"flag": False}

    def on_epoch(s):
        history.append({"epoch": s.epoch, "train_error": s.train_error, "test_error": s.test_error,
                        "seconds": s.seconds})
        est.append(getattr(opt, "estimate_seconds", 0.0))
        if getattr(opt, "h", None) is not None:  # the step of the pass just done, eta/(mu+h)
            e = opt.epoch
            rate = eta(e) if callable(eta) else (eta if np.ndim(eta) == 0 else eta[min(e, len(eta) - 1)])
            steps.append((per_tensor_median(model, opt.h), {n: rate / (mu + v) for n, v in
                                                            per_tensor_median(model, opt.h).items()}))
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
    h_median = {} if getattr(opt, "h", None) is None else per_tensor_median(model, opt.h)
    r = {"arch": arch, "shape": shape, "mu": mu, "cap": cap, "eta_scale": scale, "eta0": scale * LENET5_ETA[0], "seed": seed,
         "status": status, "epochs_run": len(history), "train_error": last.get("train_error"),
         "test_error": last.get("test_error"), "wall_seconds": time.perf_counter() - t0,
         "pass_seconds": float(np.mean([h["seconds"] for h in history])) if history else None,
         "estimate_seconds": float(np.median(est)) if est else None,
         # per pass [train error, test error], then the median h per parameter tensor at the end
         "history": [[round(h["train_error"], 6), round(h["test_error"], 6)] for h in history],
         "h_median_last": h_median,
         "round": ROUND, "n_estimate": n_estimate, "bias_init": bool(bias_init), "git": git_rev()}
    if steps:
        r["h_median_first"] = steps[0][0]
        r["step_median_first"], r["step_median_last"] = steps[0][1], steps[-1][1]
    return r


def run_recipe(arch, seed, data_dir, overrides=None):
    """The shipped 1989 recipe (sdlm.TUNED via Recipe.for_arch) through experiment.run."""
    from lenet_numba.experiment import TrainConfig, run as run_experiment
    cfg = TrainConfig.from_options(arch=arch, recipe="1989", overrides=dict(overrides or {}), seed=seed, data_dir=data_dir,
                      download=False)
    rec = cfg.validate().recipe
    t0 = time.perf_counter()
    out = run_experiment(cfg)
    return {"arch": arch, "shape": "recipe1989", "mu": rec.mu, "cap": rec.lr / rec.mu, "eta0": rec.lr,
            "eta_scale": rec.lr / LENET5_ETA[0], "lr_decay": rec.lr_decay, "seed": seed, "status": "ok",
            "epochs_run": out["epochs"], "train_error": out["train_error"], "test_error": out["test_error"],
            "wall_seconds": time.perf_counter() - t0,
            "history": [[round(h["train_error"], 6), round(h["test_error"], 6)] for h in out["history"]],
            "h_median_last": {}, "round": ROUND, "n_estimate": 500, "bias_init": False, "git": git_rev()}


def summary(path, only_round=None):
    """Markdown: per setting the median (and min-max) over seeds, then every run."""
    rows = [json.loads(line) for line in open_text(path)]
    if only_round is not None:
        rows = [r for r in rows if r.get("round", 1) == only_round]
    for arch in sorted({r["arch"] for r in rows}):
        mine = [r for r in rows if r["arch"] == arch]
        groups = {}
        for r in mine:
            shape = r.get("shape", "lenet5")
            if shape == "recipe1989" and r.get("lr_decay", 1.0) != 1.0:
                shape += f" (x{r['lr_decay']:g}^pass)"
            key = (shape, r["mu"], r["cap"], r.get("n_estimate", 500), r.get("bias_init", False))
            groups.setdefault(key, []).append(r)
        print(f"\n### {arch}\n")
        print("| schedule | mu | eta_0 | eta_0/mu | options | seeds | test err % (per seed) | median test % (min-max) "
              "| train err % (per seed) | median train % (min-max) | test % after 3 passes (median) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        order = lambda kv: (kv[0][0], -kv[0][1], kv[0][2], kv[0][3], kv[0][4])  # noqa: E731
        for (shape, mu, cap, n_est, bias), rs in sorted(groups.items(), key=order):
            rs = sorted(rs, key=lambda r: r["seed"])
            ok = [r for r in rs if r["status"] == "ok"]
            per = lambda k: ", ".join(f"{100 * r[k]:.2f}" if r["status"] == "ok" else r["status"] for r in rs)  # noqa: E731

            def med(v, spread=False):
                if not v:
                    return "-"
                m = f"{100 * float(np.median(v)):.2f}"
                return m + (f" ({100 * min(v):.2f}-{100 * max(v):.2f})" if spread and len(v) > 1 else "")
            eta0 = "-" if shape == "sgd" else f"{rs[0]['eta0']:.3g}"
            mu_s = "-" if shape == "sgd" else f"{mu:g}"
            cap_s = f"lr {cap:g}" if shape == "sgd" else f"{cap:.3g}"
            opts = ", ".join(([f"n_estimate {n_est}"] if n_est != 500 else []) + (["bias init"] if bias else [])) or "-"
            print(f"| {shape} | {mu_s} | {eta0} | {cap_s} | {opts} | {','.join(str(r['seed']) for r in rs)} "
                  f"| {per('test_error')} | {med([r['test_error'] for r in ok], True)} "
                  f"| {per('train_error')} | {med([r['train_error'] for r in ok], True)} "
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
                sample_loss_and_grad(m.table, m.pad_values, m.conn, m.params, acts, dacts, grads, x[i], y[i], 0)
            t1 = time.perf_counter()
            for i in range(500):
                sample_curvature(m.table, m.pad_values, m.conn, m.params, acts, d2, h, x[i], 0)
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
    ap.add_argument("--data", default=None,
                    help="data root containing usps/zip.{train,test}.gz (default: $LENET_NUMBA_DATA, then the user cache)")
    ap.add_argument("--out", default="experiments/results/sdlm-tuning.jsonl.gz")
    ap.add_argument("--summary", default=None, metavar="JSONL")
    ap.add_argument("--timing", action="store_true")
    ap.add_argument("--n-estimate", type=int, default=500, help="SDLM's curvature samples")
    ap.add_argument("--bias-init", action="store_true", help="biases U(-2.4/F, 2.4/F) like the weights")
    ap.add_argument("--recipe", action="store_true", help="run the shipped 1989 recipe (sdlm.TUNED) instead")
    ap.add_argument("--round", type=int, default=None, help="--summary: only this round (1 = untagged)")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary, a.round)
        return
    if a.recipe:
        for seed in (int(s) for s in a.seeds.split(",")):
            r = run_recipe(a.arch, seed, a.data)
            with open_text(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"{a.arch} recipe 1989 eta={r['eta0']:g} mu={r['mu']:g} decay={r['lr_decay']:g} seed={seed}: "
                  f"train={r['train_error']} test={r['test_error']} ({r['wall_seconds']:.0f}s)", flush=True)
        return
    data = load("train", a.data), load("test", a.data)
    if a.timing:
        timing(data)
        return
    if a.only:
        grid = [tuple(p.split(":")) for p in a.only.split(",")]
        grid = [(float(g[0]), float(g[1]), g[2] if len(g) > 2 else "lenet5") for g in grid]
        for g in grid:
            eta_for(g[2], 1.0)  # unknown schedule names fail here, before any run
    else:
        grid = [(mu, cap, "lenet5") for mu in MUS for cap in CAPS]
    for seed in (int(s) for s in a.seeds.split(",")):
        for mu, cap, shape in grid:
            r = run(a.arch, mu, cap, seed, data, a.epochs, shape, a.n_estimate, a.bias_init)
            with open_text(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            te = r["test_error"]
            print(f"{a.arch} {shape} mu={mu:g} cap={cap:g} scale={r['eta_scale']:.4g} seed={seed}: {r['status']} "
                  f"train={r['train_error']} test={te} ({r['wall_seconds']:.0f}s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
