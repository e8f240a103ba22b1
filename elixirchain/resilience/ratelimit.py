"""A sliding-window rate limit: "at most ``limit`` units in any ``window`` seconds".

Pure logic, no processes, no sleeping: time comes from an injectable ``clock`` (a
function returning seconds, ``time.monotonic`` by default), so tests drive it with a
fake clock. The gate process uses one window for requests (rpm, each request one unit)
and one for tokens (tpm).

Guarantees:

- Exact, not approximate: the window is a log of ``(time, amount)`` entries, pruned
  as they age out, so the limit holds for *every* interval of ``window`` seconds (a
  fixed-window counter lets up to twice the limit through around a boundary).
- ``wait_time`` says exactly when ``amount`` more will fit, given what is logged now;
  nothing is reserved by asking.
- An amount above the whole limit fits only when the window is empty (it could never
  fit otherwise); it then uses the whole window.
- ``adjust`` corrects a logged amount afterwards (tokens estimated before a call,
  reconciled with the real usage after it). An entry that has aged out is not
  changed: it no longer counts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from elixirchain.errors import ConfigError

__all__ = ["Entry", "SlidingWindow"]

Clock = Callable[[], float]


class Entry:
    """One logged use: ``amount`` units at ``time``. Returned by ``add`` for ``adjust``."""

    __slots__ = ("time", "amount", "live")

    def __init__(self, at: float, amount: int) -> None:
        self.time = at
        self.amount = amount
        self.live = True  # False once aged out of the window

    def __repr__(self) -> str:
        return f"Entry(time={self.time!r}, amount={self.amount!r})"


class SlidingWindow:
    """At most ``limit`` units in any ``window`` seconds.

    Args:
        limit: the units allowed per window (a positive int).
        window: the window's length in seconds (positive).
        clock: returns the current time in seconds; ``time.monotonic`` by default.
    """

    __slots__ = ("limit", "window", "clock", "_entries", "_used")

    def __init__(self, limit: int, window: float, *, clock: Clock = time.monotonic) -> None:
        if limit.__class__ is not int or limit <= 0:
            raise ConfigError(f"a rate limit must be a positive int; got {limit!r}")
        if not isinstance(window, (int, float)) or isinstance(window, bool) or window <= 0:
            raise ConfigError(f"a rate window must be a positive number of seconds; got {window!r}")
        self.limit = limit
        self.window = float(window)
        self.clock = clock
        self._entries: deque[Entry] = deque()
        self._used = 0

    def _prune(self, now: float) -> None:
        entries = self._entries
        horizon = now - self.window
        while entries and entries[0].time <= horizon:
            entry = entries.popleft()
            entry.live = False
            self._used -= entry.amount

    def used(self) -> int:
        """Units logged in the last ``window`` seconds. Never blocks."""
        self._prune(self.clock())
        return self._used

    def wait_time(self, amount: int = 1) -> float:
        """Seconds until ``amount`` more units fit (0.0: they fit now). Never blocks."""
        now = self.clock()
        self._prune(now)
        excess = self._used + min(amount, self.limit) - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for entry in self._entries:  # oldest first: the first to age out
            freed += entry.amount
            if freed >= excess:
                return max(0.0, entry.time + self.window - now)
        return self.window  # unreachable while amounts are positive; a safe answer

    def add(self, amount: int = 1) -> Entry:
        """Log ``amount`` units now (whether or not they fit: check ``wait_time``
        first). Returns the entry, for ``adjust``. Never blocks."""
        now = self.clock()
        self._prune(now)
        entry = Entry(now, max(0, int(amount)))
        self._entries.append(entry)
        self._used += entry.amount
        return entry

    def adjust(self, entry: Entry, amount: int) -> None:
        """Change a logged entry's amount to ``amount`` (the real usage). Does nothing
        once the entry has aged out. Never blocks."""
        self._prune(self.clock())
        if not entry.live:
            return
        amount = max(0, int(amount))
        self._used += amount - entry.amount
        entry.amount = amount

    def __repr__(self) -> str:
        return f"<SlidingWindow {self._used}/{self.limit} per {self.window} s>"
