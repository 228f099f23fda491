"""Tuning of the ``modern`` recipe (lenet1, real USPS) — see docs/modern-tuning.md.

Every setting is a full set of recipe overrides on top of RECIPES["modern"] (so the grid
keeps its meaning when the recipe's defaults change). Each run is
``experiment.run(TrainConfig.from_options(recipe="modern", overrides=..., seed=s, download=False))``;
runs go one at a time and each appends one JSON line (final and best-epoch test error,
train error, seconds, per-epoch test errors) to --out.

    export LENET_NUMBA_DATA=~/lenet-data      # a data root holding usps/zip.train.gz, usps/zip.test.gz
    nice -n 19 python experiments/tune_modern.py --seeds 0 --only base,el2.5a12 --out experiments/results/modern-tuning.jsonl.gz
    nice -n 19 python experiments/tune_modern.py --seeds 0 --defaults        # RECIPES["modern"] as it is now
    nice -n 19 python experiments/tune_modern.py --seeds 0,1,2,3,4 --only el1.5a4mild+d.93e60 --out experiments/results/modern-tuning.jsonl.gz
    python experiments/tune_modern.py --summary experiments/results/modern-tuning.jsonl.gz     # markdown tables
    python experiments/tune_modern.py --summary experiments/results/modern-tuning.jsonl.gz --summary-seeds 5,6,7,8,9 --vs m2 \
        --only m2,m2wd1e-3                                             # held-out seeds, vs round 2
    python experiments/tune_modern.py --list                                 # the grid
"""

import argparse
import json
import statistics
import sys
import time

from results_io import open_text

# the modern recipe as first committed (test error 4.19% on seed 0)
BASE = dict(activation="tanh", output_activation="identity", loss="ce", optimizer="sgd", lr=0.03,
            lr_decay=0.85, epochs=30, shuffle=True, augment=True, max_shift=1.5, max_rotate=8.0,
            max_scale=0.08, max_shear=0.0, max_stretch=0.0, elastic_alpha=0.0, elastic_sigma=0.0,
            augment_epochs=0, weight_decay=0.0, label_smoothing=0.0)


def setting(**changes):
    return {**BASE, **changes}


# round 3 starts from RECIPES["modern"] after round 2 (el1.5a4mild+d.93e60)
MODERN2 = dict(max_shift=1.0, max_rotate=5.0, max_scale=0.05, elastic_alpha=4.0, elastic_sigma=1.5,
               lr_decay=0.93, epochs=60)


def m2(**changes):
    return setting(**{**MODERN2, **changes})


