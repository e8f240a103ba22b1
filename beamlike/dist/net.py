"""The distributed node: ``DistNode``, what ``node.dist`` is once a node is started, and
its life cycle (``start_node``, ``stop_node``).

The essay
---------
Erlang's guarantees, which this layer keeps: *messages between a pair of processes
arrive in the order sent; a message may be lost only if the connection between their
nodes is lost, and then the loss is reported* (a ``NodeDown``, ``"noconnection"`` for
links and monitors). Each pair of nodes has one connection (``connection.Conn``); every
operation between them (send, link, monitor, exit signal, Down, call reply, remote
spawn, tick) leaves on it in the order made (at once when the connection is idle, else
through its one FIFO queue and its one writer), and is applied on the other side in that
order by the node's one reader. So a Down or an exit signal comes after every message
the exiting process sent, and ``connection_lost`` after every operation received.

Non-guarantees, as in Erlang: nothing is retransmitted after a connection is lost (the
operations queued or in flight then are gone, and reported only as that loss); a node
that is merely slow for longer than ``net_ticktime`` is declared down; there is no global
order among more than two nodes.

``DistNode`` holds the state; each concept is a module of functions over it, bound here
as its methods:

================  ===========================================================================
module            what
================  ===========================================================================
``peers``         the peer table: connect on first use, teardown, NodeUp/NodeDown
``routing``       the kernel's ``Distribution`` protocol out, frames and operations in, spawn
``handshake``     HELLO / CHALLENGE / ACK, simultaneous connect, refusals
``liveness``      the ticker: ticks, ``net_ticktime``, handshake timeouts
``transport``     the ROUTER, the DEALERs, the reader process
``connection``    one connection's state, queue, writer and socket-monitor reader
``sockets``       pyzmq sockets driven by the event loop (no ``zmq.green`` on the hot path)
``wire``          the bytes: frames, operation codes, MACs
``names``         node names, cookies, creations, functions named for a remote spawn
================  ===========================================================================

Processes of a distributed node, besides the user's: the *reader* (``transport``), the
*ticker* (``liveness``), per connection a *writer* and a *monitor reader*
(``connection``), and a reader of the ROUTER's socket monitor when it encrypts. A
connection is made on first use, by any operation on a pid or name of that node
(``connect`` waits for it).

Prior art: Erlang's ``net_kernel`` (connections on demand, ``monitor_node(s)``,
``net_ticktime``) and ``dist_util`` (handshake, ticks); the ERTS distribution entry that
suspends senders at the dist buffer busy limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from beamlike._core.ids import Pid
from beamlike._core.node import Node, current_process, forget_default, set_default
from beamlike.dist import codec, handshake, liveness, peers, routing, transport
from beamlike.dist.connection import Conn
from beamlike.dist.errors import DistError
from beamlike.dist.names import (
    full_name,
    function_name,
    new_creation,
    read_cookie,
    resolve_function,
)
from beamlike.dist.wire import MAX_BATCH_BYTES, OP_TICK, curve_keypair
from beamlike.errors import BadArgument

if TYPE_CHECKING:
    from beamlike.dist.epmd import Resolver

__all__ = [
    "DistError",
    "DistNode",
    "full_name",
    "function_name",
    "read_cookie",
    "resolve_function",
    "start_node",
    "stop_node",
]

log = logging.getLogger("beamlike.dist")

MAX_FRAME = 64 << 20  # bytes of one frame part a node accepts


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
        # Set by transport.bind_router:
        self.ctx: Any = None
        self.router: Any = None
        self.router_monitor: Any = None
        self.router_ready: Any = None
        self.port = 0
        self.endpoint = ""
        transport.bind_router(self, node.name.partition("@")[2], port, bind)
        try:
            self.resolver.register(node.name, self.port, node.creation)
        except BaseException:
            transport.close_router(self)
            raise
        node.dist = self
        self.reader = self.spawn_system(transport.reader_main, self)
        self.ticker = self.spawn_system(liveness.ticker_main, self)
        if self.router_monitor is not None:
            self.spawn_system(transport.router_monitor_main, self, self.router_monitor)

    def __repr__(self) -> str:
        return f"<DistNode {self.name} {self.endpoint} peers={sorted(self.conns)}>"

    def spawn_system(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start a system process of the node running ``fn(*args)``; returns its process
        record. Never blocks."""
        pid, _ = self.node.spawn(self._system_main, (fn, args), {})
        self.system.add(pid)
        return pid._proc

    def _system_main(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        finally:
            self.system.discard(current_process().pid)

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
        transport.close_router(self)
        log.info("%s stopped", self.name)

    # The methods below are the functions of the concept modules, bound to the node.

    # -- the kernel's Distribution protocol, and remote spawn (routing)
    send = routing.send
    reply = routing.reply
    link = routing.link
    unlink = routing.unlink
    exit = routing.exit
    link_exit = routing.link_exit
    monitor = routing.monitor
    demonitor = routing.demonitor
    down = routing.down
    spawn = routing.spawn
    handle = routing.handle

    # -- the peer table (peers)
    connect = peers.connect
    disconnect = peers.disconnect
    nodes = peers.nodes
    monitor_node = peers.monitor_node
    monitor_nodes = peers.monitor_nodes
    conn_for = peers.conn_for
    new_conn = peers.new_conn
    up = peers.up
    teardown = peers.teardown

    # -- the handshake (handshake)
    on_control = handshake.on_control
    send_hello = handshake.send_hello

    # -- sockets (transport)
    resolve = transport.resolve
    open_dealer = transport.open_dealer
    close_sockets = transport.close_sockets
    drain_router = transport.drain_router


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
    forget_default(node)
