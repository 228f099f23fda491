"""Say on stderr when the engine compiles, and about how long it takes.

A cold cache makes the first run of a command sit for up to ~40 s before its first line
of output. Numba announces each real compile (a cache hit is not one) through its event
API; the first one prints one line, and on a terminal a ticker shows the seconds spent
until the compiles are over.
"""

import sys
import threading
import time

from numba.core import event

# Seconds a cold compile takes per command, rounded up from cold runs on an AMD EPYC (Zen 5)
# core: train 32-40, eval ~9, predict ~8, gradcheck ~14; plot's is a guess (eval plus figures),
# sweep's is train's (each worker compiles it).
ESTIMATES = {"train": 40, "sweep": 40, "gradcheck": 15, "eval": 10, "predict": 10, "plot": 15}
_installed = {}


class CompileNotice(event.Listener):
    """Listens to "numba:compile"; prints one line at the first compile, ticks on a terminal."""

    def __init__(self, command=None, cold=True, kept=True, stream=None, tick=1.0):
        self.command, self.cold, self.kept = command, cold, kept
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
        seconds = ESTIMATES.get(self.command, 40)
        what = f"`{self.command}`" if self.command else "this run"
        why = "first run of this version" if self.cold else "not in the cache yet"
        later = ("once; later runs load it from the cache in about a second" if self.kept
                 else "and again on every run while the cache cannot be written")
        return f"compiling the engine for {what} ({why}): up to about {seconds} s, {later}"

    def on_start(self, ev):
        with self.lock:
            self.depth += 1
            if self.depth > 1:
                return
            if self.started is None:
                self.started = time.perf_counter()
            if not self.announced:
                self.announced = True
                print(self.message(), file=self.stream, flush=True)
                if _isatty(self.stream):
                    threading.Thread(target=self._ticker, daemon=True).start()

    def on_end(self, ev):
        with self.lock:
            self.depth -= 1
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


def install(command=None, cold=True, kept=True):
    """Register the notice for this process (once; a later call updates what it says)."""
    notice = _installed.get("notice")
    if notice is None:
        notice = _installed["notice"] = CompileNotice(command, cold, kept)
        event.register("numba:compile", notice)
    notice.command, notice.cold, notice.kept = command, cold, kept
    return notice
