"""One connection to another node: the handshake, the frames, and its two processes.

The essay
---------
A connection between nodes A and B is two ZeroMQ pipes, one per direction: A's DEALER
(routing id ``"A"``) connected to B's ROUTER carries everything A sends to B, and B's
DEALER connected to A's ROUTER everything B sends to A. So each side sends on a socket
of its own and watches it with a socket monitor: when the TCP connection under it breaks
(the peer was killed, its host vanished) the monitor reports ``EVENT_DISCONNECTED`` at
once and the connection is torn down.

The handshake never sends the cookie (Erlang's challenge/response, with HMAC-SHA256)::

    A -> B  HELLO(version, name_a, creation_a, endpoint_a, nonce_a)
    B -> A  CHALLENGE(name_b, creation_b, nonce_b, mac_b, abandoned)   B connects to endpoint_a
    A -> B  ACK(mac_a)
    mac_x = HMAC-SHA256(cookie, role_x + name_a + creation_a + name_b + creation_b
                                + nonce_a + nonce_b)          role_b = b"B", role_a = b"A"

(each field in a canonical byte encoding, ``field``). A checks ``mac_b`` before it sends
anything else, B checks ``mac_a``; a side that finds a bad one says ``REFUSED`` and
closes. Both then derive the session id from the two nonces. After the handshake, frames
are ``[session_id, seq, batch]``: ``seq`` counts from 1 in each direction and must
arrive exactly in order, and ``batch`` is ``codec.encode_batch`` of the encoded
operations (each op is encoded by the process that makes it, so a term that cannot
travel fails at the call site, and the queue is counted in bytes). ``BYE`` closes a
session on purpose.

Per connection, two processes of the node run: the *writer*, which owns the DEALER and
sends the handshake frames, then every queued operation, several per frame when several
wait (this batching is what makes throughput high under load); and the *monitor
reader*, which reads the socket monitor. The writer blocks (yields) when the DEALER is
at its high-water mark and never drops: that, and a sender that blocks when too many
bytes wait for the writer (``DistNode.busy_limit``), is the backpressure.

Prior art: Erlang's distribution protocol (``erts/doc/src/erl_dist_protocol.xml``,
``lib/kernel/src/dist_util.erl``): the handshake's challenge/response, the creation that
tells incarnations apart, ticks, and the dist buffer busy limit that suspends senders.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgpack
import zmq.green as zmq
from zmq.utils import z85

from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import receive_matching
from beamlike._core.process import WAITING, block, wake
from beamlike._core.signals import deliver, raise_pending_exit
from beamlike.errors import BeamlikeError, ProcessExit
from beamlike.process import receive
from beamlike.timer import sleep

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = [
    "PROTOCOL_VERSION",
    "Conn",
    "HandshakeError",
    "curve_failure",
    "curve_keypair",
    "session_id",
    "handshake_mac",
]

log = logging.getLogger("beamlike.dist")

PROTOCOL_VERSION = 1
# libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: the peer speaks another security
# mechanism (plaintext NULL against CURVE), the value of a HANDSHAKE_FAILED_PROTOCOL event.
ZMTP_MECHANISM_MISMATCH = 0x11000002
NONCE_SIZE = 32
SID_SIZE = 16
MAC_SIZE = 32
MAX_HANDSHAKE = 4096  # bytes of one handshake frame body

# Control frames (two parts after the routing id): tag, body.
HELLO = b"HELLO"
CHALLENGE = b"CHALLENGE"
ACK = b"ACK"
REFUSED = b"REFUSED"
BYE = b"BYE"

# Operation codes (the first item of every encoded op).
OP_SEND = 1  # (OP_SEND, sender, dest pid or name, message)
OP_REPLY = 2  # (OP_REPLY, tag, value)
OP_LINK = 3  # (OP_LINK, from, to)
OP_UNLINK = 4  # (OP_UNLINK, from, to)
OP_EXIT = 5  # (OP_EXIT, from, to, reason)
OP_LINK_EXIT = 6  # (OP_LINK_EXIT, dead, to, reason)
OP_MONITOR = 7  # (OP_MONITOR, watcher, target pid or name, ref)
OP_DEMONITOR = 8  # (OP_DEMONITOR, watcher, target pid or name, ref)
OP_DOWN = 9  # (OP_DOWN, watcher, ref, shown, reason)
OP_SPAWN_REQUEST = 10  # (OP_SPAWN_REQUEST, req, caller, "mod:fn", args, link, monitor ref)
OP_SPAWN_REPLY = 11  # (OP_SPAWN_REPLY, req, pid or None, error text or None)
OP_TICK = 12  # (OP_TICK,)

# Connection states and roles.
SETUP = "setup"
UP = "up"
DOWN = "down"
INITIATOR = "initiator"
RESPONDER = "responder"

# The writer puts at most this many ops / bytes in one frame.
MAX_BATCH_OPS = 4096
MAX_BATCH_BYTES = 1 << 20

# A reader or writer busy with a stream of frames lets the event loop (I/O, timers) run
# at least this often; in between it hands over to runnable processes directly.
HUB_TURN = 0.02

_SEQ = struct.Struct(">Q")
_EVENT = struct.Struct("=hi")

_WAKE = "beamlike.dist:wake"


class HandshakeError(BeamlikeError):
    """A handshake frame that is malformed or does not fit the connection's state."""


