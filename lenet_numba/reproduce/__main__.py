"""``python -m lenet_numba.reproduce RESULTS... [--table NAME]``: print a table from results."""

import argparse
import sys

from ..errors import UsageError
from .files import load_results
from .table import TABLES, check_one_policy


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lenet_numba.reproduce", description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="a reproduction's --out-dir, or its results.jsonl(.gz); several "
                    "are read as one (the numerics table compares the exact and the fast policy's runs)")
    ap.add_argument("--table", choices=sorted(TABLES), default="all")
    a = ap.parse_args(argv)
    results = [r for path in a.results for r in load_results(path)]
    try:
        if a.table != "numerics":
            check_one_policy(results)
        sys.stdout.write(TABLES[a.table](results))
    except UsageError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
