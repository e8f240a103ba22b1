"""The node a program runs on, and distribution: named nodes that talk to each other.

``Node`` holds all runtime state. Code inside a process uses its process's node; code
outside uses the default node, created lazily. A test makes a fresh node::

    node = beamlike.Node()
    with node.as_default():
        ...
    node.stop()

A *distributed* node has a name ``name@host``, listens on a TCP port and connects to
other nodes on first use (Erlang's ``net_kernel``)::

    node = beamlike.node.start("alpha", cookie="secret")      # alpha@127.0.0.1
    beamlike.send(("worker", "beta@127.0.0.1"), "hello")      # connects to beta
    beamlike.node.stop()

See ``docs/distribution.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beamlike._core.node import (
    Node,
    current_node,
    default_node,
    forget_default,
    reset_default,
    set_default,
)
from beamlike._core.node import current_process as _current_process
from beamlike._core.signals import deliver as _deliver
from beamlike.errors import BadArgumentType
from beamlike.messages import NodeDown

if TYPE_CHECKING:
    from beamlike.dist.epmd import Resolver

__all__ = [
    "Node",
    "connect",
    "current",
    "default",
    "disconnect",
    "monitor_node",
    "monitor_nodes",
    "name",
    "nodes",
    "reset_default",
    "set_default",
    "start",
    "stop",
]


def current() -> Node:
    """The node of the calling process (the default node outside processes).

    Never blocks.
    """
    return current_node()


def default() -> Node:
    """The default node, created on first use. Never blocks."""
    return default_node()


def name() -> str:
    """The name of the caller's node (``"nonode@nohost"`` when not distributed).

    Never blocks.
    """
    return current_node().name


def start(
    name: str,
    *,
    cookie: str | bytes | None = None,
    port: int = 0,
    resolver: Resolver | None = None,
    net_ticktime: float = 60.0,
    **options: Any,
) -> Node:
    """Start a distributed node and make it the default node.

    ``name`` is ``"name@host"``; a bare ``"name"`` means ``"name@127.0.0.1"``. The node
    listens on ``tcp://host:port`` (``port=0``: a free port) and registers with
    ``resolver`` (default: the port mapper daemon, ``epmd.EpmdResolver()``, started on
    demand). The cookie is ``cookie``, else ``$BEAMLIKE_COOKIE``, else the contents of
    ``~/.beamlike.cookie`` (created with a random cookie, mode 0600, when missing). A peer
    silent for ``net_ticktime`` seconds is declared down.

    Other options go to ``beamlike.dist.DistNode``: ``bind`` (the interface to listen
    on), ``hwm``, ``busy_limit``, ``max_frame``, ``setup_timeout``; and
    ``block_threshold`` to the ``Node``.

    Blocks until the node listens and is registered. Raises ``BadArgument`` for a bad
    name, ``epmd.NameTakenError`` when the name is registered already, ``DistError``
    for a bad cookie file.
    """
    from beamlike.dist.net import start_node

    return start_node(
        name, cookie=cookie, port=port, resolver=resolver, net_ticktime=net_ticktime, **options
    )


def stop(node: Node | None = None) -> None:
    """Stop ``node`` (default: the caller's node): disconnect it from every node,
    unregister its name, and kill its processes. The next use of the default node
    creates a fresh one if it was the default.

    Blocks until its processes have exited. Must not be called from one of them.
    """
    target = node if node is not None else current_node()
    if target.dist is not None:
        from beamlike.dist.net import stop_node

        stop_node(target)
    else:
        target.stop()
        forget_default(target)


def connect(name: str) -> bool:
    """Connect the caller's node to the node ``name`` (Erlang's
    ``net_kernel:connect_node``). Returns True when connected (at once if already),
    False when it could not (unknown name, refused, wrong cookie, timed out).

    Blocks until connected or failed.
    """
    dist = current_node().dist
    return False if dist is None else bool(dist.connect(name))


def disconnect(name: str) -> bool:
    """Close the connection to ``name``: links with its processes get
    ``"noconnection"``, monitors ``Down(..., "noconnection")``, subscribers
    ``NodeDown(name, "disconnect")``. Returns whether it was connected. Never blocks."""
    dist = current_node().dist
    return False if dist is None else bool(dist.disconnect(name))


def nodes() -> list[str]:
    """Names of the nodes the caller's node is connected to, sorted. Never blocks."""
    dist = current_node().dist
    return [] if dist is None else list(dist.nodes())


def monitor_node(name: str, flag: bool = True) -> bool:
    """With ``flag`` True, the caller receives ``NodeDown(name, reason)`` once, when the
    connection to ``name`` goes down; at once if it is not connected and cannot be
    (a connection is attempted, as in Erlang). Calling it twice gives two messages.
    With ``flag`` False, the caller's monitors of ``name`` are removed. Returns True.

    Never blocks.
    """
    if flag.__class__ is not bool:
        raise BadArgumentType(f"monitor_node flag must be a bool; got {flag!r}")
    node = current_node()
    dist = node.dist
    if dist is None:
        if flag:
            _deliver(_current_process(), NodeDown(name, "connection_setup_failed"))
        return True
    dist.monitor_node(name, flag)
    return True


def monitor_nodes(flag: bool = True) -> bool:
    """With ``flag`` True, the caller receives ``NodeUp(name)`` and ``NodeDown(name,
    reason)`` for every node that connects to or disconnects from its node; False stops
    that. Returns True. Never blocks."""
    if flag.__class__ is not bool:
        raise BadArgumentType(f"monitor_nodes flag must be a bool; got {flag!r}")
    dist = current_node().dist
    if dist is not None:
        dist.monitor_nodes(flag)
    return True
