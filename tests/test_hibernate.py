"""Hibernation: ``beamlike.hibernate`` (Erlang's ``erlang:hibernate/3``) and a
GenServer's ``hibernate=True`` results (OTP's ``hibernate``).

A hibernated process has no greenlet and no stack: ``process_info`` shows it waiting,
its memory estimate is its record alone, and the next message runs the function it
gave ``hibernate`` on a fresh stack. Everything else about it is kept: pid, mailbox,
links, monitors, name, trap_exit and, for a server, its state.
"""

from __future__ import annotations

from typing import Any

import pytest
from support_processes import WAIT, exit_reason

from beamlike import (
    ANY,
    BadArgument,
    Down,
    Exit,
    Pid,
    exit,
    hibernate,
    link,
    monitor,
    process_flag,
    process_info,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_monitor,
    whereis,
)
from beamlike import gen_server as gs
from beamlike import sys as bsys
from beamlike.gen_server import HIBERNATE, From, GenServer, NoReply, Ok, Reply, Stop

# -- processes ------------------------------------------------------------------------


def sleeper(parent: Pid, count: int = 0) -> None:
    """Reports each message with how many it has seen, then hibernates again."""
    message = receive()
    if message == "stop":
        return
    send(parent, ("woke", self_pid(), message, count))
    hibernate(sleeper, parent, count + 1)


def hibernate_now(parent: Pid) -> None:
    """Says it is about to hibernate, then hibernates (as ``sleeper`` with count 0)."""
    send(parent, ("hibernating", self_pid()))
    hibernate(sleeper, parent)


def hibernated(parent: Pid) -> Pid:
    """A process that has hibernated; returned once it has (its stack is gone)."""
    pid = spawn(hibernate_now, parent)
    receive(("hibernating", pid), timeout=WAIT)
    for _ in range(100):
        info = process_info(pid)
        if info is not None and info.status == "waiting":
            return pid
        receive(timeout=0.001, default=None)
    raise AssertionError(f"{pid!r} did not hibernate")


def waiting_in_receive(parent: Pid) -> None:
    send(parent, ("waiting", self_pid()))
    receive("never")


# -- hibernate() ------------------------------------------------------------------------


def test_a_message_wakes_a_hibernated_process_in_the_function_it_named() -> None:
    pid = hibernated(self_pid())
    send(pid, "hello")
    assert receive(("woke", pid, ANY, ANY), timeout=WAIT) == ("woke", pid, "hello", 0)
    send(pid, "again")
    assert receive(("woke", pid, ANY, ANY), timeout=WAIT) == ("woke", pid, "again", 1)


def test_a_hibernated_process_holds_no_stack() -> None:
    me = self_pid()
    sleeping = hibernated(me)
    awake = spawn(waiting_in_receive, me)
    receive(("waiting", awake), timeout=WAIT)
    sleeping_info = process_info(sleeping)
    awake_info = process_info(awake)
    assert sleeping_info is not None and awake_info is not None
    assert sleeping_info.status == "waiting"
    assert sleeping_info.memory < awake_info.memory  # no saved greenlet stack


def test_a_message_already_queued_wakes_it_at_once() -> None:
    def queue_then_hibernate(parent: Pid) -> None:
        send(self_pid(), "queued")
        hibernate(sleeper, parent)

    pid = spawn(queue_then_hibernate, self_pid())
    assert receive(("woke", pid, ANY, ANY), timeout=WAIT) == ("woke", pid, "queued", 0)


def test_when_the_woken_function_returns_the_process_exits_normally() -> None:
    pid = hibernated(self_pid())
    ref = monitor(pid)
    send(pid, "stop")
    assert exit_reason(ref) == "normal"


