"""Monitors: one-way, one Down per monitor, exactly once; "noproc" for the dead."""

from __future__ import annotations

from support_processes import (
    NOTHING,
    WAIT,
    crash_and_report,
    dead_pid,
    exit_with,
    noop,
    wait_down,
    wait_forever,
    wait_then_return,
)

import beamlike
from beamlike import (
    ANY,
    Down,
    Pid,
    demonitor,
    is_alive,
    make_ref,
    monitor,
    process_info,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_monitor,
    spawn_opt,
)


def say_then_return(parent: Pid, words: object) -> None:
    send(parent, words)


def monitor_then_crash(target: Pid) -> None:
    monitor(target)
    raise ValueError("watcher crashed")


def test_monitor_returns_a_fresh_ref() -> None:
    pid = spawn(wait_forever)

    first, second = monitor(pid), monitor(pid)

    assert isinstance(first, beamlike.Ref)
    assert first != second


def test_down_has_reason_normal_when_the_target_returns() -> None:
    pid = spawn(wait_then_return)
    ref = monitor(pid)

    send(pid, "return")

    assert wait_down(ref) == Down(ref, pid, "normal")


def test_down_carries_the_exception_object_the_target_crashed_with() -> None:
    pid = spawn(crash_and_report, self_pid())
    ref = monitor(pid)

    _, error = receive(("raising", ANY), timeout=WAIT)
    assert wait_down(ref) == Down(ref, pid, error)
    assert isinstance(error, ValueError)


def test_down_carries_the_reason_the_target_exited_with() -> None:
    pid = spawn(exit_with, ("shutdown", "bye"))
    ref = monitor(pid)

    assert wait_down(ref) == Down(ref, pid, ("shutdown", "bye"))


def test_down_has_reason_killed_when_the_target_was_killed() -> None:
    pid = spawn(wait_forever)
    ref = monitor(pid)

    beamlike.exit(pid, "kill")

    assert wait_down(ref) == Down(ref, pid, "killed")


def test_monitor_of_a_dead_pid_delivers_down_noproc_immediately() -> None:
    pid = dead_pid()

    ref = monitor(pid)

    assert receive(Down(ref, ANY, ANY), timeout=0) == Down(ref, pid, "noproc")


def test_down_arrives_exactly_once() -> None:
    pid = spawn(wait_then_return)
    ref = monitor(pid)
    send(pid, "return")
    wait_down(ref)

    assert receive(Down(ref, ANY, ANY), timeout=0.05, default=NOTHING) is NOTHING


def test_down_noproc_for_a_dead_pid_arrives_exactly_once() -> None:
    ref = monitor(dead_pid())
    wait_down(ref)

    assert receive(Down(ref, ANY, ANY), timeout=0.05, default=NOTHING) is NOTHING


def test_each_monitor_of_the_same_target_gets_its_own_down() -> None:
    pid = spawn(wait_then_return)
    first, second = monitor(pid), monitor(pid)

    send(pid, "return")

    assert wait_down(second) == Down(second, pid, "normal")
    assert wait_down(first) == Down(first, pid, "normal")


def test_down_arrives_after_the_last_message_the_target_sent() -> None:
    pid, ref = spawn_monitor(say_then_return, self_pid(), "last words")

    assert receive(timeout=WAIT) == "last words"
    assert receive(timeout=WAIT) == Down(ref, pid, "normal")


def test_monitor_by_registered_name_reports_the_pid_in_down() -> None:
    pid = spawn_opt(wait_then_return, name="svc")
    ref = monitor("svc")

    send("svc", "return")

    assert wait_down(ref) == Down(ref, pid, "normal")


def test_monitor_of_an_unregistered_name_delivers_down_noproc_naming_the_name() -> None:
    ref = monitor("nobody")

    assert wait_down(ref) == Down(ref, "nobody", "noproc")


def test_monitor_by_name_follows_the_process_not_the_name() -> None:
    pid = spawn(wait_then_return)
    register("svc", pid)
    ref = monitor("svc")
    beamlike.unregister("svc")

    send(pid, "return")

    assert wait_down(ref) == Down(ref, pid, "normal")


def test_demonitor_returns_true() -> None:
    ref = monitor(spawn(wait_forever))

    assert demonitor(ref) is True


def test_demonitor_of_an_unknown_ref_returns_true() -> None:
    assert demonitor(make_ref()) is True


def test_no_down_arrives_after_demonitor() -> None:
    pid = spawn(wait_then_return)
    ref = monitor(pid)
    witness = monitor(pid)

    demonitor(ref)
    send(pid, "return")

    wait_down(witness)
    assert receive(Down(ref, ANY, ANY), timeout=0.05, default=NOTHING) is NOTHING


def test_demonitor_leaves_an_already_delivered_down_in_the_mailbox() -> None:
    pid = spawn(wait_then_return)
    ref = monitor(pid)
    witness = monitor(pid)
    send(pid, "return")
    wait_down(witness)
    assert Down(ref, pid, "normal") in process_info(self_pid()).messages

    demonitor(ref)

    assert receive(Down(ref, ANY, ANY), timeout=0) == Down(ref, pid, "normal")


def test_demonitor_with_flush_removes_an_already_delivered_down() -> None:
    pid = spawn(wait_then_return)
    ref = monitor(pid)
    witness = monitor(pid)
    send(pid, "return")
    wait_down(witness)
    assert Down(ref, pid, "normal") in process_info(self_pid()).messages

    assert demonitor(ref, flush=True) is True

    assert receive(Down(ref, ANY, ANY), timeout=0, default=NOTHING) is NOTHING


def test_demonitor_with_flush_leaves_other_messages_alone() -> None:
    me = self_pid()
    ref = monitor(dead_pid())
    send(me, "keep me")

    demonitor(ref, flush=True)

    assert receive(timeout=0) == "keep me"
    assert receive(timeout=0, default=NOTHING) is NOTHING


def test_the_monitoring_process_survives_the_target_crashing() -> None:
    pid, ref = spawn_monitor(crash_and_report, self_pid())

    wait_down(ref)

    assert is_alive(self_pid())
    assert pid not in process_info(self_pid()).links


def test_the_target_survives_the_monitoring_process_crashing() -> None:
    target = spawn(wait_forever)
    watcher, ref = spawn_monitor(monitor_then_crash, target)

    wait_down(ref)

    assert is_alive(target)
    assert watcher not in process_info(target).monitored_by


def test_a_monitor_is_removed_once_its_down_was_delivered() -> None:
    pid, ref = spawn_monitor(noop)

    wait_down(ref)

    assert process_info(self_pid()).monitors == frozenset()
