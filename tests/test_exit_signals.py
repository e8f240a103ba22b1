"""Exit signals: the OTP table for exit/2 and for signals that travel over links.

Receiver of exit(pid, reason), by reason and by whether it traps exits:

    reason      not trapping                trapping
    "normal"    ignored (unless to self)    Exit(from, "normal") message
    "kill"      dies "killed"               dies "killed"
    other       dies with reason            Exit(from, reason) message

A link signal is the same except that "kill" is an ordinary reason: a trapping
receiver gets Exit(pid, "kill"), a non-trapping one dies with "kill". A process killed
by exit/2 "kill" sends "killed" over its links.
"""

from __future__ import annotations

import gevent.event
import pytest
from support_processes import (
    WAIT,
    assert_alive,
    exit_reason,
    got,
    link_agent,
    noop,
    start_agent,
)

import beamlike
from beamlike import (
    ANY,
    Exit,
    Pid,
    ProcessExit,
    Ref,
    link,
    process_flag,
    receive,
    self_pid,
    send,
    sleep,
    spawn_monitor,
)

# -- agents: processes driven by commands from the test -------------------------------


def chain(*, trap: str = "") -> tuple[dict[str, Pid], dict[str, Ref]]:
    """Agents A-B-C, linked A-B and B-C; the names in `trap` trap exits."""
    pids, refs = {}, {}
    for name in "ABC":
        pids[name], refs[name] = start_agent(trap=name in trap)
    link_agent(pids["A"], pids["B"])
    link_agent(pids["B"], pids["C"])
    return pids, refs


# -- exit/2: the table ----------------------------------------------------------------


def test_exit_normal_is_ignored_by_a_process_that_does_not_trap_exits() -> None:
    pid, _ = start_agent()

    beamlike.exit(pid, "normal")

    assert_alive(pid)


def test_exit_normal_reaches_a_process_that_traps_exits_as_a_message() -> None:
    pid, _ = start_agent(trap=True)

    beamlike.exit(pid, "normal")

    assert got(pid) == Exit(self_pid(), "normal")
    assert_alive(pid)


def test_exit_kill_kills_a_process_that_does_not_trap_exits_with_reason_killed() -> None:
    pid, ref = start_agent()

    beamlike.exit(pid, "kill")

    assert exit_reason(ref) == "killed"


def test_exit_kill_kills_a_process_that_traps_exits_with_reason_killed() -> None:
    pid, ref = start_agent(trap=True)

    beamlike.exit(pid, "kill")

    assert exit_reason(ref) == "killed"


def test_exit_with_another_reason_kills_a_process_that_does_not_trap_exits() -> None:
    pid, ref = start_agent()

    beamlike.exit(pid, "boom")

    assert exit_reason(ref) == "boom"


def test_exit_with_another_reason_reaches_a_process_that_traps_exits_as_a_message() -> None:
    pid, _ = start_agent(trap=True)

    beamlike.exit(pid, "boom")

    assert got(pid) == Exit(self_pid(), "boom")
    assert_alive(pid)


@pytest.mark.parametrize(
    "reason",
    ["shutdown", ("shutdown", "bye"), {"any": ["term"]}, 42],
    ids=["shutdown", "shutdown-tuple", "dict", "int"],
)
def test_exit_reason_can_be_any_term_and_is_reported_unchanged(reason: object) -> None:
    pid, ref = start_agent()

    beamlike.exit(pid, reason)

    assert exit_reason(ref) == reason


def test_exit_message_names_the_process_that_called_exit() -> None:
    target, _ = start_agent(trap=True)
    sender, _ = start_agent()

    send(sender, ("send_exit", target, "boom"))

    assert got(target) == Exit(sender, "boom")


def test_exit_to_a_dead_pid_is_ignored() -> None:
    pid, ref = spawn_monitor(noop)
    exit_reason(ref)

    beamlike.exit(pid, "boom")


def test_exit_kills_a_process_blocked_in_receive() -> None:
    pid, ref = spawn_monitor(receive, "never sent")

    beamlike.exit(pid, "boom")

    assert exit_reason(ref) == "boom"


