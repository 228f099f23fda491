"""Print a sweep's table from its committed sweep.json(.gz), as `lenet-numba sweep` writes it.

    python experiments/render_sweep.py experiments/results/zipcode-fit-sweep.json.gz
"""

import gzip
import json
import sys

from lenet_numba.sweep import markdown_table

if __name__ == "__main__":
    path = sys.argv[1]
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        sys.stdout.write(markdown_table(json.load(f)))
