"""The circuit breaker's state machine, driven by a fake clock: what counts as a
failure, when it opens, the single half-open probe, and how it closes again."""

from __future__ import annotations

import pytest

from elixirchain.errors import ConfigError
from elixirchain.resilience.breaker import (
    ALLOW,
    CANCELLED,
    CLOSED,
    DENY,
    ERROR,
    FAILURE,
    HALF_OPEN,
    OPEN,
    PROBE,
    SUCCESS,
    CircuitBreaker,
)
from tests.support_resilience import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def changes() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, changes: list[tuple[str, str]]) -> CircuitBreaker:
    return CircuitBreaker(3, 30.0, clock=clock, on_change=lambda a, b: changes.append((a, b)))


def open_it(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        assert breaker.admit() == ALLOW
        breaker.record(FAILURE)


def test_it_opens_after_the_threshold_of_consecutive_failures(breaker, changes) -> None:
    for _ in range(2):
        breaker.record(FAILURE)
    assert breaker.state == CLOSED
    assert breaker.failures == 2
    breaker.record(FAILURE)
    assert breaker.state == OPEN
    assert changes == [(CLOSED, OPEN)]


def test_a_success_between_failures_resets_the_count(breaker) -> None:
    breaker.record(FAILURE)
    breaker.record(FAILURE)
    breaker.record(SUCCESS)
    breaker.record(FAILURE)
    breaker.record(FAILURE)
    assert breaker.state == CLOSED
    assert breaker.failures == 2


def test_a_non_retryable_error_shows_the_provider_is_up_and_resets_the_count(breaker) -> None:
    breaker.record(FAILURE)
    breaker.record(FAILURE)
    for _ in range(10):
        breaker.record(ERROR)
    assert breaker.state == CLOSED
    assert breaker.failures == 0


def test_a_cancelled_call_changes_nothing(breaker) -> None:
    breaker.record(FAILURE)
    breaker.record(FAILURE)
    breaker.record(CANCELLED)
    assert breaker.failures == 2
    breaker.record(FAILURE)
    assert breaker.state == OPEN


def test_an_open_circuit_denies_calls_and_says_how_long_is_left(breaker, clock) -> None:
    open_it(breaker)
    clock.advance(12.5)
    assert breaker.admit() == DENY
    assert breaker.retry_after() == pytest.approx(17.5)


def test_after_the_reset_timeout_exactly_one_probe_is_admitted(breaker, clock, changes) -> None:
    open_it(breaker)
    clock.advance(29.999)
    assert breaker.admit() == DENY
    clock.advance(0.001)
    assert breaker.admit() == PROBE
    assert breaker.state == HALF_OPEN
    assert [breaker.admit() for _ in range(5)] == [DENY] * 5
    assert breaker.retry_after() == 0.0
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_a_successful_probe_closes_the_circuit(breaker, clock, changes) -> None:
    open_it(breaker)
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    breaker.record(SUCCESS, probe=True)
    assert breaker.state == CLOSED
    assert breaker.admit() == ALLOW
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_probe_that_fails_opens_the_circuit_for_another_reset_timeout(
    breaker, clock, changes
) -> None:
    open_it(breaker)
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    clock.advance(5.0)
    breaker.record(FAILURE, probe=True)
    assert breaker.state == OPEN
    assert breaker.retry_after() == pytest.approx(30.0)
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    assert changes[-2:] == [(HALF_OPEN, OPEN), (OPEN, HALF_OPEN)]


def test_a_probe_answered_with_a_non_retryable_error_closes_the_circuit(breaker, clock) -> None:
    open_it(breaker)
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    breaker.record(ERROR, probe=True)
    assert breaker.state == CLOSED


def test_a_cancelled_probe_lets_the_next_caller_probe(breaker, clock) -> None:
    open_it(breaker)
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    breaker.record(CANCELLED, probe=True)
    assert breaker.state == HALF_OPEN
    assert breaker.admit() == PROBE


def test_outcomes_of_calls_in_flight_before_it_opened_are_ignored(breaker, clock) -> None:
    open_it(breaker)
    breaker.record(SUCCESS)  # admitted while closed, answered after the circuit opened
    assert breaker.state == OPEN
    clock.advance(30.0)
    assert breaker.admit() == PROBE
    breaker.record(SUCCESS)  # not the probe
    breaker.record(FAILURE)
    assert breaker.state == HALF_OPEN
    assert breaker.admit() == DENY


def test_an_unknown_outcome_is_refused(breaker) -> None:
    with pytest.raises(ConfigError) as info:
        breaker.record("ok")
    assert str(info.value) == (
        "a call outcome must be one of ('success', 'failure', 'error', 'cancelled'); got 'ok'"
    )


@pytest.mark.parametrize(
    ("threshold", "timeout", "message"),
    [
        (0, 1.0, "failure_threshold must be a positive int; got 0"),
        (2, 0, "reset_timeout must be a positive number of seconds; got 0"),
        (2, None, "reset_timeout must be a positive number of seconds; got None"),
    ],
)
def test_bad_settings_are_refused_saying_what_was_given(threshold, timeout, message) -> None:
    with pytest.raises(ConfigError) as info:
        CircuitBreaker(threshold, timeout)
    assert str(info.value) == message
