"""Timers of one node: a heap of deadlines behind a single event-loop timer.

Receive timeouts, ``sleep`` and ``send_after`` all land here. Creating a gevent timer per
receive would cost a C watcher each time; instead the node keeps a binary heap of
``TimerEntry`` and arms one gevent timer for the earliest deadline. Cancelling marks the
entry inactive (lazy deletion); the heap is compacted when more than half of it is dead.

Guarantees: a callback runs at or after its deadline, in the event loop (hub) greenlet,
in deadline order (ties in the order they were added). A cancelled entry never runs.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["TimerEntry", "Timers"]

log = logging.getLogger("beamlike.timers")

_monotonic = time.monotonic


class TimerEntry:
    """One pending timer. ``active`` is False once it fired or was cancelled."""

    __slots__ = ("deadline", "callback", "arg", "active")

    def __init__(self, deadline: float, callback: Callable[[Any], None], arg: Any) -> None:
        self.deadline = deadline
        self.callback = callback
        self.arg = arg
        self.active = True


class Timers:
    """The timer heap of one node. All methods never block."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, TimerEntry]] = []
        self._seq = itertools.count()
        self._dead = 0
        self._watcher: Any = None
        self._armed_at = float("inf")
        self._closed = False

    def __len__(self) -> int:
        return len(self._heap) - self._dead

    def add(self, delay: float, callback: Callable[[Any], None], arg: Any) -> TimerEntry:
        """Run ``callback(arg)`` in the event loop ``delay`` seconds from now."""
        deadline = _monotonic() + delay
        entry = TimerEntry(deadline, callback, arg)
        heapq.heappush(self._heap, (deadline, next(self._seq), entry))
        if deadline < self._armed_at:
            self._arm(deadline)
        return entry

    def cancel(self, entry: TimerEntry) -> float | bool:
        """Cancel ``entry``. Returns the seconds that were left, or False if it was done."""
        if not entry.active:
            return False
        entry.active = False
        self._dead += 1
        if self._dead > 64 and self._dead * 2 > len(self._heap):
            self._compact()
        return max(0.0, entry.deadline - _monotonic())

    def close(self) -> None:
        """Drop every timer and release the event-loop watcher."""
        self._closed = True
        for _, _, entry in self._heap:
            entry.active = False
        self._heap.clear()
        self._dead = 0
        self._disarm()

    def _compact(self) -> None:
        self._heap = [item for item in self._heap if item[2].active]
        heapq.heapify(self._heap)
        self._dead = 0

    def _arm(self, deadline: float) -> None:
        if self._closed:
            return
        self._disarm()
        watcher = self._loop.timer(max(0.0, deadline - _monotonic()))
        watcher.start(self._fire)
        self._watcher = watcher
        self._armed_at = deadline

    def _disarm(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()
            watcher.close()
            self._watcher = None
        self._armed_at = float("inf")

    def _fire(self) -> None:
        self._watcher = None
        self._armed_at = float("inf")
        heap = self._heap
        now = _monotonic()
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)[2]
            if entry.active:
                entry.active = False
                try:
                    entry.callback(entry.arg)
                except Exception:  # one broken timer must not stop the others
                    log.exception("timer callback %r failed", entry.callback)
            else:
                self._dead -= 1
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
            self._dead -= 1
        if heap and not self._closed:
            self._arm(heap[0][0])
