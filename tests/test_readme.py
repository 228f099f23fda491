"""README's measured figures are rendered, never typed: each sits in a block

    <!-- begin: python bench/speed.py --render bench/results/speed.json -->
    ...exactly what that command prints...
    <!-- end -->

whose command prints the block from a committed results file (no data, no training).
These tests rerun every command and fail when README and the results files disagree.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# a table row quoting a measured figure: a percentage with decimals, a time, a ratio (93×)
FIGURE_ROW = re.compile(r"^\|.*(\d\.\d+%|\d µs|\d ms|\d×(?!\d))", re.M)
# except the rows of a table of published figures (its first column is "source"): those are
# quoted from the papers, each with its source, not measured here
PUBLISHED_TABLE = re.compile(r"^\| source \|.*\n(?:\|.*\n)*", re.M)
BLOCK = re.compile(r"^<!-- begin: (?P<cmd>.+?) -->\n(?P<body>.*?)^<!-- end -->$", re.S | re.M)


def read_readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def blocks():
    return [(m.group("cmd"), m.group("body"), m.span()) for m in BLOCK.finditer(read_readme())]


def test_blocks_are_well_formed():
    text = read_readme()
    assert text.count("<!-- begin: ") == len(blocks()) == text.count("<!-- end -->")
    for cmd, _, _ in blocks():
        argv = shlex.split(cmd)
        assert argv[0] == "python" and len(argv) >= 2, f"a block's command runs a script: {cmd}"
        assert os.path.exists(os.path.join(ROOT, argv[1])) or argv[1] == "-m", f"no such script: {cmd}"


@pytest.mark.parametrize("cmd", sorted({cmd for cmd, _, _ in blocks()}))
def test_block_matches_its_results_file(cmd):
    argv = shlex.split(cmd)
    res = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, f"{cmd} failed: {res.stderr[-2000:]}"
    for c, body, _ in blocks():
        if c == cmd:
            assert body == res.stdout, f"README's block differs from what `{cmd}` prints: rerun it and paste"



def test_every_figure_table_row_is_rendered():
    """A README table row quoting a measured percentage, time or × ratio sits inside a block."""
    text = read_readme()
    spans = [span for _, _, span in blocks()] + [m.span() for m in PUBLISHED_TABLE.finditer(text)]
    loose = [m.group(0)[:80] for m in FIGURE_ROW.finditer(text)
             if not any(a <= m.start() < b for a, b in spans)]
    assert not loose, f"figures typed into README instead of rendered: {loose}"
