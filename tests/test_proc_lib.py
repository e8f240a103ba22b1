"""proc_lib: synchronous start. ``start_link`` returns once the new process has
acknowledged (``starter.ack``) or failed (``starter.fail``), exited, or timed out.

The started functions tell the test process their pid first, so that the test can
watch them after the start returned or failed.
"""

from __future__ import annotations

from typing import Any

import pytest

from beamlike import (
    ANY,
    BeamlikeError,
    Down,
    Exit,
    Pid,
    ProcessExit,
    Ref,
    is_alive,
    monitor,
    proc_lib,
    process_flag,
    process_info,
    receive,
    self_pid,
    send,
    spawn,
    spawn_monitor,
)
from beamlike.proc_lib import Starter, StartError, StartTimeout

WAIT = 2.0


# -- started functions ----------------------------------------------------------------


def ack_then_serve(starter: Starter, test: Pid, value: Any) -> None:
    """Acknowledge with ``value``, then answer pings until told to return."""
    send(test, ("pid", self_pid()))
    starter.ack(value)
    while (message := receive()) != "return":
        send(test, ("pong", message))


def ack_with_parent(starter: Starter, test: Pid) -> None:
    send(test, ("pid", self_pid()))
    starter.ack(starter.parent)
    receive("return")


def ack_with_kwargs(starter: Starter, test: Pid, *, greeting: str) -> None:
    send(test, ("pid", self_pid()))
    starter.ack(greeting.upper())
    receive("return")


def fail_with(starter: Starter, test: Pid, reason: Any) -> None:
    send(test, ("pid", self_pid()))
    starter.fail(reason)


def crash_before_ack(starter: Starter, test: Pid, error: Exception) -> None:
    send(test, ("pid", self_pid()))
    raise error


def exit_before_ack(starter: Starter, test: Pid, reason: Any) -> None:
    send(test, ("pid", self_pid()))
    raise ProcessExit(reason)


def never_ack(starter: Starter, test: Pid) -> None:
    send(test, ("pid", self_pid()))
    receive("never sent")


def ack_twice(starter: Starter, test: Pid) -> None:
    send(test, ("pid", self_pid()))
    starter.ack("first")
    try:
        starter.ack("second")
    except BeamlikeError as exc:
        send(test, ("second ack", str(exc)))
    receive("return")


# -- helpers --------------------------------------------------------------------------


def started_pid() -> Pid:
    """The pid the started function reported (it reports before anything else)."""
    return receive(("pid", ANY), timeout=0)[1]


def wait_down(ref: Ref) -> Down:
    return receive(Down(ref, ANY, ANY), timeout=WAIT)


def wait_until_exited(pid: Pid) -> Down:
    """Wait until ``pid`` has exited; its Down says "noproc" if it already had."""
    return wait_down(monitor(pid))


def mailbox_len() -> int:
    return process_info(self_pid()).message_queue_len


# -- acknowledged starts --------------------------------------------------------------


def test_start_link_returns_the_acknowledged_value() -> None:
    assert proc_lib.start_link(ack_then_serve, (self_pid(), "ready")) == "ready"


def test_the_started_process_goes_on_running_after_its_ack() -> None:
    proc_lib.start_link(ack_then_serve, (self_pid(), "ready"))
    pid = started_pid()

    send(pid, "ping")

    assert receive(("pong", ANY), timeout=WAIT) == ("pong", "ping")


def test_start_link_links_the_new_process_to_the_caller() -> None:
    proc_lib.start_link(ack_then_serve, (self_pid(), None))

    assert process_info(started_pid()).links == frozenset({self_pid()})


def test_start_does_not_link() -> None:
    proc_lib.start(ack_then_serve, (self_pid(), None))

    assert process_info(started_pid()).links == frozenset()


def test_the_starter_knows_its_parent() -> None:
    assert proc_lib.start_link(ack_with_parent, (self_pid(),)) == self_pid()


def test_keyword_arguments_reach_the_function() -> None:
    value = proc_lib.start_link(ack_with_kwargs, (self_pid(),), {"greeting": "hello"})

    assert value == "HELLO"


