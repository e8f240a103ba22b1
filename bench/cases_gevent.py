"""The raw gevent baseline: a process is ``gevent.spawn`` plus a ``gevent.queue.Queue`` mailbox.

This is the floor a gevent-based runtime is measured against: no pids, no links, no
monitors, no process table, just greenlets and queues, written the way one usually writes
them. Each function below does one repetition of one case and returns its metrics; the
``beamlike`` twin in ``cases_beamlike.py`` and the Erlang twin in ``erl/bench.erl`` do the
same work step for step. Run through ``bench/_worker.py`` (which patches first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from gevent import getcurrent
from gevent.queue import Queue

from bench._harness import now, rss_bytes, settle_memory

MIB = 1 << 20


# --------------------------------------------------------------------------- spawn + exit


def _trivial() -> None:
    return None


def spawn_exit(n: int) -> dict[str, float]:
    """Spawn ``n`` greenlets that return at once; time until all have exited.

    Greenlets start in spawn order (the hub runs callbacks FIFO), so when the last one has
    exited, all have; the assertion after the clock stops checks that.
    """
    t0 = now()
    for _ in range(n - 1):
        gevent.spawn(_trivial)
    last = gevent.spawn(_trivial)
    last.join()
    elapsed = now() - t0
    assert last.dead
    return {"us_per_proc": elapsed / n * 1e6}


# --------------------------------------------------------------------------- idle processes


def _idle(mailbox: Queue, ready: Queue | None) -> None:
    if ready is not None:
        ready.put("ready")
    mailbox.get()


def _spawn_idle_batch(
    n: int, ready: Queue, max_rss: int
) -> tuple[list[Queue], list[gevent.Greenlet]]:
    """Spawn ``n`` idle greenlets; return their mailboxes and 3 greenlets to check."""
    mailboxes = []
    probes = []
    for i in range(n - 1):
        mailbox = Queue()
        mailboxes.append(mailbox)
        g = gevent.spawn(_idle, mailbox, None)
        if i & 0xFFFF == 0:
            probes.append(g)
            if max_rss and rss_bytes() > max_rss:
                raise MemoryError(f"RSS passed the {max_rss // MIB} MiB guard at {i} greenlets")
    mailbox = Queue()
    mailboxes.append(mailbox)
    probes.append(gevent.spawn(_idle, mailbox, ready))
    ready.get()  # the last one started, so all earlier ones are parked in get()
    return mailboxes, probes


def spawn_idle(n: int, warm: int = 1000, max_rss_mb: int = 0) -> dict[str, float]:
    """Spawn ``n`` greenlets parked in ``Queue.get()``; µs per spawn and RSS bytes each.

    ``warm`` greenlets are spawned (and kept) before the baseline RSS reading, so the
    imports, code paths and first arenas are not charged to the measured ones.
    """
    ready: Queue = Queue()
    warm_boxes, _ = _spawn_idle_batch(warm, ready, 0)
    settle_memory()
    base = rss_bytes()
    t0 = now()
    boxes, probes = _spawn_idle_batch(n, ready, max_rss_mb * MIB)
    elapsed = now() - t0
    settle_memory()
    rss = rss_bytes()
    assert len(boxes) == n and len(warm_boxes) == warm
    # A parked greenlet has a saved frame and is not dead.
    assert all(g.gr_frame is not None and not g.dead for g in probes), "not parked in get()"
    return {
        "us_per_spawn": elapsed / n * 1e6,
        "bytes_per_proc": (rss - base) / n,
        "rss_mb": rss / MIB,
    }


# --------------------------------------------------------------------------- ring


def _ring_node(inbox: Queue, nxt: Queue, ready: Queue, done: Queue) -> None:
    ready.put("ready")
    while True:
        token = inbox.get()
        if token is None:
            return
        if token == 0:
            done.put("done")
        else:
            nxt.put(token - 1)


def ring(procs: int, rounds: int) -> dict[str, float]:
    """A token goes ``rounds`` times around a ring of ``procs`` greenlets; µs per hop."""
    hops = procs * rounds
    ready: Queue = Queue()
    done: Queue = Queue()
    boxes = [Queue() for _ in range(procs)]
    greenlets = [
        gevent.spawn(_ring_node, boxes[i], boxes[(i + 1) % procs], ready, done)
        for i in range(procs)
    ]
    for _ in range(procs):
        ready.get()
    t0 = now()
    boxes[0].put(hops - 1)  # hop 1; the node that receives 0 makes hop number `hops`
    done.get()
    elapsed = now() - t0
    for box in boxes:
        box.put(None)
    gevent.joinall(greenlets)
    return {"us_per_hop": elapsed / hops * 1e6}


# --------------------------------------------------------------------------- ping-pong


def _pong(inbox: Queue, parent: Queue) -> None:
    parent.put("ready")
    while True:
        msg = inbox.get()
        if msg is None:
            return
        msg[0].put(msg)


def pingpong(n: int) -> dict[str, float]:
    """``n`` round trips (request, reply) between two greenlets; µs per round trip."""
    inbox: Queue = Queue()
    mine: Queue = Queue()
    pong = gevent.spawn(_pong, inbox, mine)
    mine.get()
    t0 = now()
    for i in range(n):
        inbox.put((mine, i))
        mine.get()
    elapsed = now() - t0
    inbox.put(None)
    pong.join()
    return {"us_per_roundtrip": elapsed / n * 1e6}


# --------------------------------------------------------------------------- selective receive


class SaveQueueMailbox:
    """The usual hand-rolled selective receive on gevent: a Queue plus a "save queue".

    Messages that did not match stay in ``save`` (oldest first); a receive scans ``save``
    with the predicate, then takes new messages from the queue, saving the ones that do
    not match. Arrival order is kept, as in Erlang.
    """

    def __init__(self) -> None:
        self.queue: Queue = Queue()
        self.save: list[Any] = []

    def put(self, msg: Any) -> None:
        self.queue.put(msg)

    def receive(self, pred: Callable[[Any], bool]) -> Any:
        save = self.save
        for i, msg in enumerate(save):
            if pred(msg):
                del save[i]
                return msg
        while True:
            msg = self.queue.get()
            if pred(msg):
                return msg
            save.append(msg)


def _is_m(msg: Any) -> bool:
    # The hand-written twin of beamlike's pattern ("m", ANY): a 2-tuple tagged "m".
    return isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "m"


def selective(n: int, junk: int) -> dict[str, float]:
    """Send self a matching message and receive it selectively, past ``junk`` others."""
    box = SaveQueueMailbox()
    for j in range(junk):
        box.put(("junk", j))
    for i in range(3):  # untimed: moves the junk into the save queue, as a real loop would
        box.put(("m", i))
        box.receive(_is_m)
    t0 = now()
    for i in range(n):
        box.put(("m", i))
        box.receive(_is_m)
    elapsed = now() - t0
    assert len(box.save) == junk and box.queue.qsize() == 0
    return {"us_per_receive": elapsed / n * 1e6}


# --------------------------------------------------------------------------- GenServer call


def _echo_server(inbox: Queue) -> None:
    """The usual gevent request/reply server: ``(reply_queue, request)`` in, the reply
    put on the caller's own reply queue."""
    while True:
        msg = inbox.get()
        if msg is None:
            return
        reply_to, request = msg
        reply_to.put(request)


