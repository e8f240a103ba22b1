"""When to retry a failed provider call, and how long to wait first.

Pure decisions, no sleeping: the caller (``call.call_provider``) waits with
``beamlike.sleep``. The randomness of the jitter is injectable (``rng``), so tests can
make it deterministic.

The rule, for attempt ``n`` (1-based) that failed with ``error``:

1. Only a ``ProviderError`` whose ``retryable`` is true is retried (a gate's
   ``RateLimited`` after ``max_wait`` is one); anything else is raised at once.
2. After ``max_attempts`` attempts, nothing is retried.
3. The backoff is ``min(max_delay, base_delay * 2 ** (n - 1))``, multiplied by a
   uniform factor in ``[1 - jitter, 1 + jitter]`` and kept within ``[0, max_delay]``
   ("equal jitter" around the exponential curve; AWS's architecture blog compares the
   variants).
4. The server's hint ``error.retry_after`` wins when longer: the wait is
   ``max(backoff, retry_after)``. A hint above ``max_retry_after`` means "not worth
   waiting for": the call gives up at once with that error.
"""

from __future__ import annotations

import random
from typing import Protocol

from elixirchain.errors import ProviderError
from elixirchain.resilience.policy import RetryPolicy

__all__ = ["Uniform", "backoff", "is_retryable", "retry_delay"]


class Uniform(Protocol):
    """What ``backoff`` needs of a random generator (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float: ...


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` may succeed if the same request is sent again later.

    True only for ``ProviderError``s marked retryable (``RateLimited``,
    ``ProviderUnavailable``, ``ProviderTimeout``, ``MalformedResponse``,
    ``StreamInterrupted`` before any chunk). Never blocks.
    """
    return isinstance(error, ProviderError) and bool(error.retryable)


def backoff(policy: RetryPolicy, attempt: int, *, rng: Uniform | None = None) -> float:
    """The backoff in seconds after failed attempt ``attempt`` (1-based), with jitter.

    Never blocks.
    """
    if attempt.__class__ is not int or attempt < 1:
        raise ValueError(f"attempt must be an int >= 1; got {attempt!r}")
    base = min(policy.max_delay, policy.base_delay * 2.0 ** min(attempt - 1, 64))
    if policy.jitter:
        spread = (rng or random).uniform(1.0 - policy.jitter, 1.0 + policy.jitter)
        base *= spread
    return max(0.0, min(policy.max_delay, base))


def retry_delay(
    policy: RetryPolicy, error: BaseException, attempt: int, *, rng: Uniform | None = None
) -> float | None:
    """How long to wait before retrying after ``error`` ended attempt ``attempt``, or
    None to give up (raise ``error``). Never blocks."""
    if not is_retryable(error) or attempt >= policy.max_attempts:
        return None
    delay = backoff(policy, attempt, rng=rng)
    hint = getattr(error, "retry_after", None)
    if hint is not None:
        if hint > policy.max_retry_after:
            return None
        delay = max(delay, float(hint))
    return delay
