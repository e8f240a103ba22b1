"""The node's sockets: the ROUTER every peer sends to, one DEALER per peer, and the
reader that turns what arrives on the ROUTER into calls of ``DistNode.handle``.

=========================================  ===============================================
function                                   what it does
=========================================  ===============================================
``bind_router(dist, host, port, bind)``    the ROUTER, bound and with its options
``reader_main(dist)``                      the reader process: read the ROUTER, hand on
``drain_router(dist)``                     apply what already waits in the ROUTER
``open_dealer(dist, conn, endpoint)``      a DEALER to a peer, with its monitor reader
``close_sockets(dist, conn, farewell)``    close a connection's DEALER (after a last frame)
``close_router(dist)``                     close the ROUTER and its monitor
``resolve(dist, name)``                    where a node listens, from the resolver
=========================================  ===============================================

The ROUTER and the DEALERs are plain pyzmq sockets driven by the event loop
(``sockets``); their socket monitors are ``zmq.green`` sockets, read by processes that
block on them. Socket options are documented in docs/distribution.md ("The protocol").

The reader is the one process that reads the ROUTER, so frames from one peer are handled
in the order they arrived. It reads while messages wait; when none is left it waits on
the ROUTER's FD, and the FD's signal runs it at once, from the event loop's I/O callback
(``Readiness(run_now=True)``): a frame costs one hand-over from the event loop to the
reader, and one from the reader to each process it woke (they run before the reader reads
on, so the first reply can leave before the next frame is even looked at).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import zmq.green as zmq

from beamlike._core.node import current_process
from beamlike.dist.connection import HUB_TURN, Conn, monitor_main, yield_to_runnable
from beamlike.dist.names import bracket
from beamlike.dist.sockets import (
    POLLIN,
    POLLOUT,
    Readiness,
    monitor_events,
    new_socket,
    recv_message,
)
from beamlike.dist.wire import curve_failure, curve_keypair
from beamlike.timer import sleep

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = [
    "FAREWELL_LINGER_MS",
    "bind_router",
    "close_router",
    "close_sockets",
    "drain_router",
    "open_dealer",
    "reader_main",
    "resolve",
    "router_monitor_main",
    "secure",
]

log = logging.getLogger("beamlike.dist")

FAREWELL_LINGER_MS = 500  # how long a closed DEALER may still flush its BYE/REFUSED

_HANDSHAKE_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
_monitor_ids = itertools.count(1)


def bind_router(dist: DistNode, host: str, port: int, bind: str | None) -> None:
    """Make ``dist.router`` (and, when encrypting, ``dist.router_monitor``), bind it and
    set ``dist.port`` and ``dist.endpoint``. Blocks (DNS) for a host name. Raises what
    binding raises, with the sockets closed."""
    dist.ctx = zmq.Context.instance()
    dist.router = router = new_socket(dist.ctx, zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVHWM, dist.hwm)
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)
    router.setsockopt(zmq.MAXMSGSIZE, dist.max_frame)
    if dist.encrypt:
        router.setsockopt(zmq.CURVE_SERVER, 1)
        router.setsockopt(zmq.CURVE_SECRETKEY, dist.curve_secret)
        dist.router_monitor = router.get_monitor_socket(
            _HANDSHAKE_EVENTS,
            addr=f"inproc://beamlike-dist-router-{os.getpid()}-{next(_monitor_ids)}",
        )
    try:
        interface = bind if bind is not None else _interface(host)
        router.bind(f"tcp://{bracket(interface)}:{port if port else '*'}")
        endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        dist.port = int(endpoint.rpartition(":")[2])
        dist.endpoint = f"tcp://{bracket(host)}:{dist.port}"
        dist.router_ready = Readiness(dist.node, router, POLLIN, persistent=True, run_now=True)
    except BaseException:
        close_router(dist)
        raise


def close_router(dist: DistNode) -> None:
    """Close the ROUTER, its monitor first (see ``close_sockets``). Never blocks."""
    if dist.router_ready is not None:
        dist.router_ready.close()  # before the socket; the reader sees the node closed
    if dist.router_monitor is not None:
        try:
            dist.router.disable_monitor()
        except zmq.ZMQError:
            pass
        dist.router_monitor.close(linger=0)
    dist.router.close(linger=0)


def reader_main(dist: DistNode) -> None:
    """The body of the reader process: read the ROUTER and handle each message, until
    the node closes; then shut the node's distribution down. Blocks.

    After each message it lets the processes that message woke run first (they hand
    back to it when they block), then reads on; when nothing is left it waits on the
    ROUTER, and its next signal runs it straight from the event loop. While messages
    keep coming it lets the event loop itself run at least every ``HUB_TURN`` seconds."""
    node = dist.node
    router = dist.router
    ready = dist.router_ready
    handle = dist.handle
    me = current_process()
    monotonic = time.monotonic
    try:
        readable = ready.ready()
        hub_turn = monotonic()
        while not dist.closed:
            if not readable:
                ready.wait(me)  # the event loop runs meanwhile
                hub_turn = monotonic()
                readable = True  # a signal: most likely a message (else zmq.Again below)
                continue
            try:
                frames = recv_message(router)
            except zmq.Again:
                readable = False
                continue
            handle(frames)
            if node.runq:
                if monotonic() - hub_turn < HUB_TURN:
                    yield_to_runnable(me)  # straight to them: the lowest latency
                else:
                    sleep(0)  # through the event loop, which polls I/O and timers
                    hub_turn = monotonic()
            readable = ready.ready()
    except zmq.ZMQError:
        if not dist.closed:
            raise
    finally:
        dist.shutdown()


def drain_router(dist: DistNode) -> None:
    """Apply every frame already waiting in the ROUTER. Never blocks."""
    if dist.draining or dist.closed:
        return
    dist.draining = True
    ready = dist.router_ready
    try:
        for _ in range(100_000):
            if not ready.ready():
                return
            dist.handle(recv_message(dist.router))
    except zmq.ZMQError:
        return
    finally:
        dist.draining = False
        ready.kick()  # the reader looks again: this may have taken its signal


def router_monitor_main(dist: DistNode, monitor_socket: Any) -> None:
    """Log the connections the ROUTER refused in the CurveZMQ handshake (a plaintext
    node, or another cookie): they never get as far as a frame. Blocks until the
    monitor is closed (the node stops)."""
    for event, value, endpoint in monitor_events(monitor_socket):
        if event & _HANDSHAKE_EVENTS:
            where = endpoint.decode("utf-8", "replace")
            log.warning("refused a connection on %s: %s", where, curve_failure(value))


def resolve(dist: DistNode, name: str) -> tuple[str, int] | None:
    """Where ``name`` listens, from the resolver; None if unknown. May block."""
    try:
        return dist.resolver.resolve(name)
    except Exception as exc:
        log.info("cannot resolve %s: %s", name, exc)
        return None


def open_dealer(dist: DistNode, conn: Conn, endpoint: str) -> None:
    """Give ``conn`` a new DEALER connected to ``endpoint``, with its monitor reader.
    Never blocks."""
    dealer = new_socket(dist.ctx, zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, dist.ident)
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.SNDHWM, dist.hwm)
    dealer.setsockopt(zmq.RCVHWM, dist.hwm)
    secure(dist, dealer, conn.peer)
    events = zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED | _HANDSHAKE_EVENTS
    monitor_socket = dealer.get_monitor_socket(
        events, addr=f"inproc://beamlike-dist-monitor-{os.getpid()}-{next(_monitor_ids)}"
    )
    dealer.connect(endpoint)
    conn.dealer = dealer
    conn.dealer_ready = Readiness(dist.node, dealer, POLLOUT)
    conn.monitor_socket = monitor_socket
    conn.endpoint = endpoint
    dist.spawn_system(monitor_main, dist, conn, dealer, monitor_socket)


def secure(dist: DistNode, dealer: Any, peer: str) -> None:
    """Make ``dealer`` a CurveZMQ client of ``peer``, when this node encrypts."""
    if dist.encrypt:
        dealer.setsockopt(zmq.CURVE_SERVERKEY, curve_keypair(dist.cookie, peer)[0])
        dealer.setsockopt(zmq.CURVE_PUBLICKEY, dist.curve_public)
        dealer.setsockopt(zmq.CURVE_SECRETKEY, dist.curve_secret)


def close_sockets(dist: DistNode, conn: Conn, farewell: list[bytes] | None = None) -> None:
    """Close ``conn``'s DEALER (after a best-effort last frame) and monitor socket.
    Never blocks."""
    dealer, monitor_socket, ready = conn.dealer, conn.monitor_socket, conn.dealer_ready
    conn.dealer = conn.monitor_socket = conn.dealer_ready = None
    if ready is not None:
        ready.close()  # before the socket; a writer waiting for room goes on
    if dealer is not None:
        # First stop the monitor: libzmq's I/O thread sends each event with a
        # blocking send, and with our end of the monitor closed, the next event of
        # the (lingering) DEALER would block that thread, and every socket with it.
        try:
            dealer.disable_monitor()
        except zmq.ZMQError:
            pass
        linger = 0
        if farewell is not None:
            try:
                dealer.send_multipart(farewell, flags=zmq.NOBLOCK)
                linger = FAREWELL_LINGER_MS
            except zmq.ZMQError:
                pass
        dealer.close(linger=linger)
    if monitor_socket is not None:
        monitor_socket.close(linger=0)


def _interface(host: str) -> str:
    """The address to bind for the host part of a node name. Blocks (DNS) for a name."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
        return host.strip("[]")
    except OSError:
        return socket.gethostbyname(host)
