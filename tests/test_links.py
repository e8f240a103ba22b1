"""Links: bidirectional, idempotent, removed by unlink and by exit; how crashes travel.

The full exit-signal table (exit/2, "kill", chains of links) is in test_exit_signals.py.
Processes that must die are agents, not the test body: the test body watches them
with monitors and only ever traps the signals it receives.
"""

from __future__ import annotations

import pytest
from support_processes import (
    NOTHING,
    WAIT,
    assert_alive,
    crash,
    crash_and_report,
    dead_pid,
    exit_reason,
    got,
    link_agent,
    noop,
    start_agent,
    unlink_agent,
    wait_forever,
)

from beamlike import (
    ANY,
    Exit,
    NoProcError,
    Pid,
    ProcessExit,
    is_alive,
    link,
    process_flag,
    process_info,
    receive,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    unlink,
)

# -- helpers of these tests (agents and shared bodies: support_processes) -------------


def assert_crashed_with_boom(reason: object) -> None:
    assert isinstance(reason, ValueError)
    assert reason.args == ("boom",)


def spawn_link_a_crasher_then_wait(reporter: Pid) -> None:
    spawn_link(crash_and_report, reporter)
    wait_forever()


# -- making and removing links --------------------------------------------------------


def test_link_is_bidirectional() -> None:
    me = self_pid()
    pid = spawn(wait_forever)

    link(pid)

    assert process_info(me).links == frozenset({pid})
    assert process_info(pid).links == frozenset({me})


def test_unlink_removes_the_link_on_both_sides() -> None:
    me = self_pid()
    pid = spawn(wait_forever)
    link(pid)

    unlink(pid)

    assert process_info(me).links == frozenset()
    assert process_info(pid).links == frozenset()


def test_link_to_self_is_a_no_op() -> None:
    me = self_pid()

    link(me)

    assert process_info(me).links == frozenset()


def test_linking_twice_makes_a_single_link_that_one_unlink_removes() -> None:
    pid = spawn(wait_forever)
    link(pid)
    link(pid)

    unlink(pid)

    assert process_info(pid).links == frozenset()


def test_unlink_of_a_pid_that_is_not_linked_is_a_no_op() -> None:
    pid = spawn(wait_forever)

    unlink(pid)

    assert process_info(pid).links == frozenset()


def test_unlink_of_a_dead_pid_is_a_no_op() -> None:
    unlink(dead_pid())

    assert process_info(self_pid()).links == frozenset()


def test_link_to_dead_pid_raises_noproc_when_not_trapping() -> None:
    pid = dead_pid()

    with pytest.raises(NoProcError):
        link(pid)


def test_link_to_dead_pid_delivers_exit_noproc_when_trapping() -> None:
    process_flag("trap_exit", True)
    pid = dead_pid()

    link(pid)

    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "noproc")


def test_a_process_that_exited_disappears_from_its_partners_links() -> None:
    process_flag("trap_exit", True)
    pid = spawn_link(noop)
    receive(Exit(pid, ANY), timeout=WAIT)

    assert process_info(self_pid()).links == frozenset()


# -- what travels over a link ---------------------------------------------------------


def test_a_crash_kills_a_linked_process_that_does_not_trap_exits() -> None:
    a, a_ref = start_agent()
    b, b_ref = start_agent()
    link_agent(a, b)

    send(b, ("crash", "boom"))

    assert_crashed_with_boom(exit_reason(a_ref))


def test_a_crash_of_a_spawn_linked_child_kills_its_parent_that_does_not_trap_exits() -> None:
    _, ref = spawn_monitor(spawn_link_a_crasher_then_wait, self_pid())

    _, error = receive(("raising", ANY), timeout=WAIT)
    assert exit_reason(ref) is error


def test_a_crash_reaches_a_linked_process_that_traps_exits_as_an_exit_message() -> None:
    process_flag("trap_exit", True)

    pid = spawn_link(crash_and_report, self_pid())

    _, error = receive(("raising", ANY), timeout=WAIT)
    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, error)


def test_the_exit_message_of_a_crash_carries_the_exception_object_itself() -> None:
    process_flag("trap_exit", True)

    pid = spawn_link(crash_and_report, self_pid())

    _, error = receive(("raising", ANY), timeout=WAIT)
    assert receive(Exit(pid, ANY), timeout=WAIT).reason is error


def test_a_process_that_traps_exits_survives_a_linked_crash() -> None:
    a, _ = start_agent(trap=True)
    b, _ = start_agent()
    link_agent(a, b)

    send(b, ("crash", "boom"))

    exit_msg = got(a)
    assert isinstance(exit_msg, Exit)
    assert exit_msg.pid == b
    assert_crashed_with_boom(exit_msg.reason)
    assert_alive(a)


def test_a_normal_exit_does_not_kill_a_linked_process_that_does_not_trap_exits() -> None:
    a, _ = start_agent()
    b, b_ref = start_agent()
    link_agent(a, b)

    send(b, ("return",))

    assert exit_reason(b_ref) == "normal"
    assert_alive(a)


def test_a_normal_exit_reaches_a_linked_process_that_traps_exits_as_exit_normal() -> None:
    process_flag("trap_exit", True)

    pid = spawn_link(noop)

    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "normal")


def test_unlink_stops_a_crash_from_propagating() -> None:
    a, _ = start_agent()
    b, b_ref = start_agent()
    link_agent(a, b)
    unlink_agent(a, b)

    send(b, ("crash", "boom"))

    assert_crashed_with_boom(exit_reason(b_ref))
    assert_alive(a)


def test_unlink_stops_exit_messages_to_a_process_that_traps_exits() -> None:
    process_flag("trap_exit", True)
    pid, ref = start_agent()
    link(pid)
    unlink(pid)

    send(pid, ("crash", "boom"))

    exit_reason(ref)
    assert receive(Exit(pid, ANY), timeout=0.05, default=NOTHING) is NOTHING


def test_a_linked_crash_ends_the_adopted_test_body_at_its_next_receive() -> None:
    me = self_pid()
    spawn_link(crash, "boom")

    with pytest.raises(ProcessExit) as excinfo:
        receive(timeout=WAIT)

    assert_crashed_with_boom(excinfo.value.reason)
    assert not is_alive(me)


def test_an_exit_signal_takes_effect_before_messages_already_in_the_mailbox() -> None:
    me = self_pid()
    spawn_link(crash_and_report, me)

    with pytest.raises(ProcessExit):
        receive(("raising", ANY), timeout=WAIT)


def test_a_link_made_by_the_other_side_carries_signals_both_ways() -> None:
    process_flag("trap_exit", True)
    me = self_pid()
    pid, _ = start_agent()
    link_agent(pid, me)

    send(pid, ("exit", "shutdown"))

    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "shutdown")
