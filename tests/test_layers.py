"""Imports go one way down: the layers contract in pyproject.toml (and no cycle inside a
package), run by import-linter, holds, and names every module of the package (a new module
must be given its level)."""

import os
import pkgutil
import re
import subprocess
import sys

import lenet_numba

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def contract_layers():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"^layers = \[\n(.*?)^\]", text, re.S | re.M).group(1)
    return [[name.strip() for name in line.strip().strip('",').split("|")] for line in block.splitlines()
            if line.strip()]


def test_the_layers_contract_holds():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "cli")])}
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")  # import-linter, a test extra
    res = subprocess.run([lint, "--no-cache", "--config", os.path.join(ROOT, "pyproject.toml")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "2 kept, 0 broken" in res.stdout


def test_every_module_has_a_level():
    listed = {name for line in contract_layers() for name in line}
    modules = {f"lenet_numba.{m.name}" for m in pkgutil.iter_modules(lenet_numba.__path__)}
    missing = sorted(modules - listed)
    assert not missing, f"modules with no level in pyproject.toml's layers contract: {missing}"


def test_the_design_page_shows_the_contract():
    with open(os.path.join(ROOT, "docs", "design.md"), encoding="utf-8") as f:
        page = f.read()
    shown = re.search(r"^```\n(lenet_numba\.__main__\n.*?)^```", page, re.S | re.M).group(1).split("\n")[:-1]
    want = [" | ".join(n.replace("lenet_numba.", "", 1) if n != "lenet_numba.__main__" else n for n in line)
            for line in contract_layers()]
    assert shown == want, "docs/design.md's levels differ from pyproject.toml's contract"
