"""Functions that the peers of ``bench/dist.py`` run by name.

Beamlike peers (``beamlike.dist.start_peer``) run ``echo``, ``sink`` and ``cpu_worker``
as ``"bench.dist_support:NAME"``; the raw zmq.green peer is ``raw_peer``, run in a
child Python with ``python -c``. The child's ``PYTHONPATH`` holds the repository root.
"""

from __future__ import annotations

import sys
from typing import Any

from beamlike import receive, send

# -- beamlike peers ----------------------------------------------------------------------


def echo() -> None:
    """Answer every ``(sender, term)`` with ``term``."""
    while True:
        sender, term = receive()
        send(sender, term)


def sink() -> None:
    """Count messages; on ``("done", sender)`` send the count to ``sender`` and reset."""
    n = 0
    while True:
        message = receive()
        if message.__class__ is tuple and message[0] == "done":
            send(message[1], ("count", n))
            n = 0
        else:
            n += 1


def work(iterations: int) -> int:
    """Pure-Python CPU work: an LCG over ``iterations`` steps."""
    x = 1
    for i in range(iterations):
        x = (x * 1103515245 + 12345 + i) & 0x7FFFFFFF
    return x


def cpu_worker(report_to: Any) -> None:
    """Run ``("task", index, iterations)`` messages one after another, answering each
    with ``("done", index, result)``; return on ``"stop"``."""
    while True:
        message = receive()
        if message == "stop":
            return
        _, index, iterations = message
        send(report_to, ("done", index, work(iterations)))


# -- raw zmq.green peer ------------------------------------------------------------------


def raw_peer() -> None:
    """A ROUTER on a free port of 127.0.0.1 (printed as ``PORT n``): echoes ``["p", x]``,
    counts ``["n", i]``, answers ``["done"]`` with the count (then resets), exits on
    ``["stop"]`` or when its standard input closes."""
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import msgpack
    import zmq.green as zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    print(f"PORT {port}", flush=True)

    def watch_stdin() -> None:
        import os

        from gevent.socket import wait_read

        fd = sys.stdin.fileno()
        while True:
            wait_read(fd)  # cooperative: the hub keeps running
            if not os.read(fd, 4096):  # end of input: the parent went
                os._exit(0)

    gevent.spawn(watch_stdin)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    count = 0
    while True:
        ident, data = sock.recv_multipart()
        message = unpackb(data)
        kind = message[0]
        if kind == "n":
            count += 1
        elif kind == "p":
            sock.send_multipart([ident, data])
        elif kind == "done":
            sock.send_multipart([ident, packb(["count", count])])
            count = 0
        elif kind == "stop":
            break
    sock.close()
    ctx.term()