def test_exit_kills_a_process_blocked_in_sleep() -> None:
    pid, ref = spawn_monitor(sleep, 60)

    beamlike.exit(pid, "boom")

    assert exit_reason(ref) == "boom"


def test_exit_kills_a_process_blocked_in_gevent_io() -> None:
    event = gevent.event.Event()
    pid, ref = spawn_monitor(event.wait)
    sleep(0)  # let it block in Event.wait, outside receive and sleep

    beamlike.exit(pid, "boom")

    assert exit_reason(ref) == "boom"


def test_exit_kills_a_process_that_has_not_run_yet() -> None:
    ran = []
    pid, ref = spawn_monitor(ran.append, "ran")

    beamlike.exit(pid, "boom")

    assert exit_reason(ref) == "boom"
    assert ran == []


# -- exit/2 to oneself ----------------------------------------------------------------


def exit_self_then_report(parent: Pid, reason: object, trap: bool) -> None:
    process_flag("trap_exit", trap)
    try:
        beamlike.exit(self_pid(), reason)
    except ProcessExit as e:
        send(parent, ("raised", e.reason))
        raise
    send(parent, ("returned",))
    send(parent, ("mailbox", receive(timeout=WAIT)))


def test_exit_self_normal_ends_the_caller_with_reason_normal() -> None:
    _, ref = spawn_monitor(exit_self_then_report, self_pid(), "normal", False)

    assert receive(timeout=WAIT) == ("raised", "normal")
    assert exit_reason(ref) == "normal"


def test_exit_self_with_an_abnormal_reason_raises_process_exit_in_the_caller_now() -> None:
    _, ref = spawn_monitor(exit_self_then_report, self_pid(), "boom", False)

    assert receive(timeout=WAIT) == ("raised", "boom")
    assert exit_reason(ref) == "boom"


def test_exit_self_kill_ends_the_caller_with_reason_killed_even_when_trapping() -> None:
    _, ref = spawn_monitor(exit_self_then_report, self_pid(), "kill", True)

    assert receive(("raised", ANY), timeout=WAIT)
    assert exit_reason(ref) == "killed"


def test_exit_self_with_an_abnormal_reason_is_a_message_when_trapping() -> None:
    pid, ref = spawn_monitor(exit_self_then_report, self_pid(), "boom", True)

    assert receive(timeout=WAIT) == ("returned",)
    assert receive(timeout=WAIT) == ("mailbox", Exit(pid, "boom"))
    assert exit_reason(ref) == "normal"


def test_exit_self_normal_is_a_message_when_trapping() -> None:
    pid, ref = spawn_monitor(exit_self_then_report, self_pid(), "normal", True)

    assert receive(timeout=WAIT) == ("returned",)
    assert receive(timeout=WAIT) == ("mailbox", Exit(pid, "normal"))
    assert exit_reason(ref) == "normal"


# -- link signals ---------------------------------------------------------------------


def test_an_exit_message_arrives_after_the_last_message_the_linked_process_sent() -> None:
    process_flag("trap_exit", True)
    pid, _ = start_agent()
    link(pid)
    send(pid, "echo me")

    send(pid, ("exit", "boom"))

    assert receive(timeout=WAIT) == ("got", pid, "echo me")
    assert receive(timeout=WAIT) == Exit(pid, "boom")


def test_a_process_killed_by_exit_kill_sends_killed_over_its_links() -> None:
    process_flag("trap_exit", True)
    pid, _ = start_agent()
    link(pid)

    beamlike.exit(pid, "kill")

    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "killed")


def test_a_link_signal_killed_kills_a_process_that_does_not_trap_exits() -> None:
    a, a_ref = start_agent()
    b, _ = start_agent()
    link_agent(a, b)

    beamlike.exit(b, "kill")

    assert exit_reason(a_ref) == "killed"


