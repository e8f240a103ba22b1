"""A circuit breaker: the state machine, with no process and no sleeping.

Time comes from an injectable ``clock`` (``time.monotonic`` by default); every state
change is reported to an ``on_change(from_state, to_state)`` callback (the gate emits
it as the telemetry event ``("elixirchain", "breaker", "state_change")``).

The machine (Michael Nygard's, as in Hystrix and resilience4j)::

    closed --failure_threshold consecutive failures--> open
    open   --reset_timeout elapsed (poll / admit)----> half_open
    half_open --the probe succeeds--> closed
    half_open --the probe fails-----> open (for another reset_timeout)

Guarantees:

- Only *failures* count: the outcome ``FAILURE`` (a retryable error: the provider is
  unavailable, overloaded or timing out). ``ERROR`` (a non-retryable error such as a bad
  request: the provider answered) counts as a ``SUCCESS`` for availability: it resets
  the count and closes a half-open circuit. ``CANCELLED`` (the caller went away or
  stopped early; nothing was learnt) changes nothing, except that a cancelled probe
  frees the probe slot for the next caller.
- In ``half_open`` exactly one call is admitted as the probe; every other caller is
  refused until the probe's outcome is recorded.
- Outcomes of calls admitted before the circuit opened (they were in flight) are
  ignored while it is open or half-open: only the probe decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from elixirchain.errors import ConfigError

__all__ = [
    "ALLOW",
    "CANCELLED",
    "CLOSED",
    "DENY",
    "ERROR",
    "FAILURE",
    "HALF_OPEN",
    "OPEN",
    "OUTCOMES",
    "PROBE",
    "SUCCESS",
    "CircuitBreaker",
]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# What admit() answers.
ALLOW = "allow"
PROBE = "probe"
DENY = "deny"

# Outcomes of a call.
SUCCESS = "success"
FAILURE = "failure"
ERROR = "error"
CANCELLED = "cancelled"
OUTCOMES = (SUCCESS, FAILURE, ERROR, CANCELLED)

Clock = Callable[[], float]
OnChange = Callable[[str, str], None]


def _ignore(from_state: str, to_state: str) -> None:
    return None


class CircuitBreaker:
    """The breaker of one provider key.

    Args:
        failure_threshold: consecutive failures that open the circuit (positive int).
        reset_timeout: seconds the circuit stays open before a probe (positive).
        clock: returns the current time in seconds.
        on_change: called with ``(from_state, to_state)`` on every transition.
    """

    __slots__ = (
        "failure_threshold",
        "reset_timeout",
        "clock",
        "on_change",
        "state",
        "failures",
        "opened_at",
        "probing",
    )

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        *,
        clock: Clock = time.monotonic,
        on_change: OnChange = _ignore,
    ) -> None:
        if failure_threshold.__class__ is not int or failure_threshold < 1:
            raise ConfigError(
                f"failure_threshold must be a positive int; got {failure_threshold!r}"
            )
        if (
            not isinstance(reset_timeout, (int, float))
            or isinstance(reset_timeout, bool)
            or reset_timeout <= 0
        ):
            raise ConfigError(
                f"reset_timeout must be a positive number of seconds; got {reset_timeout!r}"
            )
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.clock = clock
        self.on_change = on_change
        self.state = CLOSED
        self.failures = 0  # consecutive failures while closed
        self.opened_at = 0.0
        self.probing = False  # half-open: the probe has been admitted

    def _move(self, to_state: str) -> None:
        from_state = self.state
        self.state = to_state
        self.on_change(from_state, to_state)

    def _open(self) -> None:
        self.opened_at = self.clock()
        self.failures = 0
        self.probing = False
        self._move(OPEN)

    def poll(self) -> str:
        """Move ``open`` to ``half_open`` once ``reset_timeout`` has passed; return the
        state. Never blocks."""
        if self.state == OPEN and self.clock() - self.opened_at >= self.reset_timeout:
            self.probing = False
            self._move(HALF_OPEN)
        return self.state

    def retry_after(self) -> float:
        """Seconds until an open circuit turns half-open (0.0 when not open). Never
        blocks."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.opened_at + self.reset_timeout - self.clock())

    def admit(self) -> str:
        """May a call go ahead? ``ALLOW`` (closed), ``PROBE`` (half-open, and this call
        is the one probe; the slot is taken), or ``DENY``. Never blocks."""
        state = self.poll()
        if state == CLOSED:
            return ALLOW
        if state == HALF_OPEN and not self.probing:
            self.probing = True
            return PROBE
        return DENY

    def record(self, outcome: str, *, probe: bool = False) -> None:
        """Record the outcome of a call admitted earlier (``probe``: it was admitted as
        the probe). Never blocks."""
        if outcome not in OUTCOMES:
            raise ConfigError(f"a call outcome must be one of {OUTCOMES}; got {outcome!r}")
        state = self.poll()
        if state == CLOSED:
            if outcome == FAILURE:
                self.failures += 1
                if self.failures >= self.failure_threshold:
                    self._open()
            elif outcome != CANCELLED:
                self.failures = 0
            return
        if state == HALF_OPEN and probe and self.probing:
            if outcome == CANCELLED:
                self.probing = False  # let the next caller probe
            elif outcome == FAILURE:
                self._open()
            else:
                self.probing = False
                self.failures = 0
                self._move(CLOSED)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} failures={self.failures}>"
