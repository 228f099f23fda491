"""docs/performance.md's figures are rendered, never typed: each sits in a block

    <!-- begin: python bench/peers.py --render bench/results/peers.json -->
    ...exactly what that command prints...
    <!-- end -->

whose command prints it from a committed results file (no data, no training, no timing).
These tests rerun every command and fail when the page and its results files disagree,
and when a table row quoting a measured figure sits outside a block.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "performance.md")
BLOCK = re.compile(r"^<!-- begin: (?P<cmd>.+?) -->\n(?P<body>.*?)^<!-- end -->$", re.S | re.M)
FIGURE_ROW = re.compile(r"^\|.*(\d\.\d+%|\d µs|\d ms|\d s\b|\d×(?!\d))", re.M)


def page():
    with open(PAGE, encoding="utf-8") as f:
        return f.read()


def blocks():
    return [(m.group("cmd"), m.group("body"), m.span()) for m in BLOCK.finditer(page())]


def test_blocks_are_well_formed_and_run_scripts_of_the_repository():
    text = page()
    assert blocks() and text.count("<!-- begin: ") == len(blocks()) == text.count("<!-- end -->")
    for cmd, _, _ in blocks():
        argv = shlex.split(cmd)
        assert argv[0] == "python" and os.path.exists(os.path.join(ROOT, argv[1])), f"no such script: {cmd}"
        assert "--render" in argv, f"a block renders a committed results file: {cmd}"


@pytest.mark.parametrize("cmd", sorted({cmd for cmd, _, _ in blocks()}))
def test_block_matches_what_its_command_prints(cmd):
    argv = shlex.split(cmd)
    res = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, f"{cmd} failed: {res.stderr[-2000:]}"
    for c, body, _ in blocks():
        if c == cmd:
            assert body == res.stdout, f"docs/performance.md's block differs from what `{cmd}` prints: rerun it"


def test_every_figure_table_row_is_inside_a_rendered_block():
    text = page()
    spans = [span for _, _, span in blocks()]
    loose = [m.group(0)[:80] for m in FIGURE_ROW.finditer(text) if not any(a <= m.start() < b for a, b in spans)]
    assert not loose, f"figures typed into docs/performance.md instead of rendered: {loose}"
