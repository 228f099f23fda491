"""Which code a benchmark ran: the short commit, marked when tracked files had changes
(other than results files, which are what benchmarks write, not what they run)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_rev(dirty_mark="+dirty"):
    """``abc1234`` or ``abc1234<dirty_mark>``; None without git."""
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)bench/results", ":(exclude)experiments/results"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (dirty_mark if dirty else "")
    except OSError:
        return None
