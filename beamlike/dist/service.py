"""The servers a distributed node runs for the whole cluster, as OTP's kernel runs
``global`` and ``pg``: what ``global_``'s name server and ``pg``'s scope servers share.

===================================  ====================================================
name                                 what it is
===================================  ====================================================
``ClusterServer.start(node, ...)``   spawn one, registered locally, never suspended by
                                     backpressure
``ClusterServer.run()``              its loop: calls, Downs, NodeUp/NodeDown, peer tuples
``ClusterServer.connected(node)``    whether a node is connected now (never connects)
``check_term(term, what)``           a name or group must be hashable and able to travel
===================================  ====================================================

A server subclasses ``ClusterServer`` and implements the callbacks its loop calls, each
in the server process (none may block; one that raises is logged and its message
dropped):

===========================  ========================================================
callback                     called for
===========================  ========================================================
``on_call(from_, request)``  a ``gen_server.call`` of a client function
``on_down(down)``            a ``Down`` of one of its monitors
``node_up(node)``            a node connected (and each node connected when it starts)
``node_down(node)``          a node was lost (default: nothing)
``on_peer(message)``         a non-empty tuple, from a server of another node
===========================  ========================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from beamlike._core.ids import Pid
from beamlike._core.node import Node, current_node
from beamlike.dist import codec
from beamlike.dist.connection import UP
from beamlike.errors import BadArgumentType
from beamlike.gen_server import Call, From
from beamlike.messages import Down, NodeDown, NodeUp
from beamlike.process import receive, self_pid

__all__ = ["ClusterServer", "check_term"]


class ClusterServer:
    """One server process of a cluster service (see the module docstring).

    Attributes:
        node: the server's node.
        pid: the server's pid.
        log: the logger failures go to (set by the subclass).
        label: how a log line names this server (set by the subclass).
    """

    log = logging.getLogger("beamlike.dist")
    label = "cluster server"

    def __init__(self) -> None:
        self.node = current_node()
        self.pid = self_pid()

    @classmethod
    def start(
        cls,
        node: Node,
        *args: Any,
        name: str,
        link: Any = None,
        forget: Callable[[], None],
    ) -> Pid:
        """Spawn ``cls(*args).run()`` on ``node``, registered locally as ``name`` (linked
        to the process record ``link``, if given); ``forget()`` runs when it exits. Its
        sends are never suspended by a busy connection (backpressure).

        Never blocks. Raises ``AlreadyRegisteredError`` if ``name`` is taken.
        """
        pid, _ = node.spawn(cls._main, args, {}, link=link, name=name)
        system = node.dist.system if node.dist is not None else set()
        system.add(pid)

        def exited(pid: Pid, reason: Any) -> None:
            system.discard(pid)
            forget()

        node.on_exit(pid, exited)
        return pid

    @classmethod
    def _main(cls, *args: Any) -> None:
        cls(*args).run()

    def run(self) -> None:
        """Handle every message, for ever. Blocks."""
        dist = self.node.dist
        if dist is not None:
            dist.monitor_nodes(True)
            for peer in dist.nodes():  # connected before this server ran
                self.node_up(peer)
        while True:
            message = receive()
            cls = message.__class__
            try:
                if cls is Call:
                    self.on_call(message.from_, message.request)
                elif cls is Down:
                    self.on_down(message)
                elif cls is NodeUp:
                    self.node_up(message.node)
                elif cls is NodeDown:
                    self.node_down(message.node)
                elif cls is tuple and message:
                    self.on_peer(message)
            except Exception:
                self.log.exception("%s failed to handle %r", self.label, message)

    def connected(self, peer: str) -> bool:
        """Whether the node ``peer`` is connected now: a server never connects by
        sending. Never blocks."""
        dist = self.node.dist
        conn = dist.conns.get(peer) if dist is not None else None
        return conn is not None and conn.state is UP

    # -- the callbacks ---------------------------------------------------------------------

    def on_call(self, from_: From, request: Any) -> None:
        raise NotImplementedError

    def on_down(self, down: Down) -> None:
        raise NotImplementedError

    def node_up(self, peer: str) -> None:
        raise NotImplementedError

    def node_down(self, peer: str) -> None:
        """Nothing: a server that cares monitors its peers, or overrides this."""

    def on_peer(self, message: tuple[Any, ...]) -> None:
        raise NotImplementedError


def check_term(term: Any, what: str) -> None:
    """Raise ``BadArgumentType`` (``"{what} must be a hashable term ..."``) unless
    ``term`` is hashable and can travel. Never blocks."""
    try:
        hash(term)
        codec.encode(term)
    except (TypeError, codec.EncodeError):
        raise BadArgumentType(
            f"{what} must be a hashable term that can travel (str, int, tuple...); got {term!r}"
        ) from None
