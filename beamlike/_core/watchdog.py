"""Detection of a process that blocks the event loop.

Cooperative scheduling cannot pre-empt a greenlet that computes without blocking: while
it runs, no other process, timer or I/O of the node makes progress. The watchdog makes
this visible. A repeating event-loop timer bumps a counter (a *tick*); a real OS thread
checks the counter. When it has not moved for longer than ``threshold`` seconds, the
thread looks at the stack of the loop's thread, finds the frame of the process running
there, and logs a warning on logger ``beamlike.blocking`` naming its pid, its initial
call, how long it has blocked and where it is now. One report per blocking episode.

Only processes are reported: when the main program itself computes outside any process
the loop is not expected to run, so that is not a blocking episode.

Prior art: gevent's monitor thread (``gevent.config.monitor_thread``), which does the same
with a greenlet switch tracer; a tick timer keeps the scheduler's hot path untouched.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import Any

from gevent import monkey

from beamlike._core.process import execute, initial_call

__all__ = ["Watchdog", "find_process_frame"]

log = logging.getLogger("beamlike.blocking")

_start_new_thread = monkey.get_original("_thread", "start_new_thread")
_get_ident = monkey.get_original("_thread", "get_ident")
_real_sleep = monkey.get_original("time", "sleep")
_RUN_CODE = execute.__code__


def find_process_frame(frame: Any) -> tuple[Any, Any] | None:
    """Walk a stack from ``frame`` outwards; return (process, its run frame) or None."""
    while frame is not None:
        if frame.f_code is _RUN_CODE:
            proc = frame.f_locals.get("proc")
            if proc is not None:
                return proc, frame
        frame = frame.f_back
    return None


class Watchdog:
    """Watches one node's event loop from a thread. ``start``/``stop`` never block."""

    def __init__(self, node: Any, threshold: float) -> None:
        if threshold <= 0:
            raise ValueError(f"block_threshold must be positive seconds; got {threshold!r}")
        self.node = node
        self.threshold = float(threshold)
        self.interval = min(0.05, self.threshold / 4)
        self.running = False
        self.reports = 0
        self._ticks = 0
        self._timer: Any = None
        self._loop_thread: int | None = None

    def _tick(self) -> None:
        self._ticks += 1

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self._loop_thread = _get_ident()
        timer = self.node.loop.timer(self.interval, self.interval, ref=False)
        timer.start(self._tick)
        self._timer = timer
        _start_new_thread(self._watch, ())

    def stop(self) -> None:
        self.running = False
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
            self._timer = None

    def _watch(self) -> None:
        last = self._ticks
        since = time.monotonic()
        reported = False
        while self.running:
            _real_sleep(self.interval)
            ticks = self._ticks
            now = time.monotonic()
            if ticks != last:
                last, since, reported = ticks, now, False
                continue
            if reported or now - since < self.threshold:
                continue
            frame = sys._current_frames().get(self._loop_thread)  # type: ignore[arg-type]
            found = find_process_frame(frame)
            if found is None:
                continue
            proc, _ = found
            reported = True
            self.reports += 1
            stack = "".join(traceback.format_stack(frame, limit=12))
            log.warning(
                "process %r (%s) has blocked the event loop for %.2f s (threshold %.2f s): "
                "it runs without yielding; move CPU-bound work off the hub.\n%s",
                proc.pid,
                initial_call(proc),
                now - since,
                self.threshold,
                stack,
            )
            del frame, found, proc
