"""The product speaks of itself: its tracked files name no folder of the machine they were
made on, cite no tracker's issue numbers and say nothing of how the work was organised (a
test, comment or page says what behaviour it means, an example uses ``~/...`` or
``$LENET_NUMBA_DATA``, a results file stores paths relative to the repository)."""

import gzip
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THIS = os.path.relpath(os.path.abspath(__file__), ROOT)

# Absolute paths allowed: the first folder is one every Linux system has, with the same
# meaning everywhere (/proc/cpuinfo, /dev/null, /usr/bin/chromium). Not /tmp: a /tmp path
# in a tracked file is one run's scratch folder on one machine (results files recorded
# them), and an example can use a folder the reader makes. Not /home, /root, /opt, /srv,
# /var, /mnt or anything else: those are someone's folders.
SYSTEM_FOLDERS = {"bin", "dev", "etc", "lib", "proc", "sys", "usr"}
# the URL routes of `lenet-numba serve`'s page (/api/predict, /static/app.js): not files
ROUTES = {"api", "static"}
# "/first/rest" at the start of a word (after a space, a quote, "=", "(", "[", "`", "," or ":")
ABSOLUTE_PATH = re.compile(r"""(?:^|[\s"'=(\[`,:])(/([A-Za-z][A-Za-z0-9_.-]*)(?:/[A-Za-z0-9_.~-]+)+)""", re.M)
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\s*\d+|\(issue\b|\bissue\s*#", re.I)
WORKSHOP_WORDS = re.compile(r"\bthe brief\b|\bmachine kind\b|\bmachines of this kind\b|\b(?:this|other) sessions?\b",
                            re.I)
MAX_BYTES = 64 << 20  # a compressed results file is read up to this much


def tracked_texts():
    """(path, text) of every tracked text file; a .gz results file decompressed."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    for path in filter(None, files.decode().split("\0")):
        full = os.path.join(ROOT, path)
        try:
            if path.endswith(".gz"):
                with gzip.open(full) as f:
                    raw = f.read(MAX_BYTES)
            else:
                with open(full, "rb") as f:
                    raw = f.read()
            yield path, raw.decode("utf-8")
        except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
            continue  # a picture, a deleted file: nothing to read as text


def findings(pattern):
    """``path:line: match`` of every match in a tracked file (this one's examples aside)."""
    found = []
    for path, text in tracked_texts():
        if path == THIS:
            continue
        for m in pattern.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{path}:{line}: {m.group(0).strip()}")
    return found


def machine_paths(text):
    return [m.group(1) for m in ABSOLUTE_PATH.finditer(text) if m.group(2) not in SYSTEM_FOLDERS | ROUTES]


def test_no_tracked_file_outside_tests_names_a_folder_of_the_build_machine():
    found = []
    for path, text in tracked_texts():
        if path.startswith("tests/"):
            continue  # tests build paths of their own (tmp_path, /dev/full, a FIFO)
        found += [f"{path}: {p}" for p in machine_paths(text)]
    assert not found, "absolute paths of one machine in tracked files (use ~/..., $LENET_NUMBA_DATA " \
                      f"or a path relative to the repository): {found[:20]}"


def test_no_tracked_file_cites_an_issue_number():
    found = findings(ISSUE_NUMBER)
    assert not found, f"say what behaviour is meant, not which issue asked for it: {found[:20]}"


def test_no_tracked_file_speaks_of_how_the_work_was_organised():
    found = findings(WORKSHOP_WORDS)
    assert not found, f"words about how the work was organised, not about the product: {found[:20]}"


@pytest.mark.parametrize("text, paths", [
    ("export LENET_NUMBA_DATA=/home/me/data", ["/home/me/data"]),
    ('"command": "speed.py --scratch /tmp/run5"', ["/tmp/run5"]),
    ("cache (`/root/.cache/lenet-numba`)", ["/root/.cache/lenet-numba"]),
    ("reads /proc/cpuinfo, writes /dev/null, runs /usr/bin/chromium", []),
    ("POST /api/predict, GET /static/app.js", []),
    ("https://hastie.su.domains/ElemStatLearn/datasets/ and ~/.cache/lenet-numba, µs/sample, and/or", []),
])
def test_what_counts_as_a_machine_path(text, paths):
    assert machine_paths(text) == paths


@pytest.mark.parametrize("text, hit", [
    ("a regression test (issue 7)", True),
    ("Issue 4: every field", True),
    ("see issue #12", True),
    ("a known issue with old compilers; tissue 3", False),
])
def test_what_counts_as_an_issue_number(text, hit):
    assert bool(ISSUE_NUMBER.search(text)) == hit
