"""The measured figures of README.md and of every docs/*.md page are rendered, never typed:
each sits in a block

    <!-- begin: python bench/speed.py --render bench/results/speed.json -->
    ...exactly what that command prints...
    <!-- end -->

whose command prints the block from a committed results file (no data, no training).
These tests rerun every command and fail when a page and the results files disagree, when
a table row quotes a measured figure outside a block, or when a page links to a page or
picture of the repository that does not exist.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
# a table row quoting a measured figure: a percentage with decimals, a time, a ratio (93×)
FIGURE_ROW = re.compile(r"^\|.*(\d\.\d+%|\d µs|\d ms|\d×(?!\d))", re.M)
# except the rows of a table of published figures (its first column is "source"): those are
# quoted from the papers, each with its source, not measured here
PUBLISHED_TABLE = re.compile(r"^\| source \|.*\n(?:\|.*\n)*", re.M)
BLOCK = re.compile(r"^<!-- begin: (?P<cmd>.+?) -->\n(?P<body>.*?)^<!-- end -->$", re.S | re.M)
# a Markdown link or picture to a file of the repository: ](docs/x.md), ](img/a.png#part)
LOCAL_LINK = re.compile(r"\]\((?!https?://|mailto:|#)(?P<target>[^)#\s]+)(?:#[^)]*)?\)")


def read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def blocks(text):
    return [(m.group("cmd"), m.group("body"), m.span()) for m in BLOCK.finditer(text)]


def commands():
    """Every block's command, once, whichever pages show it."""
    return sorted({cmd for page in PAGES for cmd, _, _ in blocks(read(page))})


@pytest.mark.parametrize("page", PAGES)
def test_blocks_are_well_formed(page):
    text = read(page)
    assert text.count("<!-- begin: ") == len(blocks(text)) == text.count("<!-- end -->"), \
        f"{page}: a begin without its end, or the reverse"
    for cmd, _, _ in blocks(text):
        argv = shlex.split(cmd)
        assert argv[0] == "python" and len(argv) >= 2, f"{page}: a block's command runs a script: {cmd}"
        assert os.path.exists(os.path.join(ROOT, argv[1])) or argv[1] == "-m", f"{page}: no such script: {cmd}"


@pytest.mark.parametrize("cmd", commands())
def test_block_matches_its_results_file(cmd):
    argv = shlex.split(cmd)
    res = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, f"{cmd} failed: {res.stderr[-2000:]}"
    for page in PAGES:
        for c, body, _ in blocks(read(page)):
            if c == cmd:
                assert body == res.stdout, f"{page}'s block differs from what `{cmd}` prints: rerun it and paste"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_table_row_is_rendered(page):
    """A table row quoting a measured percentage, time or × ratio sits inside a block."""
    text = read(page)
    spans = [span for _, _, span in blocks(text)] + [m.span() for m in PUBLISHED_TABLE.finditer(text)]
    loose = [m.group(0)[:80] for m in FIGURE_ROW.finditer(text)
             if not any(a <= m.start() < b for a, b in spans)]
    assert not loose, f"figures typed into {page} instead of rendered: {loose}"


@pytest.mark.parametrize("page", PAGES)
def test_links_to_files_of_the_repository_resolve(page):
    folder = os.path.dirname(os.path.join(ROOT, page))
    missing = sorted({m.group("target") for m in LOCAL_LINK.finditer(read(page))
                      if not os.path.exists(os.path.join(folder, m.group("target")))})
    assert not missing, f"{page} links to files that do not exist: {missing}"


def test_readme_stays_a_front_page():
    """README is what a newcomer reads first: at most 300 lines, depth in docs/."""
    assert len(read("README.md").splitlines()) <= 300
