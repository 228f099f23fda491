"""The tables of the reproduction, from its results and the published figures.

MSE, ours: the mean over digits of the mean over the 10 outputs of (output - target)^2,
targets ±1, no 1/2. The papers do not state theirs; where a row compares with them the
MSE is also shown halved (their figures fit a 1/2 in front, an assumption) and our seeds
are placed against the published figure in that convention.
"""

from ..errors import UsageError
from . import published as pub
from .rows import BY_NAME, ROWS, SEEDS as SEEDS_FULL, numerics_of
from .stats import median_iqr, pct, quartiles, share_at_or_below, spread, wilson

N_TRAIN = 7291  # USPS training digits
# (figure id, row, what of ours it compares with): error / train / mse / reject / nips-rule / printed
COMPARISON = (
    ("nips.test_error_handwritten", "nips-1989", "test_error"),
    ("nips.test_error_all", "nips-1989", "printed"),
    ("nips.train_error", "nips-1989", "train_error"),
    ("nips.test_mse", "nips-1989", "test_loss"),
    ("nips.train_mse", "nips-1989", "train_loss"),
    ("nips.reject_for_1pct_handwritten", "nips-1989", "reject_for_1pct"),
    ("nips.reject_for_1pct_handwritten", "nips-1989", "nips_rule"),
    ("nips.reject_for_1pct_all", "nips-1989", "printed"),
    ("nc.test_error", "zipcode-1989", "test_error"),
    ("nc.train_error", "zipcode-1989", "train_error"),
    ("nc.test_mse", "zipcode-1989", "test_loss"),
    ("nc.train_mse", "zipcode-1989", "train_loss"),
    ("nc.reject_for_1pct", "zipcode-1989", "reject_for_1pct"),
)
README_ROWS = (0, 5, 6, 8, 9, 10, 12)  # indices into COMPARISON for the short table
WHAT = {"test_error": "test error", "train_error": "train error", "test_loss": "test MSE, ½ × ours",
        "train_loss": "train MSE, ½ × ours", "reject_for_1pct": "reject for 1% error, gap rule chosen on the test set",
        "nips_rule": "reject, NIPS rule, thresholds from 1,000 validation digits (trained on 6,291)",
        "printed": "not comparable: no printed digits in the public set"}


def runs(results, row, holdout=0):
    return [r for r in results if r["row"] == row and r.get("holdout", 0) == holdout and r["status"] == "ok"]


def _ours(results, row, what):
    """(values over seeds, n for the binomial interval or None, is_mse)."""
    if what == "nips_rule":
        h = _holdout(results)
        rs = runs(results, row, h) if h else []
        return [r["reject_rules"]["nips"]["test_reject"] for r in rs], _n_test(rs), False
    rs = runs(results, row)
    if what in ("test_loss", "train_loss"):
        if not rs or rs[0]["loss"] != "mse":
            return [], None, True
        return [r[what] / 2 for r in rs], None, True
    n = N_TRAIN if what == "train_error" else _n_test(rs)
    return [r[what] for r in rs], n, False


def _holdout(results):
    return max((r.get("holdout", 0) for r in results), default=0)


def _n_test(rs):
    return rs[0]["n_test"] if rs else 2007


def _value(fig, mse):
    v = fig["value"]
    return "—" if v is None else (f"{v:.2g}" if mse else pct(v, 2 if v < 0.01 else 1))


def _where(fig):
    page = fig["page"]
    return pub.source(fig["source"])["short"] + (f", p. {page}" if page and page[0].isdigit() else "")


def render_comparison(results, indices=None, compact=False):
    """Published figure against our seeds: median [Q1, Q3], the binomial interval at the
    median, and the share of our seeds at or below the published figure."""
    head = ("| network | figure | published | source | read in the source's text | ours: median [Q1, Q3] "
            "| 95% interval at our median | our seeds at or below it |") if not compact else \
        "| network | figure | published | ours: median [Q1, Q3] | our seeds at or below it |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for i, (fid, row, what) in enumerate(COMPARISON):
        if indices is not None and i not in indices:
            continue
        fig = pub.figure(fid)
        net = BY_NAME[row].label.split(",")[0]
        values, n, mse = _ours(results, row, what) if what != "printed" else ([], None, False)
        if what == "printed":
            if not runs(results, row):
                continue
            ours, interval, share = WHAT["printed"], "—", "—"
        elif not values:
            continue
        else:
            ours = (median_iqr(values, 2, sci=True) if mse else median_iqr(values)) + f", {len(values)} seeds"
            med = quartiles(values)[2]
            interval = "—" if n is None else "–".join(pct(x) for x in wilson(med, n))
            share = "—" if fig["value"] is None else pct(share_at_or_below(fig["value"], values), 0)
            if what == "nips_rule":  # not at 1% error on the test digits: no place among the paper's figure
                kept = [r["reject_rules"]["nips"]["test_error"] for r in runs(results, row, _holdout(results))]
                ours += f"; error on the rest {median_iqr(kept)}"
                share = "— (not at 1% error)"
        name = f"{WHAT[what] if what != 'printed' else fig['figure']}"
        if compact:
            checked = "" if fig["verified"] else f"; {fig['status']}"
            lines.append(f"| {net} | {name} | {_value(fig, mse)} ({_where(fig)}{checked}) | {ours} | {share} |")
        else:
            lines.append(f"| {net} | {name} | {_value(fig, mse)} | {_where(fig)} | {pub.status_text(fig)} | "
                         f"{ours} | {interval} | {share} |")
    return "\n".join(lines) + "\n"


