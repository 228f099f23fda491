"""README's console excerpts, recorded from real runs and rendered from the record.

    LENET_NUMBA_DATA=../shared/data python experiments/readme_examples.py --record
    python experiments/readme_examples.py --render train      # the README block, from the record

``--record`` runs each example command in a scratch folder (never in the clone, so no
tracked file is touched), on the machine at hand, and writes what it printed, the commit
and the CPU to experiments/results/readme-examples.json. ``--render NAME`` prints the
console block README shows, from that file alone: tests/test_readme.py reruns it and
fails when README differs. Long outputs are shortened the same way every time (the
first and last rows of an epoch table).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from results_io import ROOT, use_repo_paths

use_repo_paths()

from provenance import git_rev  # noqa: E402

RESULTS = os.path.join(ROOT, "experiments", "results", "readme-examples.json")

# name -> the shell command a README reader types (run in the scratch folder, in order:
# later examples use the files earlier ones wrote)
EXAMPLES = {
    "train": "lenet-numba train --out m.npz",
    "eval": "lenet-numba eval m.npz",
    "predict": "lenet-numba predict m.npz digits.npy",
    "gradcheck": "lenet-numba gradcheck",
    "train-json": ("lenet-numba train --recipe article --epochs 1 --json | python -c "
                   "'import json,sys; d=json.load(sys.stdin); print(d[\"us_per_sample\"], d[\"train_seconds\"])'"),
    "sweep": ("lenet-numba sweep --recipe article --set lr=0.005,0.01,0.02 --seeds 0 1 2 --validation 1000 "
              "--out-dir sweep-lr"),
}
# a few lines stand in for many in README: keep these many rows at each end of a long table
KEEP_HEAD, KEEP_TAIL = 3, 2


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def write_digits(folder):
    """digits.npy: the first three USPS test digits, for the predict example."""
    import numpy as np

    from lenet_numba.data import load_usps

    x, _ = load_usps("test")
    np.save(os.path.join(folder, "digits.npy"), x[:3])


def record():
    runs = {}
    with tempfile.TemporaryDirectory(prefix="lenet-numba-examples-") as folder:
        write_digits(folder)
        for name, cmd in EXAMPLES.items():
            res = subprocess.run(cmd, shell=True, cwd=folder, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"{name}: `{cmd}` failed with exit {res.returncode}: {res.stderr.strip()[-500:]}")
            runs[name] = {"command": cmd, "output": res.stdout.replace(folder, ".")}
    record = {"rev": git_rev(), "cpu": cpu_name(), "examples": runs}
    tmp = RESULTS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, RESULTS)
    print(f"wrote {os.path.relpath(RESULTS, ROOT)} ({len(runs)} examples, commit {record['rev']})")


def shorten(lines):
    """Keep the first KEEP_HEAD and last KEEP_TAIL rows of the epoch table (rows that start
    with an epoch number), with '  ...' between."""
    rows = [i for i, line in enumerate(lines) if line.split()[:1] and line.split()[0].isdigit()]
    if len(rows) <= KEEP_HEAD + KEEP_TAIL + 1:
        return lines
    cut = rows[KEEP_HEAD:-KEEP_TAIL]
    return lines[:cut[0]] + ["  ..."] + lines[cut[-1] + 1:]


def render(name):
    with open(RESULTS, encoding="utf-8") as f:
        record = json.load(f)
    ex = record["examples"][name]
    if name == "sweep":  # its output is a Markdown table: shown as one, under the command
        return "```bash\n" + ex["command"] + "\n```\n\n" + ex["output"].rstrip("\n") + "\n"
    lines = ex["output"].rstrip("\n").split("\n")
    if name in ("train", "gradcheck"):
        lines = shorten(lines)
    return "```console\n$ " + ex["command"] + "\n" + "\n".join(lines) + "\n```\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help="run every example (needs the data) and save")
    ap.add_argument("--render", choices=list(EXAMPLES), help="print README's block for this example")
    a = ap.parse_args(argv)
    if a.record:
        record()
    elif a.render:
        sys.stdout.write(render(a.render))
    else:
        ap.error("give --record or --render NAME")


if __name__ == "__main__":
    main()
