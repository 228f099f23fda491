"""`lenet-numba reproduce`: rows and tasks, the run loop (resume, results file), the tables
against hand-computed figures, the published figures' bookkeeping, and one real run."""

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clitools import assert_ok, assert_user_error, invoke
from lenet_numba import reproduce
from lenet_numba.errors import UsageError
from lenet_numba.reproduce import published, stats, table

# ---------------------------------------------------------------- rows and tasks


def test_tasks_cover_rows_seeds_and_the_holdout_once_each():
    rows = reproduce.select_rows(["nips-1989", "zipcode-1989"])
    tasks = reproduce.tasks(rows, seeds=(0, 1, 2), holdout=500)
    keys = [reproduce.task_key(t) for t in tasks]
    assert len(keys) == len(set(keys)) == 2 * 3 * 2
    assert {t["holdout"] for t in tasks} == {0, 500}
    assert [t for t in tasks if t["holdout"] == 0] == tasks[:6]  # the main table's runs come first
    assert len(reproduce.tasks(rows, seeds=(0,), holdout=0)) == 2


def test_select_rows_by_network_and_recipe():
    assert {r.name for r in reproduce.select_rows(archs=("zipcode1989",), recipes=("1989",))} == \
        {"zipcode-1989", "zipcode-1989-fit"}
    with pytest.raises(UsageError, match="no such row"):
        reproduce.select_rows(["lenet5"])
    with pytest.raises(UsageError, match="no row has"):
        reproduce.select_rows(["nips-1989"], recipes=("modern",))


# ---------------------------------------------------------------- statistics


@given(st.integers(1, 5000), st.data())
def test_wilson_interval_solves_the_score_equation(n, data):
    """Each end L of the Wilson interval satisfies (p - L)^2 = z^2 L (1 - L) / n."""
    k = data.draw(st.integers(0, n))
    p, z = k / n, 1.96
    lo, hi = stats.wilson(p, n)
    assert 0 <= lo <= p + 1e-12 and p - 1e-12 <= hi <= 1
    for end in (lo, hi):
        if 0 < end < 1:
            assert (p - end) ** 2 == pytest.approx(z * z * end * (1 - end) / n, rel=1e-9, abs=1e-15)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0, 1))
def test_share_at_or_below_counts_seeds(values, v):
    assert stats.share_at_or_below(v, values) == sum(x <= v + 1e-12 for x in values) / len(values)


# ---------------------------------------------------------------- tables from known results


def fake_result(row, seed, holdout=0, test_error=0.05, **extra):
    r = reproduce.BY_NAME[row]
    rec = {"task_key": f"{row}/seed{seed}/holdout{holdout}", "status": "ok", "row": row, "label": r.label,
           "arch": r.arch, "recipe": r.recipe, "seed": seed, "holdout": holdout,
           "setting": {"row": row, "holdout": holdout}, "loss": "mse" if r.recipe == "1989" else "ce",
           "epochs": 30, "train_error": 0.01, "train_loss": 0.03, "test_error": test_error, "test_loss": 0.05,
           "n_test": 2007, "misses": round(test_error * 2007), "reject_for_1pct": 0.1, "wall_seconds": 1.0}
    if holdout:
        rule = {"t1": None, "t2": 0.5, "td": 0.2, "valid_reject": 0.02, "valid_error": 0.01, "test_reject": 0.04,
                "test_error": 0.02}
        rec["reject_rules"] = {"gap": dict(rule, t2=None), "nips": rule}
        rec["valid_error"] = 0.02
    rec.update(extra)
    return rec


def test_comparison_places_the_published_figure_among_our_seeds():
    # test errors 4.0, 4.5, 5.0, 5.5% on four seeds; the derived 4.6% is above two of them
    results = [fake_result("nips-1989", s, test_error=e) for s, e in enumerate((0.040, 0.045, 0.050, 0.055))]
    text = table.render_comparison(results)
    line = next(l for l in text.splitlines() if "| test error |" in l)
    assert "4.75% [4.38, 5.12], 4 seeds" in line  # median and quartiles of the four
    lo, hi = stats.wilson(0.0475, 2007)
    assert f"{100 * lo:.2f}%–{100 * hi:.2f}%" in line
    assert line.endswith("| 50% |")
    # MSE rows compare half our MSE with the paper's figure (0.05 / 2 = 2.5e-2 > 0.024)
    mse = next(l for l in text.splitlines() if "test MSE, ½ × ours" in l)
    assert "2.50e-02" in mse and mse.endswith("| 0% |")


