"""Functions that peer nodes run by name in the rpc, global and pg tests
(``"tests.dist_support.services:add"``). They run in child OS processes started by
``beamlike.dist.start_peer``; the tests pass the repository root in ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

from beamlike import (
    ANY,
    Down,
    NodeDown,
    ProcessExit,
    gen_server,
    monitor,
    node,
    process_flag,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
)
from beamlike.dist import global_, pg
from tests.dist_support.funcs import Counter

# -- rpc -------------------------------------------------------------------------------------


def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


def identity(term: Any) -> Any:
    return term


def fail(message: str) -> None:
    raise ValueError(message)


def exit_with(reason: Any) -> None:
    raise ProcessExit(reason)


def unsendable() -> Any:
    return lambda: 1


def whoami() -> Any:
    return (node.name(), self_pid())


def slow_name(seconds: float) -> str:
    sleep(seconds)
    return node.name()


def send_back(dest: Any, term: Any) -> None:
    send(dest, ("cast", node.name(), term))


def report_and_wait(report_to: Any) -> None:
    """Have a watcher on this node report ``("running", pid)`` once it monitors this
    process, and later ``("ended", pid, reason)``; then wait for ever."""
    spawn(_watch, self_pid(), report_to)
    receive("never sent")


def _watch(target: Any, report_to: Any) -> None:
    ref = monitor(target)
    send(report_to, ("running", target))
    down = receive(Down(ref, ANY, ANY))
    send(report_to, ("ended", target, down.reason))


# -- global ----------------------------------------------------------------------------------


def hold_name(name: Any, report_to: Any) -> None:
    """Register ``name`` globally for this process, report ``("holding", name, result,
    pid)``, then wait for ``"stop"``."""
    result = global_.register_name(name, self_pid())
    send(report_to, ("holding", name, result, self_pid()))
    receive("stop")


def hold_name_after_partition(other: str, name: Any, inbox: str) -> None:
    """Trap exits and watch ``other``; say ``("ready", pid)`` to ``(inbox, other)``. When
    the connection to ``other`` is lost, register ``name`` globally (this side of the
    partition), then tell ``(inbox, other)`` ``("registered", pid, result)``, which
    connects the two again. From then on forward every message as ``("got", message)``."""
    process_flag("trap_exit", True)
    node.monitor_node(other)
    send((inbox, other), ("ready", self_pid()))
    receive(NodeDown)
    result = global_.register_name(name, self_pid())
    send((inbox, other), ("registered", self_pid(), result))
    while True:
        send((inbox, other), ("got", receive()))


def start_global_counter(name: Any, report_to: Any) -> None:
    """Start a Counter registered with ``global_.via(name)``; report ``("counter",
    pid)`` and wait."""
    pid = gen_server.start(Counter, 0, name=global_.via(name))
    send(report_to, ("counter", pid))
    receive("never sent")


def call_global(name: Any, request: Any) -> Any:
    """``gen_server.call(global_.via(name), request)`` from this node."""
    return gen_server.call(global_.via(name), request)


# -- pg --------------------------------------------------------------------------------------


def member(groups: list[Any], report_to: Any) -> None:
    """Join ``groups`` (a group twice if listed twice), report ``("member", pid)``;
    then on ``("leave", group)`` leave it once and report ``("left", group, result)``,
    and on ``"stop"`` exit."""
    for group in groups:
        pg.join(group, self_pid())
    send(report_to, ("member", self_pid()))
    while True:
        message = receive()
        if message == "stop":
            return
        _, group = message
        send(report_to, ("left", group, pg.leave(group, self_pid())))


def member_from_the_start(group: Any) -> None:
    """Join ``group`` (run with ``start_peer(run=...)``, before any connection)."""
    pg.join(group, self_pid())
    receive("never sent")
