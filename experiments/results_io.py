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


def read_jsonl(path):
    """Every record of a JSON-lines file (.gz or not)."""
    import json

    with open_text(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_jsonl(path, record):
    """Append one record (and print it: the progress of a long experiment)."""
    import json

    line = json.dumps(record)
    with open_text(path, "a") as f:
        f.write(line + "\n")
    print(line, flush=True)


def parse_run_or_render(ap, render):
    """The experiments' common command line: ``--render FILE`` prints ``render(FILE)`` (the
    README block) and exits; otherwise ``--out`` (JSON lines, appended, resumable) is required."""
    ap.add_argument("--out", help="JSON lines, appended; runs already in it are skipped")
    ap.add_argument("--render", metavar="FILE", help="print the README block from a results file")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args()
    if a.render:
        print(render(a.render))
        sys.exit(0)
    if not a.out:
        ap.error("--out is required to run")
    return a
