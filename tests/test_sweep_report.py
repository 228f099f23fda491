"""The sweep's summary and Markdown table (lenet_numba.sweep.report), from made-up results."""

from lenet_numba import sweep
from sweeptools import table_rows


def test_summary_of_diverged_and_unfinished_runs():
    spec = sweep.SweepSpec(recipe="article", grid={"lr": [0.01, 1.0, 0.03], "mu": [0.02]}, seeds=(0, 1, 2),
                           validation=500)
    tasks = spec.tasks()
    assert [t["name"] for t in tasks[:2]] == ["lr=0.01_mu=0.02_seed=0", "lr=0.01_mu=0.02_seed=1"]
    res = {}
    for t, err in zip(tasks, [0.05, 0.07, 0.06, None, 0.01, 0.02, 0.04, 0.05]):  # the last task unfinished
        r = {"seed": t["seed"], "status": "ok" if err is not None else "diverged", "metrics": t["name"]}
        if err is not None:
            r.update(valid_error=err, train_error=err / 2)
        res[sweep.task_key(t)] = r
    s = sweep.summarize(spec, tasks, res)
    a, b, c = s["settings"]
    assert a["error"] == {"median": 0.06, "min": 0.05, "max": 0.07} and a["runs"] == 3
    assert b["runs"] == 2 and b["diverged"] == 1 and not b["best"]      # lowest errors, but one diverged
    assert c["runs"] == 2 and c["error"]["median"] == 0.045 and c["best"]  # even count: the mean of two
    assert s["best"] == "lr=0.03 mu=0.02" and s["finished"] == 8 and not s["complete"]
    rows = table_rows(sweep.markdown_table(s))
    assert rows[1][:3] == ["1.0", "0.02", "2/3 (1 diverged)"]
    assert rows[2] == ["**0.03**", "**0.02**", "**2/3**", "**4.50%**", "**4.00%**", "**5.00%**", "**2.25%**"]


def test_without_validation_no_setting_is_picked():
    """A sweep never chooses on the test set: without --validation it shows test error only."""
    spec = sweep.SweepSpec(recipe="article", grid={"lr": [0.01, 0.03]}, seeds=(0,))
    tasks = spec.tasks()
    res = {sweep.task_key(t): {"seed": 0, "status": "ok", "test_error": e, "train_error": e / 2}
           for t, e in zip(tasks, [0.06, 0.05])}
    s = sweep.summarize(spec, tasks, res)
    assert s["best"] is None and s["chosen_on"] is None and not any(r["best"] for r in s["settings"])
    assert "test error median" in sweep.markdown_table(s) and "**" not in sweep.markdown_table(s)
    assert "no setting is picked" in sweep.markdown_report(s)
