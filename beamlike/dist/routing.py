"""The distribution router: operations between processes of two nodes, out and in.

The essay
---------
Out: the kernel calls ``DistNode.send``, ``link``, ``monitor``, ``exit``, ... (the
``Distribution`` protocol of ``beamlike._core.remote``) for a pid or ``(name, node)`` of
another node. Each is encoded here, by the calling process (so a term that cannot travel
raises ``codec.EncodeError`` at the call site), and queued on the one connection to that
node (made on first use); nothing else reorders them. In: ``handle`` takes each message
read from the ROUTER; a data frame must belong to the peer's session and carry exactly
the next sequence number, and its operations are applied in order, each with the
kernel's ``incoming_*`` function.

Guarantees (Erlang's, per pair of nodes while their connection lasts): operations from
one node to another are applied in the order made, so messages, link and monitor
signals, exit signals and Downs between two processes arrive in the order sent, and a
Down or link exit comes after everything its process sent before it exited. A frame out
of sequence, of another session, undecodable, too large, or with a malformed op tears
down that connection only (``"protocol_error"``); so does an op in which the peer speaks
for a process that is not its own. Only ``send`` blocks, and only beyond ``busy_limit``
queued bytes (backpressure); links, monitors, exit signals and replies are always
queued.

Non-guarantees: nothing is retransmitted after a connection is lost; a message to a pid
of a node that cannot be reached is dropped (its links and monitors report the loss).

Remote spawn is Erlang's ``spawn_request``: a request op, a reply op with the pid, the
link and monitor set up on both sides before the caller learns the pid; a caller that
gave up (timeout) has what it spawned killed when the late reply comes.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from beamlike._core.ids import Pid, Ref
from beamlike._core.node import current_process
from beamlike._core.process import DEAD, EXITING, RUNNING, Worker, current_greenlet
from beamlike._core.remote import (
    incoming_demonitor,
    incoming_down,
    incoming_exit,
    incoming_link,
    incoming_link_exit,
    incoming_monitor,
    incoming_reply,
    incoming_send,
    incoming_unlink,
    index_remote,
    record_remote_link,
    record_remote_monitor,
)
from beamlike._core.signals import deliver
from beamlike.dist import codec
from beamlike.dist.connection import DOWN, UP, Conn, wait_not_busy
from beamlike.dist.errors import DistError
from beamlike.dist.names import full_name, function_name, resolve_function
from beamlike.dist.peers import SPAWNED, wait_for
from beamlike.dist.wire import (
    OP_DEMONITOR,
    OP_DOWN,
    OP_EXIT,
    OP_LINK,
    OP_LINK_EXIT,
    OP_MONITOR,
    OP_REPLY,
    OP_SEND,
    OP_SPAWN_REPLY,
    OP_SPAWN_REQUEST,
    OP_TICK,
    OP_UNLINK,
    ident_text,
    short,
    stray,
    unpack_seq,
)

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = [
    "demonitor",
    "down",
    "exit",
    "handle",
    "link",
    "link_exit",
    "monitor",
    "reply",
    "send",
    "spawn",
    "unlink",
]

log = logging.getLogger("beamlike.dist")

_encode = codec.encode
_decode_batch = codec.decode_batch
_monotonic = time.monotonic


# -- out: the Distribution protocol (called by the kernel) ------------------------------------


def send(dist: DistNode, sender: Pid | None, dest: Pid | tuple[str, str], message: Any) -> None:
    """Send ``message`` to a pid or ``(name, node)`` of another node (at once on an idle
    connection, else through its queue: ``Conn.enqueue``). Blocks only when more than
    ``busy_limit`` bytes already wait for that node (backpressure). Raises
    ``codec.EncodeError`` for a message that cannot travel."""
    if dest.__class__ is Pid:
        peer = dest.node  # type: ignore[union-attr]
        target: Any = dest
    else:
        target, peer = dest  # type: ignore[misc]
    data = _encode((OP_SEND, sender, target, message))
    if len(data) > dist.max_op:
        _too_large(dist, data)
    conn = dist.conns.get(peer) or dist.conn_for(peer)
    if conn is not None:
        conn.enqueue(data)
        if conn.queued_bytes > dist.busy_limit:
            _block_if_busy(dist, conn)


def reply(dist: DistNode, caller: Pid, tag: Ref, value: Any) -> None:
    """Queue a call reply. Never blocks. Raises ``codec.EncodeError``."""
    data = codec.encode((OP_REPLY, tag, value))
    _check_size(dist, data)
    _enqueue(dist, caller.node, data)


def link(dist: DistNode, local: Pid, remote: Pid) -> None:
    """Queue a link signal. Never blocks."""
    _enqueue(dist, remote.node, codec.encode((OP_LINK, local, remote)))


def unlink(dist: DistNode, local: Pid, remote: Pid) -> None:
    """Queue an unlink signal. Never blocks."""
    _enqueue(dist, remote.node, codec.encode((OP_UNLINK, local, remote)))


def exit(dist: DistNode, sender: Pid, remote: Pid, reason: Any) -> None:
    """Queue an exit signal (``exit(remote, reason)``). Never blocks."""
    _enqueue(dist, remote.node, encode_signal((OP_EXIT, sender, remote), reason))


def link_exit(dist: DistNode, dead: Pid, remote: Pid, reason: Any) -> None:
    """Queue the link exit signal of the local ``dead`` to ``remote``. Never blocks."""
    _enqueue(dist, remote.node, encode_signal((OP_LINK_EXIT, dead, remote), reason))


def monitor(dist: DistNode, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
    """Queue a monitor request. Never blocks."""
    peer, wire = _target(target)
    _enqueue(dist, peer, codec.encode((OP_MONITOR, watcher, wire, ref)))


def demonitor(dist: DistNode, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
    """Queue a demonitor, if there is a connection to undo it on. Never blocks."""
    peer, wire = _target(target)
    if peer in dist.conns:  # no connection: nothing to undo over there
        _enqueue(dist, peer, codec.encode((OP_DEMONITOR, watcher, wire, ref)))


def down(dist: DistNode, watcher: Pid, ref: Ref, shown: Any, reason: Any) -> None:
    """Queue the Down of a local process monitored by the remote ``watcher``. Never
    blocks."""
    _enqueue(dist, watcher.node, encode_signal((OP_DOWN, watcher, ref, shown), reason))


def _enqueue(dist: DistNode, peer: str, data: bytes) -> None:
    conn = dist.conns.get(peer) or dist.conn_for(peer)
    if conn is not None:
        conn.enqueue(data)


def _block_if_busy(dist: DistNode, conn: Conn) -> None:
    if conn.queued_bytes <= dist.busy_limit or conn.state is DOWN:
        return
    g = current_greenlet()
    node = dist.node
    proc = g.proc if g.__class__ is Worker else node.adopted.get(g)
    if (
        proc is None
        or proc.node is not node
        or proc.state is not RUNNING
        or proc.pending_exit is not None
        or proc.pid in dist.system
    ):
        return
    while conn.queued_bytes > dist.busy_limit and conn.state is not DOWN:
        wait_not_busy(proc, conn, node.make_ref())


def _check_size(dist: DistNode, data: bytes) -> None:
    if len(data) > dist.max_op:
        _too_large(dist, data)


def _too_large(dist: DistNode, data: bytes) -> None:
    raise DistError(f"a message of {len(data)} bytes cannot travel: the limit is {dist.max_op}")


def encode_signal(head: tuple[Any, ...], reason: Any) -> bytes:
    """An exit signal or Down; a reason that cannot travel goes as its repr."""
    try:
        return codec.encode((*head, reason))
    except codec.EncodeError:
        return codec.encode((*head, repr(reason)))


def _target(target: Any) -> tuple[str, Any]:
    if target.__class__ is Pid:
        return target.node, target
    name, peer = target
    return peer, name


# -- in: frames from the ROUTER -----------------------------------------------------------------


def handle(dist: DistNode, frames: list[bytes]) -> None:
    """Handle one message read from the ROUTER. Never blocks; never raises."""
    try:
        parts = len(frames)
        if parts == 4:
            _on_data(dist, frames)
        elif parts == 3:
            dist.on_control(frames[0], frames[1], frames[2])
        else:
            stray(frames[0] if frames else b"?", f"a message of {parts} parts")
    except Exception:
        log.exception("failed to handle a frame from %r", frames[0][:64] if frames else b"?")
        conn = dist.conns.get(ident_text(frames[0])) if frames else None
        if conn is not None:
            dist.teardown(conn, "protocol_error", "a frame could not be handled")


def _on_data(dist: DistNode, frames: list[bytes]) -> None:
    ident, sid, seq_bytes, batch = frames
    conn = dist.conns.get(ident.decode("utf-8", "replace"))
    if conn is None or conn.state is not UP:
        stray(ident, "a data frame outside any session")
        return
    if sid != conn.sid:
        _protocol_error(dist, conn, "a frame of another session")
        return
    seq = unpack_seq(seq_bytes)
    if seq != conn.in_seq + 1:
        _protocol_error(dist, conn, f"frame {seq} where {conn.in_seq + 1} was due")
        return
    try:  # a batch beyond max_frame never arrives (MAXMSGSIZE), nor decodes (max_bytes)
        ops = _decode_batch(batch, limits=dist.limits)
    except codec.DecodeError as exc:
        _protocol_error(dist, conn, f"an undecodable frame ({exc})")
        return
    conn.in_seq = seq
    conn.last_recv = _monotonic()
    node = dist.node
    for op in ops:
        if conn.state is not UP:
            return
        # The most common op first: a message for a local pid.
        if (
            op.__class__ is tuple
            and len(op) == 4
            and op[0].__class__ is int
            and op[0] == OP_SEND
            and op[2].__class__ is Pid
        ):
            incoming_send(node, op[2], op[3])
            continue
        try:
            ok = _apply(dist, conn, op)
        except (ValueError, TypeError, AttributeError, IndexError):
            ok = False
        if not ok:
            _protocol_error(dist, conn, f"a malformed operation {short(op)}")
            return


def _protocol_error(dist: DistNode, conn: Conn, what: str) -> None:
    log.warning("closing the connection to %s: it sent %s", conn.peer, what)
    dist.teardown(conn, "protocol_error", what, quiet=True)


def _apply(dist: DistNode, conn: Conn, op: Any) -> bool:
    if op.__class__ is not tuple or not op:
        return False
    code = op[0]
    node = dist.node
    size = len(op)
    if code == OP_SEND and size == 4:
        dest = op[2]
        if dest.__class__ is not Pid and dest.__class__ is not str:
            return False
        incoming_send(node, dest, op[3])
    elif code == OP_REPLY and size == 3:
        if op[1].__class__ is not Ref:
            return False
        incoming_reply(node, op[1], op[2])
    elif code in (OP_LINK, OP_UNLINK) and size == 3:
        remote, local = op[1], op[2]
        if not _theirs(remote, conn) or local.__class__ is not Pid:
            return False
        if code == OP_LINK:
            incoming_link(node, local, remote)
        else:
            incoming_unlink(node, local, remote)
    elif code in (OP_EXIT, OP_LINK_EXIT) and size == 4:
        remote, local, reason = op[1], op[2], op[3]
        if not _theirs(remote, conn) or local.__class__ is not Pid:
            return False
        if code == OP_EXIT:
            incoming_exit(node, local, remote, reason)
        else:
            incoming_link_exit(node, local, remote, reason)
    elif code in (OP_MONITOR, OP_DEMONITOR) and size == 4:
        watcher, target, ref = op[1], op[2], op[3]
        if (
            not _theirs(watcher, conn)
            or (target.__class__ is not Pid and target.__class__ is not str)
            or ref.__class__ is not Ref
        ):
            return False
        if code == OP_MONITOR:
            incoming_monitor(node, target, watcher, ref)
        else:
            incoming_demonitor(node, target, ref)
    elif code == OP_DOWN and size == 5:
        if op[1].__class__ is not Pid or op[2].__class__ is not Ref:
            return False
        incoming_down(node, op[1], op[2], op[3], op[4])
    elif code == OP_TICK and size == 1:
        pass
    elif code == OP_SPAWN_REQUEST and size == 7:
        return _on_spawn_request(dist, conn, op)
    elif code == OP_SPAWN_REPLY and size == 4:
        return _on_spawn_reply(dist, conn, op)
    else:
        return False
    return True


def _theirs(pid: Any, conn: Conn) -> bool:
    """A pid that the peer of ``conn`` may speak for: one of its own."""
    return pid.__class__ is Pid and pid.node == conn.peer  # type: ignore[no-any-return]


# -- remote spawn ---------------------------------------------------------------------------------


def spawn(
    dist: DistNode,
    peer: str,
    fn: Any,
    args: tuple[Any, ...],
    *,
    link: bool,
    monitor: bool,
    timeout: float | None = None,
) -> Any:
    """Spawn ``fn(*args)`` on ``peer``; the pid, or ``(pid, ref)`` with ``monitor``.

    Blocks until the other node answers, at most ``timeout`` seconds (None: until it
    answers or is lost); a process it spawns after that is killed. Raises ``DistError``
    when it cannot (no connection, it could not find the function, or ``"timeout"``)."""
    name = function_name(fn)
    peer = full_name(peer)
    me = current_process()
    req = dist.node.make_ref()
    mref = dist.node.make_ref() if monitor else None
    data = codec.encode((OP_SPAWN_REQUEST, req, me.pid, name, list(args), link, mref))
    _check_size(dist, data)
    conn = dist.conn_for(peer)
    if conn is None:
        raise DistError(f"cannot spawn {name} on {peer}: noconnection")
    conn.spawns[req] = (me, link, mref)
    conn.enqueue(data)
    message = wait_for(me, SPAWNED, req, timeout)
    if message is None:
        if conn.spawns.pop(req, None) is not None:
            conn.abandoned_spawns[req] = me.pid
        raise DistError(f"cannot spawn {name} on {peer}: timeout")
    answer = message[2]
    if answer[0] != "ok":
        raise DistError(f"cannot spawn {name} on {peer}: {answer[1]}")
    pid = answer[1]
    return (pid, mref) if monitor else pid


def _on_spawn_request(dist: DistNode, conn: Conn, op: Any) -> bool:
    _, req, caller, name, args, link, mref = op
    if (
        req.__class__ is not Ref
        or caller.__class__ is not Pid
        or caller.node != conn.peer
        or name.__class__ is not str
        or args.__class__ is not list
        or link.__class__ is not bool
        or not (mref is None or mref.__class__ is Ref)
    ):
        return False
    node = dist.node
    try:
        fn = resolve_function(name)
        pid, _ = node.spawn(fn, tuple(args), {})
    except Exception as exc:
        conn.enqueue(codec.encode((OP_SPAWN_REPLY, req, None, str(exc))))
        return True
    proc = pid._proc
    if link:
        proc.links = {caller}
        index_remote(node, pid, caller.node)
    if mref is not None:
        proc.monitored_by = {mref: (caller, pid)}
        index_remote(node, pid, caller.node)
    conn.enqueue(codec.encode((OP_SPAWN_REPLY, req, pid, None)))
    return True


def _on_spawn_reply(dist: DistNode, conn: Conn, op: Any) -> bool:
    _, req, pid, error = op
    if req.__class__ is not Ref or not (pid is None or pid.__class__ is Pid):
        return False
    entry = conn.spawns.pop(req, None)
    if entry is None:
        caller = conn.abandoned_spawns.pop(req, None)
        if caller is not None and pid is not None and pid.node == conn.peer:
            conn.enqueue(encode_signal((OP_EXIT, caller, pid), "kill"))
        return True
    proc, link, mref = entry
    if pid is None:
        deliver(proc, (SPAWNED, req, ("error", str(error))))
        return True
    if pid.node != conn.peer:
        return False
    if proc.state is DEAD or proc.state is EXITING or proc.pending_exit is not None:
        if link:
            conn.enqueue(encode_signal((OP_LINK_EXIT, proc.pid, pid), "noproc"))
        if mref is not None:
            conn.enqueue(codec.encode((OP_DEMONITOR, proc.pid, pid, mref)))
        return True
    if link:
        record_remote_link(proc, pid)
    if mref is not None:
        record_remote_monitor(proc, pid, mref)
    deliver(proc, (SPAWNED, req, ("ok", pid)))
    return True
