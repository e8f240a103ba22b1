"""The peer table: this node's connections by peer name, made on first use and torn down
exactly once, and who is told when a peer comes or goes.

=====================================  ===================================================
function                               what it does
=====================================  ===================================================
``conn_for(dist, peer)``               the connection to ``peer``, started if there is none
``new_conn(dist, peer, role)``         a connection in SETUP, with its writer process
``connect(dist, peer)``                connect now; blocks until UP or failed
``disconnect(dist, peer)``             tear the connection down (``"disconnect"``)
``nodes(dist)``                        the peers whose connection is UP
``up(dist, conn)``                     the handshake succeeded: NodeUp, waiters, writer
``teardown(dist, conn, reason, ...)``  the connection is gone: NodeDown, ``"noconnection"``
``monitor_node``, ``monitor_nodes``    who gets NodeDown / NodeUp
=====================================  ===================================================

``teardown`` is the one place a connection ends, whatever the cause (the peer closed or
was killed, a tick timeout, a protocol error, ``disconnect``, this node stopping). It
runs after every operation already received from that peer was applied (the reader
applies frames in order, and the monitor reader and the ticker drain the ROUTER before
they declare a peer lost), so ``connection_lost`` fires links and monitors last.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from beamlike._core.ids import Ref
from beamlike._core.mailbox import receive_matching
from beamlike._core.node import current_process
from beamlike._core.remote import connection_lost
from beamlike._core.signals import deliver
from beamlike.dist.connection import DOWN, INITIATOR, UP, Conn, writer_main
from beamlike.dist.names import full_name, plausible
from beamlike.dist.wire import BYE, REFUSED, pack_body, session_id
from beamlike.messages import NodeDown, NodeUp

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = [
    "SPAWNED",
    "conn_for",
    "connect",
    "disconnect",
    "monitor_node",
    "monitor_nodes",
    "new_conn",
    "nodes",
    "teardown",
    "up",
    "wait_for",
]

log = logging.getLogger("beamlike.dist")

_CONNECTED = "beamlike.dist:connected"
SPAWNED = "beamlike.dist:spawned"  # the answer to a remote spawn, to the waiting caller


def conn_for(dist: DistNode, peer: str) -> Conn | None:
    """The connection to ``peer``, started if there is none; None when ``peer`` cannot
    be reached at all (then its links and monitors have fired). Never blocks."""
    conn = dist.conns.get(peer)
    if conn is not None:
        return conn
    if dist.closed or peer == dist.name or not plausible(peer):
        connection_lost(dist.node, peer)
        return None
    return new_conn(dist, peer, INITIATOR)


def new_conn(dist: DistNode, peer: str, role: str) -> Conn:
    """A new connection to ``peer`` in SETUP, in the table, with its writer. Never
    blocks."""
    conn = Conn(peer, role, time.monotonic())
    dist.conns[peer] = conn
    conn.writer = dist.spawn_system(writer_main, dist, conn)
    return conn


def connect(dist: DistNode, peer: str) -> bool:
    """Connect to ``peer``. Blocks until connected or failed; returns which."""
    peer = full_name(peer)
    if peer == dist.name:
        return True
    conn = dist.conns.get(peer)
    if conn is not None and conn.state is UP:
        return True
    if dist.closed:
        return False
    if conn is None:
        conn = new_conn(dist, peer, INITIATOR)
    me = current_process()
    ref = dist.node.make_ref()
    conn.waiters.append((me, ref))
    message = wait_for(me, _CONNECTED, ref)
    return bool(message[2])


def disconnect(dist: DistNode, peer: str) -> bool:
    """Close the connection to ``peer``: its links and monitors fire with
    ``"noconnection"``, NodeDown goes out. Returns whether it was connected. Never
    blocks."""
    conn = dist.conns.get(full_name(peer))
    if conn is None:
        return False
    was_up = conn.state is UP
    teardown(dist, conn, "disconnect", "disconnected by this node", quiet=True)
    return was_up


def nodes(dist: DistNode) -> list[str]:
    """Names of the connected nodes. Never blocks."""
    return sorted(name for name, conn in dist.conns.items() if conn.state is UP)


def up(dist: DistNode, conn: Conn) -> None:
    """The handshake of ``conn`` succeeded. Never blocks."""
    now = time.monotonic()
    conn.sid = session_id(conn.nonce_a, conn.nonce_b)
    conn.state = UP
    conn.last_recv = conn.last_sent = now
    log.info("connected to %s (%s)", conn.peer, conn.role)
    waiters, conn.waiters = conn.waiters, []
    for proc, ref in waiters:
        deliver(proc, (_CONNECTED, ref, True))
    _notify_subscribers(dist, NodeUp(conn.peer))
    conn.wake()


def teardown(
    dist: DistNode,
    conn: Conn,
    reason: str,
    why: str = "",
    *,
    refusal: str | None = None,
    quiet: bool = False,
) -> None:
    """``conn`` is gone: close it, fire the links and monitors of its peer with
    ``"noconnection"`` and send NodeDown. Idempotent. Never blocks (but a caller linked
    to a process of that node may be killed by its exit signal)."""
    if conn.state is DOWN:
        return
    was_up = conn.state is UP
    conn.state = DOWN
    if dist.conns.get(conn.peer) is conn:
        del dist.conns[conn.peer]
    farewell = None
    if was_up:
        farewell = [BYE, conn.sid]
    elif refusal is not None:
        farewell = [REFUSED, pack_body([refusal])]
    dist.close_sockets(conn, farewell)
    conn.queue.clear()
    conn.queued_bytes = 0
    conn.control.clear()
    conn.release_busy()
    conn.wake()
    if was_up:
        log.info("connection to %s lost: %s (%s)", conn.peer, why or reason, reason)
    elif not quiet:
        log.info("connection to %s failed: %s (%s)", conn.peer, why or reason, reason)
    waiters, conn.waiters = conn.waiters, []
    for proc, ref in waiters:
        deliver(proc, (_CONNECTED, ref, False))
    spawns, conn.spawns = conn.spawns, {}
    for req, (proc, _link, _mref) in spawns.items():
        deliver(proc, (SPAWNED, req, ("error", f"noconnection ({reason})")))
    down = NodeDown(conn.peer, reason)
    for pid in dist.node_monitors.pop(conn.peer, ()):
        proc = dist.node.lookup(pid)
        if proc is not None:
            deliver(proc, down)
    if was_up:
        _notify_subscribers(dist, down)
    connection_lost(dist.node, conn.peer)  # last: it may kill the caller


def _notify_subscribers(dist: DistNode, message: Any) -> None:
    for pid in list(dist.subscribers):
        proc = dist.node.lookup(pid)
        if proc is None:
            dist.subscribers.discard(pid)
        else:
            deliver(proc, message)


def monitor_node(dist: DistNode, peer: str, flag: bool) -> None:
    """The caller gets ``NodeDown(peer, reason)`` when ``peer`` goes down (at once if it
    cannot be connected). Never blocks."""
    peer = full_name(peer)
    me = current_process()
    if not flag:
        pids = dist.node_monitors.get(peer)
        if pids:
            pids[:] = [pid for pid in pids if pid != me.pid]
            if not pids:
                del dist.node_monitors[peer]
        return
    if peer == dist.name:
        return
    conn = dist.conns.get(peer)
    if conn is None and (dist.closed or not plausible(peer)):
        deliver(me, NodeDown(peer, "connection_setup_failed"))
        return
    dist.node_monitors.setdefault(peer, []).append(me.pid)
    if conn is None:
        new_conn(dist, peer, INITIATOR)


def monitor_nodes(dist: DistNode, flag: bool) -> None:
    """Subscribe (or not) the caller to NodeUp/NodeDown of every node. Never blocks."""
    me = current_process()
    if flag:
        dist.subscribers.add(me.pid)
    else:
        dist.subscribers.discard(me.pid)


def wait_for(me: Any, kind: str, ref: Ref, timeout: float | None = None) -> Any:
    """Block the process ``me`` until ``(kind, ref, value)`` arrives; return it (None
    after ``timeout`` seconds)."""

    def match(message: Any) -> bool:
        return (
            message.__class__ is tuple
            and len(message) == 3
            and message[0] == kind
            and message[1] == ref
        )

    return receive_matching(me, match, timeout, None)