def test_a_hibernated_process_keeps_its_links_monitors_name_and_trap_exit() -> None:
    me = self_pid()

    def trap_then_hibernate(parent: Pid) -> None:
        process_flag("trap_exit", True)
        register("dormouse", self_pid())
        link(parent)
        send(parent, ("hibernating", self_pid()))
        hibernate(sleeper, parent)

    process_flag("trap_exit", True)
    pid = spawn(trap_then_hibernate, me)
    receive(("hibernating", pid), timeout=WAIT)
    ref = monitor(pid)
    info = process_info(pid)
    assert info is not None
    assert info.registered_name == "dormouse" and whereis("dormouse") == pid
    assert me in info.links and me in info.monitored_by and info.trap_exit
    exit(pid, "wake up")  # trapped: a message, which wakes it
    assert receive(("woke", pid, ANY, ANY), timeout=WAIT) == (
        "woke",
        pid,
        Exit(me, "wake up"),
        0,
    )
    exit(pid, "kill")
    assert exit_reason(ref) == "killed"
    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "killed")  # the link fired


def test_an_exit_signal_kills_a_hibernated_process_that_does_not_trap_exits() -> None:
    pid = hibernated(self_pid())
    ref = monitor(pid)
    exit(pid, "shutdown")
    assert exit_reason(ref) == "shutdown"


def test_its_initial_call_stays_the_function_it_was_started_with() -> None:
    pid = hibernated(self_pid())
    info = process_info(pid)
    assert info is not None
    assert info.initial_call.endswith("hibernate_now")


def test_hibernate_accepts_a_module_function_string() -> None:
    def by_name(parent: Pid) -> None:
        send(parent, ("hibernating", self_pid()))
        hibernate("support_processes:wait_then_return")

    pid, ref = spawn_monitor(by_name, self_pid())
    receive(("hibernating", pid), timeout=WAIT)
    send(pid, "return")
    assert exit_reason(ref) == "normal"


def test_finally_blocks_run_when_a_process_hibernates() -> None:
    # A difference from Erlang, written down in docs/processes.md: Python unwinds the
    # stack it drops, so cleanup code on the way out runs.
    def with_cleanup(parent: Pid) -> None:
        try:
            hibernate(sleeper, parent)
        finally:
            send(parent, "cleaned up")

    spawn(with_cleanup, self_pid())
    assert receive("cleaned up", timeout=WAIT) == "cleaned up"


def test_except_exception_does_not_stop_a_hibernation() -> None:
    def catches_everything(parent: Pid) -> None:
        try:
            hibernate(sleeper, parent)
        except Exception:  # noqa: BLE001 - the point of the test
            send(parent, "caught")

    pid = spawn(catches_everything, self_pid())
    send(pid, "after")
    assert receive(timeout=WAIT) == ("woke", pid, "after", 0)


def test_the_main_program_cannot_hibernate() -> None:
    with pytest.raises(BadArgument, match="hibernate needs a process started by beamlike"):
        hibernate(sleeper, self_pid())


def test_stopping_the_node_ends_hibernated_processes(node: Any) -> None:
    pids = [hibernated(self_pid()) for _ in range(5)]
    assert all(pid.id in node.procs for pid in pids)
    node.stop()
    assert not any(pid.id in node.procs for pid in pids)


# -- GenServer: hibernate=True ------------------------------------------------------------


class Dormant(GenServer):
    """A counter that hibernates after every callback."""

    def init(self, start: int) -> Ok:
        return Ok(start, hibernate=True)

    def handle_call(self, request: Any, from_: From, state: int) -> Any:
        if request == "next":
            return Reply(state + 1, state + 1, hibernate=True)
        if request == "stay awake":
            return Reply(state, state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: int) -> NoReply:
        return NoReply(state + request, hibernate=True)

    def handle_info(self, message: Any, state: int) -> Any:
        if message == "stop":
            return Stop("normal", state)
        send(message, ("state", state))
        return NoReply(state, hibernate=True)

    def terminate(self, reason: Any, state: int) -> None:
        parent = whereis("watcher")
        if parent is not None:
            send(parent, ("terminated", reason, state))


class Awake(Dormant):
    def init(self, start: int) -> Ok:
        return Ok(start)


def test_a_server_that_hibernates_keeps_its_state_between_calls() -> None:
    pid = Dormant.start_link(10)
    assert gs.call(pid, "next") == 11
    assert gs.call(pid, "next") == 12
    gs.cast(pid, 5)
    send(pid, self_pid())
    assert receive(("state", ANY), timeout=WAIT) == ("state", 17)


