"""One connection to another node: its state, its queue, and its two processes.

The essay
---------
A connection between nodes A and B is two ZeroMQ pipes, one per direction: A's DEALER
(routing id ``"A"``) connected to B's ROUTER carries everything A sends to B, and B's
DEALER connected to A's ROUTER everything B sends to A. So each side sends on a socket
of its own and watches it with a socket monitor: when the TCP connection under it breaks
(the peer was killed, its host vanished) the monitor reports ``EVENT_DISCONNECTED`` at
once and the connection is torn down. The handshake and the frames are ``wire``'s.

Every operation for the peer is encoded by the process that makes it (so a term that
cannot travel fails at the call site, and the queue is counted in bytes) and leaves in
the order made, in one of two ways:

- *at once*, in a frame of its own sent by the process that made it, when the connection
  is idle: UP, nothing queued, the writer waiting for work, and no frame sent in the
  last ``BATCH_WINDOW``. A lone message (a call, a reply, a ping) thus pays no hand-over
  to another process;
- *through the queue* otherwise: the op is queued and the connection's *writer* process,
  when it runs (the sender's next block at the latest), sends every op queued by then,
  several per frame (up to ``MAX_BATCH_OPS`` / ``MAX_BATCH_BYTES``). Under load one frame
  carries hundreds of ops: this batching is what makes throughput high.

Both ways hold the order: an op goes at once only when nothing is queued or being sent,
and sequence numbers are taken as frames leave. The writer also sends the handshake
frames (before any op) and is the only one that waits: when the DEALER is at its
high-water mark (a slow or frozen peer) the op is queued, and the writer blocks until
there is room. It never drops; that, and a sender that blocks when more than
``DistNode.busy_limit`` bytes wait in the queue, is the backpressure. The second process,
the *monitor reader*, reads the DEALER's socket monitor.

Prior art: Erlang's distribution protocol (``erts/doc/src/erl_dist_protocol.xml``,
``lib/kernel/src/dist_util.erl``): the handshake's challenge/response, the creation that
tells incarnations apart, ticks, and the dist buffer busy limit that suspends senders;
Netty's and Akka's "write and flush when idle" for the first way.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import zmq.green as zmq

from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import receive_matching
from beamlike._core.process import WAITING, block, wake
from beamlike._core.signals import deliver, raise_pending_exit
from beamlike.dist.names import bracket
from beamlike.dist.sockets import Readiness, monitor_events, send_message
from beamlike.dist.wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_OPS,
    curve_failure,
    encode_batch,
    pack_seq,
)
from beamlike.errors import ProcessExit
from beamlike.process import receive
from beamlike.timer import sleep

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = [
    "DOWN",
    "INITIATOR",
    "RESPONDER",
    "SETUP",
    "UP",
    "Conn",
    "monitor_main",
    "wait_not_busy",
    "writer_main",
    "yield_to_runnable",
]

log = logging.getLogger("beamlike.dist")

# Connection states and roles.
SETUP = "setup"
UP = "up"
DOWN = "down"
INITIATOR = "initiator"
RESPONDER = "responder"

# A reader or writer busy with a stream of frames lets the event loop (I/O, timers) run
# at least this often; in between it hands over to runnable processes directly.
HUB_TURN = 0.02

# An op for an idle connection leaves at once, from the process that made it, unless the
# previous frame left less than this long ago: then it waits for the writer, which sends
# every op queued by the time it runs in one frame. So a lone message pays no hand-off
# to the writer, and a stream of them is batched.
BATCH_WINDOW = 20e-6

_WAKE = "beamlike.dist:wake"


# -- a connection ----------------------------------------------------------------------------


class Conn:
    """What this node knows of its connection to one peer.

    ``state`` goes SETUP -> UP -> DOWN (or SETUP -> DOWN); a Conn is never reused after
    DOWN: the next operation for that peer makes a new one. In SETUP, ``role`` says who
    started the handshake; a simultaneous connect may turn an initiator into a responder
    (``handshake.on_hello``), keeping the queue and the waiters.
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
        self.dealer_ready: Readiness | None = None  # waits for room on the DEALER
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
        self.tick_pending = False
        self.waiters: list[tuple[Any, Ref]] = []  # connect() callers
        self.busy: list[tuple[Any, Ref]] = []  # senders blocked by the busy limit
        self.spawns: dict[Ref, tuple[Any, bool, Ref | None]] = {}  # remote spawns waiting
        self.abandoned_spawns: dict[Ref, Pid] = {}  # timed out: kill what they spawn

    def __repr__(self) -> str:
        return f"<Conn {self.peer} {self.state} {self.role}>"

    def enqueue(self, data: bytes) -> None:
        """Send an encoded op: at once when the connection is idle, else through the
        queue and the writer. Never blocks."""
        if self.writer_idle and self.state is UP:
            # Nothing queued (the writer is idle), no handshake frame pending: the op
            # may leave now, in its own frame, unless the last frame left so recently
            # that more ops are likely to follow (then they go together, below).
            now = time.monotonic()
            if (
                now - self.last_sent >= BATCH_WINDOW
                and not self.queue
                and not self.control
                and self.send_now(data, now)
            ):
                return
            self.queue.append(data)
            self.queued_bytes += len(data)
            self.wake()
            return
        self.queue.append(data)
        self.queued_bytes += len(data)

    def send_now(self, data: bytes, now: float) -> bool:
        """Send one op in a frame of its own, if the DEALER has room. Never blocks."""
        dealer = self.dealer
        if dealer is None:
            return False
        seq = self.out_seq + 1
        try:
            if not send_message(dealer, [self.sid, pack_seq(seq), encode_batch([data])]):
                return False
        except zmq.ZMQError:
            return False  # the writer meets the same error, and deals with it
        self.out_seq = seq
        self.last_sent = now
        self.tick_pending = False
        return True

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
                dist.open_dealer(conn, f"tcp://{bracket(found[0])}:{found[1]}")
                dist.send_hello(conn)
        _pump(dist, conn)
    except ProcessExit:
        raise
    except Exception as exc:  # a bug: never leave a connection half alive
        if conn.state is not DOWN:
            log.exception("the writer of the connection to %s failed", conn.peer)
            dist.teardown(conn, "connection_closed", f"writer failed: {exc!r}")


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
        hub_turn = time.monotonic()  # the event loop ran while it waited


def _send(conn: Conn, dealer: Any, frame: list[bytes]) -> bool:
    """Send one frame; False when the socket was closed or replaced under the writer.
    Blocks at the high-water mark (and, with IMMEDIATE, until the peer is connected)."""
    try:
        while not send_message(dealer, frame):
            ready = conn.dealer_ready
            if conn.dealer is not dealer or conn.state is DOWN or ready is None:
                return False
            if not ready.ready():
                ready.wait(conn.writer)  # then try again: the signal may be spurious
    except zmq.ZMQError:
        if conn.dealer is dealer and conn.state is not DOWN:
            raise
        return False
    conn.last_sent = time.monotonic()
    return True


# -- the monitor reader ----------------------------------------------------------------------


def monitor_main(dist: DistNode, conn: Conn, dealer: Any, monitor_socket: Any) -> None:
    """The body of the process that reads a DEALER's socket monitor, until the monitor
    socket is closed (``DistNode.close_sockets``): it must never stop reading while the
    monitor runs, or libzmq's I/O thread would block on a full monitor pipe. Blocks."""
    for event, value, _ in monitor_events(monitor_socket):
        if conn.dealer is not dealer or conn.state is DOWN:
            continue
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
    {
        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
        zmq.EVENT_HANDSHAKE_FAILED_AUTH,
    }
)
