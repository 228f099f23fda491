"""Single-core speed of this tree against a baseline revision, measured side by side.

    python bench/speed.py --baseline fa6b692 [--out speed.json] [--repeats 7] [--processes 3]
                          [--start-repeats 7] [--data DIR] [--scratch DIR] [--quick]
    python bench/speed.py --render bench/results/speed.json [--roofline bench/results/roofline.json]
                                                                # README's markdown

The baseline revision is installed from this repository's history (``git archive`` into a
scratch folder) and both engines run in their own worker process (bench/speed_worker.py,
each importing its own ``lenet_numba`` from its own source and compiling into its own
empty JIT cache). The driver then interleaves them: every repeat times each workload once
on each engine, alternating which goes first, so that the load of a shared machine falls
on both alike. The repeats are spread over --processes fresh pairs of workers (default
3): where a process's buffers and code land in memory moves a workload's time by up to
~10% on these machines (LeNet-1's float64 predict measured 6.97 to 8.98 ms a pass in
three fresh processes), so one pair would report its own layout. Reported: the median
over the repeats [min-max] of the thread CPU time (wall-clock medians are in the JSON),
and the ratio of the medians.

Workloads (see speed_worker.py): per-sample SGD passes over the 7,291 USPS training digits,
``Model.predict`` on the 2,007 test digits, SDLM's curvature estimate (as a share of the
same engine's SGD pass), for LeNet-1 and the zip-code net in float32 and float64 (and
``lenet1-nips1989`` on this tree when it has it). Start-up: the wall time from launching
``lenet-numba train`` to its compiled loop starting the first training sample, on an empty
JIT cache (cold: everything compiles) and again on the cache that run left (warm), each in
a fresh process; for an SGD run (``--optimizer sgd``) and for the default recipe (SDLM).

Everything runs single-threaded (NUMBA/OMP/MKL/OPENBLAS threads = 1). Nothing is written
but --out (default ./speed.json) and the scratch folder (removed unless --scratch).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from machine import clock_note, cpu_info, measured_ghz, peak_gflops  # noqa: E402
from provenance import git_rev  # noqa: E402

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
ARCHS = ("lenet1", "zipcode1989", "lenet1-nips1989")
DTYPES = ("float32", "float64")
# `lenet-numba train` with these arguments (NAME=VALUE: an environment variable for it); the
# last one as if the package shipped no compiled code: what the engine's compile costs
START_COMMANDS = {"sgd": ["--optimizer", "sgd", "--epochs", "1"], "default": ["--epochs", "1"],
                  "default, compiling": ["LENET_NUMBA_SHIPPED_CACHE=0", "--epochs", "1"]}
# ratio of medians (baseline / this tree) that each workload must reach, or the bound: the
# float32 training and the inference targets are the fast numerics policy's (a workload
# ending /fast; the baseline has only the exact arithmetic), float64's the exact engine's
TARGETS = {"train/lenet1/float32/fast": 2.5, "train/zipcode1989/float32/fast": 2.5, "train/lenet1/float64": 1.5,
           "train/zipcode1989/float64": 1.5}
INFER_TARGET = 4.0  # for every infer/.../fast
SDLM_TARGET = 0.15        # curvature estimate / SGD pass
COLD_TARGET_S = 8.0       # first training sample of `lenet-numba train`, empty cache (a results file
WARM_TARGET_S = 0.5       # renders with the targets it was measured against)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- engines

def install_baseline(rev, scratch):
    """Extract ``rev`` of this repository into scratch/<short rev>; returns (short rev, path)."""
    short = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", rev], capture_output=True, text=True,
                           check=True).stdout.strip()
    dest = os.path.join(scratch, f"baseline-{short}")
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return short, dest


def engine_env(root, cache):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update({k: "1" for k in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join([root, os.path.join(root, "cli")])
    env["LENET_NUMBA_JIT_CACHE"] = cache
    return env


class Worker:
    def __init__(self, name, root, cache):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "speed_worker.py")], cwd=root,
                                     env=engine_env(root, cache), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} worker exited")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def _is_env(arg):
    return "=" in arg and not arg.startswith("-")


def shown(args):
    """How a start command reads: ``NAME=VALUE train --epochs 1``."""
    env = [a for a in args if _is_env(a)]
    return " ".join([*env, "train", *[a for a in args if not _is_env(a)]])


def first_sample(root, cache, args):
    """(wall seconds to the first training sample, CPU seconds) of one fresh process (its CPU
    includes the processes it waited for: the engine compiles SDLM's estimate in one while
    it compiles the training loop)."""
    env = engine_env(root, cache)
    env.update(a.split("=", 1) for a in args if _is_env(a))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.join(HERE, "speed_worker.py"), "first-sample",
                           *[a for a in args if not _is_env(a)]],
                          cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    for line in proc.stderr.splitlines():
        if line.startswith("SPEED_FIRST_SAMPLE "):
            return wall, json.loads(line.split(" ", 1)[1])["cpu_s"]
    raise RuntimeError(f"no first sample (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")


def summary(values, scale=1.0):
    v = [x * scale for x in values]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}


# ---------------------------------------------------------------- the run

def measure_starts(engines, scratch, repeats):
    """cold/warm wall (and CPU) seconds to the first sample, interleaved over the engines."""
    raw = {name: {cmd: {"cold": [], "warm": [], "cold_cpu": [], "warm_cpu": []} for cmd in START_COMMANDS}
           for name in engines}
    for r in range(repeats):
        for cmd, args in START_COMMANDS.items():
            for name in (list(engines) if r % 2 == 0 else list(engines)[::-1]):
                cache = tempfile.mkdtemp(prefix=f"jit-start-{name}-", dir=scratch)
                for phase in ("cold", "warm"):
                    wall, cpu = first_sample(engines[name], cache, args)
                    raw[name][cmd][phase].append(wall)
                    raw[name][cmd][phase + "_cpu"].append(cpu)
                shutil.rmtree(cache, ignore_errors=True)
                log(f"start {cmd} {name}: cold {raw[name][cmd]['cold'][-1]:.1f} s, "
                    f"warm {raw[name][cmd]['warm'][-1]:.2f} s")
    return {name: {cmd: {k: summary(v) for k, v in d.items()} for cmd, d in per.items()}
            for name, per in raw.items()}


def start_workers(engines, scratch):
    return {name: Worker(name, root, os.path.join(scratch, f"jit-{name}")) for name, root in engines.items()}


def close_all(workers):
    for w in workers.values():
        w.close()


def setup(workers, workloads, res, items, raw):
    """Build (and, on an empty JIT cache, compile) every workload in each worker."""
    for wl in workloads:
        for name, w in workers.items():
            if wl.split("/")[1] not in res["engines"][name]["architectures"]:
                continue
            out = w.ask(op="setup", workload=wl)
            if "error" in out:
                raise RuntimeError(f"{name} {wl}: {out['error']}")
            items[wl] = out["items"]
            raw.setdefault(wl, {}).setdefault(name, {"cpu": [], "wall": []})
            log(f"setup {wl} {name}: {out['setup_s']:.1f} s")


def run(baseline, repeats, start_repeats, scratch, processes):
    info = cpu_info()
    peak, peak_why = peak_gflops(info)
    argv = sys.argv[1:]
    if "--scratch" in argv:  # a folder of this machine: not part of the command that matters
        i = argv.index("--scratch")
        argv = argv[:i] + argv[i + 2:]
    res = {"command": "python bench/speed.py " + " ".join(argv), "commit": git_rev("+uncommitted"),
           "machine": {**{k: info[k] for k in ("cpu", "vendor", "family", "model", "core", "mhz", "logical_cpus")},
                       "fp32_peak_gflops": peak, "peak_formula": peak_why, "loadavg_start": os.getloadavg(),
                       "measured_ghz": measured_ghz()},
           "settings": {"repeats": repeats, "processes": processes, "start_repeats": start_repeats,
                        "timer": "thread CPU time",
                        "threads": {k: "1" for k in THREAD_VARS}, "start_commands": START_COMMANDS},
           "targets": {"train": TARGETS, "infer": INFER_TARGET, "infer_fast_only": True, "sdlm_share": SDLM_TARGET,
                       "cold_s": COLD_TARGET_S, "warm_s": WARM_TARGET_S}}
    short, base_root = install_baseline(baseline, scratch)
    res["baseline"] = short
    engines = {"baseline": base_root, "new": ROOT}
    log(f"baseline {short} in {base_root}")
    if start_repeats > 0:
        res["start"] = measure_starts(engines, scratch, start_repeats)

    workers = start_workers(engines, scratch)
    try:
        res["engines"] = {name: w.ask(op="info") for name, w in workers.items()}
        for name, info in res["engines"].items():  # where each engine came from, relative (no machine paths)
            info["lenet_numba"] = os.path.relpath(info["lenet_numba"], engines[name] if name == "new" else scratch)
        archs = [a for a in ARCHS if a in res["engines"]["new"]["architectures"]]
        workloads = [f"{kind}/{a}/{dt}" for kind in ("train", "infer", "sdlm") for a in archs for dt in DTYPES]
        workloads += [f"{kind}/{a}/{dt}/fast" for kind in ("train", "infer") for a in archs for dt in DTYPES]
        items, raw = {}, {}
        setup(workers, workloads, res, items, raw)
        group = 0
        for r in range(repeats):
            if r * processes // repeats != group:  # the next fresh pair of worker processes
                group = r * processes // repeats
                close_all(workers)
                workers = start_workers(engines, scratch)
                setup(workers, workloads, res, items, raw)
            for wl in workloads:
                names = list(raw[wl]) if r % 2 == 0 else list(raw[wl])[::-1]
                for name in names:
                    out = workers[name].ask(op="time", workload=wl)
                    if "error" in out:
                        raise RuntimeError(f"{name} {wl}: {out['error']}")
                    raw[wl][name]["cpu"].append(out["cpu_s"])
                    raw[wl][name]["wall"].append(out["wall_s"])
            log(f"repeat {r + 1}/{repeats} done")
    finally:
        close_all(workers)
    res["workloads"] = {}
    for wl, per in raw.items():
        scale = 1e6 / items[wl] if not wl.startswith("sdlm/") else 1.0
        res["workloads"][wl] = {"items": items[wl], "unit": "s" if wl.startswith("sdlm/") else "us/item",
                                **{name: {"cpu": summary(d["cpu"], scale), "wall": summary(d["wall"], scale)}
                                   for name, d in per.items()}}
    res["machine"]["loadavg_end"] = os.getloadavg()
    return res


# ---------------------------------------------------------------- the report

def ratio(res, wl):
    row = res["workloads"].get(wl, {})
    if "baseline" not in row or "new" not in row:
        return None
    return row["baseline"]["cpu"]["median"] / row["new"]["cpu"]["median"]


def sdlm_share(res, name, arch, dt):
    """Curvature estimate seconds / one SGD pass seconds of the same engine."""
    s, t = res["workloads"].get(f"sdlm/{arch}/{dt}", {}), res["workloads"].get(f"train/{arch}/{dt}", {})
    if name not in s or name not in t:
        return None
    return s[name]["cpu"]["median"] / (t[name]["cpu"]["median"] * t["items"] / 1e6)


def policy_label(res, wl):
    """", fast" / ", exact" for this tree's numerics policy in a results file that has both."""
    if not any(w.endswith("/fast") for w in res["workloads"]):
        return ""
    return ", fast" if wl.endswith("/fast") else ", exact"


