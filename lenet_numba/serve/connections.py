"""How the server treats connections: bounded in number and in the time they may hold a
slot without sending a request, and a log that a flood cannot grow without bound.

Uvicorn closes a kept-alive connection after an idle time, but one that never sends a
complete request head (opened and left, or fed a byte at a time) stays open forever, and
enough of them use up the process's file descriptors. Here (an HTTP protocol on uvicorn's
h11 one) every connection must complete a request head within ``header_timeout`` seconds
of opening or of its last answer, and when ``max_connections`` are open a new one closes
the connection that has been idle longest (or itself, if every other one is answering).
"""

import logging
import time
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 256      # open at once; far below the usual descriptor limit
    header_timeout: float = 10.0    # seconds to send a complete request head
    idle_timeout: float = 5.0       # seconds a kept-alive connection may wait for its next request
    log_lines: int = 20             # log records per log_window seconds, the rest counted
    log_window: float = 60.0


def limited_protocol(limits):
    """An asyncio protocol class for uvicorn's ``http`` setting, enforcing ``limits``."""

    class LimitedH11Protocol(H11Protocol):
        def connection_made(self, transport):
            self._heads = 0            # request heads completed on this connection
            self._head_timer = None
            self._active = time.monotonic()
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._make_room()
            self._arm_head_timer()

        def _answering(self):
            return self.cycle is not None and not self.cycle.response_complete

        def _make_room(self):
            idle = [c for c in self.connections
                    if c is not self and not c._answering() and not c.transport.is_closing()]
            victim = min(idle, key=lambda c: c._active) if idle else self
            victim.transport.close()

        def _arm_head_timer(self):
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(limits.header_timeout, self._head_timeout, self._heads)

        def _head_timeout(self, heads):
            if heads == self._heads and not self._answering() and not self.transport.is_closing():
                self.transport.close()  # no answer: there is no request to answer

        def data_received(self, data):
            self._active = time.monotonic()
            super().data_received(data)

        def handle_events(self):
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request head arrived
                self._heads += 1
                if self._head_timer is not None:
                    self._head_timer.cancel()
                    self._head_timer = None

        def on_response_complete(self):
            self._active = time.monotonic()
            if not self.transport.is_closing():
                self._arm_head_timer()  # before a pipelined request may start (it cancels it)
            super().on_response_complete()

        def connection_lost(self, exc):
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

    return LimitedH11Protocol


class RateLimitedLog(logging.Filter):
    """Lets ``lines`` records through per ``window`` seconds; the first one after a quiet
    spell says how many were held back."""

    def __init__(self, lines, window):
        super().__init__()
        self.lines, self.window = lines, window
        self.start, self.passed, self.dropped = float("-inf"), 0, 0

    def filter(self, record):
        now = time.monotonic()
        if now - self.start >= self.window:
            self.start, self.passed = now, 0
            if self.dropped:
                record.msg = f"({self.dropped} similar log lines left out) {record.msg}"
                self.dropped = 0
        if self.passed >= self.lines:
            self.dropped += 1
            return False
        self.passed += 1
        return True


def bound_logs(limits, names=("uvicorn", "uvicorn.error", "asyncio")):
    log_filter = RateLimitedLog(limits.log_lines, limits.log_window)
    for name in names:
        logging.getLogger(name).addFilter(log_filter)
