"""What a test needs that a machine may lack (an optional package, the real data): skip
without it on a developer machine, with one short reason per kind; fail under CI.

Every test skipped for one reason is reported as one line of pytest's summary (``-rs``):
``SKIPPED [116] tests/optional.py: no usps data: ...``. conftest.py's report hook moves
such skips here, since pytest otherwise prints one line per test.
"""

import os

import pytest

# the reasons given through skip(): conftest.py folds the reports that carry one of them
FOLDED = set()


def skip(reason, ci_detail=None):
    """Skip the calling test for ``reason`` (one short line); under CI (env ``CI`` set)
    fail instead, with ``ci_detail`` (the whole story) when given."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run these tests: {ci_detail or reason}", pytrace=False)
    FOLDED.add(reason)
    pytest.skip(reason)


def require(name, hint):
    """The imported module ``name``; else skip (fail when env CI is set) saying ``hint``."""
    try:
        return __import__(name)
    except ImportError:
        pass
    skip(f"{name} not installed ({hint})")


def fold_skip_report(report):
    """A skip raised by skip() is reported at this module (no line), so pytest's summary
    counts every test skipped for one reason on one line."""
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        message = report.longrepr[2]
        if message.removeprefix("Skipped: ") in FOLDED:
            report.longrepr = (__file__, None, message)
