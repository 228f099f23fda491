"""Say on stderr when the engine compiles, and about how long it takes on this machine.

A cold cache makes the first run of a command sit for tens of seconds before its first
line of output. Numba announces each real compile (a cache hit is not one) through its
documented event API; the first one prints one line, and on a terminal a ticker shows the
seconds spent until the compiles are over.

The estimate times itself: a cold run records the seconds its command spent compiling
(and waiting for compile_ahead's second process) in the cache folder's ``compile-times.json``,
with the load of the machine then; the next cold run of that command (a new version, an
emptied cache) says that, scaled by how much busier the machine is now. Until a command
has been timed on the machine, ESTIMATES says, scaled by the load now.
"""

import atexit
import json
import math
import os
import sys
import threading
import time

from numba.core import event

# Seconds a cold compile takes per command before it has been timed on the machine: the
# longest of cold runs on AMD EPYC cores (Zen 4 and Zen 5, 2 cores, not idle), rounded up.
# plot's is a guess (eval plus figures); sweep's is train's (each worker compiles it).
ESTIMATES = {"train": 40, "sweep": 40, "gradcheck": 15, "eval": 10, "predict": 10, "plot": 15}
TIMES_FILE = "compile-times.json"
_installed = {}


def _load_per_core():
    try:
        return os.getloadavg()[0] / (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                     else (os.cpu_count() or 1))
    except OSError:
        return 0.0


def read_times(folder):
    """{command: {"seconds", "load_per_core"}} recorded in ``folder`` ({} if none or unreadable)."""
    try:
        with open(os.path.join(folder, TIMES_FILE)) as f:
            times = json.load(f)
        return {k: v for k, v in times.items()
                if isinstance(v, dict) and isinstance(v.get("seconds"), (int, float)) and v["seconds"] > 0}
    except (OSError, ValueError, AttributeError):
        return {}


def record_time(folder, command, seconds, load_per_core):
    """Add ``command``'s cold compile seconds to ``folder``'s record (replaced whole, never
    half-written; a folder that refuses the write keeps its old record)."""
    times = read_times(folder)
    times[command] = {"seconds": round(seconds, 1), "load_per_core": round(load_per_core, 2)}
    tmp = os.path.join(folder, f".{TIMES_FILE}.{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(times, f)
        os.replace(tmp, os.path.join(folder, TIMES_FILE))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def estimate(command, folder=None, load_per_core=None):
    """(seconds, timed): the recorded cold compile of ``command`` in ``folder`` scaled by the
    load now against the load then (never below the record), rounded up to 5 s; else the
    ESTIMATES figure (timed with at most one runnable process per core) scaled by the load
    now, and False. A compile gets about one core's 1/load share of a busy machine."""
    now = _load_per_core() if load_per_core is None else load_per_core
    rec = read_times(folder).get(command) if folder else None
    if rec is None:
        return 5 * math.ceil(ESTIMATES.get(command, 40) * max(1.0, now) / 5), False
    factor = max(1.0, now) / max(1.0, float(rec.get("load_per_core") or 0.0))
    return 5 * math.ceil(rec["seconds"] * max(1.0, factor) / 5), True


class CompileNotice(event.Listener):
    """Listens to "numba:compile"; prints one line at the first compile, ticks on a terminal."""

    def __init__(self, command=None, cold=True, kept=True, stream=None, tick=1.0, times_dir=None):
        self.command, self.cold, self.kept, self.times_dir = command, cold, kept, times_dir
        self.spent = 0.0  # seconds of outermost compiles and of waiting for another process's
        self.load_per_core = None
        self._stream = stream  # None: sys.stderr as it is when something is printed
        self.tick = tick
        self.depth = 0
        self.started = None
        self.announced = False
        self.shown = False
        self.lock = threading.Lock()

    @property
    def stream(self):
        return self._stream or sys.stderr

    def message(self):
        seconds, timed = estimate(self.command, self.times_dir, self.load_per_core)
        what = f"`{self.command}`" if self.command else "this run"
        why = "first run of this version" if self.cold else "not in the cache yet"
        later = ("once; later runs load it from the cache in about a second" if self.kept
                 else "and again on every run while the cache cannot be written")
        where = " (as timed on this machine)" if timed else ""
        return f"compiling the engine for {what} ({why}): up to about {seconds} s{where}, {later}"

    def waited(self, seconds):
        """Count ``seconds`` spent waiting for another process's compile as compiling."""
        with self.lock:
            self.spent += seconds

    def save(self):
        """At exit: a cold run that compiled records how long that took (see the module docstring)."""
        if self.cold and self.kept and self.command and self.times_dir and self.spent > 0:
            record_time(self.times_dir, self.command, self.spent, self.load_per_core or 0.0)

    def on_start(self, ev):
        with self.lock:
            self.depth += 1
            if self.depth > 1:
                return
            self.began = time.perf_counter()
            if self.started is None:
                self.started = self.began
                if self.load_per_core is None:
                    self.load_per_core = _load_per_core()
            if not self.announced:
                self.announced = True
                print(self.message(), file=self.stream, flush=True)
                if _isatty(self.stream):
                    threading.Thread(target=self._ticker, daemon=True).start()

    def on_end(self, ev):
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                self.spent += time.perf_counter() - self.began
            if self.depth == 0 and self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self.shown = False

    def _ticker(self):
        while True:
            time.sleep(self.tick)
            with self.lock:
                if self.depth > 0:
                    self.stream.write(f"\rcompiling... {time.perf_counter() - self.started:.0f} s")
                    self.stream.flush()
                    self.shown = True


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def install(command=None, cold=True, kept=True, times_dir=None):
    """Register the notice for this process (once; a later call updates what it says).
    ``times_dir``: where cold compile times are recorded and read (None: nowhere)."""
    notice = _installed.get("notice")
    if notice is None:
        notice = _installed["notice"] = CompileNotice(command, cold, kept)
        event.register("numba:compile", notice)
        atexit.register(notice.save)
    notice.command, notice.cold, notice.kept, notice.times_dir = command, cold, kept, times_dir
    return notice


def waited(seconds):
    """Another process compiled for this one for ``seconds``: part of this run's compile time."""
    notice = _installed.get("notice")
    if notice is not None:
        notice.waited(seconds)