GRID = {
    "base": setting(),
    # elastic distortion on top of the affine ones (rms displacement ~ 0.066 * alpha px at sigma 2.5)
    "el2.5a8": setting(elastic_alpha=8.0, elastic_sigma=2.5),
    "el2.5a12": setting(elastic_alpha=12.0, elastic_sigma=2.5),
    "el2.5a16": setting(elastic_alpha=16.0, elastic_sigma=2.5),
    "el2.5a6": setting(elastic_alpha=6.0, elastic_sigma=2.5),
    "el1.5a4": setting(elastic_alpha=4.0, elastic_sigma=1.5),
    "el2a10": setting(elastic_alpha=10.0, elastic_sigma=2.0),
    "el3a16": setting(elastic_alpha=16.0, elastic_sigma=3.0),
    # shear / independent x-y stretch
    "shear.15": setting(max_shear=0.15),
    "stretch.08": setting(max_stretch=0.08),
    "shear.15str.08": setting(max_shear=0.15, max_stretch=0.08),
    "str.08el1.5a4": setting(max_stretch=0.08, elastic_alpha=4.0, elastic_sigma=1.5),
    # longer, slower-decaying schedules
    "d.92e50": setting(lr_decay=0.92, epochs=50),
    "str.08d.92e50": setting(max_stretch=0.08, lr_decay=0.92, epochs=50),
    "d.94e70": setting(lr_decay=0.94, epochs=70),
    "lr.05d.92e50": setting(lr=0.05, lr_decay=0.92, epochs=50),
    "lr.02d.95e80": setting(lr=0.02, lr_decay=0.95, epochs=80),
    "aug+d.92e50": setting(max_shift=2.0, max_rotate=10.0, max_scale=0.1, lr_decay=0.92, epochs=50),
    "el1.5a4d.92e50": setting(elastic_alpha=4.0, elastic_sigma=1.5, lr_decay=0.92, epochs=50),
    # MSE to +-1 targets with scaled tanh everywhere (the 1989 output), plain SGD
    "mse.1d.92e50": setting(activation="scaled-tanh", output_activation="scaled-tanh", loss="mse", lr=0.1,
                            lr_decay=0.92, epochs=50),
    "mse.3d.92e50": setting(activation="scaled-tanh", output_activation="scaled-tanh", loss="mse", lr=0.3,
                            lr_decay=0.92, epochs=50),
    "mse.05d.92e50": setting(activation="scaled-tanh", output_activation="scaled-tanh", loss="mse", lr=0.05,
                             lr_decay=0.92, epochs=50),
    "mild+d.92e50": setting(max_shift=1.0, max_rotate=5.0, max_scale=0.05, lr_decay=0.92, epochs=50),
    "el1.5a4d.93e60": setting(elastic_alpha=4.0, elastic_sigma=1.5, lr_decay=0.93, epochs=60),
    "el1.5a4mild+d.93e60": setting(max_shift=1.0, max_rotate=5.0, max_scale=0.05, elastic_alpha=4.0,
                                   elastic_sigma=1.5, lr_decay=0.93, epochs=60),
    "el1.5a4mild+d.94e75": setting(max_shift=1.0, max_rotate=5.0, max_scale=0.05, elastic_alpha=4.0,
                                   elastic_sigma=1.5, lr_decay=0.94, epochs=75),
    "el1.5a4mild+d.93e60c50": setting(max_shift=1.0, max_rotate=5.0, max_scale=0.05, elastic_alpha=4.0,
                                      elastic_sigma=1.5, lr_decay=0.93, epochs=60, augment_epochs=50),
    "el1.5a4d.94e75": setting(elastic_alpha=4.0, elastic_sigma=1.5, lr_decay=0.94, epochs=75),
    # the last passes on clean (undistorted) images
    "d.92e50c40": setting(lr_decay=0.92, epochs=50, augment_epochs=40),
    "c25": setting(augment_epochs=25),
    "str.08d.92e50c40": setting(max_stretch=0.08, lr_decay=0.92, epochs=50, augment_epochs=40),
    "str.08d.93e60c50": setting(max_stretch=0.08, lr_decay=0.93, epochs=60, augment_epochs=50),
    # SDLM step sizes (per-parameter, diagonal Gauss-Newton) with CE: eta = lr x LENET5_ETA
    "sdlm1": setting(optimizer="sdlm", lr=1.0),
    "sdlm3": setting(optimizer="sdlm", lr=3.0),
    # round 3: regularization on top of round 2's recipe (m2 = el1.5a4mild+d.93e60)
    # L2 weight decay in every per-sample update
    "m2wd1e-5": m2(weight_decay=1e-5),
    "m2wd3e-5": m2(weight_decay=3e-5),
    "m2wd1e-4": m2(weight_decay=1e-4),
    "m2wd3e-4": m2(weight_decay=3e-4),
    "m2wd1e-3": m2(weight_decay=1e-3),
    "m2wd2e-3": m2(weight_decay=2e-3),
    "m2wd3e-3": m2(weight_decay=3e-3),
    "m2wd5e-3": m2(weight_decay=5e-3),
    "m2wd1e-2": m2(weight_decay=1e-2),
    "m2wd5e-4": m2(weight_decay=5e-4),
    "m2wd7e-4": m2(weight_decay=7e-4),
    "m2wd1.5e-3": m2(weight_decay=1.5e-3),
    # weight decay with longer / slower schedules, a higher rate, label smoothing, other distortions
    "m2wd1e-3d.94e75": m2(weight_decay=1e-3, lr_decay=0.94, epochs=75),
    "m2wd1e-3d.95e90": m2(weight_decay=1e-3, lr_decay=0.95, epochs=90),
    "m2wd1e-3e80": m2(weight_decay=1e-3, epochs=80),
    "m2wd2e-3d.94e75": m2(weight_decay=2e-3, lr_decay=0.94, epochs=75),
    "m2wd1e-3lr.05": m2(weight_decay=1e-3, lr=0.05),
    "m2wd1e-3ls.05": m2(weight_decay=1e-3, label_smoothing=0.05),
    "m2wd1e-3noel": m2(weight_decay=1e-3, elastic_alpha=0.0, elastic_sigma=0.0),
    "m2wd1e-3aug+": m2(weight_decay=1e-3, max_shift=1.5, max_rotate=8.0, max_scale=0.08),
    "m2": m2(),  # round 2's recipe itself (RECIPES["modern"] before round 3), for the same table
    # label smoothing of the CE target
    "m2ls.05": m2(label_smoothing=0.05),
    "m2ls.1": m2(label_smoothing=0.1),
    "m2ls.2": m2(label_smoothing=0.2),
}


