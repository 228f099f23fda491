"""The results file (``results.jsonl``): one JSON line per finished run, appended as runs end.

What resuming trusts is only what it can check: a line that is not a whole, well-formed
result (torn by a kill, edited by hand, garbage) is skipped and reported, never fatal; a
torn last line is cut off before anything is appended after it, so a new result never
joins a broken one. Lines are read with a length limit: memory stays bounded whatever the
file holds.
"""

import json
import math
import os

from ..atomic import check_distinct_paths, check_output_dir
from ..errors import LenetError, UsageError

RESULTS = "results.jsonl"
MAX_LINE = 1 << 20  # bytes; a real result line is about 1 KB
STATUSES = ("ok", "diverged")
_ERRORS = ("test_error", "valid_error", "train_error")  # train's always; test's or valid's (--validation)


def is_result(record):
    """True if ``record`` is a finished run's result as run_sweep writes it (the fields
    resuming and the summary read, with their types and ranges)."""
    if not isinstance(record, dict):
        return False
    if not isinstance(record.get("task_key"), str) or record.get("status") not in STATUSES:
        return False
    seed = record.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 or not isinstance(record.get("setting"), dict):
        return False
    if record["status"] == "ok":
        if "train_error" not in record or not ("test_error" in record or "valid_error" in record):
            return False
        for key in _ERRORS:
            v = record.get(key, 0.0)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (math.isfinite(v) and 0 <= v <= 1):
                return False
    metrics = record.get("metrics")
    return metrics is None or isinstance(metrics, str)


def _lines(f):
    """(line number, bytes or None if longer than MAX_LINE, complete?) of a binary file."""
    number = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            while line and not line.endswith(b"\n"):  # skip the rest of the long line
                line = f.readline(MAX_LINE)
            yield number, None, True
            continue
        yield number, line, line.endswith(b"\n")


def read_results(out_dir, skipped=None):
    """The results in ``out_dir/results.jsonl``, in file order. Lines that are not results
    are left out; their numbers are appended to ``skipped`` (a list) if given."""
    path = os.path.join(out_dir, RESULTS)
    out = []
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        for number, line, complete in _lines(f):
            record = None
            if line is not None and line.strip():
                try:
                    record = json.loads(line.decode("utf-8"))
                except ValueError:  # JSONDecodeError and UnicodeDecodeError
                    record = None
            elif line is not None:
                continue  # blank lines are nothing
            if is_result(record):
                out.append(record)
            elif skipped is not None:
                skipped.append(number)
    return out


def repair_tail(path):
    """Make ``path`` end with a newline before anything is appended: a torn last line (no
    newline) is cut off, unless it is a whole result, which just gets its newline."""
    try:
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            start = max(0, size - MAX_LINE - 1)
            f.seek(start)
            tail = f.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n") + 1
            last = tail[cut:]
            try:
                whole = is_result(json.loads(last.decode("utf-8")))
            except ValueError:
                whole = False
            if cut or start == 0 and not whole:
                f.truncate(start + cut)
            else:  # a whole result lacking its newline, or a line too long to be one (skipped anyway)
                f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
    except FileNotFoundError:
        return


def append_result(path, result):
    """Append one result line and make it durable (the file's tail repaired first)."""
    repair_tail(path)
    with open(path, "a") as f:
        f.write(json.dumps(result) + "\n")
        f.flush()
        os.fsync(f.fileno())


def check_out_dir(out_dir, resume=False, skipped=None):
    """The results already in ``out_dir``; refused (UsageError) unless resuming.

    ``out_dir`` must be a folder, or a new folder whose parent exists; the files a sweep
    writes there (results.jsonl, sweep.json, sweep.md, runs/) must not be something else,
    nor (through a link) one another.
    Nothing is created here. Lines of results.jsonl that are not results go to ``skipped``.
    """
    check_output_dir(out_dir, "--out-dir")
    full = os.path.abspath(os.fspath(out_dir))
    if not os.path.exists(full):
        return []
    for name in (RESULTS, "sweep.json", "sweep.md"):
        path = os.path.join(full, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UsageError(f"--out-dir {out_dir}: {name} exists and is not a regular file")
    runs = os.path.join(full, "runs")
    if os.path.lexists(runs) and not os.path.isdir(runs):
        raise UsageError(f"--out-dir {out_dir}: runs exists and is not a folder")
    # a file written here that is (by a link) the results file, which resuming reads, would destroy it
    written = {name: os.path.join(full, name) for name in ("sweep.json", "sweep.md")}
    try:
        names = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
    except OSError as e:
        raise UsageError(f"--out-dir {out_dir}: cannot read its runs folder ({e.strerror or e})") from None
    written.update((os.path.join("runs", n), os.path.join(runs, n)) for n in names)
    check_distinct_paths(written, {RESULTS: os.path.join(full, RESULTS)}, advice="remove the link")
    lines = []
    try:
        previous = read_results(out_dir, lines)
    except OSError as e:
        raise LenetError(f"{os.path.join(out_dir, RESULTS)}: cannot read ({e.strerror or e})") from None
    if (previous or lines) and not resume:
        raise UsageError(f"{out_dir} already holds a sweep's results ({RESULTS}); add --resume to "
                         "continue it, or choose another --out-dir")
    if skipped is not None:
        skipped.extend(lines)
    return previous