def fmt(r, digits=1):
    return f"{r['median']:.{digits}f} [{r['min']:.{digits}f}–{r['max']:.{digits}f}]"


def verdict(ok):
    return "met" if ok else "**not met**"


def top_kernels(roofline, arch, dt, forward_only, n=4):
    """"conv2 conv bwd 23% (49% of peak), ...": the n kernels taking the most of a sample
    (of its forward kernels only, with forward_only) in a bench/layers.py results file."""
    for t in (roofline or {}).get("tables", []):
        if t["arch"] != arch or t["dtype"] != dt:
            continue
        rows = [r for r in t["rows"] if not forward_only or r[1].endswith("fwd")]
        total = sum(r[2] for r in rows)
        if total <= 0:
            return None
        parts = []
        for layer, kernel, us, flops, _ in sorted(rows, key=lambda r: -r[2])[:n]:
            peak = f"{100 * flops / (us * 1e3) / t['peak']:.0f}% of peak" if flops else "no FLOPs counted"
            parts.append(f"{layer} {kernel} {100 * us / total:.0f}% ({peak})")
        return ", ".join(parts)
    return None


def ratio_target(res, wl):
    """The × target of a workload the results file was measured against (None: none)."""
    kind, *_, policy = wl.split("/")
    targets = res.get("targets", {})
    if kind == "train":
        return targets.get("train", TARGETS).get(wl)
    if kind != "infer":
        return None
    if targets.get("infer_fast_only") and policy != "fast":  # results measured with a fast policy
        return None
    return targets.get("infer", INFER_TARGET)