def run_one(name, overrides, seed):
    from lenet_numba.experiment import TrainConfig, run
    t0 = time.perf_counter()
    s = run(TrainConfig.from_options(recipe="modern", overrides=dict(overrides), seed=seed, download=False))
    tests = [h["test_error"] for h in s["history"]]
    return {"setting": name, "seed": seed, "overrides": overrides,
            "test_error": s["test_error"], "train_error": s["train_error"],
            "best_test_error": min(tests), "best_epoch": 1 + tests.index(min(tests)),
            "train_seconds": s["train_seconds"], "wall_seconds": time.perf_counter() - t0,
            "test_errors": tests}


def summary(path, seeds=None, vs="base", only=None):
    """Markdown table of the runs in ``path``; ``seeds``: only those seeds; ``vs``: the grid
    setting the "changes" column is relative to; ``only``: those settings, in that order."""
    rows = [json.loads(line) for line in open_text(path) if line.strip()]
    ref = {**BASE, **GRID[vs]}
    by = {}
    for r in rows:
        if seeds is None or r["seed"] in seeds:
            by.setdefault(r["setting"], {})[r["seed"]] = r  # a later line for the same run wins
    if only:
        by = {k: by[k] for k in only if k in by}
    print(f"| setting | changes vs {vs} | seeds | final test error per seed (%) | median | min | max | best epoch (seed 0) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in by.items():
        ov = next(iter(runs.values()))["overrides"]
        changes = ", ".join(f"{k}={v}" for k, v in ov.items() if ref.get(k, BASE.get(k)) != v) or "—"
        errs = [100 * runs[s]["test_error"] for s in sorted(runs)]
        per = " ".join(f"{e:.2f}" for e in errs)
        b0 = f"{100 * runs[0]['best_test_error']:.2f} @{runs[0]['best_epoch']}" if 0 in runs else ""
        print(f"| {name} | {changes} | {','.join(map(str, sorted(runs)))} | {per} | "
              f"{statistics.median(errs):.2f} | {min(errs):.2f} | {max(errs):.2f} | {b0} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--only", default=None, help="comma-separated setting names (default: all)")
    ap.add_argument("--out", default="experiments/results/modern-tuning.jsonl.gz")
    ap.add_argument("--summary", metavar="JSONL")
    ap.add_argument("--summary-seeds", default=None, help="with --summary: only these seeds, e.g. 5,6,7,8,9")
    ap.add_argument("--vs", default="base", help="with --summary: the setting the changes are relative to")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--defaults", action="store_true", help="run RECIPES['modern'] without overrides")
    a = ap.parse_args(argv)
    if a.summary:
        seeds = [int(x) for x in a.summary_seeds.split(",")] if a.summary_seeds else None
        return summary(a.summary, seeds, a.vs, a.only.split(",") if a.only else None)
    if a.list:
        for k, v in GRID.items():
            print(k, {kk: vv for kk, vv in v.items() if BASE.get(kk) != vv})
        return
    if a.defaults:
        for seed in [int(s) for s in a.seeds.split(",")]:
            r = run_one("defaults", {}, seed)
            print(f"modern (defaults) seed {seed}: test {100 * r['test_error']:.2f}% (best "
                  f"{100 * r['best_test_error']:.2f}% @{r['best_epoch']}), train {100 * r['train_error']:.2f}%")
        return
    names = a.only.split(",") if a.only else list(GRID)
    for name in names:
        if name not in GRID:
            sys.exit(f"unknown setting {name!r}; see --list")
    for seed in [int(s) for s in a.seeds.split(",")]:
        for name in names:
            r = run_one(name, GRID[name], seed)
            with open_text(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"{name} seed {seed}: test {100 * r['test_error']:.2f}% (best {100 * r['best_test_error']:.2f}% "
                  f"@{r['best_epoch']}), train {100 * r['train_error']:.2f}%, {r['wall_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
