"""Timers of one node: a wheel of 1 ms slots behind a single event-loop timer.

Receive timeouts, ``sleep``, ``send_after`` and every ``GenServer.call`` (5 s by
default) land here, and most are cancelled long before they fire: a call's timeout
lives a few microseconds. So adding and cancelling must be cheap:

- a deadline is rounded *up* to a 1 ms slot; the slot's list gets the entry (a dict
  look-up and an append; a heap push only when the slot is new);
- cancelling only marks the entry inactive; dead entries are dropped when their slot
  fires, or all at once when they outnumber the live ones;
- one gevent timer is armed for the earliest slot.

Guarantees: a callback runs at or after its deadline (at most about 1 ms after, plus
the event loop's own latency), in the event loop (hub) greenlet, in deadline order;
a cancelled entry never runs; a failing callback is logged and does not stop the others.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["TimerEntry", "Timers"]

log = logging.getLogger("beamlike.timers")

_monotonic = time.monotonic
_SLOTS_PER_SECOND = 1000


class TimerEntry:
    """One pending timer. ``active`` is False once it fired or was cancelled."""

    __slots__ = ("deadline", "callback", "arg", "active")

    def __init__(self, deadline: float, callback: Callable[[Any], None], arg: Any) -> None:
        self.deadline = deadline
        self.callback = callback
        self.arg = arg
        self.active = True


def _deadline_of(entry: TimerEntry) -> float:
    return entry.deadline


class Timers:
    """The timer wheel of one node. All methods never block."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._slots: dict[int, list[TimerEntry]] = {}
        self._order: list[int] = []  # heap of slot numbers
        self._live = 0
        self._dead = 0
        self._watcher: Any = None
        self._armed_slot = -1  # the slot the event-loop timer is armed for, or -1
        self._closed = False

    def __len__(self) -> int:
        return self._live

    def add(self, delay: float, callback: Callable[[Any], None], arg: Any) -> TimerEntry:
        """Run ``callback(arg)`` in the event loop ``delay`` seconds from now."""
        deadline = _monotonic() + delay
        entry = TimerEntry(deadline, callback, arg)
        slot = int(deadline * _SLOTS_PER_SECOND) + 1  # rounded up: never early
        bucket = self._slots.get(slot)
        if bucket is not None:
            bucket.append(entry)
        else:
            self._slots[slot] = [entry]
            heapq.heappush(self._order, slot)
            if self._armed_slot < 0 or slot < self._armed_slot:
                self._arm(slot)
        self._live += 1
        return entry

    def discard(self, entry: TimerEntry) -> None:
        """Cancel ``entry`` if it is pending; the cheapest way, for internal waits."""
        if entry.active:
            entry.active = False
            self._live -= 1
            self._dead += 1
            if self._dead > 4096 and self._dead > 2 * self._live:
                self._compact()

    def cancel(self, entry: TimerEntry) -> float | bool:
        """Cancel ``entry``. Returns the seconds that were left, or False if it was done."""
        if not entry.active:
            return False
        self.discard(entry)
        return max(0.0, entry.deadline - _monotonic())

    def close(self) -> None:
        """Drop every timer and release the event-loop watcher."""
        self._closed = True
        for bucket in self._slots.values():
            for entry in bucket:
                entry.active = False
        self._slots.clear()
        self._order.clear()
        self._live = self._dead = 0
        self._disarm()

    def _compact(self) -> None:
        slots = {}
        for slot, bucket in self._slots.items():
            alive = [entry for entry in bucket if entry.active]
            if alive:
                slots[slot] = alive
        self._slots = slots
        self._order = list(slots)
        heapq.heapify(self._order)
        self._dead = 0
        if not self._order:
            self._disarm()

    def _arm(self, slot: int) -> None:
        if self._closed:
            return
        self._disarm()
        delay = max(0.0, slot / _SLOTS_PER_SECOND - _monotonic())
        watcher = self._loop.timer(delay)
        watcher.start(self._fire)
        self._watcher = watcher
        self._armed_slot = slot

    def _disarm(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()
            watcher.close()
            self._watcher = None
        self._armed_slot = -1

    def _fire(self) -> None:
        self._watcher = None
        self._armed_slot = -1
        order = self._order
        slots = self._slots
        now_slot = int(_monotonic() * _SLOTS_PER_SECOND)
        while order and order[0] <= now_slot:
            bucket = slots.pop(heapq.heappop(order), ())
            if len(bucket) > 1:
                bucket.sort(key=_deadline_of)
            for entry in bucket:
                if not entry.active:
                    self._dead -= 1
                    continue
                entry.active = False
                self._live -= 1
                try:
                    entry.callback(entry.arg)
                except Exception:  # one broken timer must not stop the others
                    log.exception("timer callback %r failed", entry.callback)
        if self._dead < 0:
            self._dead = 0
        if order and not self._closed:
            self._arm(order[0])
