"""The knobs of the resilience layer: ``Limits`` (one gate per provider key) and
``RetryPolicy`` (one call's retries).

Both are frozen dataclasses validated when built, so a bad value fails where it is
written, with a message that names the field, what was expected and what was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from elixirchain.errors import ConfigError

__all__ = ["Limits", "RetryPolicy"]


def _is_int(value: Any) -> bool:
    return value.__class__ is int  # bool is not accepted as a number of things


def _is_number(value: Any) -> bool:
    return (value.__class__ is int or value.__class__ is float) and math.isfinite(value)


def _positive_int_or_none(owner: str, name: str, value: Any) -> None:
    if value is not None and not (_is_int(value) and value > 0):
        raise ConfigError(f"{owner}.{name} must be a positive int or None; got {value!r}")


def _int_at_least(owner: str, name: str, value: Any, low: int) -> None:
    if not (_is_int(value) and value >= low):
        what = "a positive int" if low == 1 else f"an int >= {low}"
        raise ConfigError(f"{owner}.{name} must be {what}; got {value!r}")


def _positive_seconds(owner: str, name: str, value: Any, *, zero: bool = False) -> None:
    if not (_is_number(value) and (value >= 0 if zero else value > 0)):
        what = "a number of seconds >= 0" if zero else "a positive number of seconds"
        raise ConfigError(f"{owner}.{name} must be {what}; got {value!r}")


@dataclass(frozen=True)
class Limits:
    """The limits of one provider key, enforced by its gate for every caller at once.

    Attributes:
        rpm: requests allowed per ``window`` (a minute by default); None: no limit.
        tpm: tokens allowed per ``window`` (estimated before the call with
            ``provider.estimate_tokens``, reconciled with the real usage after it);
            None: no limit. A single request estimated above ``tpm`` is let through
            when the window is empty (it could never fit otherwise).
        max_concurrency: calls in flight at once; None: no limit.
        max_waiters: callers that may wait for a permit; one more fails at once with
            ``Overloaded``. 0: no caller ever waits.
        max_wait: seconds a caller may wait for a permit; then ``RateLimited``.
        failure_threshold: consecutive retryable failures that open the circuit.
        reset_timeout: seconds the circuit stays open before one probe call is let
            through (half-open).
        window: the length in seconds of the rate window that ``rpm`` and ``tpm`` count
            over. 60 (a minute) matches the vendors' quotas; shorter is for tests.
    """

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    max_waiters: int = 1000
    max_wait: float = 30.0
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    window: float = 60.0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "max_concurrency"):
            _positive_int_or_none("Limits", name, getattr(self, name))
        _int_at_least("Limits", "max_waiters", self.max_waiters, 0)
        _positive_seconds("Limits", "max_wait", self.max_wait)
        _int_at_least("Limits", "failure_threshold", self.failure_threshold, 1)
        _positive_seconds("Limits", "reset_timeout", self.reset_timeout)
        _positive_seconds("Limits", "window", self.window)


@dataclass(frozen=True)
class RetryPolicy:
    """How one provider call is retried.

    Attempt ``n`` (1-based) that failed with a retryable error is followed by a wait of
    ``min(max_delay, base_delay * 2 ** (n - 1))``, spread by +/- ``jitter`` (a
    fraction: 0.2 is +/- 20 %), or by the server's hint ``error.retry_after`` when that
    is longer. A hint longer than ``max_retry_after`` makes the call give up at once.

    Attributes:
        max_attempts: attempts in all, the first included (1: never retry).
        base_delay: seconds before the first retry.
        max_delay: the longest backoff, in seconds (a server hint may be longer).
        jitter: the random spread of each backoff, as a fraction in [0, 1].
        max_retry_after: the longest server hint that is waited for, in seconds.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: float = 0.2
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        _int_at_least("RetryPolicy", "max_attempts", self.max_attempts, 1)
        _positive_seconds("RetryPolicy", "base_delay", self.base_delay, zero=True)
        _positive_seconds("RetryPolicy", "max_delay", self.max_delay, zero=True)
        if self.max_delay < self.base_delay:
            raise ConfigError(
                f"RetryPolicy.max_delay must be >= base_delay ({self.base_delay!r}); "
                f"got {self.max_delay!r}"
            )
        if not (_is_number(self.jitter) and 0 <= self.jitter <= 1):
            raise ConfigError(
                f"RetryPolicy.jitter must be a fraction between 0 and 1; got {self.jitter!r}"
            )
        _positive_seconds("RetryPolicy", "max_retry_after", self.max_retry_after, zero=True)