def test_a_link_signal_kill_reaches_a_process_that_traps_exits_as_a_message() -> None:
    a, _ = start_agent(trap=True)
    b, b_ref = start_agent()
    link_agent(a, b)

    send(b, ("exit", "kill"))

    assert exit_reason(b_ref) == "kill"
    assert got(a) == Exit(b, "kill")
    assert_alive(a)


def test_a_link_signal_kill_kills_a_process_that_does_not_trap_exits_with_reason_kill() -> None:
    a, a_ref = start_agent()
    b, _ = start_agent()
    link_agent(a, b)

    send(b, ("exit", "kill"))

    assert exit_reason(a_ref) == "kill"


def test_a_link_signal_normal_is_ignored_by_a_process_that_does_not_trap_exits() -> None:
    a, _ = start_agent()
    b, b_ref = start_agent()
    link_agent(a, b)

    send(b, ("exit", "normal"))

    assert exit_reason(b_ref) == "normal"
    assert_alive(a)


def test_a_link_signal_with_an_abnormal_reason_kills_with_that_reason() -> None:
    a, a_ref = start_agent()
    b, _ = start_agent()
    link_agent(a, b)

    send(b, ("exit", ("shutdown", "bye")))

    assert exit_reason(a_ref) == ("shutdown", "bye")


# -- chains A-B-C ---------------------------------------------------------------------


def test_a_crash_at_the_end_of_a_chain_kills_the_whole_chain_with_its_reason() -> None:
    pids, refs = chain()

    send(pids["C"], ("exit", "boom"))

    assert [exit_reason(refs[name]) for name in "CBA"] == ["boom", "boom", "boom"]


def test_an_exception_at_the_end_of_a_chain_reaches_its_start() -> None:
    pids, refs = chain()

    send(pids["C"], ("crash", "boom"))

    reason = exit_reason(refs["A"])
    assert isinstance(reason, ValueError)
    assert reason.args == ("boom",)


def test_a_crash_in_the_middle_of_a_chain_kills_both_ends() -> None:
    pids, refs = chain()

    send(pids["B"], ("exit", "boom"))

    assert exit_reason(refs["A"]) == "boom"
    assert exit_reason(refs["C"]) == "boom"


def test_a_trapping_middle_stops_a_crash_from_reaching_the_start_of_the_chain() -> None:
    pids, refs = chain(trap="B")

    send(pids["C"], ("exit", "boom"))

    assert exit_reason(refs["C"]) == "boom"
    assert got(pids["B"]) == Exit(pids["C"], "boom")
    assert_alive(pids["B"])
    assert_alive(pids["A"])


def test_killing_the_middle_of_a_chain_kills_both_ends_with_reason_killed() -> None:
    pids, refs = chain()

    beamlike.exit(pids["B"], "kill")

    assert exit_reason(refs["B"]) == "killed"
    assert exit_reason(refs["A"]) == "killed"
    assert exit_reason(refs["C"]) == "killed"


def test_killing_the_middle_of_a_chain_sends_killed_to_trapping_ends() -> None:
    pids, _ = chain(trap="AC")

    beamlike.exit(pids["B"], "kill")

    assert got(pids["A"]) == Exit(pids["B"], "killed")
    assert got(pids["C"]) == Exit(pids["B"], "killed")


def test_a_kill_exit_at_the_end_of_a_chain_travels_as_kill() -> None:
    pids, refs = chain()

    send(pids["C"], ("exit", "kill"))

    assert [exit_reason(refs[name]) for name in "CBA"] == ["kill", "kill", "kill"]


def test_a_normal_exit_at_the_end_of_a_chain_leaves_the_rest_running() -> None:
    pids, refs = chain()

    send(pids["C"], ("return",))

    assert exit_reason(refs["C"]) == "normal"
    assert_alive(pids["B"])
    assert_alive(pids["A"])


def test_a_crash_propagated_down_a_chain_reaches_a_trapping_start_as_a_message() -> None:
    pids, _ = chain(trap="A")

    send(pids["C"], ("exit", "boom"))

    assert got(pids["A"]) == Exit(pids["B"], "boom")
    assert_alive(pids["A"])
