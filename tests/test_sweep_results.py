"""The sweep's results file (lenet_numba.sweep.results): torn, hand-edited or garbage lines
never crash a resume, finished runs are recognised, and nothing is appended onto a torn line."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clitools import assert_ok, invoke
from lenet_numba import sweep
from lenet_numba.sweep.results import append_result, is_result, repair_tail

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def result(key="k", seed=0, status="ok", err=0.05):
    r = {"task_key": key, "seed": seed, "setting": {"lr": 0.01}, "status": status, "metrics": "runs/x.jsonl"}
    if status == "ok":
        r.update(test_error=err, train_error=err / 2)
    return r


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4),
                           max_leaves=8)
bad_records = st.fixed_dictionaries({}, optional={
    "task_key": st.one_of(st.text(max_size=5), st.integers()), "seed": st.one_of(st.integers(-3, 3), st.floats()),
    "setting": json_values, "status": st.sampled_from(["ok", "diverged", "running", None]),
    "test_error": st.one_of(st.floats(allow_nan=True), st.text(max_size=3)), "train_error": st.floats(),
    "metrics": json_values})
lines = st.one_of(
    st.builds(lambda r: json.dumps(r), st.builds(result, st.text(min_size=1, max_size=5), st.integers(0, 9))),
    st.builds(lambda r: json.dumps(r), bad_records),
    st.builds(lambda v: json.dumps(v), json_values),
    st.text(max_size=40).map(lambda t: t.replace("\n", " ")),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ").decode("latin-1")),
)


@FUZZ
@given(body=st.lists(lines, max_size=8), torn=st.text(max_size=30).map(lambda t: t.replace("\n", " ")))
def test_fuzzed_results_files_read_and_repair(tmp_path, body, torn):
    path = tmp_path / sweep.RESULTS
    path.write_bytes(("\n".join(body) + ("\n" if body else "") + torn).encode("utf-8", "surrogatepass"))
    skipped = []
    records = sweep.read_results(str(tmp_path), skipped)
    assert all(is_result(r) for r in records)
    expected = []
    for text in body + ([torn] if torn else []):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if is_result(value):
            expected.append(value)
    assert json.dumps(records) == json.dumps(expected)   # every whole result, and only those, in order
    append_result(str(path), result("new"))
    after = sweep.read_results(str(tmp_path))
    assert json.dumps(after[-1]) == json.dumps(result("new"))       # never glued onto a torn line
    assert json.dumps(after[:-1]) == json.dumps(expected)
    assert path.read_bytes().endswith(b"\n")


def test_a_torn_last_line_is_cut_and_a_whole_one_gets_its_newline(tmp_path):
    path = tmp_path / sweep.RESULTS
    path.write_text(json.dumps(result("a")) + "\n" + json.dumps(result("b"))[:25])
    repair_tail(str(path))
    assert path.read_text() == json.dumps(result("a")) + "\n"
    path.write_text(json.dumps(result("a")))
    repair_tail(str(path))
    assert path.read_text() == json.dumps(result("a")) + "\n"
    path.write_text("garbage without newline")
    repair_tail(str(path))
    assert path.read_text() == ""


def test_an_overlong_line_is_skipped_with_bounded_memory(tmp_path):
    from lenet_numba.sweep import results

    path = tmp_path / sweep.RESULTS
    with open(path, "w") as f:
        f.write(json.dumps(result("a")) + "\n")
        f.write('{"task_key": "' + "x" * (results.MAX_LINE + 10) + '"}\n')
        f.write(json.dumps(result("b")) + "\n")
    skipped = []
    assert [r["task_key"] for r in sweep.read_results(str(tmp_path), skipped)] == ["a", "b"]
    assert skipped == [2]


def finished_sweep(out, spec, edits):
    """``out`` holding a result for every task of ``spec``, plus ``edits`` (hand-edited lines)."""
    (out / "runs").mkdir(parents=True)
    lines = []
    for i, t in enumerate(spec.tasks()):
        r = dict(result(sweep.task_key(t), t["seed"], err=0.01 * (i + 1)), setting=t["setting"], name=t["name"])
        lines.append(json.dumps(r))
    (out / sweep.RESULTS).write_text("\n".join(lines[:1] + edits + lines[1:]) + "\n" + '{"task_key": "torn')


@pytest.mark.parametrize("edits", [
    ['{"task_key": "x", "status": "ok"}'],                       # a result missing its numbers
    ['{"task_key": 3}', "[1, 2]", "not json at all", ""],       # wrong types, not an object, text
    ['{"task_key": "y", "seed": 0, "setting": {}, "status": "ok", "test_error": NaN, "train_error": 0.1}'],
])
def test_resume_over_hand_edited_and_torn_lines_reruns_nothing(tmp_path, edits):
    """Every task finished: --resume recognises them all, runs nothing (needs no data) and
    warns once about the lines it ignored."""
    out = tmp_path / "s"
    spec = sweep.SweepSpec(recipe="article", epochs=1, grid={"lr": [0.01, 0.02]}, seeds=(0, 1))
    finished_sweep(out, spec, edits)
    res = assert_ok(invoke("sweep", "--recipe", "article", "--epochs", 1, "--set", "lr=0.01,0.02", "--seeds", 0, 1,
                           "--out-dir", out, "--resume", "--json"))
    summary = json.loads(res.stdout)
    assert summary["complete"] and summary["finished"] == 4
    assert "resuming: 4 finished, 0 to run" in res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "not whole results" in warnings[0]
    assert [row["runs"] for row in summary["settings"]] == [2, 2]
