"""Optional packages in tests: skip without them on a developer machine, fail under CI."""

import os

import pytest


def require(name, hint):
    """The imported module ``name``; else skip (fail when env CI is set) saying ``hint``."""
    try:
        return __import__(name)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run these tests: {name} is not installed ({hint})", pytrace=False)
        pytest.skip(f"{name} not installed ({hint})")
