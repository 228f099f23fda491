"""Choose recipe constants on held-out training digits; the test set is never loaded.

Each run trains on 7,291 - N training digits and measures the N held out (seeded,
class-stratified: ``train --validation N``), with ``TrainConfig.from_options(test=False)``, so the test
file is never read. A setting is chosen by its median validation error over the tuning
seeds (ties: median validation loss). The tuning seeds (100, 101) are not the seeds of the
final runs (0-19, experiments/reproduce.py), which train on all 7,291 and report test once.

    python experiments/tune.py --out runs/tune.jsonl                 # every grid (resumable)
    python experiments/tune.py --only lenet1-nips1989/1989 --out runs/tune.jsonl
    python experiments/tune.py --render experiments/results/tune.jsonl.gz   # README block
"""

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_io import append_jsonl, parse_run_or_render, read_jsonl, use_repo_paths  # noqa: E402

use_repo_paths()

from lenet_numba.errors import DivergenceError  # noqa: E402
from lenet_numba.experiment import TrainConfig, run  # noqa: E402

VALIDATION = 1000
SEEDS = (100, 101)
SDLM_GRID = {"lr": (5e-5, 1.5e-4, 5e-4, 1.5e-3), "mu": (0.002, 0.02), "lr_decay": (0.95, 1.0)}
MODERN_GRID = {"lr": (0.01, 0.03, 0.1), "weight_decay": (1e-3,)}  # + weight decay 0 at lr 0.03 (EXTRA)
# (network, recipe) -> grid of recipe fields; every other field is the recipe's
GRIDS = {
    ("lenet1", "1989"): SDLM_GRID,
    ("zipcode1989", "1989"): SDLM_GRID,
    ("lenet1-nips1989", "1989"): SDLM_GRID,
    ("lenet1", "modern"): MODERN_GRID,
}


EXTRA = {("lenet1", "modern"): [{"lr": 0.03, "weight_decay": 0.0}]}


def settings(grid, key=None):
    names = sorted(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))] \
        + EXTRA.get(key, [])


def one_run(arch, recipe, setting, seed, validation=VALIDATION, data_dir=None, epochs=None):
    """Train with ``setting`` on all but ``validation`` training digits; never loads the test set."""
    overrides = dict(setting, **({"epochs": epochs} if epochs is not None else {}))
    config = TrainConfig.from_options(arch=arch, recipe=recipe, overrides=overrides, seed=seed, data_dir=data_dir,
                         download=False, validation=validation, test=False)
    t0 = time.perf_counter()
    try:
        s = run(config)
    except DivergenceError:
        return {"arch": arch, "recipe": recipe, "setting": setting, "seed": seed, "diverged": True,
                "valid_error": 1.0, "valid_loss": float("inf")}
    return {"arch": arch, "recipe": recipe, "setting": setting, "seed": seed, "epochs": s["epochs"],
            "valid_error": s["valid_error"], "valid_loss": s["valid_loss"], "train_error": s["train_error"],
            "train_loss": s["train_loss"], "seconds": round(time.perf_counter() - t0, 2)}


def choose(records):
    """{(arch, recipe): (best setting, its median valid error, n settings, n seeds)}."""
    by = {}
    for r in records:
        key = (r["arch"], r["recipe"])
        by.setdefault(key, {}).setdefault(json.dumps(r["setting"], sort_keys=True), []).append(r)
    out = {}
    for key, groups in by.items():
        scored = sorted((float(np.median([r["valid_error"] for r in rs])),
                         float(np.median([r["valid_loss"] for r in rs])), s) for s, rs in groups.items())
        err, _, best = scored[0]
        out[key] = (json.loads(best), err, len(groups), len({r["seed"] for rs in groups.values() for r in rs}))
    return out



def render(path):
    """The README table: per (network, recipe) the chosen setting and its validation error."""
    records = read_jsonl(path)
    lines = ["| network | recipe | grid (settings x seeds) | chosen on validation | median valid error |",
             "|---|---|---|---|---|"]
    for (arch, recipe), (best, err, n_set, n_seeds) in choose(records).items():
        chosen = ", ".join(f"{k} {v:g}" for k, v in sorted(best.items()))
        lines.append(f"| {arch} | {recipe} | {n_set} x {n_seeds} | {chosen} | {100 * err:.2f}% |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", default=[], help="network/recipe, e.g. lenet1/1989")
    a = parse_run_or_render(ap, render)
    done = {(r["arch"], r["recipe"], json.dumps(r["setting"], sort_keys=True), r["seed"])
            for r in (read_jsonl(a.out) if os.path.exists(a.out) else [])}
    for (arch, recipe), grid in GRIDS.items():
        if a.only and f"{arch}/{recipe}" not in a.only:
            continue
        for setting in settings(grid, (arch, recipe)):
            for seed in SEEDS:
                if (arch, recipe, json.dumps(setting, sort_keys=True), seed) in done:
                    continue
                rec = one_run(arch, recipe, setting, seed, data_dir=a.data_dir)
                append_jsonl(a.out, rec)


if __name__ == "__main__":
    main()