def test_a_start_leaves_no_monitor_and_no_message_behind() -> None:
    proc_lib.start_link(ack_then_serve, (self_pid(), None))
    started_pid()

    assert mailbox_len() == 0
    assert process_info(self_pid()).monitors == frozenset()


def test_a_second_ack_is_refused() -> None:
    assert proc_lib.start_link(ack_twice, (self_pid(),)) == "first"

    assert receive(("second ack", ANY), timeout=WAIT) == (
        "second ack",
        "this process already answered its starter",
    )


# -- failed starts --------------------------------------------------------------------


def test_fail_raises_start_error_with_the_reason() -> None:
    with pytest.raises(StartError) as info:
        proc_lib.start_link(fail_with, (self_pid(), "no_config"))

    assert info.value.reason == "no_config"
    assert str(info.value) == "process failed to start: 'no_config'"


def test_fail_sends_no_exit_signal_to_the_caller() -> None:
    process_flag("trap_exit", True)

    with pytest.raises(StartError):
        proc_lib.start_link(fail_with, (self_pid(), "no_config"))
    wait_until_exited(started_pid())

    assert mailbox_len() == 0


def test_a_crash_before_the_ack_raises_start_error_with_the_exception() -> None:
    error = ValueError("boom")

    with pytest.raises(StartError) as info:
        proc_lib.start(crash_before_ack, (self_pid(), error))

    assert info.value.reason is error
    assert str(info.value) == "process exited before it started: ValueError('boom')"


def test_an_exit_before_the_ack_raises_start_error_with_the_exit_reason() -> None:
    with pytest.raises(StartError) as info:
        proc_lib.start(exit_before_ack, (self_pid(), "no_config"))

    assert info.value.reason == "no_config"


def test_a_crash_before_the_ack_also_sends_an_exit_signal_over_the_link() -> None:
    process_flag("trap_exit", True)
    error = ValueError("boom")

    with pytest.raises(StartError):
        proc_lib.start_link(crash_before_ack, (self_pid(), error))

    assert receive(Exit(ANY, ANY), timeout=WAIT) == Exit(started_pid(), error)


def start_link_crashing_child(test: Pid, error: Exception) -> None:
    proc_lib.start_link(crash_before_ack, (test, error))
    send(test, "start_link returned")


def test_a_caller_that_does_not_trap_exits_dies_with_a_child_that_crashed_before_its_ack() -> None:
    error = ValueError("boom")

    _, ref = spawn_monitor(start_link_crashing_child, self_pid(), error)

    assert wait_down(ref).reason is error
    started_pid()
    assert mailbox_len() == 0  # no "start_link returned"


# -- timeouts -------------------------------------------------------------------------


def test_a_process_that_does_not_answer_in_time_raises_start_timeout() -> None:
    with pytest.raises(StartTimeout) as info:
        proc_lib.start_link(never_ack, (self_pid(),), timeout=0.05)

    assert info.value.reason == "timeout"
    assert isinstance(info.value, StartError)
    assert isinstance(info.value, TimeoutError)


def watch(test: Pid) -> None:
    """Monitor the pid announced to us; report its exit reason to the test."""
    _, pid = receive(("pid", ANY))
    down = receive(Down(monitor(pid), ANY, ANY))
    send(test, ("watched", pid, down.reason))


def test_a_process_that_does_not_answer_in_time_is_killed() -> None:
    watcher = spawn(watch, self_pid())  # watches from before the timeout

    with pytest.raises(StartTimeout):
        proc_lib.start(never_ack, (watcher,), timeout=0.05)

    _, pid, reason = receive(("watched", ANY, ANY), timeout=WAIT)
    assert reason == "killed"
    assert not is_alive(pid)


def test_a_start_timeout_leaves_no_exit_and_no_down_message_behind() -> None:
    process_flag("trap_exit", True)

    with pytest.raises(StartTimeout):
        proc_lib.start_link(never_ack, (self_pid(),), timeout=0.05)
    wait_until_exited(started_pid())

    assert mailbox_len() == 0
