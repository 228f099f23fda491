"""Rendered blocks of a Markdown page: each measured figure sits in

    <!-- begin: python SCRIPT ARGS -->
    ...exactly what that command prints...
    <!-- end -->

whose command prints the block from a committed results file (no data, no training).
``check_page`` tests a page's blocks: well formed, and each equal to its command's output.
"""

import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"^<!-- begin: (?P<cmd>.+?) -->\n(?P<body>.*?)^<!-- end -->$", re.S | re.M)


def blocks(text):
    """[(command, body)] of every block in ``text``."""
    return [(m.group("cmd"), m.group("body")) for m in BLOCK.finditer(text)]


def rendered(cmd):
    """What ``cmd`` (python SCRIPT ARGS, run from the repository's root) prints."""
    argv = shlex.split(cmd)
    assert argv[0] == "python" and len(argv) >= 2, f"a block's command runs a script: {cmd}"
    assert os.path.exists(os.path.join(ROOT, argv[1])), f"no such script: {cmd}"
    res = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, f"{cmd} failed: {res.stderr[-2000:]}"
    return res.stdout


def check_page(path):
    """Every block of the page at ``path`` is closed and equals what its command prints;
    returns the number of blocks."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = blocks(text)
    assert text.count("<!-- begin: ") == len(found) == text.count("<!-- end -->"), f"{path}: unclosed block"
    for cmd, body in found:
        assert body == rendered(cmd), f"{path}: the block differs from what `{cmd}` prints: rerun it and paste"
    return len(found)