def render_runs(results):
    """Every row trained on all 7,291 digits: test and train error, both MSE conventions."""
    lines = ["| network, recipe | passes | seeds | test error: median [Q1, Q3] (min–max) | 95% interval at the "
             "median | train error | test MSE (ours) | test MSE, ½ × ours | train MSE (ours) | train MSE, ½ × ours | "
             "reject for 1% error (gap rule, chosen on the test set) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in ROWS:
        rs = runs(results, row.name)
        if not rs:
            continue
        med = quartiles([r["test_error"] for r in rs])[2]
        mse = rs[0]["loss"] == "mse"
        test_mse = spread([r["test_loss"] for r in rs], sci=True) if mse else "— (cross-entropy)"
        half = spread([r["test_loss"] / 2 for r in rs], sci=True) if mse else "—"
        train_mse = spread([r["train_loss"] for r in rs], sci=True) if mse else "— (cross-entropy)"
        train_half = spread([r["train_loss"] / 2 for r in rs], sci=True) if mse else "—"
        lines.append(f"| {row.label} | {rs[0]['epochs']} | {len(rs)} | {spread([r['test_error'] for r in rs])} | "
                     f"{'–'.join(pct(x) for x in wilson(med, _n_test(rs)))} | "
                     f"{spread([r['train_error'] for r in rs])} | {test_mse} | {half} | {train_mse} | {train_half} | "
                     f"{spread([r['reject_for_1pct'] for r in rs], 1)} |")
    return "\n".join(lines) + "\n"


def render_reject(results):
    """Both reject rules with thresholds fitted on held-out training digits, on the test set."""
    h = _holdout(results)
    lines = [f"| network, recipe | seeds | error on the {h:,} held out | test error, nothing rejected | gap rule: "
             f"test reject | error on the rest | NIPS rule: test reject | error on the rest | NIPS rule's conditions: "
             f"seeds using t1, t2; median td | gap rule chosen on the test set |", "|---|---|---|---|---|---|---|---|---|---|"]
    if not h:
        return ""
    for row in ROWS:
        rs = runs(results, row.name, h)
        if not rs:
            continue
        rule = (lambda name, key: [r["reject_rules"][name][key] for r in rs])
        used = {k: sum(v is not None for v in rule("nips", k)) for k in ("t1", "t2")}
        tds = [v for v in rule("nips", "td") if v is not None]
        thr = (f"t1 in {used['t1']}, t2 in {used['t2']} of {len(rs)}; td median "
               + (f"{quartiles(tds)[2]:.2f}" if tds else "none"))
        lines.append(f"| {row.label} | {len(rs)} | {median_iqr([r['valid_error'] for r in rs])} | "
                     f"{median_iqr([r['test_error'] for r in rs])} | "
                     f"{median_iqr(rule('gap', 'test_reject'), 1)} | {median_iqr(rule('gap', 'test_error'))} | "
                     f"{median_iqr(rule('nips', 'test_reject'), 1)} | {median_iqr(rule('nips', 'test_error'))} | "
                     f"{thr} | {median_iqr([r['reject_for_1pct'] for r in rs], 1)} |")
    return "\n".join(lines) + "\n"


def render_claim(results, rows=("lenet1-article", "lenet1-1989", "lenet1-1989-staged", "nips-1989")):
    """'From about 5% to just 1%': the error with nothing rejected, and the reject that buys 1%."""
    h = _holdout(results)
    lines = ["| network, recipe | test error, nothing rejected | reject for 1% error (chosen on the test set, "
             "as the papers) | NIPS rule, thresholds from validation digits: reject → error on the rest |",
             "|---|---|---|---|"]
    for name in rows:
        rs, hs = runs(results, name), runs(results, name, h) if h else []
        if not rs:
            continue
        nips = "—" if not hs else (f"{median_iqr([r['reject_rules']['nips']['test_reject'] for r in hs], 1)} → "
                                   f"{median_iqr([r['reject_rules']['nips']['test_error'] for r in hs])}")
        lines.append(f"| {BY_NAME[name].label} | {median_iqr([r['test_error'] for r in rs])} | "
                     f"{median_iqr([r['reject_for_1pct'] for r in rs], 1)} | {nips} |")
    return "\n".join(lines) + "\n"


def render_published():
    """Every published figure with its source, page, and how far it was checked."""
    lines = ["| source | figure | value | page | read in the source's text |", "|---|---|---|---|---|"]
    for fig in pub.load()["figures"]:
        v = fig["value"]
        shown = "—" if v is None else (pct(v, 2 if v < 0.01 else 1) if isinstance(v, float) and v < 1 and
                                       "MSE" not in fig["figure"] else f"{v:g}")
        lines.append(f"| {pub.source(fig['source'])['short']} | {fig['figure']} | {shown} | {fig['page'] or '—'} | "
                     f"{pub.status_text(fig)} |")
    return "\n".join(lines) + "\n"


def render_timing(results):
    """CPU seconds per run (the runs holding digits out record them), and what the full
    default command costs: every row, 20 seeds, both kinds of run."""
    h = _holdout(results)
    lines = ["| network, recipe | runs timed | CPU s per run, 6,291 digits: median (min–max) | wall s per run "
             "(median) |", "|---|---|---|---|"]
    total, timed = 0.0, 0
    for row in ROWS:
        rs = [r for r in runs(results, row.name, h) if "cpu_seconds" in r] if h else []
        if not rs:
            continue
        cpu = quartiles([r["cpu_seconds"] for r in rs])
        # a run on all 7,291 digits trains 7,291 / 6,291 as long; the test pass is common to both
        total += len(SEEDS_FULL) * cpu[2] * (1 + N_TRAIN / (N_TRAIN - h))
        timed += 1
        lines.append(f"| {row.label} | {len(rs)} | {cpu[2]:.1f} ({cpu[0]:.1f}–{cpu[4]:.1f}) | "
                     f"{quartiles([r['wall_seconds'] for r in rs])[2]:.1f} |")
    if timed == len(ROWS):
        lines += ["", f"The full default command ({len(ROWS)} rows × {len(SEEDS_FULL)} seeds × 2 kinds of run, the "
                      f"median run of each row): about {total / 60:.0f} CPU-minutes, {total / 120:.0f} minutes on 2 "
                      f"idle cores."]
    return "\n".join(lines) + "\n"


NUMERICS_MARGIN = 0.003  # how far (0.3 points) a row's median test error may move for fast to be the default


def render_numerics(results):
    """Each row's median test error, training error and reject for 1% error over its seeds
    under the exact and the fast numerics policy (runs on all 7,291 training digits), and
    whether every row's median test error moved by less than NUMERICS_MARGIN."""
    by_policy = {p: [r for r in results if numerics_of(r) == p] for p in ("exact", "fast")}
    lines = ["| network, recipe | seeds (exact, fast) | test error, exact | test error, fast | fast − exact, "
             "median | train error, exact → fast | reject for 1% error, exact → fast |", "|---|---|---|---|---|---|---|"]
    moved = []
    for row in ROWS:
        exact, fast = runs(by_policy["exact"], row.name), runs(by_policy["fast"], row.name)
        if not exact or not fast:
            continue

        def both(key, digits):
            return f"{median_iqr([r[key] for r in exact], digits)} → {median_iqr([r[key] for r in fast], digits)}"

        d = quartiles([r["test_error"] for r in fast])[2] - quartiles([r["test_error"] for r in exact])[2]
        moved.append(abs(d))
        lines.append(f"| {row.label} | {len(exact)}, {len(fast)} | {median_iqr([r['test_error'] for r in exact])} | "
                     f"{median_iqr([r['test_error'] for r in fast])} | {100 * d:+.2f} points | "
                     f"{both('train_error', 2)} | {both('reject_for_1pct', 1)} |")
    if not moved:
        return "(no row has runs under both policies)\n"
    verdict = "within" if max(moved) < NUMERICS_MARGIN else "not within"
    lines += ["", f"Largest move of a row's median test error: {100 * max(moved):.2f} points, {verdict} "
                  f"{100 * NUMERICS_MARGIN:.1f} points, over {len(moved)} rows."]
    return "\n".join(lines) + "\n"


def check_one_policy(results):
    """The tables other than ``numerics`` describe runs of one numerics policy."""
    policies = sorted({numerics_of(r) for r in results})
    if len(policies) > 1:
        raise UsageError(f"these results mix runs of the numerics policies {' and '.join(policies)}: "
                         "the tables take one (the `numerics` table compares them)")
    return results


def render_all(results):
    """What `lenet-numba reproduce` prints and writes: comparison, reject rules, every row."""
    check_one_policy(results)
    parts = ["## Published figures against our seeds\n", render_comparison(results),
             "\n## Reject rules, thresholds from held-out training digits\n", render_reject(results) or "(none)\n",
             "\n## Every row, trained on all 7,291 training digits\n", render_runs(results)]
    return "\n".join(parts)


TABLES = {"comparison": render_comparison, "runs": render_runs, "reject": render_reject, "claim": render_claim,
          "readme": lambda results: render_comparison(results, README_ROWS, compact=True),
          "published": lambda results: render_published(), "timing": render_timing, "all": render_all,
          "numerics": render_numerics}
