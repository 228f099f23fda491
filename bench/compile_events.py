"""Where a cold start's compile time goes: Numba's compile events of one ``lenet-numba train``.

    python bench/compile_events.py [--out compile_events.json] [-- TRAIN ARGS...]
    python bench/compile_events.py --render bench/results/compile_events.json

Runs ``lenet-numba train TRAIN ARGS`` (default ``--epochs 1``: the default recipe) in a fresh
process on an empty, private JIT cache (removed at the end), with compile_ahead's second
process off, until its compiled loop is about to train its first sample. Records the wall
and CPU time to that point, the CPU time spent holding Numba's LLVM lock (LLVM's optimization
and machine code; the rest is Numba's typing, inlining and lowering in Python), and per
compiled function the CPU seconds (of the compiling thread) from its compile's start to its
end, inclusive of the functions it compiled in turn and exclusive of them (Numba's
documented event API). Compile times are CPU time: on a shared machine wall time is
inflated by the other processes, this much less.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOP = 12  # functions shown


def child(train_args):
    """The measured process: prints one JSON line at the first training sample, then exits."""
    t_start = time.perf_counter()
    from numba.core import event

    from lenet_numba import train as T

    loop = T.train_chunk
    stack, incl, excl, locks = [], defaultdict(float), defaultdict(float), defaultdict(float)
    lock_start, depth = {}, defaultdict(int)

    class Timer(event.Listener):
        def on_start(self, ev):
            now = time.thread_time()  # CPU: a busy machine inflates wall time, not this
            if ev.kind == "numba:compile":
                if stack:
                    excl[stack[-1][0]] += now - stack[-1][2]
                stack.append([ev.data["dispatcher"].py_func.__qualname__, now, now])
            else:  # the locks are re-entrant: time the outermost hold
                depth[ev.kind] += 1
                if depth[ev.kind] == 1:
                    lock_start[ev.kind] = now

        def on_end(self, ev):
            now = time.thread_time()
            if ev.kind == "numba:compile":
                name, t0, t_resume = stack.pop()
                incl[name] += now - t0
                excl[name] += now - t_resume
                if stack:
                    stack[-1][2] = now
            else:
                depth[ev.kind] -= 1
                if depth[ev.kind] == 0:
                    locks[ev.kind] += now - lock_start.pop(ev.kind)

    timer = Timer()
    for kind in ("numba:compile", "numba:llvm_lock"):
        event.register(kind, timer)

    def probe(*a, **k):
        if a[12] > a[11]:  # stop > start: the first training sample
            out = {"wall_s": time.perf_counter() - t_start, "cpu_s": time.process_time(),
                   "llvm_lock_s": locks["numba:llvm_lock"], "compile_s": sum(excl.values()),
                   "functions": {n: {"inclusive_s": incl[n], "exclusive_s": excl[n]} for n in incl}}
            print("EVENTS " + json.dumps(out), flush=True)
            os._exit(0)
        return loop(*a, **k)

    T.train_chunk = probe
    from lenet_numba_cli.main import main as cli

    sys.argv = ["lenet-numba", "train", *train_args]
    cli()


def run(train_args):
    sys.path.insert(0, HERE)
    from machine import cpu_info
    from provenance import git_rev

    cache = tempfile.mkdtemp(prefix="lenet-numba-events-")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.update(NUMBA_NUM_THREADS="1", LENET_NUMBA_COMPILE_AHEAD="0", LENET_NUMBA_JIT_CACHE=cache,
               LENET_NUMBA_SHIPPED_CACHE="0",  # what compiling costs, not the shipped code's load
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "cli")]))
    load = os.getloadavg()
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--", *train_args],
                              cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("EVENTS ")), None)
    if line is None:
        raise SystemExit(f"no first sample (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    info = cpu_info()
    import numba
    return {"command": "python bench/compile_events.py " + " ".join(sys.argv[1:]), "commit": git_rev("+uncommitted"),
            "train_args": train_args, "numba": numba.__version__,
            "machine": {k: info[k] for k in ("cpu", "family", "model", "core", "logical_cpus")},
            "loadavg_start": load, "loadavg_end": os.getloadavg(), **json.loads(line[len("EVENTS "):])}


def markdown(res):
    m = res["machine"]
    fns = sorted(res["functions"].items(), key=lambda kv: -kv[1]["exclusive_s"])
    L = [f"Measured by `{res['command']}` at commit `{res['commit']}` on {m['cpu']} (family {m['family']}, "
         f"model {m['model']}: {m['core']}), Numba {res['numba']}, one process, compile-ahead off, empty JIT "
         f"cache; load average {res['loadavg_start'][0]:.2f} at start (a shared machine: wall time is "
         f"inflated, CPU time much less). `lenet-numba train {' '.join(res['train_args'])}` reached its first "
         f"training sample after {res['wall_s']:.1f} s of wall time, {res['cpu_s']:.1f} s of CPU; "
         f"{res['compile_s']:.1f} CPU s compiling, of which {res['llvm_lock_s']:.1f} s in LLVM "
         f"({100 * res['llvm_lock_s'] / res['compile_s']:.0f}%: the rest is Numba's typing, inlining and "
         f"lowering in Python). The {TOP} functions with the most compile time of their own:", "",
         "| function | own compile CPU s | inclusive CPU s | share of compile |", "|---|---|---|---|"]
    for name, t in fns[:TOP]:
        L.append(f"| `{name}` | {t['exclusive_s']:.1f} | {t['inclusive_s']:.1f} | "
                 f"{100 * t['exclusive_s'] / res['compile_s']:.0f}% |")
    rest = sum(t["exclusive_s"] for _, t in fns[TOP:])
    L.append(f"| {len(fns) - TOP} others | {rest:.1f} | | {100 * rest / res['compile_s']:.0f}% |")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="compile_events.json", help="results file [./compile_events.json]")
    ap.add_argument("--render", metavar="FILE", help="print the markdown of a results file and exit")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("train_args", nargs="*", help="arguments of `lenet-numba train` [--epochs 1]")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            sys.stdout.write(markdown(json.load(f)))
        return
    if a.child:
        return child(a.train_args)
    res = run(a.train_args or ["--epochs", "1"])
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
