"""docs/reproduction.md's figures are rendered, never typed: each sits in a block

    <!-- begin: python -m lenet_numba.reproduce experiments/results/FILE --table NAME -->
    ...exactly what that command prints...
    <!-- end -->

and these tests rerun every command (from committed results files only: no data, no
training) and fail when the page and the results disagree."""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "reproduction.md")
BLOCK = re.compile(r"^<!-- begin: (?P<cmd>.+?) -->\n(?P<body>.*?)^<!-- end -->$", re.S | re.M)


def blocks():
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    return text, [(m.group("cmd"), m.group("body")) for m in BLOCK.finditer(text)]


def test_blocks_are_well_formed_and_read_committed_files():
    text, found = blocks()
    assert found and text.count("<!-- begin: ") == len(found) == text.count("<!-- end -->")
    for cmd, _ in found:
        argv = shlex.split(cmd)
        assert argv[0] == "python", cmd
        files = [a for a in argv if a.startswith("experiments/results/")]
        assert files and all(os.path.isfile(os.path.join(ROOT, f)) for f in files), f"no committed results: {cmd}"


@pytest.mark.parametrize("cmd", sorted({cmd for cmd, _ in blocks()[1]}))
def test_block_matches_what_its_command_prints(cmd):
    argv = shlex.split(cmd)
    res = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, f"{cmd} failed: {res.stderr[-2000:]}"
    for c, body in blocks()[1]:
        if c == cmd:
            assert body == res.stdout, f"docs/reproduction.md differs from what `{cmd}` prints: rerun it and paste"