def test_reject_and_claim_tables_read_the_holdout_runs():
    results = [fake_result("nips-1989", s) for s in range(3)] + \
        [fake_result("nips-1989", s, holdout=1000, test_error=0.06) for s in range(3)]
    rej = table.render_reject(results)
    assert "| 3 | 2.00% [2.00, 2.00] | 6.00% [6.00, 6.00] | 4.0% [4.0, 4.0] | 2.00% [2.00, 2.00] |" in rej
    assert "t1 in 0, t2 in 3 of 3; td median 0.20" in rej  # t1 never applied, t2 always
    claim = table.render_claim(results)
    assert "| 5.00% [5.00, 5.00] | 10.0% [10.0, 10.0] | 4.0% [4.0, 4.0] → 2.00% [2.00, 2.00] |" in claim
    assert table.render_reject([r for r in results if r["holdout"] == 0]) == ""


def test_cross_entropy_rows_show_no_mse():
    text = table.render_runs([fake_result("lenet1-article", 0)])
    assert "— (cross-entropy)" in text


# ---------------------------------------------------------------- published figures


def test_every_published_figure_names_its_source_and_how_it_was_checked():
    data = published.load()
    assert len(data["by_id"]) == len(data["figures"])
    for fig in data["figures"]:
        assert fig["source"] in data["sources"], fig["id"]
        assert fig["status"] in ("verified", "transcribed", "derived", "unverified"), fig["id"]
        assert fig["verified"] == (fig["status"] == "verified"), fig["id"]
        if fig["status"] in ("verified", "derived"):
            assert fig["quote"] and fig["page"], f"{fig['id']}: a figure read or derived quotes its page"
            assert published.status_text(fig).startswith("yes" if fig["verified"] else "no: derived"), fig["id"]
        if fig["status"] == "transcribed":
            assert fig.get("via") in data["sources"], fig["id"]
    for fid, row, what in table.COMPARISON:
        assert fid in data["by_id"] and row in reproduce.BY_NAME


# ---------------------------------------------------------------- the run loop


def _fake_run_task(task):
    return fake_result(task["row"], task["seed"], task["holdout"])


def test_run_reproduction_appends_and_resumes(tmp_path, monkeypatch):
    from lenet_numba.reproduce import run as run_mod

    calls = []
    monkeypatch.setattr(run_mod, "run_task", lambda t: calls.append(t["name"]) or _fake_run_task(t))
    out = tmp_path / "out"
    rows = reproduce.select_rows(["nips-1989"])
    with ThreadPoolExecutor(2) as ex:
        first = reproduce.run_reproduction(reproduce.tasks(rows, (0, 1), 0), ex, str(out),
                                           render=table.render_all)
    assert len(first) == 2 and len(calls) == 2
    assert (out / "reproduction.md").read_text().startswith("## Published figures")
    with pytest.raises(UsageError, match="--resume"):
        with ThreadPoolExecutor(1) as ex:
            reproduce.run_reproduction(reproduce.tasks(rows, (0, 1), 0), ex, str(out))
    with ThreadPoolExecutor(1) as ex:
        both = reproduce.run_reproduction(reproduce.tasks(rows, (0, 1, 2), 0), ex, str(out), resume=True)
    assert len(both) == 3 and len(calls) == 3  # only seed 2 ran
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and reproduce.load_results(str(out / "results.jsonl")) == reproduce.load_results(str(out))


def test_the_numerics_table_compares_each_row_under_both_policies(tmp_path):
    exact = [fake_result("nips-1989", s, test_error=0.04 + 0.001 * s) for s in range(5)]
    fast = [fake_result("nips-1989", s, test_error=0.04 + 0.001 * s + 0.002, overrides={"numerics": "fast"})
            for s in range(5)]
    text = table.render_numerics(exact + fast)
    assert "| 5, 5 | 4.20% [4.10, 4.30] | 4.40% [4.30, 4.50] | +0.20 points |" in text
    assert "0.20 points, within 0.3 points, over 1 rows" in text
    far = [dict(r, test_error=r["test_error"] + 0.002) for r in fast]
    assert "0.40 points, not within 0.3 points" in table.render_numerics(exact + far)
    assert "no row has runs under both" in table.render_numerics(exact)
    with pytest.raises(UsageError, match="mix runs of the numerics policies exact and fast"):
        table.render_all(exact + fast)
    # from the command line: several files are read as one; the other tables refuse a mix
    for name, rs in (("exact.jsonl", exact), ("fast.jsonl", fast)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rs))
    files = [str(tmp_path / "exact.jsonl"), str(tmp_path / "fast.jsonl")]
    from lenet_numba.reproduce.__main__ import main
    main(files + ["--table", "numerics"])
    with pytest.raises(SystemExit, match="mix runs"):
        main(files + ["--table", "runs"])


