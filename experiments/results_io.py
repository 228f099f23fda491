"""Raw results of the experiments: JSON lines, gzip-compressed when the name ends in .gz.

Appending to a .gz file adds a gzip member; readers (gzip, zcat) read the members as one.
"""

import gzip
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def use_repo_paths():
    """Make the package and bench/ (provenance) importable when a script runs from here."""
    for path in (ROOT, os.path.join(ROOT, "bench")):
        if path not in sys.path:
            sys.path.insert(0, path)


def open_text(path, mode="r"):
    """open() for text, through gzip when ``path`` ends in .gz."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t" if "t" not in mode else mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")
