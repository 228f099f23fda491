"""The reproduction table: each (architecture, recipe) for 5 seeds on the real USPS digits.

    LENET_NUMBA_DATA=../shared/data python bench/reproduce.py --out docs/reproduction.md

Each run is single-threaded in its own process (--jobs of them at once). The table gives
the median and [min, max] over seeds of the final train/test error, the test loss, the
reject rate needed for 1% error, and the wall time of a run; the JSON next to it keeps
every run. Rows: the recipes on both networks, and a staged run (pre-train on the 10,000
MNIST t10k digits resized to 16x16, then fine-tune on USPS) against USPS alone.
"""

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

# The targets of the reproduction (median over seeds; issue 4), checked in the table.
TARGETS = {
    "LeNet-1, 1989 recipe": {"test_error": 0.050},
    "zip-code net, 1989 recipe": {"test_error": 0.050, "train_error": 0.005},
    "LeNet-1, modern recipe": {"test_error": 0.035},
}

# What the 1989 papers and the public MNIST-simulated reproductions report, for comparison.
ANCHORS = """\
| source | data | network | train error | test error | test MSE | reject for 1% error |
|---|---|---|---|---|---|---|
| LeCun et al. 1989, Neural Computation 1(4) | USPS zip codes (7,291 / 2,007) | zip-code net, SDLM, 23 passes | 0.14% | 5.0% | — | 12.1% |
| LeCun et al., NIPS 1989 ("Handwritten digit recognition with a back-propagation network") | USPS zip codes | LeNet-1 (the network the LeNet-1 article simplifies) | — | — | — | ~9% ("1% error rate and about a 9% reject rate") |
| karpathy/lecun1989-repro | MNIST resized to 16×16 (7,291 / 2,007) | zip-code net, plain SGD, 23 passes | 0.62% | 4.09% | 0.0284 | — |
| its C++ port | MNIST resized to 16×16 | zip-code net, plain SGD | — | 4.83% | — | — |
| "Understanding LeNet-1: A Gentle Introduction" (2025), PyTorch, plain per-sample SGD | USPS | LeNet-1 | — | ~5.5% | — | — |
"""

ROWS = [
    # (label, arch, recipe, overrides, pretrain-on-mnist16-all epochs)
    ("LeNet-1, 1989 recipe", "lenet1", "1989", {}, 0),
    ("LeNet-1, article recipe", "lenet1", "article", {}, 0),
    ("LeNet-1, modern recipe", "lenet1", "modern", {}, 0),
    ("zip-code net, 1989 recipe", "zipcode1989", "1989", {}, 0),
    ("zip-code net, article recipe", "zipcode1989", "article", {}, 0),
    ("LeNet-1, 1989 recipe, staged: MNIST16 (10k) then USPS", "lenet1", "1989", {}, 10),
]


def one_run(label, arch, recipe, overrides, pretrain_epochs, seed, data_dir, workdir):
    from lenet_numba.evaluate import evaluation_report
    from lenet_numba.experiment import TrainConfig, load_dataset, run

    t0 = time.perf_counter()
    init_from = None
    if pretrain_epochs:
        init_from = os.path.join(workdir, f"pre-{arch}-{recipe}-{seed}.npz")
        run(TrainConfig(arch=arch, recipe=recipe, overrides={**overrides, "epochs": pretrain_epochs}, seed=seed,
                        dataset="mnist16-all", data_dir=data_dir, download=False, out=init_from))
    cfg = TrainConfig(arch=arch, recipe=recipe, overrides=overrides, seed=seed, data_dir=data_dir,
                      download=False, init_from=init_from)
    s = run(cfg)
    _, _, xte, yte = load_dataset("usps", data_dir, False)
    rep = evaluation_report(s["model"], xte, yte, "mse")
    return {"label": label, "arch": arch, "recipe": recipe, "seed": seed, "overrides": overrides,
            "pretrain_epochs": pretrain_epochs, "epochs": s["epochs"], "train_error": s["train_error"],
            "test_error": s["test_error"], "test_loss": s["test_loss"], "loss": cfg.resolved_recipe().loss,
            "test_mse": rep["test_loss"], "reject_for_1pct": rep["reject_for_1pct_error"],
            "train_seconds": s["train_seconds"], "wall_seconds": time.perf_counter() - t0,
            "history": s["history"]}


