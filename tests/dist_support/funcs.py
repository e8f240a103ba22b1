"""Functions that peer nodes run by name (``"tests.dist_support.funcs:echo"``).

They run in child OS processes started by ``beamlike.dist.start_peer``; the tests pass
the repository root in the child's ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

from beamlike import (
    GenServer,
    NodeDown,
    NodeUp,
    NoReply,
    Ok,
    Reply,
    gen_server,
    node,
    receive,
    register,
    self_pid,
    send,
    spawn,
)


def echo(name: str | None = None) -> None:
    """Answer every ``(sender, term)`` with ``("echo", term)``; register ``name``."""
    if name is not None:
        register(name, self_pid())
    while True:
        message = receive()
        if isinstance(message, tuple) and len(message) == 2:
            send(message[0], ("echo", message[1]))


def count_to(dest: Any, n: int) -> None:
    """Send ``("n", 0) ... ("n", n - 1)`` to ``dest``, then ``"done"``."""
    for i in range(n):
        send(dest, ("n", i))
    send(dest, "done")


def crash_after(seconds: float) -> None:
    """Wait, then crash with ValueError."""
    receive(timeout=seconds, default=None)
    raise ValueError("boom")


def wait_forever() -> None:
    receive()


def sink(report_to: Any) -> None:
    """Receive ``(i, payload)`` messages, check that ``i`` counts up from 0, and report
    ``("sunk", count, in_order)`` to ``report_to`` on ``"end"``."""
    expected = 0
    in_order = True
    while True:
        message = receive()
        if message == "end":
            send(report_to, ("sunk", expected, in_order))
            return
        if message[0] != expected:
            in_order = False
        expected += 1


def spam(target_node: str, name: str, count: int, interval: float, delay: float = 0.0) -> None:
    """After ``delay`` seconds, send ``("spam", i)`` to ``(name, target_node)`` ``count``
    times, ``interval`` seconds apart."""
    receive(timeout=delay, default=None)
    for i in range(count):
        send((name, target_node), ("spam", i))
        receive(timeout=interval, default=None)


def inject(target_node: str, kind: str, report_to: Any) -> None:
    """Break the session with ``target_node`` on purpose: ``"gap"`` skips a sequence
    number, ``"garbage"`` sends a batch that does not decode. Then send a message that
    must not arrive. Waits for ``"go"`` first (the spawn reply must have left)."""
    receive("go")
    assert node.connect(target_node)
    conn = node.current().dist.conns[target_node]  # type: ignore[union-attr]
    if kind == "gap":
        conn.out_seq += 5
    else:
        conn.out_seq += 1
        seq = conn.out_seq.to_bytes(8, "big")
        conn.control.append([conn.sid, seq, b"\xc1\xc1 not msgpack"])
        conn.wake()
    send(report_to, ("must not arrive", kind))


def session_of(other: str, report_to: Any) -> None:
    """Report ``("session", sid hex, role)`` of this node's connection to ``other``."""
    conn = node.current().dist.conns.get(other)  # type: ignore[union-attr]
    if conn is None:
        send(report_to, ("session", None, None))
    else:
        send(report_to, ("session", conn.sid.hex(), conn.role))


def connect_on_go(other: str, report_to: Any) -> None:
    """Wait for ``"go"``, connect to ``other``, report ``("connected", result)``."""
    receive("go")
    send(report_to, ("connected", node.name(), node.connect(other)))


def watch_nodes(report_to: Any) -> None:
    """Forward every NodeUp/NodeDown of this node to ``report_to``."""
    node.monitor_nodes(True)
    send(report_to, "watching")
    while True:
        event = receive(NodeUp, NodeDown)
        send(report_to, ("seen", node.name(), event))


def link_and_wait(target: Any, report_to: Any) -> None:
    """Trap exits, link to ``target``, report every Exit to ``report_to``."""
    from beamlike import link, process_flag

    process_flag("trap_exit", True)
    link(target)
    send(report_to, "linked")
    while True:
        send(report_to, ("got", receive()))


class Counter(GenServer):
    """A GenServer holding a number."""

    def init(self, start: int) -> Ok:
        return Ok(start)

    def handle_call(self, request: Any, from_: Any, state: int) -> Reply:
        if request == "get":
            return Reply(state, state)
        if isinstance(request, tuple) and request[0] == "add":
            return Reply(state + request[1], state + request[1])
        if request == "whoami":
            return Reply(node.name(), state)
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any, state: int) -> NoReply:
        return NoReply(state)


def start_counter(name: str, report_to: Any) -> None:
    """Start a Counter registered as ``name`` and report ``("counter", pid)``."""
    pid = gen_server.start(Counter, 0, name=name)
    send(report_to, ("counter", pid))
    receive()


def spawn_echo_and_report(report_to: Any) -> None:
    send(report_to, ("echo_pid", spawn(echo)))


__all__ = [
    "Counter",
    "connect_on_go",
    "count_to",
    "crash_after",
    "echo",
    "inject",
    "link_and_wait",
    "session_of",
    "sink",
    "spam",
    "spawn_echo_and_report",
    "start_counter",
    "wait_forever",
    "watch_nodes",
]