def start_target(res, phase):
    """The start-up target ("cold"/"warm") the results file was measured against."""
    default = COLD_TARGET_S if phase == "cold" else WARM_TARGET_S
    return res.get("targets", {}).get(f"{phase}_s", default)


def shortfalls(res, roofline):
    """One line per target not met: how far off, and where the time goes."""
    lines = []
    for wl, row in res["workloads"].items():
        kind, arch, dt, *_ = wl.split("/")
        target = ratio_target(res, wl)
        x = ratio(res, wl)
        if kind == "sdlm" or target is None or x is None or x >= target:
            continue
        need, have = row["baseline"]["cpu"]["median"] / target, row["new"]["cpu"]["median"]
        unit = "µs/sample" if kind == "train" else "µs/image"
        line = (f"- {'SGD' if kind == 'train' else 'predict'} {arch} {dt}{policy_label(res, wl)}: {x:.2f}× of "
                f"≥ {target}×, "
                f"{have:.2f} {unit} where {need:.2f} would meet it ({100 * (1 - need / have):.0f}% to cut)")
        # the profile times the one-image kernels of a training step; predict runs 16 images
        # per vector on kernels of its own (kernels/lanes.py), which it does not time
        where = top_kernels(roofline, arch, dt, False) if kind == "train" else None
        lines.append(line + (f". Largest kernels: {where}." if where else "."))
    for wl in res["workloads"]:
        kind, arch, dt, *_ = wl.split("/")
        share = sdlm_share(res, "new", arch, dt) if kind == "sdlm" else None
        if share is not None and share > SDLM_TARGET:
            lines.append(f"- SDLM's curvature estimate, {arch} {dt}: {100 * share:.1f}% of an SGD pass where "
                         f"{100 * SDLM_TARGET:.0f}% would meet it.")
    for cmd, args in res.get("settings", {}).get("start_commands", {}).items() if "start" in res else ():
        for phase, lim, what in (("cold", start_target(res, "cold"), "an empty JIT cache"),
                                 ("warm", start_target(res, "warm"), "a warm one")):
            new = res["start"]["new"][cmd][phase]["median"]
            if new > lim:
                lines.append(f"- `{shown(args)}` on {what}: {new:.1f} s to the first training sample "
                             f"where {lim:g} s would meet it ({100 * (1 - lim / new):.0f}% to cut).")
    return lines


