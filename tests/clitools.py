"""Running the click app in-process, and what every CLI test asserts about the result."""

from click.testing import CliRunner

from lenet_numba_cli.main import cli

try:  # click < 8.2 mixes stderr into output unless told not to
    RUNNER = CliRunner(mix_stderr=False)
except TypeError:
    RUNNER = CliRunner()


def invoke(*args):
    return RUNNER.invoke(cli, [str(a) for a in args], prog_name="lenet-numba")


def no_crash(res):
    """No unexpected exception (CliRunner keeps it instead of printing a traceback)."""
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{res.output}")
    assert "Traceback" not in res.output


def assert_ok(res):
    no_crash(res)
    assert res.exit_code == 0, res.output
    return res


def assert_user_error(res, code, *fragments):
    """Exit ``code`` and exactly one stderr line ``error: ...`` containing every fragment."""
    no_crash(res)
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


def run_cli(*args, memory=1 << 30, cwd=None, timeout=300, env=None):
    """The CLI in a child process whose address space is limited to ``memory`` bytes
    (a file that makes it allocate what it declares fails the test). The source tree is
    this checkout, or $LENET_NUMBA_TEST_SOURCE (e.g. an older release, to show a test
    fails there)."""
    import os
    import resource
    import subprocess
    import sys

    env = {**os.environ, **(env or {})}
    source = os.environ.get("LENET_NUMBA_TEST_SOURCE")
    if source:
        env["PYTHONPATH"] = os.pathsep.join([source, os.path.join(source, "cli")])
        env["PYTHONSAFEPATH"] = "1"  # not the checkout in the working folder instead

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "lenet_numba_cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout, preexec_fn=limit)


def assert_one_line_error(proc, *fragments, code=None):
    """A child's result: non-zero exit (``code`` if given), stderr exactly one ``error:`` line
    holding every fragment, no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode != 0 and (code is None or proc.returncode == code), (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]
