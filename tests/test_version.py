"""The version is written once (lenet_numba.__version__): the package metadata reads it from
there, `lenet-numba --version` prints it (tests/test_cli.py) and CHANGELOG.md's newest entry
is about it."""

import os
import re

import pytest

from lenet_numba import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_pyproject_reads_the_version_from_the_package():
    tomllib = pytest.importorskip("tomllib", reason="Python < 3.11 has no tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "lenet_numba.__version__"}


def test_the_changelog_starts_with_this_version():
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        headings = [line for line in f if line.startswith("## ")]
    assert headings and headings[0].split()[1] == __version__, headings[:1]