def test_a_hibernated_server_holds_less_memory_than_an_awake_one() -> None:
    dormant = Dormant.start_link(0)
    awake = Awake.start_link(0)
    dormant_info, awake_info = process_info(dormant), process_info(awake)
    assert dormant_info is not None and awake_info is not None
    assert dormant_info.status == awake_info.status == "waiting"
    assert dormant_info.memory < awake_info.memory


def test_a_server_can_stay_awake_after_hibernating() -> None:
    pid = Dormant.start_link(1)
    assert gs.call(pid, "stay awake") == 1
    assert gs.call(pid, "next") == 2


def test_system_messages_reach_a_hibernated_server() -> None:
    pid = Dormant.start_link(3)
    assert bsys.get_state(pid) == 3
    bsys.replace_state(pid, lambda state: state * 2)
    assert gs.call(pid, "next") == 7


def test_a_hibernated_server_runs_terminate_when_stopped() -> None:
    register("watcher", self_pid())
    pid = Dormant.start(4)
    gs.stop(pid, "shutdown")
    assert receive(("terminated", ANY, ANY), timeout=WAIT) == ("terminated", "shutdown", 4)


def test_a_server_stops_from_a_callback_after_hibernating() -> None:
    register("watcher", self_pid())
    pid = Dormant.start(8)
    ref = monitor(pid)
    send(pid, "stop")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "normal"
    assert receive(("terminated", ANY, ANY), timeout=WAIT) == ("terminated", "normal", 8)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Ok(1, hibernate=True, timeout=1.0),
        lambda: Reply(1, 1, hibernate=True, continue_="more"),
        lambda: NoReply(1, hibernate=True, timeout=0),
    ],
    ids=["Ok with timeout", "Reply with continue_", "NoReply with timeout"],
)
def test_hibernate_cannot_be_combined_with_a_timeout_or_a_continue(make: Any) -> None:
    with pytest.raises(BadArgument, match="hibernate=True cannot be combined"):
        make()


def test_a_hibernating_result_shows_hibernate_in_the_timeout_slot() -> None:
    assert NoReply(1, hibernate=True).timeout is HIBERNATE
    assert Reply(1, 1).timeout is None


# -- GenServer: hibernate_after ---------------------------------------------------------


def wait_for_status_memory(pid: Pid, memory: int) -> bool:
    for _ in range(200):
        info = process_info(pid)
        if info is not None and info.memory == memory:
            return True
        receive(timeout=0.005, default=None)
    return False


def test_a_server_started_with_hibernate_after_hibernates_once_idle_that_long() -> None:
    dormant = Dormant.start_link(0)
    asleep = process_info(dormant)
    assert asleep is not None
    pid = Awake.start_link(5, hibernate_after=0.02)
    assert gs.call(pid, "stay awake") == 5  # a callback with no hibernate of its own
    assert wait_for_status_memory(pid, asleep.memory)  # idle 20 ms: hibernated
    assert gs.call(pid, "stay awake") == 5  # the next message wakes it, state intact
    assert wait_for_status_memory(pid, asleep.memory)  # and it hibernates again


def test_hibernate_after_zero_hibernates_as_soon_as_the_mailbox_is_empty() -> None:
    dormant = process_info(Dormant.start_link(0))
    pid = Awake.start(1, hibernate_after=0)
    assert dormant is not None and wait_for_status_memory(pid, dormant.memory)
    gs.cast(pid, 2)
    assert gs.call(pid, "stay awake") == 3


def test_a_message_within_hibernate_after_keeps_the_server_awake() -> None:
    pid = Awake.start_link(0, hibernate_after=60.0)
    awake = process_info(pid)
    gs.cast(pid, 1)
    assert gs.call(pid, "stay awake") == 1
    assert awake is not None and process_info(pid).memory >= awake.memory  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [-1, "soon", float("nan")])
def test_a_bad_hibernate_after_is_refused_before_anything_starts(value: Any) -> None:
    with pytest.raises(BadArgument, match="hibernate_after must be"):
        Awake.start_link(0, hibernate_after=value)
