"""The beamlike side of each benchmark, written with the public API only.

Each function does one repetition of one case on a fresh ``beamlike.Node`` (the driver is a
beamlike process started with ``beamlike.run``) and returns its metrics. The twins in
``cases_gevent.py`` and ``erl/bench.erl`` do the same work step for step. Drivers never
sleep to wait: they wait on messages (``receive``), as a beamlike program would. Run
through ``bench/_worker.py``, which calls ``gevent.monkey.patch_all()`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import beamlike
from beamlike import (
    ANY,
    Down,
    Pid,
    gen_server,
    monitor,
    process_info,
    processes,
    receive,
    self_pid,
    send,
    spawn,
    supervisor,
)
from beamlike.gen_server import GenServer, Ok, Reply
from beamlike.supervisor import Supervisor
from bench._harness import now, rss_bytes, settle_memory

MIB = 1 << 20


def _on_fresh_node(main: Callable[..., dict[str, float]], *args: Any, stop: bool = True):
    """Run ``main(*args)`` as a process on a new default Node; blocks until it returns."""
    node = beamlike.Node()
    try:
        with node.as_default():
            return beamlike.run(main, *args)
    finally:
        if stop:
            node.stop()


# --------------------------------------------------------------------------- spawn + exit


def _trivial() -> None:
    return None


def _spawn_exit_main(n: int) -> dict[str, float]:
    base = set(processes())
    t0 = now()
    for _ in range(n - 1):
        spawn(_trivial)
    ref = monitor(spawn(_trivial))
    receive(Down(ref, ANY, ANY))
    # Processes start in spawn order, so the others should be gone too. Wait for any that
    # are not (inside the timing: the case is "until all have exited").
    for pid in [p for p in processes() if p not in base]:
        r = monitor(pid)
        receive(Down(r, ANY, ANY))
    elapsed = now() - t0
    return {"us_per_proc": elapsed / n * 1e6}


def spawn_exit(n: int) -> dict[str, float]:
    """Spawn ``n`` processes that return at once; time until all have exited."""
    return _on_fresh_node(_spawn_exit_main, n)


# --------------------------------------------------------------------------- idle processes


def _idle(parent: Pid | None) -> None:
    if parent is not None:
        send(parent, "ready")
    receive()


def _spawn_idle_batch(n: int, max_rss: int) -> list[Pid]:
    pids = []
    for i in range(n - 1):
        pids.append(spawn(_idle, None))
        if max_rss and i & 0xFFFF == 0 and rss_bytes() > max_rss:
            raise MemoryError(f"RSS passed the {max_rss // MIB} MiB guard at {i} processes")
    pids.append(spawn(_idle, self_pid()))
    receive("ready")  # the last one started, so all earlier ones are blocked in receive
    return pids


def _spawn_idle_main(n: int, warm: int, max_rss_mb: int) -> dict[str, float]:
    warm_pids = _spawn_idle_batch(warm, 0)
    settle_memory()
    base = rss_bytes()
    t0 = now()
    pids = _spawn_idle_batch(n, max_rss_mb * MIB)
    elapsed = now() - t0
    settle_memory()
    rss = rss_bytes()
    assert len(pids) == n and len(warm_pids) == warm
    for pid in (pids[0], pids[n // 2], pids[-1]):
        info = process_info(pid)
        assert info is not None and info.status == "waiting", f"{pid} not waiting: {info}"
    return {
        "us_per_spawn": elapsed / n * 1e6,
        "bytes_per_proc": (rss - base) / n,
        "rss_mb": rss / MIB,
    }


def spawn_idle(n: int, warm: int = 1000, max_rss_mb: int = 0) -> dict[str, float]:
    """Spawn ``n`` processes blocked in ``receive()``; µs per spawn and RSS bytes each.

    Runs alone in its OS process, which exits right after, so the node is not stopped.
    """
    return _on_fresh_node(_spawn_idle_main, n, warm, max_rss_mb, stop=False)


# --------------------------------------------------------------------------- ring


def _ring_node(driver: Pid) -> None:
    nxt = receive()
    send(driver, "ready")
    while True:
        token = receive()
        if token is None:
            return
        if token == 0:
            send(driver, "done")
        else:
            send(nxt, token - 1)


def _ring_main(procs: int, rounds: int) -> dict[str, float]:
    hops = procs * rounds
    me = self_pid()
    pids = [spawn(_ring_node, me) for _ in range(procs)]
    for i, pid in enumerate(pids):
        send(pid, pids[(i + 1) % procs])
    for _ in range(procs):
        receive("ready")
    t0 = now()
    send(pids[0], hops - 1)  # hop 1; the process that receives 0 makes hop number `hops`
    receive("done")
    elapsed = now() - t0
    for pid in pids:
        send(pid, None)
    return {"us_per_hop": elapsed / hops * 1e6}


def ring(procs: int, rounds: int) -> dict[str, float]:
    """A token goes ``rounds`` times around a ring of ``procs`` processes; µs per hop."""
    return _on_fresh_node(_ring_main, procs, rounds)


# --------------------------------------------------------------------------- ping-pong


def _pong(parent: Pid) -> None:
    send(parent, "ready")
    while True:
        msg = receive()
        if msg is None:
            return
        send(msg[0], msg)


def _pingpong_main(n: int) -> dict[str, float]:
    me = self_pid()
    pong = spawn(_pong, me)
    receive("ready")
    t0 = now()
    for i in range(n):
        send(pong, (me, i))
        receive()
    elapsed = now() - t0
    send(pong, None)
    return {"us_per_roundtrip": elapsed / n * 1e6}


def pingpong(n: int) -> dict[str, float]:
    """``n`` round trips (request, reply) between two processes; µs per round trip."""
    return _on_fresh_node(_pingpong_main, n)


# --------------------------------------------------------------------------- selective receive


def _selective_main(n: int, junk: int) -> dict[str, float]:
    me = self_pid()
    for j in range(junk):
        send(me, ("junk", j))
    for i in range(3):  # untimed, like the other two implementations
        send(me, ("m", i))
        receive(("m", ANY))
    t0 = now()
    for i in range(n):
        send(me, ("m", i))
        receive(("m", ANY))
    elapsed = now() - t0
    info = process_info(me)
    assert info is not None and info.message_queue_len == junk
    return {"us_per_receive": elapsed / n * 1e6}


def selective(n: int, junk: int) -> dict[str, float]:
    """Send self a matching message and receive it selectively, past ``junk`` others."""
    return _on_fresh_node(_selective_main, n, junk)


# --------------------------------------------------------------------------- GenServer call


class _Echo(GenServer):
    """Replies with the request, state unchanged."""

    def handle_call(self, request: Any, from_: Any, state: Any) -> Reply:
        return Reply(request, state)


def _calls(server: Pid, n: int) -> float:
    call = gen_server.call
    t0 = now()
    for i in range(n):
        call(server, i)
    return now() - t0


def _call_main(n: int, junk: int) -> dict[str, float]:
    server = _Echo.start_link(None)
    assert server is not None
    assert gen_server.call(server, "check") == "check"
    if not junk:
        elapsed = _calls(server, n)
        gen_server.stop(server)
        return {"us_per_call": elapsed / n * 1e6}
    # The same calls with an empty mailbox and with ``junk`` unrelated messages queued
    # in the caller's own mailbox, in this OS process, half of ``n`` at a time in the
    # order empty, queued, queued, empty (so a drift in load cancels out).
    half = n // 2
    me = self_pid()
    empty = _calls(server, half)
    for j in range(junk):
        send(me, ("junk", j))
    queued = _calls(server, half) + _calls(server, half)
    info = process_info(me)
    assert info is not None and info.message_queue_len == junk
    for j in range(junk):
        assert receive() == ("junk", j)
    empty += _calls(server, half)
    gen_server.stop(server)
    return {
        "us_per_call": queued / (2 * half) * 1e6,
        "us_per_call_empty": empty / (2 * half) * 1e6,
        "queued_over_empty": queued / empty,
    }


def call(n: int, junk: int = 0) -> dict[str, float]:
    """``n`` ``gen_server.call`` round trips to an echo server; µs per call.

    With ``junk``: ``n`` calls with ``junk`` unrelated messages queued in the caller's
    mailbox and ``n`` with it empty, in this OS process; both, and their ratio.
    """
    return _on_fresh_node(_call_main, n, junk)


def _call_client(server: Pid, k: int, driver: Pid) -> None:
    call = gen_server.call
    send(driver, "ready")
    receive("go")
    for i in range(k):
        call(server, i)
    send(driver, "done")


def _call_many_main(clients: int, k: int) -> dict[str, float]:
    me = self_pid()
    server = _Echo.start_link(None)
    assert server is not None
    pids = [spawn(_call_client, server, k, me) for _ in range(clients)]
    for _ in range(clients):
        receive("ready")
    t0 = now()
    for pid in pids:
        send(pid, "go")
    for _ in range(clients):
        receive("done")
    elapsed = now() - t0
    gen_server.stop(server)
    return {"us_per_call": elapsed / (clients * k) * 1e6}


def call_many(clients: int, k: int) -> dict[str, float]:
    """``clients`` processes each make ``k`` calls to one echo server; µs per call."""
    return _on_fresh_node(_call_many_main, clients, k)


# --------------------------------------------------------------------------- supervisor restart


class _Crash(Exception):
    pass


class _Crasher(GenServer):
    """Tells the driver it started, then crashes on its first message (the timeout)."""

    def init(self, driver: Pid) -> Ok:  # type: ignore[override]
        send(driver, self_pid())
        return Ok(driver, timeout=0)

    def handle_info(self, message: Any, state: Any) -> Any:
        raise _Crash(message)


def _supervisor_restart_main(restarts: int) -> dict[str, float]:
    me = self_pid()
    spec: dict[str, Any] = {
        "id": "crasher",
        "start": (_Crasher.start_link, (me,), {}),
        "restart": "permanent",
    }
    sup = Supervisor.start_link([spec], strategy="one_for_one", max_restarts=10**9, max_seconds=1)
    first = last = receive()  # the first start: the child's pid
    t0 = now()
    for _ in range(restarts):
        last = receive()
    elapsed = now() - t0
    supervisor.stop(sup)
    assert first.__class__ is Pid and last.__class__ is Pid and last != first
    return {"us_per_restart": elapsed / restarts * 1e6}


def supervisor_restart(restarts: int) -> dict[str, float]:
    """A one_for_one supervisor restarts a permanent GenServer child that crashes right
    after starting; µs per restart (the driver counts the children's start messages).

    Crash and supervisor reports are switched off (as for the other two
    implementations): the case measures restarting, not formatting tracebacks.
    """
    logging.disable(logging.CRITICAL)
    try:
        return _on_fresh_node(_supervisor_restart_main, restarts)
    finally:
        logging.disable(logging.NOTSET)


CASES: dict[str, Callable[..., dict[str, float]]] = {
    "spawn_exit": spawn_exit,
    "spawn_idle": spawn_idle,
    "ring": ring,
    "pingpong": pingpong,
    "selective_empty": selective,
    "selective_10k": selective,
    "call": call,
    "call_100": call_many,
    "call_10k_queued": call,
    "supervisor_restart": supervisor_restart,
}
