"""Timers: send_after and cancel_timer, sleep, and receive timeouts.

Timing assertions have a one-sided tolerance of 5 ms (timers may fire late, not early)
and a generous upper bound only where the behaviour is about not waiting.
"""

from __future__ import annotations

import time

import pytest

import beamlike
from beamlike import (
    ANY,
    BadArgumentType,
    Down,
    ReceiveTimeout,
    Ref,
    cancel_timer,
    make_ref,
    receive,
    register,
    self_pid,
    send,
    send_after,
    sleep,
    spawn,
    spawn_monitor,
)

WAIT = 2.0
NOTHING = object()
EARLY = 0.005  # a timer measured this much early is rounding, not a bug


def wait_forward(parent: object) -> None:
    send(parent, ("forwarded", receive()))


# -- send_after -----------------------------------------------------------------------


def test_send_after_returns_a_ref_without_waiting_for_the_delay() -> None:
    start = time.monotonic()

    ref = send_after(10, self_pid(), "tick")

    assert isinstance(ref, Ref)
    assert time.monotonic() - start < 0.5


def test_send_after_delivers_the_message_after_the_delay() -> None:
    start = time.monotonic()

    send_after(0.05, self_pid(), "tick")

    assert receive(timeout=WAIT) == "tick"
    assert time.monotonic() - start >= 0.05 - EARLY


def test_send_after_message_is_not_delivered_before_the_delay() -> None:
    send_after(0.5, self_pid(), "tick")

    assert receive(timeout=0, default=NOTHING) is NOTHING


def test_send_after_with_zero_delay_delivers_promptly() -> None:
    send_after(0, self_pid(), "tick")

    assert receive(timeout=WAIT) == "tick"


def test_send_after_delivers_to_another_process() -> None:
    pid = spawn(wait_forward, self_pid())

    send_after(0.01, pid, "tick")

    assert receive(timeout=WAIT) == ("forwarded", "tick")


def test_send_after_delivers_to_a_registered_name() -> None:
    register("me", self_pid())

    send_after(0.01, "me", "tick")

    assert receive(timeout=WAIT) == "tick"


def test_timers_fire_in_deadline_order_not_creation_order() -> None:
    me = self_pid()
    send_after(0.06, me, "late")
    send_after(0.02, me, "early")

    assert [receive(timeout=WAIT), receive(timeout=WAIT)] == ["early", "late"]


def test_timers_with_the_same_delay_fire_in_creation_order() -> None:
    me = self_pid()
    for i in range(5):
        send_after(0.01, me, i)

    assert [receive(timeout=WAIT) for _ in range(5)] == [0, 1, 2, 3, 4]


def set_timer_then_return(parent: object) -> None:
    send_after(0.02, parent, "from the timer of a process that has exited")


def test_a_timer_fires_even_after_the_process_that_set_it_has_exited() -> None:
    spawn(set_timer_then_return, self_pid())

    assert receive(timeout=WAIT) == "from the timer of a process that has exited"


@pytest.mark.parametrize(
    "dest",
    [42, None, ("name",), ("name", "node", "extra"), (42, "nonode@nohost")],
    ids=repr,
)
def test_send_after_to_an_invalid_destination_raises_bad_argument_type_at_once(
    dest: object,
) -> None:
    with pytest.raises(BadArgumentType):
        send_after(0, dest, "tick")


def test_an_invalid_send_after_destination_does_not_stop_the_nodes_other_timers() -> None:
    try:
        send_after(0, ("name", "node", "extra"), "lost")
    except BadArgumentType:
        pass
    send_after(0.01, self_pid(), "tick")

    assert receive(timeout=WAIT, default="the timer never fired") == "tick"


# -- cancel_timer ---------------------------------------------------------------------


def test_cancel_timer_returns_the_seconds_that_were_left() -> None:
    ref = send_after(10, self_pid(), "tick")

    left = cancel_timer(ref)

    assert isinstance(left, float)
    assert 9.0 < left <= 10.0


def test_a_cancelled_timer_never_delivers() -> None:
    ref = send_after(0.02, self_pid(), "tick")

    cancel_timer(ref)

    assert receive("tick", timeout=0.1, default=NOTHING) is NOTHING


def test_cancel_timer_after_it_fired_returns_false() -> None:
    ref = send_after(0, self_pid(), "tick")
    receive("tick", timeout=WAIT)

    assert cancel_timer(ref) is False


def test_cancel_timer_a_second_time_returns_false() -> None:
    ref = send_after(10, self_pid(), "tick")
    cancel_timer(ref)

    assert cancel_timer(ref) is False


def test_cancel_timer_of_an_unknown_ref_returns_false() -> None:
    assert cancel_timer(make_ref()) is False


def test_cancel_timer_does_not_remove_a_message_that_was_already_delivered() -> None:
    ref = send_after(0, self_pid(), "tick")
    send_after(0.01, self_pid(), "later")
    receive("later", timeout=WAIT)

    assert cancel_timer(ref) is False
    assert receive(timeout=0) == "tick"


# -- sleep ----------------------------------------------------------------------------


def test_sleep_blocks_the_caller_for_at_least_the_given_time() -> None:
    start = time.monotonic()

    sleep(0.05)

    assert time.monotonic() - start >= 0.05 - EARLY


def test_sleep_lets_other_processes_run() -> None:
    spawn(send, self_pid(), "ran while you slept")

    sleep(0.01)

    assert receive(timeout=0) == "ran while you slept"


def test_sleep_is_not_cut_short_by_a_message() -> None:
    start = time.monotonic()
    send_after(0.01, self_pid(), "wake up?")

    sleep(0.05)

    assert time.monotonic() - start >= 0.05 - EARLY


def test_sleep_does_not_consume_messages() -> None:
    send(self_pid(), "kept")

    sleep(0.01)

    assert receive(timeout=0) == "kept"


def test_sleep_is_interrupted_by_an_exit_signal() -> None:
    start = time.monotonic()
    pid, ref = spawn_monitor(sleep, 60)

    beamlike.exit(pid, "boom")

    assert receive(Down(ref, ANY, ANY), timeout=WAIT) == Down(ref, pid, "boom")
    assert time.monotonic() - start < WAIT


# -- receive timeouts -----------------------------------------------------------------


def test_receive_timeout_raises_receive_timeout_once_the_timeout_passed() -> None:
    start = time.monotonic()

    with pytest.raises(ReceiveTimeout):
        receive(timeout=0.05)

    assert time.monotonic() - start >= 0.05 - EARLY


def test_receive_timeout_returns_as_soon_as_a_message_arrives() -> None:
    start = time.monotonic()
    send_after(0.01, self_pid(), "soon")

    assert receive(timeout=10) == "soon"
    assert time.monotonic() - start < 1.0
