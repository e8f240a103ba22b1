"""Process bodies and helpers shared by the tests of the process kernel.

Imported by test_processes, test_links, test_monitors, test_exit_signals, test_names,
test_receive, test_mailbox_properties, test_crash_reports, test_bad_input and
test_hibernate (which also names ``wait_then_return`` by its import path). Every wait
is a ``receive(..., timeout=WAIT)``: it returns as soon as the awaited message arrives.

*Agents* are processes driven by commands from the test body. Processes that must die
are agents, not the test body: the test body watches them with monitors and only ever
traps the signals it receives.
"""

from __future__ import annotations

import beamlike
from beamlike import (
    ANY,
    Down,
    Pid,
    ProcessExit,
    Ref,
    demonitor,
    link,
    monitor,
    receive,
    self_pid,
    send,
    spawn_monitor,
    spawn_opt,
    unlink,
)

WAIT = 2.0  # upper bound for something that should happen promptly
NOTHING = object()  # a default no message can be equal to


# -- process bodies -------------------------------------------------------------------


def noop() -> None:
    pass


def wait_forever() -> None:
    receive(lambda _msg: False)


def wait_then_return() -> None:
    receive("return")


def crash(text: str) -> None:
    raise ValueError(text)


def exit_with(reason: object) -> None:
    raise ProcessExit(reason)


def crash_and_report(parent: Pid) -> None:
    error = ValueError("boom")
    send(parent, ("raising", error))
    raise error


# -- waiting --------------------------------------------------------------------------


def wait_down(ref: Ref) -> Down:
    return receive(Down(ref, ANY, ANY), timeout=WAIT)


def exit_reason(ref: Ref) -> object:
    return wait_down(ref).reason


def dead_pid() -> Pid:
    pid, ref = spawn_monitor(noop)
    wait_down(ref)
    return pid


def drain() -> list[object]:
    """Everything left in the caller's mailbox, oldest first."""
    left = []
    while (msg := receive(timeout=0, default=NOTHING)) is not NOTHING:
        left.append(msg)
    return left


# -- agents: processes driven by commands from the test -------------------------------


def agent(parent: Pid) -> None:
    """Obeys commands; reports every other message it gets as ("got", self, msg)."""
    me = self_pid()
    while True:
        match receive():
            case ("ping", from_):
                send(from_, ("pong", me))
            case ("link", pid):
                link(pid)
                send(parent, ("linked", me, pid))
            case ("unlink", pid):
                unlink(pid)
                send(parent, ("unlinked", me, pid))
            case ("send_exit", pid, reason):
                beamlike.exit(pid, reason)
                send(parent, ("sent_exit", me, pid))
            case ("exit", reason):
                raise ProcessExit(reason)
            case ("crash", text):
                raise ValueError(text)
            case ("return",):
                return
            case other:
                send(parent, ("got", me, other))


def start_agent(*, trap: bool = False) -> tuple[Pid, Ref]:
    """An agent watched by the caller; with trap=True it traps exits from the start."""
    return spawn_opt(agent, args=(self_pid(),), monitor=True, trap_exit=trap)


def link_agent(pid: Pid, other: Pid) -> None:
    send(pid, ("link", other))
    receive(("linked", pid, other), timeout=WAIT)


def unlink_agent(pid: Pid, other: Pid) -> None:
    send(pid, ("unlink", other))
    receive(("unlinked", pid, other), timeout=WAIT)


def got(pid: Pid) -> object:
    return receive(("got", pid, ANY), timeout=WAIT)[2]


def assert_alive(pid: Pid) -> None:
    ref = monitor(pid)
    send(pid, ("ping", self_pid()))
    reply = receive(("pong", pid), Down(ref, ANY, ANY), timeout=WAIT)
    demonitor(ref, flush=True)
    assert reply == ("pong", pid), f"{pid!r} did not answer a ping: {reply!r}"
