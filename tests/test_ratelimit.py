"""The sliding-window rate limit, driven by a fake clock: exact limits over every
interval of the window, exact wait times, token estimates reconciled afterwards."""

from __future__ import annotations

import pytest

from elixirchain.errors import ConfigError
from elixirchain.resilience.ratelimit import SlidingWindow
from tests.support_resilience import FakeClock


def test_requests_up_to_the_limit_fit_and_the_next_waits_for_the_oldest_to_age_out() -> None:
    clock = FakeClock(100.0)
    window = SlidingWindow(3, 60.0, clock=clock)
    for _ in range(3):
        assert window.wait_time(1) == 0.0
        window.add(1)
        clock.advance(10.0)
    assert window.used() == 3
    assert window.wait_time(1) == pytest.approx(30.0)  # the first entry, at 100, ages out at 160


def test_an_entry_stops_counting_exactly_one_window_after_it_was_added() -> None:
    clock = FakeClock(100.0)
    window = SlidingWindow(1, 60.0, clock=clock)
    window.add(1)
    clock.advance(59.999)
    assert window.used() == 1
    assert window.wait_time(1) == pytest.approx(0.001)
    clock.advance(0.001)
    assert window.used() == 0
    assert window.wait_time(1) == 0.0


def test_no_interval_of_the_window_lets_more_than_the_limit_through() -> None:
    # A fixed per-minute counter would let 3 through at 0:59 and 3 more at 1:00.
    clock = FakeClock(59.0)
    window = SlidingWindow(3, 60.0, clock=clock)
    granted = []
    while clock.now < 300.0:
        if window.wait_time(1) == 0.0:
            window.add(1)
            granted.append(clock.now)
        clock.advance(0.5)
    for start in granted:
        assert sum(1 for t in granted if start <= t < start + 60.0) <= 3
    assert granted[:9] == [59.0, 59.5, 60.0, 119.0, 119.5, 120.0, 179.0, 179.5, 180.0]
    assert granted[9:] == [239.0, 239.5, 240.0, 299.0, 299.5]


def test_tokens_wait_until_enough_old_entries_have_aged_out() -> None:
    clock = FakeClock(0.0)
    window = SlidingWindow(100, 10.0, clock=clock)
    window.add(40)
    clock.advance(1.0)
    window.add(30)
    clock.advance(1.0)
    window.add(30)
    clock.advance(1.0)  # now 3.0, 100 used
    assert window.wait_time(40) == pytest.approx(7.0)  # the 40 at t=0 ages out at 10
    assert window.wait_time(50) == pytest.approx(8.0)  # needs the 30 at t=1 too
    assert window.wait_time(100) == pytest.approx(9.0)


def test_an_amount_above_the_whole_limit_fits_only_in_an_empty_window() -> None:
    clock = FakeClock(0.0)
    window = SlidingWindow(100, 10.0, clock=clock)
    window.add(1)
    assert window.wait_time(500) == pytest.approx(10.0)
    clock.advance(10.0)
    assert window.wait_time(500) == 0.0
    window.add(500)
    assert window.used() == 500
    assert window.wait_time(1) == pytest.approx(10.0)


def test_adjust_reconciles_an_estimate_with_the_real_usage() -> None:
    clock = FakeClock(0.0)
    window = SlidingWindow(100, 10.0, clock=clock)
    entry = window.add(90)
    assert window.wait_time(50) == pytest.approx(10.0)
    window.adjust(entry, 20)
    assert window.used() == 20
    assert window.wait_time(50) == 0.0
    window.adjust(entry, 120)
    assert window.used() == 120


def test_adjusting_an_entry_that_aged_out_changes_nothing() -> None:
    clock = FakeClock(0.0)
    window = SlidingWindow(100, 10.0, clock=clock)
    entry = window.add(90)
    clock.advance(10.0)
    window.add(5)
    window.adjust(entry, 50)
    assert window.used() == 5


@pytest.mark.parametrize(
    ("limit", "window", "message"),
    [
        (0, 60.0, "a rate limit must be a positive int; got 0"),
        (2.5, 60.0, "a rate limit must be a positive int; got 2.5"),
        (True, 60.0, "a rate limit must be a positive int; got True"),
        (3, 0, "a rate window must be a positive number of seconds; got 0"),
        (3, "60", "a rate window must be a positive number of seconds; got '60'"),
    ],
)
def test_bad_limits_are_refused_saying_what_was_given(limit, window, message) -> None:
    with pytest.raises(ConfigError) as info:
        SlidingWindow(limit, window)
    assert str(info.value) == message
