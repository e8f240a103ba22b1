"""ZeroMQ sockets driven by the node's event loop, without ``zmq.green``.

=====================================  ===================================================
name                                   what it does
=====================================  ===================================================
``new_socket(ctx, kind)``              a plain socket (never blocks in libzmq: see below)
``recv_message(sock)``                 the parts of the next message; ``zmq.Again`` if none
``send_message(sock, parts)``          send a message if there is room; False if not
``Readiness(node, sock, mask)``        a process waits until the socket may be read/written
``monitor_events(monitor_socket)``     the events a socket monitor reports, until closed
=====================================  ===================================================

The essay
---------
``zmq.green`` makes every socket call cooperative, at a price paid on each call: its
``send``/``recv`` read the socket's ``EVENTS`` after every call, wait through an
``AsyncResult`` with a ``gevent.Timeout`` around it, and combine pyzmq's enum flags in
Python. On a round trip between two nodes that was most of the distribution layer's CPU
time. The sockets of this layer are plain pyzmq sockets instead, called through
pyzmq's Cython methods with ``NOBLOCK`` only, so libzmq never blocks the thread; a
process that must wait (the reader for a message, a writer for room at the high-water
mark) waits with ``Readiness`` on the socket's ``FD`` in the node's event loop.

A ZeroMQ socket's ``FD`` is not readable-when-ready: it signals that the socket's state
may have changed, and reading ``EVENTS`` (or any send or receive) resets it. So the rule
every user of this module follows: look at ``EVENTS`` (``Readiness.ready``) and wait on
the FD only when the socket is not ready; after a wait, look again. Then no signal is
lost, and a spurious one costs one look. A multipart message is atomic: libzmq accepts
all its parts or, for the first part, none (``zmq.Again``), so ``send_message`` never
leaves half a message behind.

The socket monitors (``get_monitor_socket``), read seldom, stay ``zmq.green`` sockets.

Prior art: pyzmq's own ``zmq.green`` and ``zmq.asyncio`` (the FD/``EVENTS`` rule), libzmq's
``zmq_getsockopt(ZMQ_FD)`` documentation.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import zmq
from zmq.backend import Socket as _BackendSocket

from beamlike._core.mailbox import resume, suspend
from beamlike._core.signals import raise_pending_exit

__all__ = [
    "POLLIN",
    "POLLOUT",
    "Readiness",
    "monitor_events",
    "new_socket",
    "recv_message",
    "send_message",
]

# pyzmq's Cython methods, without the Python layers of zmq.sugar (and zmq.green) on top.
_send = _BackendSocket.send
_recv = _BackendSocket.recv
_get = _BackendSocket.get

_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_FD = int(zmq.FD)
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
_EVENT = struct.Struct("=hi")  # a socket monitor event's first frame: event, value


def new_socket(ctx: Any, kind: int) -> zmq.Socket[bytes]:
    """A plain socket of ``ctx`` (which may be a ``zmq.green`` context: its monitor
    sockets are then green). Use it with this module's functions only. Never blocks."""
    return zmq.Socket(ctx, kind)


def recv_message(sock: Any) -> list[bytes]:
    """The parts of the next message waiting in ``sock``. Never blocks.

    Raises:
        zmq.Again: no message waits.
        zmq.ZMQError: the socket is closed (or another libzmq error).
    """
    frame = _recv(sock, _NOBLOCK, False)
    parts = [frame.bytes]
    while frame.more:
        frame = _recv(sock, _NOBLOCK, False)
        parts.append(frame.bytes)
    return parts


def send_message(sock: Any, parts: list[bytes]) -> bool:
    """Send a message of one or more parts if ``sock`` has room for it; False if not
    (at the high-water mark, or, with ``IMMEDIATE``, not connected yet). Never blocks.

    Raises:
        zmq.ZMQError: the socket is closed (or another libzmq error).
    """
    last = len(parts) - 1
    try:
        _send(sock, parts[0], _NOBLOCK_MORE if last else _NOBLOCK)
    except zmq.Again:
        return False
    for i in range(1, last):
        _send(sock, parts[i], _NOBLOCK_MORE)
    if last:
        _send(sock, parts[last], _NOBLOCK)
    return True


class Readiness:
    """Waiting, in a process, until a socket may be read (``POLLIN``) or written
    (``POLLOUT``), through its ``FD`` in the node's event loop.

    With ``persistent=True`` the FD is watched from creation to ``close`` (the ROUTER,
    waited on after every burst of messages); otherwise only during ``wait`` (a DEALER,
    waited on only at its high-water mark). With ``run_now=True`` the signal runs the
    waiting process at once, from the event loop's I/O callback, as the hub's drain
    would (the reader: the lowest latency); otherwise it makes it runnable. ``close``
    must come before the socket's.
    """

    __slots__ = ("sock", "mask", "watcher", "waiter", "persistent", "run_now", "closed")

    def __init__(
        self, node: Any, sock: Any, mask: int, *, persistent: bool = False, run_now: bool = False
    ) -> None:
        self.sock = sock
        self.mask = mask
        self.watcher = node.fd_watcher(_get(sock, _FD))
        self.waiter: Any = None
        self.persistent = persistent
        self.run_now = run_now
        self.closed = False
        if persistent:
            self.watcher.start(self._signalled)

    def ready(self) -> bool:
        """Whether the socket may be read (written) now; resets the FD. Never blocks.

        Raises ``zmq.ZMQError`` when the socket is closed."""
        return bool(_get(self.sock, _EVENTS) & self.mask)  # type: ignore[operator]

    def wait(self, proc: Any) -> None:
        """Block the calling process ``proc`` until the socket's FD signals (or ``close``).
        The caller looks at ``ready`` before and after: the signal may be spurious.
        Blocks; an exit signal interrupts it."""
        if proc.pending_exit is not None:
            raise_pending_exit(proc)
        if self.closed:
            return
        self.waiter = proc
        if not self.persistent:
            self.watcher.start(self._signalled)
        try:
            suspend(proc)
        finally:
            self.waiter = None
            if not self.persistent and not self.closed:
                self.watcher.stop()

    def kick(self) -> None:
        """Let the waiting process, if any, look at the socket again. Never blocks."""
        proc = self.waiter
        if proc is not None:
            resume(proc)

    def close(self) -> None:
        """Stop watching the FD and let a waiter go on. Idempotent. Never blocks."""
        if self.closed:
            return
        self.closed = True
        self.watcher.stop()
        self.watcher.close()
        self.kick()

    def _signalled(self) -> None:
        # Runs in the event loop. A waiter looks at EVENTS itself; with nobody waiting,
        # the signal is consumed here, or the FD (level-triggered in the event loop)
        # would wake the loop again and again until the socket is next used.
        proc = self.waiter
        if proc is not None:
            resume(proc, at_once=self.run_now)
        elif not self.closed:
            try:
                _get(self.sock, _EVENTS)
            except zmq.ZMQError:
                pass


def monitor_events(monitor_socket: Any) -> Iterator[tuple[int, int, bytes]]:
    """``(event, value, endpoint)`` of each event the (``zmq.green``) socket monitor
    ``monitor_socket`` reports, until it is closed; malformed events are skipped.
    Blocks while none waits."""
    while True:
        try:
            frames = monitor_socket.recv_multipart()
        except zmq.ZMQError:
            return  # closed
        if len(frames) < 2 or len(frames[0]) < 6:
            continue
        event, value = _EVENT.unpack(frames[0][:6])
        yield event, value, frames[1]