# -- the handshake's bytes -----------------------------------------------------------------


def field(value: str | int | bytes) -> bytes:
    """The canonical bytes of one handshake field, for the MAC. Never blocks."""
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"s" + struct.pack(">I", len(data)) + data
    if isinstance(value, int):
        return b"i" + struct.pack(">Q", value)
    return b"b" + struct.pack(">I", len(value)) + value


def handshake_mac(
    cookie: bytes,
    role: bytes,
    name_a: str,
    creation_a: int,
    name_b: str,
    creation_b: int,
    nonce_a: bytes,
    nonce_b: bytes,
) -> bytes:
    """HMAC-SHA256 over the handshake's fields, keyed by the cookie. Never blocks."""
    message = role + b"".join(
        field(v) for v in (name_a, creation_a, name_b, creation_b, nonce_a, nonce_b)
    )
    return hmac.new(cookie, message, hashlib.sha256).digest()


def curve_keypair(cookie: bytes, name: str) -> tuple[bytes, bytes]:
    """The CurveZMQ keypair of the node ``name`` in the cluster of ``cookie``: ``(public,
    secret)``, Z85-encoded. Derived (HMAC-SHA256 keyed by the cookie), so any node that
    has the cookie knows every node's public key from its name, and only such a node can
    hold its secret key. Never blocks."""
    secret = hmac.new(cookie, b"beamlike-curve-v1\0" + field(name), hashlib.sha256).digest()
    secret_z85 = z85.encode(secret)
    return zmq.curve_public(secret_z85), secret_z85


def curve_failure(value: int) -> str:
    """Why a CurveZMQ handshake failed, from the value of a ``HANDSHAKE_FAILED_*`` socket
    monitor event. Never blocks."""
    if value == ZMTP_MECHANISM_MISMATCH:
        return "it does not encrypt (this node was started with encrypt=True)"
    # A connecting side often sees only the connection closed (the other side gave up
    # first): it cannot tell a plaintext peer from one with another cookie.
    return "the CurveZMQ handshake failed (it does not encrypt, or has another cookie)"


def session_id(nonce_a: bytes, nonce_b: bytes) -> bytes:
    """The session id both sides derive from the two nonces. Never blocks."""
    return hashlib.sha256(b"beamlike-session" + nonce_a + nonce_b).digest()[:SID_SIZE]


def new_nonce() -> bytes:
    """A fresh random nonce. Never blocks."""
    return os.urandom(NONCE_SIZE)


