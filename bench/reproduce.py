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
import sys
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROWS = [
    # (label, arch, recipe, overrides, pretrain-on-mnist16-all epochs)
    ("LeNet-1, 1989 recipe", "lenet1", "1989", {}, 0),
    ("LeNet-1, seed recipe", "lenet1", "seed", {}, 0),
    ("LeNet-1, modern recipe", "lenet1", "modern", {}, 0),
    ("zip-code net, 1989 recipe", "zipcode1989", "1989", {}, 0),
    ("zip-code net, seed recipe", "zipcode1989", "seed", {}, 0),
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
    s = run(TrainConfig(arch=arch, recipe=recipe, overrides=overrides, seed=seed, data_dir=data_dir,
                        download=False, init_from=init_from))
    _, _, xte, yte = load_dataset("usps", data_dir, False)
    rep = evaluation_report(s["model"], xte, yte, "mse")
    return {"label": label, "arch": arch, "recipe": recipe, "seed": seed, "overrides": overrides,
            "pretrain_epochs": pretrain_epochs, "epochs": s["epochs"], "train_error": s["train_error"],
            "test_error": s["test_error"], "test_loss": s["test_loss"], "loss": s["model"] and rep["loss"],
            "test_mse": rep["test_loss"], "reject_for_1pct": rep["reject_for_1pct_error"],
            "train_seconds": s["train_seconds"], "wall_seconds": time.perf_counter() - t0,
            "history": s["history"]}


def fmt(values, pct=True, digits=2):
    med, lo, hi = statistics.median(values), min(values), max(values)
    if pct:
        return f"{100 * med:.{digits}f}% [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return f"{med:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def table(results, seeds, command):
    lines = [
        f"Real USPS (7,291 train / 2,007 test), {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
        "median [min, max] over seeds.",
        "",
        "| network, recipe | passes | train error | test error | test MSE | reject for 1% error | wall s / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, *_ in ROWS:
        rs = [r for r in results if r["label"] == label]
        if not rs:
            continue
        lines.append(f"| {label} | {rs[0]['epochs']} | {fmt([r['train_error'] for r in rs])} | "
                     f"{fmt([r['test_error'] for r in rs])} | {fmt([r['test_mse'] for r in rs], pct=False)} | "
                     f"{fmt([r['reject_for_1pct'] for r in rs], digits=1)} | "
                     f"{statistics.median(r['wall_seconds'] for r in rs):.0f} |")
    lines += ["", "Test MSE = mean over the 10 outputs of (output - target)², targets ±1, as in the 1989 paper "
              "(for cross-entropy recipes the outputs are logits, so their MSE is not comparable).",
              "", f"Reproduce: `{command}`", "",
              f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
              f"one thread per run."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rows", type=int, nargs="+", default=None, help="indices into ROWS (default: all)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="docs/reproduction.md")
    ap.add_argument("--workdir", default="/tmp/lenet-numba-repro")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rows = [ROWS[i] for i in args.rows] if args.rows else ROWS
    jobs = [(*row, seed, args.data_dir, args.workdir) for row in rows for seed in args.seeds]
    results = []
    with ProcessPoolExecutor(args.jobs) as ex:
        for r in ex.map(one_run, *zip(*jobs)):
            print(f"{r['label']:<55} seed {r['seed']}: train {100 * r['train_error']:.2f}%  "
                  f"test {100 * r['test_error']:.2f}%  reject@1% {100 * r['reject_for_1pct']:.1f}%  "
                  f"{r['wall_seconds']:.0f} s", flush=True)
            results.append(r)
    command = "LENET_NUMBA_DATA=../shared/data python bench/reproduce.py " + " ".join(sys.argv[1:])
    md = table(results, args.seeds, command.strip())
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    print(md)


if __name__ == "__main__":
    main()
