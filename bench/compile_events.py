"""Where a cold start's compile time goes: Numba's compile events of one ``lenet-numba train``.

    python bench/compile_events.py [TRAIN ARGS...]      e.g. --optimizer sgd --epochs 1

Runs ``lenet-numba train ARGS`` in this process on an empty, private JIT cache (removed at
the end), with the compile-ahead second process off, until its compiled loop is about to
train its first sample. Prints the wall time to that point and, per compiled function, the
seconds from its compile's start to its end (inclusive of the functions it compiled in
turn) and exclusive of them, and the time spent holding Numba's LLVM lock (optimization
and machine code) against the rest (typing and lowering in Python).
"""

import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict

os.environ.update({"NUMBA_NUM_THREADS": "1", "LENET_NUMBA_COMPILE_AHEAD": "0"})


def main(args):
    t_start = time.perf_counter()
    cache = tempfile.mkdtemp(prefix="lenet-numba-events-")
    os.environ["LENET_NUMBA_JIT_CACHE"] = cache
    from numba.core import event

    from lenet_numba import train as T

    loop = T.train_chunk
    stack, incl, excl, locks = [], defaultdict(float), defaultdict(float), defaultdict(float)
    lock_start, depth = {}, defaultdict(int)

    class Timer(event.Listener):
        def on_start(self, ev):
            now = time.perf_counter()
            if ev.kind == "numba:compile":
                if stack:
                    excl[stack[-1][0]] += now - stack[-1][2]
                stack.append([str(ev.data["dispatcher"].py_func.__qualname__), now, now])
            else:  # the locks are re-entrant: time the outermost hold
                depth[ev.kind] += 1
                if depth[ev.kind] == 1:
                    lock_start[ev.kind] = now

        def on_end(self, ev):
            now = time.perf_counter()
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
    for kind in ("numba:compile", "numba:llvm_lock", "numba:compiler_lock"):
        event.register(kind, timer)

    def probe(*a, **k):
        if a[12] > a[11]:  # stop > start: the first training sample
            wall = time.perf_counter() - t_start
            print(f"wall to the first training sample: {wall:.1f} s (CPU {time.process_time():.1f} s)")
            print(f"holding the LLVM lock: {locks['numba:llvm_lock']:.1f} s; "
                  f"the compiler lock: {locks['numba:compiler_lock']:.1f} s")
            print(f"{'function':40s} {'inclusive s':>11} {'exclusive s':>11}")
            for name in sorted(incl, key=lambda n: -excl[n])[:25]:
                print(f"{name:40s} {incl[name]:11.2f} {excl[name]:11.2f}")
            print(f"{'(all)':40s} {'':11s} {sum(excl.values()):11.2f}")
            sys.stdout.flush()
            shutil.rmtree(cache, ignore_errors=True)
            os._exit(0)
        return loop(*a, **k)

    T.train_chunk = probe
    from lenet_numba_cli.main import main as cli

    sys.argv = ["lenet-numba", "train", *args]
    try:
        cli()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
