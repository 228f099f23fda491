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