def markdown(res, roofline=None):
    m, s = res["machine"], res["settings"]
    base = res["baseline"]
    n_proc = s.get("processes", 1)
    spread = f", spread over {n_proc} fresh worker processes per engine" if n_proc > 1 else ""
    L = [f"Measured by `{res['command']}` at commit `{res['commit']}` against `{base}`, both engines "
         f"in one run, interleaved; single-threaded; median [min–max] of {s['repeats']} repeats of thread "
         f"CPU time{spread}; load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end.",
         "",
         f"CPU: {m['cpu']} (family {m['family']}, model {m['model']}: {m['core']}), {m['mhz']:.0f} MHz "
         f"nominal. fp32 peak of one core: {m['fp32_peak_gflops']:.1f} GFLOP/s = {m['peak_formula']}."
         + clock_note(m.get("measured_ghz"), m["mhz"]), "",
         f"| workload | network | dtype | `{base}` | this tree | × | target | GFLOP/s | % of peak: nominal clock "
         f"| % of peak: measured clock |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    peak = m["fp32_peak_gflops"]
    clock = m.get("measured_ghz") and m["measured_ghz"] * 1000 / m["mhz"]  # measured / nominal
    for wl, row in res["workloads"].items():
        kind, arch, dt, *_ = wl.split("/")
        if kind == "sdlm":
            continue
        new = row["new"]["cpu"]
        old = fmt(row["baseline"]["cpu"], 2) if "baseline" in row else "–"
        x = ratio(res, wl)
        target = ratio_target(res, wl)
        if x is None:
            tgt = "reported"
        else:
            tgt = f"≥ {target}× {verdict(x >= target)}" if target else "–"
        flops = res.get("flops", {}).get(arch, {}).get("train" if kind == "train" else "forward")
        g = " | |"
        if flops:
            gf = flops / (new["median"] * 1e3)
            share = gf / (peak if dt == "float32" else peak / 2)
            g = f"{gf:.1f} | {100 * share:.0f}% | " + (f"{100 * share / clock:.0f}%" if clock else "–")
        label = ("SGD µs/sample" if kind == "train" else "predict µs/image") + policy_label(res, wl)
        L.append(f"| {label} | {arch} | {dt} | {old} | {fmt(new, 2)} | "
                 f"{'' if x is None else f'{x:.2f}×'} | {tgt} | {g} |")
    L += ["", "| SDLM curvature estimate, share of an SGD pass | network | dtype | `" + base + "` | this tree "
          "| target |", "|---|---|---|---|---|---|"]
    for wl in res["workloads"]:
        kind, arch, dt, *_ = wl.split("/")
        if kind != "sdlm":
            continue
        old, new = sdlm_share(res, "baseline", arch, dt), sdlm_share(res, "new", arch, dt)
        old_s = "–" if old is None else f"{100 * old:.0f}%"
        n_est = res["workloads"][wl]["items"]
        L.append(f"| {n_est} samples before each pass | {arch} | {dt} | {old_s} | {100 * new:.1f}% | "
                 f"≤ {100 * SDLM_TARGET:.0f}% {verdict(new <= SDLM_TARGET)} |")
    if "start" in res:
        L += _start_table(res, base, s)
    short = shortfalls(res, roofline)
    if short:
        src = " in the per-kernel profile (bench/layers.py, the roofline below)" if roofline else ""
        L += ["", f"Targets not met: how far off each is, and the kernels that take the most of a sample{src}:",
              ""] + short
    return "\n".join(L) + "\n"


def _start_table(res, base, s):
    L = ["", f"| `lenet-numba train` to its first training sample, {s['start_repeats']} fresh processes "
          f"| `{base}` wall s | this tree wall s | `{base}` CPU s | this tree CPU s | target (wall) |",
          "|---|---|---|---|---|---|"]
    for cmd, args in s["start_commands"].items():
        for phase in ("cold", "warm"):
            olds, news = res["start"]["baseline"][cmd], res["start"]["new"][cmd]
            new = news[phase]
            lim = start_target(res, phase)
            tgt = f"≤ {lim:g} s {verdict(new['median'] <= lim)}"
            what = "empty JIT cache" if phase == "cold" else "cache of the cold run"
            L.append(f"| `{shown(args)}`, {what} | {fmt(olds[phase])} | {fmt(new)} | "
                     f"{fmt(olds[phase + '_cpu'])} | {fmt(news[phase + '_cpu'])} | {tgt} |")
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="fa6b692", help="revision to compare with [fa6b692 = v0.1.0]")
    ap.add_argument("--out", default="speed.json", help="results file [./speed.json]")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--start-repeats", type=int, default=7, help="fresh processes per start-up figure")
    ap.add_argument("--processes", type=int, default=3,
                    help="fresh worker processes per engine the repeats are spread over (a process's memory "
                    "layout moves a workload's time by up to ~10%% on these machines)")
    ap.add_argument("--quick", action="store_true", help="3 repeats, 1 start-up each (a smoke run)")
    ap.add_argument("--data", help="data root (default: $LENET_NUMBA_DATA)")
    ap.add_argument("--scratch", help="keep the baseline and JIT caches here instead of a removed temp folder")
    ap.add_argument("--render", metavar="FILE", help="print the README markdown of a results file and exit")
    ap.add_argument("--roofline", metavar="FILE", help="with --render: name each missed target's largest kernels "
                    "from this bench/layers.py results file")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            res = json.load(f)
        roofline = None
        if a.roofline:
            with open(a.roofline) as f:
                roofline = json.load(f)
        sys.stdout.write(markdown(res, roofline))
        return
    if a.data:
        os.environ["LENET_NUMBA_DATA"] = a.data
    repeats, start_repeats = (3, 1) if a.quick else (a.repeats, a.start_repeats)
    scratch = a.scratch or tempfile.mkdtemp(prefix="lenet-numba-speed-")
    os.makedirs(scratch, exist_ok=True)
    try:
        res = run(a.baseline, repeats, start_repeats, scratch, max(1, min(a.processes, repeats)))
    finally:
        if not a.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    import flops
    res["flops"] = {arch: {k: flops.count(arch)[k] for k in ("forward", "train")}
                    for arch in {wl.split("/")[1] for wl in res["workloads"]}}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(markdown(res))


if __name__ == "__main__":
    main()