def _calls(server: Queue, replies: Queue, n: int) -> float:
    put = server.put
    get = replies.get
    t0 = now()
    for i in range(n):
        put((replies, i))
        get()
    return now() - t0


def call(n: int, junk: int = 0) -> dict[str, float]:
    """``n`` request/reply round trips to an echo server greenlet; µs per call.

    With ``junk``: ``n`` calls with ``junk`` items in the caller's general inbox queue,
    which the replies do not go through (so this is the floor: the empty case again),
    and ``n`` without; both, and their ratio.
    """
    server: Queue = Queue()
    replies: Queue = Queue()
    g = gevent.spawn(_echo_server, server)
    server.put((replies, "check"))
    assert replies.get() == "check"
    if not junk:
        elapsed = _calls(server, replies, n)
        server.put(None)
        g.join()
        return {"us_per_call": elapsed / n * 1e6}
    # Empty, queued, queued, empty (half of ``n`` each), as the other implementations.
    half = n // 2
    empty = _calls(server, replies, half)
    inbox: Queue = Queue()
    for j in range(junk):
        inbox.put(("junk", j))
    queued = _calls(server, replies, half) + _calls(server, replies, half)
    assert inbox.qsize() == junk
    inbox = Queue()
    empty += _calls(server, replies, half)
    server.put(None)
    g.join()
    return {
        "us_per_call": queued / (2 * half) * 1e6,
        "us_per_call_empty": empty / (2 * half) * 1e6,
        "queued_over_empty": queued / empty,
    }


