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
