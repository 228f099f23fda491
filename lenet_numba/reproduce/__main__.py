"""``python -m lenet_numba.reproduce RESULTS [--table NAME]``: print a table from results."""

import argparse
import sys

from .files import load_results
from .table import TABLES


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lenet_numba.reproduce", description=__doc__.split("\n")[0])
    ap.add_argument("results", help="a reproduction's --out-dir, or its results.jsonl(.gz)")
    ap.add_argument("--table", choices=sorted(TABLES), default="all")
    a = ap.parse_args(argv)
    sys.stdout.write(TABLES[a.table](load_results(a.results)))


if __name__ == "__main__":
    main()
