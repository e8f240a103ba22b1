"""The beamlike side of each benchmark, written with the public API only.

Each function does one repetition of one case on a fresh ``beamlike.Node`` (the driver is a
beamlike process started with ``beamlike.run``) and returns its metrics. The twins in
``cases_gevent.py`` and ``erl/bench.erl`` do the same work step for step. Drivers never
sleep to wait: they wait on messages (``receive``), as a beamlike program would. Run
through ``bench/_worker.py``, which calls ``gevent.monkey.patch_all()`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import beamlike
from beamlike import (
    ANY,
    Down,
    Pid,
    monitor,
    process_info,
    processes,
    receive,
    self_pid,
    send,
    spawn,
)
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


CASES: dict[str, Callable[..., dict[str, float]]] = {
    "spawn_exit": spawn_exit,
    "spawn_idle": spawn_idle,
    "ring": ring,
    "pingpong": pingpong,
    "selective_empty": selective,
    "selective_10k": selective,
}