def test_cli_refuses_bad_options_in_one_line(tmp_path):
    assert_user_error(invoke("reproduce", "--out-dir", tmp_path / "o", "--rows", "nips-1989", "--recipe", "modern"),
                      2, "no row has")
    assert_user_error(invoke("reproduce", "--out-dir", tmp_path / "o", "--seeds", "3-1"), 2, "--seeds")
    assert_user_error(invoke("reproduce", "--out-dir", tmp_path / "no" / "such", "--seeds", "0"), 2, "--out-dir")


# ---------------------------------------------------------------- one real run


def test_a_run_reads_the_test_set_once_after_training(data_root, monkeypatch):
    """The worker trains with the test file unread (test=False), then reads it once; a holdout
    run fits both reject rules on the held-out digits."""
    from lenet_numba import experiment
    from lenet_numba.reproduce.worker import run_task

    events = []
    real_run, real_test = experiment.run, experiment.load_test_set

    def run(cfg, **kw):
        assert cfg.test is False and cfg.validation == 300
        out = real_run(cfg, **kw)
        events.append("trained")
        return out

    def load_test_set(*a, **k):
        events.append("test read")
        return real_test(*a, **k)

    monkeypatch.setattr(experiment, "run", run)
    monkeypatch.setattr(experiment, "load_test_set", load_test_set)
    for key in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(key, os.environ.get(key, "1"))
    task = reproduce.tasks(reproduce.select_rows(["lenet1-article"]), (0,), 300, str(data_root), False)[-1]
    task["overrides"] = {"epochs": 1}
    r = run_task(task)
    assert events == ["trained", "test read"]
    assert r["status"] == "ok" and r["n_test"] == 2007 and r["misses"] == round(r["test_error"] * 2007)
    for rule in ("gap", "nips"):
        fit = r["reject_rules"][rule]
        assert fit["valid_error"] <= 0.01 + 1e-12 and 0 <= fit["test_reject"] <= 1
    assert r["reject_rules"]["nips"]["valid_reject"] <= r["reject_rules"]["gap"]["valid_reject"]
    json.dumps(r, allow_nan=False)  # no infinities in the results file


def test_timing_extrapolates_the_full_command_from_the_median_run():
    results = [fake_result(row.name, s, holdout=1000, cpu_seconds=float(6 + s)) for row in reproduce.ROWS
               for s in range(3)]
    text = table.render_timing(results)
    assert text.count("| 3 | 7.0 (6.0–8.0) |") == len(reproduce.ROWS)
    # per row: 20 seeds x 7 CPU s x (1 + 7,291 / 6,291), both kinds of run
    total = len(reproduce.ROWS) * 20 * 7.0 * (1 + 7291 / 6291)
    assert f"about {total / 60:.0f} CPU-minutes, {total / 120:.0f} minutes on 2 idle cores" in text
    assert "CPU-minutes" not in table.render_timing(results[3:])  # a row untimed: no total claimed


def test_a_staged_run_starts_the_usps_run_from_the_first_stage(monkeypatch):
    """The first stage trains on its own data set for its passes, reads no test file, and the
    weights it saves are where the USPS run starts (no data: the second stage stops at once)."""
    from lenet_numba import experiment
    from lenet_numba.errors import DivergenceError
    from lenet_numba.reproduce.worker import run_task

    seen = []

    def run(cfg, **kw):
        seen.append(cfg)
        if len(seen) == 2:
            raise DivergenceError("stop here")
        return {"model": type("M", (), {"state_dict": lambda self: {}})(), "epochs": cfg.recipe.epochs}

    saved = []
    monkeypatch.setattr(experiment, "run", run)
    monkeypatch.setattr(experiment, "checkpoint_meta", lambda *a: {"epoch": a[3]})
    monkeypatch.setattr(experiment, "make_optimizer", lambda *a: type("O", (), {"state": lambda self: {}})())
    monkeypatch.setattr("lenet_numba.checkpoint.save_checkpoint", lambda path, *a: saved.append(path))
    for key in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(key, os.environ.get(key, "1"))
    task = reproduce.tasks(reproduce.select_rows(["lenet1-1989-staged"]), (4,), 0)[0]
    assert run_task(task)["status"] == "diverged"
    first, second = seen
    assert (first.dataset, first.recipe.epochs, first.test, first.seed) == ("mnist16-all", 10, False, 4)
    assert second.init_from == saved[0] and second.dataset == "usps" and second.test is False
