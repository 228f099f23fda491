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
