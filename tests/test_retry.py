"""Retry decisions: exponential backoff with jitter, the server's wait hint, what is
never retried, and the RetryPolicy's validation."""

from __future__ import annotations

import pytest

from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    CircuitOpen,
    ConfigError,
    MalformedResponse,
    Overloaded,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from elixirchain.resilience import RetryPolicy
from elixirchain.resilience.retry import backoff, is_retryable, retry_delay


class Edge:
    """A 'random' generator that always answers one end of the range."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def test_backoff_doubles_from_the_base_delay_up_to_the_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [backoff(policy, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_spreads_the_backoff_by_the_given_fraction_within_max_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0, jitter=0.2)
    assert backoff(policy, 1, rng=Edge(high=False)) == pytest.approx(0.8)
    assert backoff(policy, 1, rng=Edge(high=True)) == pytest.approx(1.2)
    assert backoff(policy, 3, rng=Edge(high=True)) == 3.0  # 3.6 kept within max_delay


def test_backoff_with_real_randomness_stays_within_the_jitter_band() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    delays = [backoff(policy, 2) for _ in range(200)]
    assert all(1.0 <= d <= 3.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("429"),
        ProviderUnavailable("503"),
        ProviderTimeout("slow"),
        MalformedResponse("bad json"),
        StreamInterrupted("cut"),
    ],
)
def test_retryable_provider_errors_are_retried(error) -> None:
    assert is_retryable(error)
    assert retry_delay(RetryPolicy(jitter=0.0), error, 1) == 0.5


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("400"),
        AuthenticationError("401"),
        StreamInterrupted("cut after chunks", retryable=False),
        CircuitOpen("open"),
        Overloaded("full"),
        ValueError("a bug"),
    ],
)
def test_other_errors_are_never_retried(error) -> None:
    assert not is_retryable(error)
    assert retry_delay(RetryPolicy(), error, 1) is None


def test_nothing_is_retried_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0.0)
    error = ProviderUnavailable("503")
    assert retry_delay(policy, error, 2) == 1.0
    assert retry_delay(policy, error, 3) is None


def test_a_retry_after_hint_longer_than_the_backoff_is_waited_for() -> None:
    policy = RetryPolicy(base_delay=0.5, jitter=0.0)
    assert retry_delay(policy, RateLimited("429", retry_after=7.0), 1) == 7.0
    assert retry_delay(policy, RateLimited("429", retry_after=0.1), 1) == 0.5


def test_a_retry_after_hint_above_max_retry_after_gives_up_at_once() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert retry_delay(policy, RateLimited("429", retry_after=60.0), 1) is not None
    assert retry_delay(policy, RateLimited("429", retry_after=61.0), 1) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_attempts": 0}, "RetryPolicy.max_attempts must be a positive int; got 0"),
        ({"max_attempts": 2.0}, "RetryPolicy.max_attempts must be a positive int; got 2.0"),
        (
            {"base_delay": -1},
            "RetryPolicy.base_delay must be a number of seconds >= 0; got -1",
        ),
        (
            {"base_delay": 5.0, "max_delay": 1.0},
            "RetryPolicy.max_delay must be >= base_delay (5.0); got 1.0",
        ),
        (
            {"jitter": 1.5},
            "RetryPolicy.jitter must be a fraction between 0 and 1; got 1.5",
        ),
        (
            {"max_retry_after": float("inf")},
            "RetryPolicy.max_retry_after must be a number of seconds >= 0; got inf",
        ),
    ],
)
def test_a_bad_retry_policy_is_refused_saying_what_was_given(fields, message) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**fields)
    assert str(info.value) == message
