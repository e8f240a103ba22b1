"""The distributed node: ``DistNode``, what ``node.dist`` is once a node is started.

The essay
---------
Erlang's guarantees, which this layer keeps: *messages between a pair of processes
arrive in the order sent; a message may be lost only if the connection between their
nodes is lost, and then the loss is reported* (a ``NodeDown``, ``"noconnection"`` for
links and monitors). Each pair of nodes has one connection (``connection.Conn``); every
operation between them (send, link, monitor, exit signal, Down, call reply, remote
spawn, tick) goes through its one FIFO queue and its one writer, and is applied on the
other side in that order by the node's one reader process. So a Down or an exit signal
comes after every message the exiting process sent, and ``connection_lost`` after every
operation received.

Non-guarantees, as in Erlang: nothing is retransmitted after a connection is lost (the
operations queued or in flight then are gone, and reported only as that loss); a node
that is merely slow for longer than ``net_ticktime`` is declared down; there is no global
order among more than two nodes.

Processes of a distributed node, besides the user's: the *reader* (reads the ROUTER,
runs handshakes, applies incoming operations), the *ticker* (sends ticks, declares
silent peers down, times out handshakes), and per connection a *writer* and a *monitor
reader* (``connection``). A connection is made on first use, by any operation on a pid
or name of that node (``connect`` waits for it).

Prior art: Erlang's ``net_kernel`` (connections on demand, ``monitor_node(s)``,
``net_ticktime``) and ``dist_util`` (handshake, ticks); the ERTS distribution entry that
suspends senders at the dist buffer busy limit.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import secrets
import socket
import string
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq.green as zmq

from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import receive_matching
from beamlike._core.node import Node, current_process, set_default
from beamlike._core.process import DEAD, EXITING, RUNNING, Worker, current_greenlet
from beamlike._core.remote import (
    connection_lost,
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
)
from beamlike._core.signals import deliver
from beamlike.dist import codec
from beamlike.dist.connection import (
    ACK,
    BYE,
    CHALLENGE,
    DOWN,
    HELLO,
    HUB_TURN,
    INITIATOR,
    MAX_BATCH_BYTES,
    NONCE_SIZE,
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
    PROTOCOL_VERSION,
    REFUSED,
    RESPONDER,
    SETUP,
    UP,
    Conn,
    HandshakeError,
    curve_failure,
    curve_keypair,
    handshake_mac,
    monitor_main,
    new_nonce,
    pack_body,
    session_id,
    unpack_body,
    unpack_seq,
    wait_not_busy,
    writer_main,
    yield_to_runnable,
)
from beamlike.errors import BadArgument, BadArgumentType, BeamlikeError
from beamlike.messages import NodeDown, NodeUp
from beamlike.process import resolve_function as _resolve
from beamlike.timer import sleep

if TYPE_CHECKING:
    from beamlike.dist.epmd import Resolver

__all__ = [
    "DistError",
    "DistNode",
    "full_name",
    "function_name",
    "read_cookie",
    "start_node",
    "stop_node",
]

log = logging.getLogger("beamlike.dist")

COOKIE_ENV = "BEAMLIKE_COOKIE"
COOKIE_FILE = ".beamlike.cookie"
DEFAULT_HOST = "127.0.0.1"
MAX_FRAME = 64 << 20  # bytes of one frame part a node accepts
FAREWELL_LINGER_MS = 500  # how long a closed DEALER may still flush its BYE/REFUSED

_HANDSHAKE_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
_CONNECTED = "beamlike.dist:connected"
_SPAWNED = "beamlike.dist:spawned"
_monitor_ids = itertools.count(1)


class DistError(BeamlikeError):
    """A distribution failure: a node that cannot start, a remote spawn that failed."""


# -- names, cookies ------------------------------------------------------------------------


def full_name(name: str) -> str:
    """``name@host`` for a node name; a name without ``@`` gets ``@127.0.0.1``.

    Never blocks. Raises ``BadArgument`` for a name that is not ``name@host``.
    """
    if not isinstance(name, str):
        raise BadArgumentType(f"a node name must be a str; got {name!r}")
    if "@" not in name:
        name = f"{name}@{DEFAULT_HOST}"
    local, _, host = name.partition("@")
    if (
        not local
        or not host
        or "@" in host
        or len(name.encode("utf-8")) > 255
        or any(c.isspace() for c in name)
    ):
        raise BadArgument(f"a node name must be 'name@host' (at most 255 bytes); got {name!r}")
    return name


def read_cookie(cookie: str | bytes | None = None) -> bytes:
    """The cookie: ``cookie`` if given, else ``$BEAMLIKE_COOKIE``, else the file
    ``~/.beamlike.cookie`` (created with a random cookie and mode 0600 when missing).

    Blocks briefly (file I/O). Raises ``DistError`` for an empty cookie or a cookie file
    that others may read.
    """
    if cookie is None:
        env = os.environ.get(COOKIE_ENV)
        if env:
            return env.encode("utf-8")
        path = os.path.join(os.path.expanduser("~"), COOKIE_FILE)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = os.stat(path).st_mode
            if mode & 0o077:
                raise DistError(
                    f"cookie file {path} must be accessible by its owner only "
                    f"(mode {mode & 0o777:o}; run: chmod 600 {path})"
                ) from None
            with open(path, "rb") as f:
                data = f.read().strip()
            if not data:
                raise DistError(f"cookie file {path} is empty") from None
            return data
        with os.fdopen(fd, "wb") as f:
            value = "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
            f.write(value.encode("ascii"))
        return value.encode("ascii")
    if isinstance(cookie, str):
        cookie = cookie.encode("utf-8")
    if not isinstance(cookie, bytes) or not cookie:
        raise BadArgument("the cookie must be a non-empty str or bytes")
    return cookie


def new_creation() -> int:
    """A random creation for a new incarnation of a node (1 .. 2**32-1). Never blocks."""
    return int.from_bytes(os.urandom(4), "big") or 1


def function_name(fn: Any) -> str:
    """``"package.module:function"`` for a remote spawn. Never blocks.

    Raises ``BadArgument`` for a function that another node could not import by name
    (a lambda, a nested function, a bound method).
    """
    if isinstance(fn, str):
        head, sep, tail = fn.partition(":")
        if not sep or not head or not tail:
            raise BadArgument(
                f"a function named by a string must be 'package.module:function'; got {fn!r}"
            )
        return fn
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not module or not qualname or "<" in qualname or module == "__main__":
        raise BadArgument(
            "a remote spawn names an importable module-level function ('package.module:function' "
            f"or the function object itself); got {fn!r}"
        )
    return f"{module}:{qualname}"


def resolve_function(name: str) -> Callable[..., Any]:
    """Import the function ``"package.module:function"``. Blocks while importing.

    Raises ``BadArgument`` when it cannot be found.
    """
    if not isinstance(name, str) or ":" not in name:
        raise BadArgument(f"expected a 'package.module:function' name; got {name!r}")
    return _resolve(name)


# -- the distributed node --------------------------------------------------------------------


class DistNode:
    """Connections of one node to the other nodes; implements the kernel's
    ``Distribution`` protocol (``beamlike._core.remote``).

    Made by ``beamlike.node.start``; binds a ROUTER on the node's host, registers with the
    resolver and starts the reader and ticker processes. Blocks while registering.

    Args:
        node: a fresh node named ``name@host``.
        cookie: the shared secret.
        port: the TCP port to listen on; 0 for a free one.
        resolver: how to register and find nodes (``epmd.EpmdResolver()`` if None).
        net_ticktime: seconds of silence after which a peer is declared down.
        bind: the interface to bind (default: the host of the node's name).
        hwm: high-water mark of each socket, in frames.
        busy_limit: bytes queued for one peer beyond which a sending process blocks.
        max_frame: largest frame part accepted from a peer, in bytes.
        setup_timeout: seconds a handshake may take.
        encrypt: encrypt every connection with CurveZMQ and refuse peers that do not
            (each node's keypair is derived from the cookie and its name).
    """

    def __init__(
        self,
        node: Node,
        *,
        cookie: bytes,
        port: int = 0,
        resolver: Resolver | None = None,
        net_ticktime: float = 60.0,
        bind: str | None = None,
        hwm: int = 64,
        busy_limit: int = 1 << 20,
        max_frame: int = MAX_FRAME,
        setup_timeout: float = 7.0,
        encrypt: bool = False,
    ) -> None:
        if encrypt.__class__ is not bool:
            raise BadArgument(f"encrypt must be a bool; got {encrypt!r}")
        if encrypt and not zmq.has("curve"):
            raise DistError("encrypt=True needs a libzmq built with CURVE (libsodium)")
        if not isinstance(net_ticktime, (int, float)) or not net_ticktime > 0:
            raise BadArgument(f"net_ticktime must be a number of seconds > 0; got {net_ticktime!r}")
        for what, value in (("hwm", hwm), ("busy_limit", busy_limit), ("max_frame", max_frame)):
            if value.__class__ is not int or value < 1:
                raise BadArgument(f"{what} must be an int >= 1; got {value!r}")
        if max_frame < MAX_BATCH_BYTES + 1024:
            raise BadArgument(
                f"max_frame must be at least {MAX_BATCH_BYTES + 1024}; got {max_frame}"
            )
        self.node = node
        self.name = node.name
        self.ident = node.name.encode("utf-8")
        self.cookie = cookie
        self.net_ticktime = float(net_ticktime)
        self.hwm = hwm
        self.busy_limit = busy_limit
        self.max_frame = max_frame
        self.max_op = max_frame - 64
        self.setup_timeout = float(setup_timeout)
        self.limits = codec.Limits(
            max_bytes=max_frame, max_items=max_frame, max_str=max_frame, max_bin=max_frame,
            max_depth=512,
        )  # fmt: skip
        if resolver is None:
            # imported here: ``python -m beamlike.dist.epmd`` must not find it imported
            from beamlike.dist.epmd import EpmdResolver

            resolver = EpmdResolver()
        self.resolver: Resolver = resolver
        self.conns: dict[str, Conn] = {}
        self.node_monitors: dict[str, list[Pid]] = {}
        self.subscribers: set[Pid] = set()
        self.system: set[Pid] = set()
        self.closed = False
        self.draining = False
        self.tick = codec.encode((OP_TICK,))
        self.encrypt = encrypt
        self.curve_public, self.curve_secret = (
            curve_keypair(cookie, node.name) if encrypt else (b"", b"")
        )
        self.router_monitor: Any = None
        host = node.name.partition("@")[2]
        self.ctx: Any = zmq.Context.instance()
        self.router = router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.RCVHWM, hwm)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        router.setsockopt(zmq.MAXMSGSIZE, max_frame)
        if encrypt:
            router.setsockopt(zmq.CURVE_SERVER, 1)
            router.setsockopt(zmq.CURVE_SECRETKEY, self.curve_secret)
            self.router_monitor = router.get_monitor_socket(
                _HANDSHAKE_EVENTS,
                addr=f"inproc://beamlike-dist-router-{os.getpid()}-{next(_monitor_ids)}",
            )
        try:
            interface = bind if bind is not None else _interface(host)
            router.bind(f"tcp://{_bracket(interface)}:{port if port else '*'}")
            endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self.port = int(endpoint.rpartition(":")[2])
            self.endpoint = f"tcp://{_bracket(host)}:{self.port}"
            self.resolver.register(node.name, self.port, node.creation)
        except BaseException:
            self._close_router()
            raise
        node.dist = self
        self.reader = self._spawn(self._reader_main)
        self.ticker = self._spawn(self._ticker_main)
        if self.router_monitor is not None:
            self._spawn(self._router_monitor_main, self.router_monitor)

    def __repr__(self) -> str:
        return f"<DistNode {self.name} {self.endpoint} peers={sorted(self.conns)}>"

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start a system process of the node; returns its process record."""
        pid, _ = self.node.spawn(self._system_main, (fn, args), {})
        self.system.add(pid)
        return pid._proc

    def _system_main(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            self.system.discard(current_process().pid)

    def _reader_main(self) -> None:
        node = self.node
        router = self.router
        me = current_process()
        hub_turn = time.monotonic()
        try:
            while not self.closed:
                try:
                    frames = router.recv_multipart()
                except zmq.ZMQError:
                    if self.closed:
                        return
                    raise
                self.handle(frames)
                if node.runq:  # let the processes it woke run before it reads on
                    if time.monotonic() - hub_turn < HUB_TURN:
                        yield_to_runnable(me)  # straight to them: the lowest latency
                    else:
                        sleep(0)  # through the event loop, which polls I/O and timers
                        hub_turn = time.monotonic()
        finally:
            self.shutdown()

    def _router_monitor_main(self, monitor_socket: Any) -> None:
        """Log the connections the ROUTER refused in the CurveZMQ handshake (a plaintext
        node, or another cookie): they never get as far as a frame. Blocks."""
        while True:
            try:
                frames = monitor_socket.recv_multipart()
            except zmq.ZMQError:
                return  # closed: the node stops
            if len(frames) < 2 or len(frames[0]) < 6:
                continue
            event, value = struct.unpack("=hi", frames[0][:6])
            if event & _HANDSHAKE_EVENTS:
                where = frames[1].decode("utf-8", "replace")
                log.warning("refused a connection on %s: %s", where, curve_failure(value))

    def _close_router(self) -> None:
        """Close the ROUTER, its monitor first (see ``close_sockets``). Never blocks."""
        if self.router_monitor is not None:
            try:
                self.router.disable_monitor()
            except zmq.ZMQError:
                pass
            self.router_monitor.close(linger=0)
        self.router.close(linger=0)

    def _ticker_main(self) -> None:
        period = self.net_ticktime / 8
        while not self.closed:
            sleep(period)
            now = time.monotonic()
            for conn in list(self.conns.values()):
                if conn.state is SETUP:
                    if now - conn.started > self.setup_timeout:
                        self.teardown(conn, "connection_setup_failed", "the handshake timed out")
                    continue
                if conn.state is not UP:
                    continue
                if now - conn.last_recv > self.net_ticktime:
                    self.drain_router()  # frames may wait that this node was too busy to read
                    silent = time.monotonic() - conn.last_recv
                    if conn.state is UP and silent > self.net_ticktime:
                        self.teardown(
                            conn, "net_tick_timeout", f"nothing received for {silent:.2f} s"
                        )
                        continue
                if not conn.queue and not conn.tick_pending and now - conn.last_sent >= period / 2:
                    conn.tick_pending = True
                    conn.enqueue(self.tick)

    # -- sockets -------------------------------------------------------------------------

    def resolve(self, name: str) -> tuple[str, int] | None:
        """Where ``name`` listens, from the resolver; None if unknown. May block."""
        try:
            return self.resolver.resolve(name)
        except Exception as exc:
            log.info("cannot resolve %s: %s", name, exc)
            return None

    def open_dealer(self, conn: Conn, endpoint: str) -> None:
        """Give ``conn`` a new DEALER connected to ``endpoint``, with its monitor reader.
        Never blocks."""
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, self.ident)
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.SNDHWM, self.hwm)
        dealer.setsockopt(zmq.RCVHWM, self.hwm)
        self._secure(dealer, conn.peer)
        events = zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
        for name in ("EVENT_HANDSHAKE_FAILED_NO_DETAIL", "EVENT_HANDSHAKE_FAILED_PROTOCOL"):
            events |= getattr(zmq, name, 0)
        monitor_socket = dealer.get_monitor_socket(
            events, addr=f"inproc://beamlike-dist-monitor-{os.getpid()}-{next(_monitor_ids)}"
        )
        dealer.connect(endpoint)
        conn.dealer = dealer
        conn.monitor_socket = monitor_socket
        conn.endpoint = endpoint
        self._spawn(monitor_main, self, conn, dealer, monitor_socket)

    def _secure(self, dealer: Any, peer: str) -> None:
        """Make ``dealer`` a CurveZMQ client of ``peer``, when this node encrypts."""
        if self.encrypt:
            dealer.setsockopt(zmq.CURVE_SERVERKEY, curve_keypair(self.cookie, peer)[0])
            dealer.setsockopt(zmq.CURVE_PUBLICKEY, self.curve_public)
            dealer.setsockopt(zmq.CURVE_SECRETKEY, self.curve_secret)

    def send_hello(self, conn: Conn) -> None:
        """Queue the HELLO that starts the handshake as initiator. Never blocks."""
        conn.nonce_a = new_nonce()
        body = pack_body(
            [PROTOCOL_VERSION, self.name, self.node.creation, self.endpoint, conn.nonce_a]
        )
        conn.control.append([HELLO, body])
        conn.wake()

    def close_sockets(self, conn: Conn, farewell: list[bytes] | None = None) -> None:
        """Close ``conn``'s DEALER (after a best-effort last frame) and monitor socket.
        Never blocks."""
        dealer, monitor_socket = conn.dealer, conn.monitor_socket
        conn.dealer = conn.monitor_socket = None
        if dealer is not None:
            # First stop the monitor: libzmq's I/O thread sends each event with a
            # blocking send, and with our end of the monitor closed, the next event of
            # the (lingering) DEALER would block that thread, and every socket with it.
            try:
                dealer.disable_monitor()
            except zmq.ZMQError:
                pass
            linger = 0
            if farewell is not None and not conn.sending:
                try:
                    dealer.send_multipart(farewell, flags=zmq.NOBLOCK)
                    linger = FAREWELL_LINGER_MS
                except zmq.ZMQError:
                    pass
            dealer.close(linger=linger)
        if monitor_socket is not None:
            monitor_socket.close(linger=0)

    def drain_router(self) -> None:
        """Apply every frame already waiting in the ROUTER. Never blocks."""
        if self.draining or self.closed:
            return
        self.draining = True
        try:
            for _ in range(100_000):
                try:
                    frames = self.router.recv_multipart(flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    return
                self.handle(frames)
        finally:
            self.draining = False

    # -- connections -----------------------------------------------------------------------

    def conn_for(self, peer: str) -> Conn | None:
        """The connection to ``peer``, started if there is none; None when ``peer``
        cannot be reached at all (then its links and monitors have fired). Never blocks."""
        conn = self.conns.get(peer)
        if conn is not None:
            return conn
        if self.closed or peer == self.name or not _plausible(peer):
            connection_lost(self.node, peer)
            return None
        return self._new_conn(peer, INITIATOR)

    def _new_conn(self, peer: str, role: str) -> Conn:
        conn = Conn(peer, role, time.monotonic())
        self.conns[peer] = conn
        conn.writer = self._spawn(writer_main, self, conn)
        return conn

    def connect(self, peer: str) -> bool:
        """Connect to ``peer``. Blocks until connected or failed; returns which."""
        peer = full_name(peer)
        if peer == self.name:
            return True
        conn = self.conns.get(peer)
        if conn is not None and conn.state is UP:
            return True
        if self.closed:
            return False
        if conn is None:
            conn = self._new_conn(peer, INITIATOR)
        me = current_process()
        ref = self.node.make_ref()
        conn.waiters.append((me, ref))
        message = _wait_for(me, _CONNECTED, ref)
        return bool(message[2])

    def disconnect(self, peer: str) -> bool:
        """Close the connection to ``peer``: its links and monitors fire with
        ``"noconnection"``, NodeDown goes out. Returns whether it was connected. Never
        blocks."""
        conn = self.conns.get(full_name(peer))
        if conn is None:
            return False
        was_up = conn.state is UP
        self.teardown(conn, "disconnect", "disconnected by this node", quiet=True)
        return was_up

    def nodes(self) -> list[str]:
        """Names of the connected nodes. Never blocks."""
        return sorted(name for name, conn in self.conns.items() if conn.state is UP)

    def up(self, conn: Conn) -> None:
        """The handshake of ``conn`` succeeded. Never blocks."""
        now = time.monotonic()
        conn.sid = session_id(conn.nonce_a, conn.nonce_b)
        conn.state = UP
        conn.last_recv = conn.last_sent = now
        log.info("connected to %s (%s)", conn.peer, conn.role)
        waiters, conn.waiters = conn.waiters, []
        for proc, ref in waiters:
            deliver(proc, (_CONNECTED, ref, True))
        self._notify_subscribers(NodeUp(conn.peer))
        conn.wake()

    def teardown(
        self,
        conn: Conn,
        reason: str,
        why: str = "",
        *,
        refusal: str | None = None,
        quiet: bool = False,
    ) -> None:
        """``conn`` is gone: close it, fire the links and monitors of its peer with
        ``"noconnection"`` and send NodeDown. Idempotent. Never blocks (but a caller
        linked to a process of that node may be killed by its exit signal)."""
        if conn.state is DOWN:
            return
        was_up = conn.state is UP
        conn.state = DOWN
        if self.conns.get(conn.peer) is conn:
            del self.conns[conn.peer]
        farewell = None
        if was_up:
            farewell = [BYE, conn.sid]
        elif refusal is not None:
            farewell = [REFUSED, pack_body([refusal])]
        self.close_sockets(conn, farewell)
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
            deliver(proc, (_SPAWNED, req, ("error", f"noconnection ({reason})")))
        down = NodeDown(conn.peer, reason)
        for pid in self.node_monitors.pop(conn.peer, ()):
            proc = self.node.lookup(pid)
            if proc is not None:
                deliver(proc, down)
        if was_up:
            self._notify_subscribers(down)
        connection_lost(self.node, conn.peer)  # last: it may kill the caller

    def _notify_subscribers(self, message: Any) -> None:
        for pid in list(self.subscribers):
            proc = self.node.lookup(pid)
            if proc is None:
                self.subscribers.discard(pid)
            else:
                deliver(proc, message)

    def monitor_node(self, peer: str, flag: bool) -> None:
        """The caller gets ``NodeDown(peer, reason)`` when ``peer`` goes down (at once if
        it cannot be connected). Never blocks."""
        peer = full_name(peer)
        me = current_process()
        if not flag:
            pids = self.node_monitors.get(peer)
            if pids:
                pids[:] = [pid for pid in pids if pid != me.pid]
                if not pids:
                    del self.node_monitors[peer]
            return
        if peer == self.name:
            return
        conn = self.conns.get(peer)
        if conn is None and (self.closed or not _plausible(peer)):
            deliver(me, NodeDown(peer, "connection_setup_failed"))
            return
        self.node_monitors.setdefault(peer, []).append(me.pid)
        if conn is None:
            self._new_conn(peer, INITIATOR)

    def monitor_nodes(self, flag: bool) -> None:
        """Subscribe (or not) the caller to NodeUp/NodeDown of every node. Never blocks."""
        me = current_process()
        if flag:
            self.subscribers.add(me.pid)
        else:
            self.subscribers.discard(me.pid)

    def shutdown(self) -> None:
        """Disconnect every node, unregister, close the ROUTER. Idempotent. Never blocks
        (unregistering may do a little I/O)."""
        if self.closed:
            return
        self.closed = True
        for conn in list(self.conns.values()):
            try:
                self.teardown(conn, "shutdown", "this node stops", quiet=True)
            except BaseException:  # a caller killed by a link: finish the shutdown anyway
                log.debug("teardown during shutdown raised", exc_info=True)
        try:
            self.resolver.unregister()
        except Exception:
            log.warning("unregistering %s failed", self.name, exc_info=True)
        self._close_router()
        log.info("%s stopped", self.name)

    # -- the Distribution protocol (called by the kernel) --------------------------------

    def _enqueue(self, peer: str, data: bytes) -> Conn | None:
        conn = self.conns.get(peer)
        if conn is None:
            conn = self.conn_for(peer)
            if conn is None:
                return None
        conn.enqueue(data)
        return conn

    def _block_if_busy(self, conn: Conn) -> None:
        if conn.queued_bytes <= self.busy_limit or conn.state is DOWN:
            return
        g = current_greenlet()
        proc = g.proc if g.__class__ is Worker else self.node.adopted.get(g)
        if (
            proc is None
            or proc.node is not self.node
            or proc.state is not RUNNING
            or proc.pending_exit is not None
            or proc.pid in self.system
        ):
            return
        while conn.queued_bytes > self.busy_limit and conn.state is not DOWN:
            wait_not_busy(proc, conn, self.node.make_ref())

    def send(self, sender: Pid | None, dest: Pid | tuple[str, str], message: Any) -> None:
        """Queue ``message`` for a pid or ``(name, node)`` of another node. Blocks only
        when more than ``busy_limit`` bytes already wait for that node (backpressure).
        Raises ``codec.EncodeError`` for a message that cannot travel."""
        if dest.__class__ is Pid:
            peer = dest.node  # type: ignore[union-attr]
            target: Any = dest
        else:
            target, peer = dest  # type: ignore[misc]
        data = codec.encode((OP_SEND, sender, target, message))
        self._check_size(data)
        conn = self._enqueue(peer, data)
        if conn is not None and conn.queued_bytes > self.busy_limit:
            self._block_if_busy(conn)

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.max_op:
            raise DistError(
                f"a message of {len(data)} bytes cannot travel: the limit is {self.max_op}"
            )

    def reply(self, caller: Pid, tag: Ref, value: Any) -> None:
        """Queue a call reply. Never blocks. Raises ``codec.EncodeError``."""
        data = codec.encode((OP_REPLY, tag, value))
        self._check_size(data)
        self._enqueue(caller.node, data)

    def link(self, local: Pid, remote: Pid) -> None:
        self._enqueue(remote.node, codec.encode((OP_LINK, local, remote)))

    def unlink(self, local: Pid, remote: Pid) -> None:
        self._enqueue(remote.node, codec.encode((OP_UNLINK, local, remote)))

    def exit(self, sender: Pid, remote: Pid, reason: Any) -> None:
        self._enqueue(remote.node, _encode_signal((OP_EXIT, sender, remote), reason))

    def link_exit(self, dead: Pid, remote: Pid, reason: Any) -> None:
        self._enqueue(remote.node, _encode_signal((OP_LINK_EXIT, dead, remote), reason))

    def monitor(self, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
        peer, wire = _target(target)
        self._enqueue(peer, codec.encode((OP_MONITOR, watcher, wire, ref)))

    def demonitor(self, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
        peer, wire = _target(target)
        if peer in self.conns:  # no connection: nothing to undo over there
            self._enqueue(peer, codec.encode((OP_DEMONITOR, watcher, wire, ref)))

    def down(self, watcher: Pid, ref: Ref, shown: Any, reason: Any) -> None:
        self._enqueue(watcher.node, _encode_signal((OP_DOWN, watcher, ref, shown), reason))

    # -- remote spawn ------------------------------------------------------------------------

    def spawn(
        self,
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
        answers or is lost); a process it spawns after that is killed. Raises
        ``DistError`` when it cannot (no connection, it could not find the function, or
        ``"timeout"``)."""
        name = function_name(fn)
        peer = full_name(peer)
        me = current_process()
        req = self.node.make_ref()
        mref = self.node.make_ref() if monitor else None
        data = codec.encode((OP_SPAWN_REQUEST, req, me.pid, name, list(args), link, mref))
        self._check_size(data)
        conn = self.conn_for(peer)
        if conn is None:
            raise DistError(f"cannot spawn {name} on {peer}: noconnection")
        conn.spawns[req] = (me, link, mref)
        conn.enqueue(data)
        message = _wait_for(me, _SPAWNED, req, timeout)
        if message is None:
            if conn.spawns.pop(req, None) is not None:
                conn.abandoned_spawns[req] = me.pid
            raise DistError(f"cannot spawn {name} on {peer}: timeout")
        answer = message[2]
        if answer[0] != "ok":
            raise DistError(f"cannot spawn {name} on {peer}: {answer[1]}")
        pid = answer[1]
        return (pid, mref) if monitor else pid

    def _on_spawn_request(self, conn: Conn, op: Any) -> bool:
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
        node = self.node
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

    def _on_spawn_reply(self, conn: Conn, op: Any) -> bool:
        _, req, pid, error = op
        if req.__class__ is not Ref or not (pid is None or pid.__class__ is Pid):
            return False
        entry = conn.spawns.pop(req, None)
        if entry is None:
            caller = conn.abandoned_spawns.pop(req, None)
            if caller is not None and pid is not None and pid.node == conn.peer:
                conn.enqueue(_encode_signal((OP_EXIT, caller, pid), "kill"))
            return True
        proc, link, mref = entry
        if pid is None:
            deliver(proc, (_SPAWNED, req, ("error", str(error))))
            return True
        if pid.node != conn.peer:
            return False
        if proc.state is DEAD or proc.state is EXITING or proc.pending_exit is not None:
            if link:
                conn.enqueue(_encode_signal((OP_LINK_EXIT, proc.pid, pid), "noproc"))
            if mref is not None:
                conn.enqueue(codec.encode((OP_DEMONITOR, proc.pid, pid, mref)))
            return True
        if link:
            if proc.links is None:
                proc.links = set()
            proc.links.add(pid)
            index_remote(self.node, proc.pid, conn.peer)
        if mref is not None:
            if proc.monitors is None:
                proc.monitors = {}
            proc.monitors[mref] = pid
            index_remote(self.node, proc.pid, conn.peer)
        deliver(proc, (_SPAWNED, req, ("ok", pid)))
        return True

    # -- frames arriving -----------------------------------------------------------------

    def handle(self, frames: list[bytes]) -> None:
        """Handle one message read from the ROUTER. Never blocks; never raises."""
        try:
            parts = len(frames)
            if parts == 4:
                self._on_data(frames)
            elif parts == 3:
                self._on_control(frames[0], frames[1], frames[2])
            else:
                _stray(frames[0] if frames else b"?", f"a message of {parts} parts")
        except Exception:
            log.exception("failed to handle a frame from %r", frames[0][:64] if frames else b"?")
            conn = self.conns.get(_text(frames[0])) if frames else None
            if conn is not None:
                self.teardown(conn, "protocol_error", "a frame could not be handled")

    def _on_data(self, frames: list[bytes]) -> None:
        ident, sid, seq_bytes, batch = frames
        conn = self.conns.get(_text(ident))
        if conn is None or conn.state is not UP:
            _stray(ident, "a data frame outside any session")
            return
        if sid != conn.sid:
            self._protocol_error(conn, "a frame of another session")
            return
        seq = unpack_seq(seq_bytes)
        if seq != conn.in_seq + 1:
            self._protocol_error(conn, f"frame {seq} where {conn.in_seq + 1} was due")
            return
        if len(batch) > self.max_frame:
            self._protocol_error(conn, f"a frame of {len(batch)} bytes")
            return
        try:
            ops = codec.decode_batch(batch, limits=self.limits)
        except codec.DecodeError as exc:
            self._protocol_error(conn, f"an undecodable frame ({exc})")
            return
        conn.in_seq = seq
        conn.last_recv = time.monotonic()
        for op in ops:
            if conn.state is not UP:
                return
            try:
                ok = self._apply(conn, op)
            except (ValueError, TypeError, AttributeError, IndexError):
                ok = False
            if not ok:
                self._protocol_error(conn, f"a malformed operation {_short(op)}")
                return

    def _protocol_error(self, conn: Conn, what: str) -> None:
        log.warning("closing the connection to %s: it sent %s", conn.peer, what)
        self.teardown(conn, "protocol_error", what, quiet=True)

    def _apply(self, conn: Conn, op: Any) -> bool:
        if op.__class__ is not tuple or not op:
            return False
        code = op[0]
        node = self.node
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
            return self._on_spawn_request(conn, op)
        elif code == OP_SPAWN_REPLY and size == 4:
            return self._on_spawn_reply(conn, op)
        else:
            return False
        return True

    def _on_control(self, ident: bytes, tag: bytes, body: bytes) -> None:
        name = _text(ident)
        log.debug("got %s from %s", _short(tag), name)
        if tag == HELLO:
            self._on_hello(name, body)
            return
        conn = self.conns.get(name)
        if conn is None:
            _stray(ident, f"a {_short(tag)} frame outside any handshake")
            return
        if tag == CHALLENGE:
            self._on_challenge(conn, body)
        elif tag == ACK:
            self._on_ack(conn, body)
        elif tag == REFUSED:
            if conn.state is SETUP:
                try:
                    (reason,) = unpack_body(body, (str,), "REFUSED")
                except HandshakeError as exc:
                    reason = str(exc)
                log.debug("%s refused the connection: %s", conn.peer, reason)
                self.teardown(conn, "connection_setup_failed", f"refused: {reason}", quiet=True)
        elif tag == BYE:
            if conn.state is UP and body == conn.sid:
                self.teardown(conn, "connection_closed", "the peer disconnected")
        else:
            _stray(ident, f"an unknown frame {_short(tag)}")

    def _on_hello(self, name: str, body: bytes) -> None:
        try:
            version, hname, creation, endpoint, nonce = unpack_body(
                body, (int, str, int, str, bytes), "HELLO"
            )
        except HandshakeError as exc:
            log.warning("refused connection from %s: %s", name, exc)
            return
        if version != PROTOCOL_VERSION:
            log.warning(
                "refused connection from %s: it speaks protocol version %s, this node %s",
                hname,
                version,
                PROTOCOL_VERSION,
            )
            self._refuse(endpoint, hname, f"protocol version {PROTOCOL_VERSION} expected")
            return
        if (
            hname != name
            or hname == self.name
            or not _plausible(hname)
            or not 0 < creation < 1 << 32
            or len(nonce) != NONCE_SIZE
            or not endpoint.startswith("tcp://")
        ):
            log.warning("refused connection from %s: malformed HELLO", name)
            return
        conn = self.conns.get(hname)
        reuse = False
        abandoned = b""
        if conn is not None:
            if conn.state is UP:
                if creation == conn.peer_creation and nonce == conn.abandoned:
                    # The HELLO of an attempt the peer gave up for ours (simultaneous
                    # connect) that arrived late, on the socket the peer closed.
                    log.debug("dropped a stale HELLO from %s", hname)
                    return
                # The peer starts over: it lost the session, or it is a new incarnation.
                self.teardown(conn, "connection_closed", "the peer started a new session")
                conn = None
            elif conn.role == INITIATOR:
                if hname < self.name:
                    log.debug("simultaneous connect with %s: this node's attempt wins", hname)
                    return
                log.debug("simultaneous connect with %s: its attempt wins", hname)
                conn.role = RESPONDER
                if conn.dealer is not None and conn.endpoint == endpoint:
                    # Answer on the same socket: our HELLO, if it left, is ahead of the
                    # CHALLENGE in the same pipe, and the peer drops it while it waits.
                    reuse = True
                else:
                    abandoned = conn.nonce_a  # our HELLO may have left on that socket
                    self.close_sockets(conn)
            else:
                self.close_sockets(conn)  # a new attempt replaces the pending one
        if conn is None:
            conn = self._new_conn(hname, RESPONDER)
        conn.control.clear()
        conn.started = time.monotonic()
        conn.peer_creation = creation
        conn.nonce_a = nonce
        conn.nonce_b = new_nonce()
        if not reuse:
            self.open_dealer(conn, endpoint)
        mac = handshake_mac(
            self.cookie, b"B", hname, creation, self.name, self.node.creation, nonce, conn.nonce_b
        )
        body = pack_body([self.name, self.node.creation, conn.nonce_b, mac, abandoned])
        conn.control.append([CHALLENGE, body])
        conn.wake()

    def _on_challenge(self, conn: Conn, body: bytes) -> None:
        if conn.state is not SETUP or conn.role != INITIATOR or not conn.nonce_a:
            _stray(conn.ident, "a CHALLENGE it was not asked for")
            return
        try:
            bname, creation, nonce_b, mac, abandoned = unpack_body(
                body, (str, int, bytes, bytes, bytes), "CHALLENGE"
            )
        except HandshakeError as exc:
            log.warning("refused connection to %s: %s", conn.peer, exc)
            self.teardown(conn, "connection_setup_failed", str(exc), quiet=True)
            return
        if bname != conn.peer or len(nonce_b) != NONCE_SIZE or not 0 < creation < 1 << 32:
            log.warning("refused connection to %s: malformed CHALLENGE", conn.peer)
            self.teardown(conn, "connection_setup_failed", "malformed CHALLENGE", quiet=True)
            return
        expected = handshake_mac(
            self.cookie, b"B", self.name, self.node.creation, bname, creation, conn.nonce_a, nonce_b
        )
        if not _same(mac, expected):
            log.warning("refused connection to %s: bad cookie", conn.peer)
            self.teardown(
                conn, "connection_setup_failed", "bad cookie", refusal="bad cookie", quiet=True
            )
            return
        conn.peer_creation = creation
        conn.nonce_b = nonce_b
        conn.abandoned = abandoned
        mine = handshake_mac(
            self.cookie, b"A", self.name, self.node.creation, bname, creation, conn.nonce_a, nonce_b
        )
        conn.control.append([ACK, pack_body([mine])])
        self.up(conn)

    def _on_ack(self, conn: Conn, body: bytes) -> None:
        if conn.state is not SETUP or conn.role != RESPONDER or not conn.nonce_b:
            _stray(conn.ident, "an ACK it was not asked for")
            return
        try:
            (mac,) = unpack_body(body, (bytes,), "ACK")
        except HandshakeError as exc:
            log.warning("refused connection from %s: %s", conn.peer, exc)
            self.teardown(conn, "connection_setup_failed", str(exc), quiet=True)
            return
        expected = handshake_mac(
            self.cookie,
            b"A",
            conn.peer,
            conn.peer_creation,
            self.name,
            self.node.creation,
            conn.nonce_a,
            conn.nonce_b,
        )
        if not _same(mac, expected):
            log.warning("refused connection from %s: bad cookie", conn.peer)
            self.teardown(
                conn, "connection_setup_failed", "bad cookie", refusal="bad cookie", quiet=True
            )
            return
        self.up(conn)

    def _refuse(self, endpoint: str, peer: str, reason: str) -> None:
        """Tell a node this one will not talk to why, on a short-lived socket."""
        if not endpoint.startswith("tcp://"):
            return
        dealer = self.ctx.socket(zmq.DEALER)
        try:
            dealer.setsockopt(zmq.IDENTITY, self.ident)
            self._secure(dealer, peer)
            dealer.setsockopt(zmq.SNDHWM, 4)
            dealer.connect(endpoint)
            dealer.send_multipart([REFUSED, pack_body([reason])], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        finally:
            dealer.close(linger=FAREWELL_LINGER_MS)


# -- starting and stopping a node --------------------------------------------------------


def start_node(
    name: str,
    *,
    cookie: str | bytes | None = None,
    port: int = 0,
    resolver: Resolver | None = None,
    net_ticktime: float = 60.0,
    **options: Any,
) -> Node:
    """Make a fresh distributed node and the default node (``beamlike.node.start``),
    with its global name server (``global_``) and its default ``pg`` scope.

    Blocks until it listens and is registered.
    """
    full = full_name(name)
    secret = read_cookie(cookie)
    node = Node(
        full,
        block_threshold=options.pop("block_threshold", 0.5),
        creation=new_creation(),  # tells this incarnation from earlier ones
    )
    try:
        DistNode(
            node,
            cookie=secret,
            port=port,
            resolver=resolver,
            net_ticktime=net_ticktime,
            **options,
        )
    except BaseException:
        node.dist = None
        node.stop()
        raise
    # The services every distributed node runs, as OTP's kernel starts them.
    from beamlike.dist import global_, pg

    try:
        global_.start_server(node)
        pg.start_scope(node, pg.DEFAULT_SCOPE)
    except BaseException:
        stop_node(node)
        raise
    set_default(node)
    return node


def stop_node(node: Node) -> None:
    """Disconnect, unregister and stop ``node`` (``beamlike.node.stop``). Blocks until
    its processes exited."""
    dist = node.dist
    if dist is not None:
        dist.shutdown()
    node.stop()
    previous = set_default(None)
    set_default(None if previous is node else previous)


# -- helpers ---------------------------------------------------------------------------------


def _wait_for(me: Any, kind: str, ref: Ref, timeout: float | None = None) -> Any:
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


def _encode_signal(head: tuple[Any, ...], reason: Any) -> bytes:
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


def _theirs(pid: Any, conn: Conn) -> bool:
    """A pid that the peer of ``conn`` may speak for: one of its own."""
    return pid.__class__ is Pid and pid.node == conn.peer  # type: ignore[no-any-return]


def _plausible(name: str) -> bool:
    if name.__class__ is not str:
        return False
    local, _, host = name.partition("@")
    return bool(local and host and len(name) <= 255 and "@" not in host)


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _text(ident: bytes) -> str:
    return ident.decode("utf-8", "replace")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _stray(ident: bytes, what: str) -> None:
    log.debug("dropped %s from %s", what, _short(ident))


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _interface(host: str) -> str:
    """The address to bind for the host part of a node name. Blocks (DNS) for a name."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
        return host.strip("[]")
    except OSError:
        return socket.gethostbyname(host)