def fmt(values, pct=True, digits=2):
    med, lo, hi = statistics.median(values), min(values), max(values)
    if pct:
        return f"{100 * med:.{digits}f}% [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return f"{med:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def target_check(label, rs):
    """'met' / 'missed by ...' for the row's targets (medians), or '' if it has none."""
    out = []
    for key, limit in TARGETS.get(label, {}).items():
        med = statistics.median(r[key] for r in rs)
        what = key.split("_")[0]
        verdict = "met" if med <= limit else f"**missed** by {100 * (med - limit):.2f} pt"
        out.append(f"{what} ≤ {100 * limit:.1f}%: {verdict}")
    return "; ".join(out) or "—"


def table(results, seeds, command):
    lines = [
        f"Real USPS (7,291 train / 2,007 test), {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
        "median [min, max] over seeds of the error after the last pass.",
        "",
        "| network, recipe | passes | train error | test error | test MSE | reject for 1% error | wall s / run | target (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, *_ in ROWS:
        rs = [r for r in results if r["label"] == label]
        if not rs:
            continue
        mse = (fmt([r["test_mse"] for r in rs], pct=False, digits=3) if rs[0].get("loss") == "mse"
               else "— (CE)")
        lines.append(f"| {label} | {rs[0]['epochs']} | {fmt([r['train_error'] for r in rs])} | "
                     f"{fmt([r['test_error'] for r in rs])} | {mse} | "
                     f"{fmt([r['reject_for_1pct'] for r in rs], digits=1)} | "
                     f"{statistics.median(r['wall_seconds'] for r in rs):.0f} | {target_check(label, rs)} |")
    if any("missed" in target_check(label, [r for r in results if r["label"] == label])
           for label in TARGETS if any(r["label"] == label for r in results)):
        lines += ["", "A missed target is reported as measured. What was tried to reach it, run by run: "
                  "`docs/sdlm-tuning.md` (the 1989 recipe: η, its decay, μ, the curvature sample, bias "
                  "init) and `docs/modern-tuning.md` (the modern recipe: distortions, schedules, losses)."]
    staged = [r for r in results if r["pretrain_epochs"]]
    alone = [r for r in results if r["label"] == "LeNet-1, 1989 recipe"]
    if staged and alone:
        d = statistics.median(r["test_error"] for r in staged) - statistics.median(r["test_error"] for r in alone)
        lines += ["", f"Staged training (pre-train {staged[0]['pretrain_epochs']} passes on the 10,000 MNIST t10k "
                  f"digits resized to 16×16, then the same 1989 recipe on USPS) vs USPS alone: median test error "
                  f"{'lower' if d < 0 else 'higher'} by {abs(100 * d):.2f} points; worst seed "
                  f"{100 * max(r['test_error'] for r in staged):.2f}% vs "
                  f"{100 * max(r['test_error'] for r in alone):.2f}%."]
    lines += ["", "Test MSE = mean over the 10 outputs of (output − target)², targets ±1, as in the 1989 paper "
              "(not shown for cross-entropy recipes, whose outputs are logits). Reject for 1% error: the "
              "smallest fraction of the least confident test digits (smallest gap between the two highest "
              "outputs) to set aside so the rest has ≤ 1% error.",
              "", "For comparison (one run each, as published):", "", ANCHORS,
              f"Reproduce: `{command}`", "",
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, one thread per run."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rows", type=int, nargs="+", default=None, help="indices into ROWS (default: all)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="docs/reproduction.md")
    ap.add_argument("--workdir", default="/tmp/lenet-numba-repro")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite --out from the JSON next to it (no training)")
    ap.add_argument("--update", action="store_true",
                    help="keep the other rows' runs from the existing JSON next to --out (re-run only --rows)")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rows = [ROWS[i] for i in args.rows] if args.rows else ROWS
    jobs = [(*row, seed, args.data_dir, args.workdir) for row in rows for seed in args.seeds]
    results = []
    json_path = os.path.splitext(args.out)[0] + ".json"
    if args.update and os.path.exists(json_path):
        with open(json_path) as f:
            rerun = {row[0] for row in rows}
            results = [r for r in json.load(f) if r["label"] not in rerun]
    if args.render:
        with open(json_path) as f:
            results, jobs = json.load(f), []
    with ProcessPoolExecutor(args.jobs) as ex:
        for r in (ex.map(one_run, *zip(*jobs)) if jobs else ()):
            print(f"{r['label']:<55} seed {r['seed']}: train {100 * r['train_error']:.2f}%  "
                  f"test {100 * r['test_error']:.2f}%  reject@1% {100 * r['reject_for_1pct']:.1f}%  "
                  f"{r['wall_seconds']:.0f} s", flush=True)
            results.append(r)
    # the command that reproduces the whole table (--rows/--update only re-ran part of it)
    command = (f"LENET_NUMBA_DATA=../shared/data python bench/reproduce.py --seeds {' '.join(map(str, args.seeds))} "
               f"--jobs {args.jobs} --out {args.out}")
    order = {row[0]: i for i, row in enumerate(ROWS)}
    results.sort(key=lambda r: (order.get(r["label"], len(ROWS)), r["seed"]))
    md = table(results, args.seeds, command.strip())
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    if not args.render:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    print(md)


if __name__ == "__main__":
    main()
