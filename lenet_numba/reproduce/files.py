"""Reading a reproduction's results: its folder, or a results file (``.jsonl`` or ``.jsonl.gz``)."""

import gzip
import json
import os

from ..errors import UsageError
from ..sweep.results import MAX_LINE, is_result, read_results


def load_results(path):
    """The finished runs in ``path`` (a --out-dir, or a results file); malformed lines skipped."""
    if os.path.isdir(path):
        return read_results(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            out = []
            for line in iter(lambda: f.readline(MAX_LINE + 1), ""):
                try:
                    record = json.loads(line) if len(line) <= MAX_LINE and line.strip() else None
                except ValueError:
                    record = None
                if is_result(record):
                    out.append(record)
            return out
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
