"""A sweep's summary (per setting: runs, median/min/max errors over seeds, the best) and
its Markdown forms (the table, and sweep.md around it)."""

import json
import statistics

from .. import recipes
from .grid import format_value, setting_label, task_key
from .results import RESULTS


def _stats(values):
    if not values:
        return None
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def chosen_on(spec):
    """The error a sweep chooses its best setting on: the held-out training digits', or
    none (a sweep never chooses on the test set: without --validation nothing is picked)."""
    return "valid_error" if spec.validation else None


def summarize(spec, tasks, results, command=None):
    """Per setting: runs done, median/min/max error over its seeds (validation error with
    --validation, whose runs never read the test set; else test error), median train error.

    ``results``: task_key -> result. With --validation the best setting has the lowest
    median validation error among the settings with at least one finished run and none
    diverged (ties: lower worst-seed validation error, then lower median train error, then
    grid order); without it none is picked.
    """
    metric = chosen_on(spec)
    shown = metric or "test_error"
    rows = []
    by_setting = {}
    for t in tasks:
        by_setting.setdefault(json.dumps(t["setting"], sort_keys=True), (t["setting"], []))[1].append(t)
    for setting, ts in by_setting.values():
        done = [results[task_key(t)] for t in ts if task_key(t) in results]
        ok = [r for r in done if r["status"] == "ok"]
        rows.append({
            "setting": setting, "label": setting_label(setting), "seeds": [t["seed"] for t in ts],
            "seeds_done": [r["seed"] for r in ok], "runs": len(ok), "diverged": len(done) - len(ok),
            "planned": len(ts),
            "error": _stats([r[shown] for r in ok if shown in r]),
            "train_error": _stats([r["train_error"] for r in ok]),
            "runs_files": [r.get("metrics") for r in done],
            "best": False,
        })
    eligible = [i for i, r in enumerate(rows) if r["runs"] and not r["diverged"] and r["error"]]
    best = None
    if eligible and metric:
        best = min(eligible, key=lambda i: (rows[i]["error"]["median"], rows[i]["error"]["max"],
                                            rows[i]["train_error"]["median"], i))
        rows[best]["best"] = True
    runs = [dict({k: v for k, v in results[task_key(t)].items() if k != "history"}) for t in tasks
            if task_key(t) in results]
    return {
        "spec": spec.as_dict(),
        "command": command,
        "grid_fields": list(spec.grid),
        "error_shown": shown,
        "chosen_on": metric,
        "planned": len(tasks),
        "finished": len(runs),
        "complete": len(runs) == len(tasks),
        "settings": rows,
        "best": rows[best]["label"] if best is not None else None,
        "runs": runs,
    }


def _pct(v):
    return f"{100 * v:.2f}%"


def markdown_table(summary):
    """The summary as a Markdown table; the best setting's row (chosen on validation) in bold."""
    names = summary["grid_fields"] or ["setting"]
    what = "validation" if summary.get("error_shown") == "valid_error" else "test"
    head = names + ["runs", f"{what} error median", f"{what} min", f"{what} max", "train error median"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for row in summary["settings"]:
        cells = ([format_value(row["setting"][n]) for n in summary["grid_fields"]]
                 or [row["label"]])
        runs = f"{row['runs']}/{row['planned']}"
        if row["diverged"]:
            runs += f" ({row['diverged']} diverged)"
        cells.append(runs)
        te, tr = row["error"], row["train_error"]
        if te is None:
            cells += ["–"] * 4
        else:
            cells += [_pct(te["median"]), _pct(te["min"]), _pct(te["max"]), _pct(tr["median"])]
        if row["best"]:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_report(summary):
    """sweep.md: what was run, the table, the best setting, where the per-run files are."""
    s = summary["spec"]
    seeds = " ".join(str(x) for x in s["seeds"])
    epochs = s["epochs"] if s["epochs"] is not None else recipes.get(s["recipe"]).for_arch(s["arch"]).epochs
    out = [f"# Sweep: {s['arch']}, recipe {s['recipe']}, {epochs} epoch{'s' * (epochs != 1)}, "
           f"seed{'s' * (len(s['seeds']) != 1)} {seeds}, {s['dataset']}", ""]
    if summary.get("command"):
        out += ["```", summary["command"], "```", ""]
    out += [markdown_table(summary)]
    state = ("all runs finished" if summary["complete"]
             else f"{summary['finished']} of {summary['planned']} runs finished (interrupted or still running)")
    if not summary.get("chosen_on"):
        best = ("no setting is picked: a sweep chooses on held-out training digits (--validation N), "
                "never on the test set")
    elif summary["best"]:
        best = f"best (bold, on the validation digits; the test set was not read): {summary['best']}"
    else:
        best = "no setting finished without divergence"
    out += [f"Errors over seeds after the last epoch; {state}; {best}. Per-run epochs: `runs/*.jsonl`; "
            f"every run: `{RESULTS}`; all numbers: `sweep.json`.", ""]
    return "\n".join(out)