def pack_body(items: list[Any]) -> bytes:
    """A handshake body: a msgpack array of plain values. Never blocks."""
    return msgpack.packb(items, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_body(body: bytes, kinds: tuple[type, ...], what: str) -> list[Any]:
    """Parse a handshake body and check the type of each item. Never blocks.

    Raises:
        HandshakeError: not a msgpack array of exactly those types.
    """
    if len(body) > MAX_HANDSHAKE:
        raise HandshakeError(f"{what} of {len(body)} bytes is too long")
    try:
        items = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise HandshakeError(f"{what} is not valid msgpack: {exc}") from None
    if not isinstance(items, list) or len(items) != len(kinds):
        raise HandshakeError(f"{what} must be an array of {len(kinds)} items")
    for item, kind in zip(items, kinds, strict=True):
        if type(item) is not kind:
            raise HandshakeError(f"{what} has {type(item).__name__} where {kind.__name__} goes")
    return items


def _array_header(n: int) -> bytes:
    if n <= 15:
        return bytes((0x90 | n,))
    if n <= 0xFFFF:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def encode_batch(ops: list[bytes]) -> bytes:
    """A batch frame from ops encoded one by one (``codec.encode``): byte for byte what
    ``codec.encode_batch`` makes of the ops themselves, an msgpack array. Never blocks."""
    return _array_header(len(ops)) + b"".join(ops)


def pack_seq(seq: int) -> bytes:
    """A sequence number as 8 big-endian bytes. Never blocks."""
    return _SEQ.pack(seq)


def unpack_seq(data: bytes) -> int | None:
    """The sequence number of a frame, or None if it is not 8 bytes. Never blocks."""
    if len(data) != 8:
        return None
    return int(_SEQ.unpack(data)[0])


# -- a connection ----------------------------------------------------------------------------


class Conn:
    """What this node knows of its connection to one peer.

    ``state`` goes SETUP -> UP -> DOWN (or SETUP -> DOWN); a Conn is never reused after
    DOWN: the next operation for that peer makes a new one. In SETUP, ``role`` says who
    started the handshake; a simultaneous connect may turn an initiator into a responder
    (``DistNode.on_hello``), keeping the queue and the waiters.
    """

    def __init__(self, peer: str, role: str, now: float) -> None:
        self.peer = peer
        self.ident = peer.encode("utf-8")
        self.role = role
        self.state = SETUP
        self.peer_creation = 0
        self.nonce_a = b""  # the initiator's nonce
        self.nonce_b = b""  # the responder's nonce
        self.sid = b""
        self.abandoned = b""  # nonce of the peer's HELLO it gave up for ours
        self.endpoint = ""  # where the peer listens
        self.dealer: Any = None
        self.monitor_socket: Any = None
        self.control: deque[list[bytes]] = deque()  # handshake frames, sent first
        self.queue: deque[bytes] = deque()  # encoded ops, sent once UP
        self.queued_bytes = 0
        self.out_seq = 0
        self.in_seq = 0
        self.started = now
        self.last_recv = now
        self.last_sent = now
        self.writer: Any = None  # the writer's process record
        self.writer_idle = False
        self.sending = False  # the writer is inside a send on the DEALER
        self.tick_pending = False
        self.waiters: list[tuple[Any, Ref]] = []  # connect() callers
        self.busy: list[tuple[Any, Ref]] = []  # senders blocked by the busy limit
        self.spawns: dict[Ref, tuple[Any, bool, Ref | None]] = {}  # remote spawns waiting
        self.abandoned_spawns: dict[Ref, Pid] = {}  # timed out: kill what they spawn

    def __repr__(self) -> str:
        return f"<Conn {self.peer} {self.state} {self.role}>"

    def enqueue(self, data: bytes) -> None:
        """Queue an encoded op and wake the writer. Never blocks."""
        self.queue.append(data)
        self.queued_bytes += len(data)
        if self.writer_idle and self.state is UP:
            self.wake()

    def wake(self) -> None:
        """Wake the writer if it waits for work. Never blocks."""
        if self.writer_idle and self.writer is not None:
            self.writer_idle = False
            deliver(self.writer, _WAKE)

    def release_busy(self) -> None:
        """Let the senders blocked by the busy limit go on. Never blocks."""
        busy, self.busy = self.busy, []
        for proc, token in busy:
            deliver(proc, (_RESUME, token))


_RESUME = "beamlike.dist:resume"


def yield_to_runnable(proc: Any) -> None:
    """Let the processes of the run queue run, then go on: a reader or writer that
    woke many processes must not hold the node while more frames keep coming. Blocks
    briefly (no timer: the caller is simply queued behind them)."""
    proc.state = WAITING
    wake(proc)
    block(proc)
    if proc.pending_exit is not None:
        raise_pending_exit(proc)


def wait_not_busy(proc: Any, conn: Conn, token: Ref) -> None:
    """Block the calling process ``proc`` until the writer of ``conn`` has caught up (or
    the connection is gone). Blocks; an exit signal interrupts it."""
    conn.busy.append((proc, token))

    def resumed(message: Any) -> bool:
        return (
            message.__class__ is tuple
            and len(message) == 2
            and message[0] == _RESUME
            and message[1] is token
        )

    try:
        receive_matching(proc, resumed, None, None)
    finally:
        if conn.busy:
            conn.busy = [entry for entry in conn.busy if entry[1] is not token]


# -- the writer ------------------------------------------------------------------------------


def writer_main(dist: DistNode, conn: Conn) -> None:
    """The body of a connection's writer process (see the module docstring). Blocks."""
    try:
        if conn.role == INITIATOR and conn.dealer is None:
            found = dist.resolve(conn.peer)  # may block (a port-mapper query)
            if conn.state is not SETUP:
                return
            if conn.role == INITIATOR and conn.dealer is None:  # no simultaneous connect won
                if found is None:
                    dist.teardown(
                        conn, "connection_setup_failed", f"cannot resolve {conn.peer}", quiet=True
                    )
                    return
                log.debug("connecting to %s at %s:%s", conn.peer, found[0], found[1])
                dist.open_dealer(conn, f"tcp://{_host(found[0])}:{found[1]}")
                dist.send_hello(conn)
        _pump(dist, conn)
    except ProcessExit:
        raise
    except Exception as exc:  # a bug: never leave a connection half alive
        if conn.state is not DOWN:
            log.exception("the writer of the connection to %s failed", conn.peer)
            dist.teardown(conn, "connection_closed", f"writer failed: {exc!r}")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _pump(dist: DistNode, conn: Conn) -> None:
    hub_turn = time.monotonic()
    while conn.state is not DOWN:
        dealer = conn.dealer
        if conn.control and dealer is not None:
            frame = conn.control[0]
            if not _send(conn, dealer, frame):
                continue  # the socket was replaced (simultaneous connect) or closed
            if conn.control and conn.control[0] is frame:
                conn.control.popleft()
            log.debug("sent %s to %s", frame[0].decode("ascii", "replace"), conn.peer)
            continue
        if conn.state is UP and conn.queue:
            ops: list[bytes] = []
            size = 0
            queue = conn.queue
            while queue and len(ops) < MAX_BATCH_OPS:
                if ops and size + len(queue[0]) > MAX_BATCH_BYTES:
                    break
                data = queue.popleft()
                ops.append(data)
                size += len(data)
            conn.queued_bytes -= size
            conn.tick_pending = False
            if conn.busy and conn.queued_bytes <= dist.busy_limit // 2:
                conn.release_busy()
            conn.out_seq += 1
            frame = [conn.sid, pack_seq(conn.out_seq), encode_batch(ops)]
            if not _send(conn, dealer, frame):
                return  # closed: the connection is gone (a DEALER is replaced only in SETUP)
            if conn.last_sent - hub_turn > HUB_TURN:
                sleep(0)  # a stream of frames: let the event loop poll I/O and timers
                hub_turn = time.monotonic()
            continue
        if conn.busy:
            conn.release_busy()
        conn.writer_idle = True
        receive()  # a wake token (Conn.wake delivers one per idle spell)
        conn.writer_idle = False


def _send(conn: Conn, dealer: Any, frame: list[bytes]) -> bool:
    """Send one frame; False when the socket was closed under the writer. Blocks at the
    high-water mark (and, with IMMEDIATE, until the peer is connected)."""
    conn.sending = True
    try:
        dealer.send_multipart(frame)
    except zmq.ZMQError:
        if conn.dealer is dealer and conn.state is not DOWN:
            raise
        return False
    finally:
        conn.sending = False
    conn.last_sent = time.monotonic()
    return True


# -- the monitor reader ----------------------------------------------------------------------


def monitor_main(dist: DistNode, conn: Conn, dealer: Any, monitor_socket: Any) -> None:
    """The body of the process that reads a DEALER's socket monitor, until the monitor
    socket is closed (``DistNode.close_sockets``): it must never stop reading while the
    monitor runs, or libzmq's I/O thread would block on a full monitor pipe. Blocks."""
    while True:
        try:
            frames = monitor_socket.recv_multipart()
        except zmq.ZMQError:
            return  # closed: the connection (or this attempt of it) is over
        if conn.dealer is not dealer or conn.state is DOWN:
            continue
        if len(frames) < 2 or len(frames[0]) < 6:
            continue
        event, value = _EVENT.unpack(frames[0][:6])
        if event == zmq.EVENT_DISCONNECTED:
            dist.drain_router()  # apply what the peer sent before it went
            if conn.dealer is dealer and conn.state is not DOWN:
                dist.teardown(conn, "connection_closed", "the peer closed the connection")
        elif event == zmq.EVENT_CONNECT_RETRIED and conn.state is SETUP:
            dist.teardown(
                conn,
                "connection_setup_failed",
                f"cannot connect to {conn.endpoint}",
                quiet=True,
            )
        elif event in _HANDSHAKE_FAILURES:
            if dist.encrypt:
                why = curve_failure(value)
                log.warning("refused connection to %s: %s", conn.peer, why)
                reason = "connection_setup_failed" if conn.state is SETUP else "connection_closed"
                dist.teardown(conn, reason, why, quiet=True)
            else:
                dist.teardown(conn, "connection_closed", "the ZMTP handshake failed")


_HANDSHAKE_FAILURES = frozenset(
    getattr(zmq, name)
    for name in (
        "EVENT_HANDSHAKE_FAILED_NO_DETAIL",
        "EVENT_HANDSHAKE_FAILED_PROTOCOL",
        "EVENT_HANDSHAKE_FAILED_AUTH",
    )
    if hasattr(zmq, name)
)


def is_pid(value: Any) -> bool:
    """Whether ``value`` is a Pid (decoded ones included). Never blocks."""
    return value.__class__ is Pid