def _call_client(server: Queue, k: int, go: Queue, driver: Queue) -> None:
    replies: Queue = Queue()
    put = server.put
    get = replies.get
    driver.put("ready")
    go.get()
    for i in range(k):
        put((replies, i))
        get()
    driver.put("done")


def call_many(clients: int, k: int) -> dict[str, float]:
    """``clients`` greenlets each make ``k`` calls to one echo server; µs per call."""
    server: Queue = Queue()
    driver: Queue = Queue()
    srv = gevent.spawn(_echo_server, server)
    gos = [Queue() for _ in range(clients)]
    greenlets = [gevent.spawn(_call_client, server, k, go, driver) for go in gos]
    for _ in range(clients):
        assert driver.get() == "ready"
    t0 = now()
    for go in gos:
        go.put("go")
    for _ in range(clients):
        assert driver.get() == "done"
    elapsed = now() - t0
    gevent.joinall(greenlets)
    server.put(None)
    srv.join()
    return {"us_per_call": elapsed / (clients * k) * 1e6}


# --------------------------------------------------------------------------- supervisor restart


class _Crash(Exception):
    pass


_STOP: Any = object()


def _crasher(driver: Queue) -> None:
    driver.put(getcurrent())  # "started"
    raise _Crash("crash")


def _mini_supervisor(events: Queue, fn: Callable[..., None], *args: Any) -> None:
    """A minimal supervisor greenlet: spawn the child, ``rawlink`` it (its death is put
    on ``events`` by the hub), respawn it when it died by an exception."""
    while True:
        child = gevent.spawn(fn, *args)
        child.rawlink(events.put)
        event = events.get()
        if event is _STOP:
            child.unlink(events.put)
            child.kill()
            return
        assert event is child
        if event.successful():
            return


def supervisor_restart(restarts: int) -> dict[str, float]:
    """A minimal supervisor greenlet respawns a child greenlet that puts its start on the
    driver's queue, then raises; µs per restart (the driver counts the starts).

    The hub's printing of each greenlet's traceback is switched off (as the crash reports
    of the other two implementations are): the case measures restarting.
    """
    hub = gevent.get_hub()
    hub.exception_stream = None
    try:
        driver: Queue = Queue()
        events: Queue = Queue()
        sup = gevent.spawn(_mini_supervisor, events, _crasher, driver)
        first = last = driver.get()
        t0 = now()
        for _ in range(restarts):
            last = driver.get()
        elapsed = now() - t0
        events.put(_STOP)
        sup.join()
        assert isinstance(first, gevent.Greenlet) and last is not first
    finally:
        del hub.exception_stream  # back to the class's default (sys.stderr)
    return {"us_per_restart": elapsed / restarts * 1e6}


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
