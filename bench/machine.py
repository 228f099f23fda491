"""The CPU a benchmark ran on, and the fp32 peak of one of its cores.

Peak = FMA pipes x fp32 lanes per pipe per cycle x 2 FLOPs x nominal clock. The lanes a
pipe retires per cycle are not the width of the widest instruction: AMD Zen 4 (family
25 with AVX-512) executes a 512-bit instruction as two halves on 256-bit units, so it
retires 8 fp32 lanes per pipe per cycle where Zen 5 (family 26) retires 16. The clock is
the nominal one /proc/cpuinfo reports (boost is not counted). fp64 peak is half.
"""

import os
import platform

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl")


def core_name(vendor, family, flags):
    if vendor == "AuthenticAMD" and family == 26:
        return "Zen 5"
    if vendor == "AuthenticAMD" and family == 25:
        return "Zen 4" if "avx512f" in flags else "Zen 3"
    return "unknown core"


def cpu_info():
    info = {"cpu": platform.processor() or "unknown", "vendor": None, "family": None, "model": None, "mhz": None,
            "flags": [], "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0]
    except OSError:
        first = ""
    fields = dict((k.strip(), v.strip()) for k, v in (ln.split(":", 1) for ln in first.splitlines() if ":" in ln))
    info["cpu"] = fields.get("model name", info["cpu"])
    info["vendor"] = fields.get("vendor_id")
    info["family"] = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None
    info["model"] = int(fields["model"]) if fields.get("model", "").isdigit() else None
    info["mhz"] = float(fields["cpu MHz"]) if "cpu MHz" in fields else None
    info["flags"] = fields.get("flags", "").split()
    info["core"] = core_name(info["vendor"], info["family"], set(info["flags"]))
    info["simd_flags"] = [f for f in info["flags"] if f in SIMD_FLAGS]
    return info


def peak_gflops(info):
    """(fp32 GFLOP/s of one core, the formula in words)."""
    flags = set(info["flags"])
    width = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    lanes = 8 if info["core"] == "Zen 4" else width  # 512-bit ops on 256-bit units
    pipes = 2 if "fma" in flags else 1
    ghz = (info["mhz"] or 0) / 1000
    why = (f"{pipes} FMA pipes x {lanes} fp32 lanes per cycle x 2 FLOPs x {ghz:.3f} GHz nominal "
           f"({info['core']}: {width}-lane instructions"
           f"{', executed as two 256-bit halves' if lanes < width else ''}; fp64 half)")
    return pipes * lanes * 2 * ghz, why


def measured_ghz(steps=200_000_000):
    """The clock the core runs at now, in GHz: a chain of dependent integer add-xor steps
    (one cycle each on every x86 core, no closed form for the compiler to fold) timed in
    compiled code, best of 3. The nominal clock above is what the OS reports; a boosting
    core (or a VM's host) may run well above it, so % of the nominal peak overstates how
    full the pipes are by the ratio of the two clocks."""
    from numba import njit

    @njit
    def chain(n, s):
        for i in range(n):
            s = (s + i) ^ 0x5BD1E995
        return s

    chain(10, 1)
    best = min(_thread_seconds(chain, steps) for _ in range(3))
    return 2 * steps / best / 1e9  # two dependent one-cycle operations per step


def _thread_seconds(fn, n):
    import time
    t = time.thread_time()
    fn(n, 1)
    return time.thread_time() - t


def clock_note(ghz, nominal_mhz):
    """A sentence for a results header: the measured clock against the nominal one."""
    if not ghz or not nominal_mhz:
        return ""
    r = ghz * 1000 / nominal_mhz
    return (f" Measured clock while benchmarking: {ghz:.2f} GHz ({r:.2f}x the nominal; bench/machine.py"
            f" measured_ghz): at that clock the core's peak is {r:.2f}x the nominal one, so a % of the nominal"
            f" peak overstates how full the pipes are by that factor.")
