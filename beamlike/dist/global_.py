"""Cluster-wide names (Erlang's ``global``): one name, one process, on all connected nodes.

=====================================================  ======================================
function (blocks?)                                     what it does
=====================================================  ======================================
``register_name(name, pid, resolve=None)`` (yes)       True, or False if the name is taken
``unregister_name(name)`` (yes)                        remove it everywhere
``whereis_name(name)`` (never)                         the pid, or None
``registered_names()`` (never)                         every global name
``send(name, message)`` (never)                        send to the pid of a global name
``via(name, resolve=None)``                            a name for ``gen_server``, ``send``
``exit_name``, ``notify_all_name``                     resolve functions for clashes
=====================================================  ======================================

Example::

    from beamlike.dist import global_

    global_.register_name("leader", self_pid())        # True: every node sees it
    global_.whereis_name("leader")                      # on any connected node
    global_.send("leader", "hello")
    gen_server.start(Counter, 0, name=global_.via("counter"))

The essay
---------
Guarantees. A name is held by at most one pid among nodes that stay connected: when
``register_name`` returns True, every node connected to the *arbiter* has the name, and
a second ``register_name`` of it returns False; after ``unregister_name`` returns, they
have all forgotten it. A name is removed on every node when its process exits and when
the node of its process is lost (disconnected, killed, silent for ``net_ticktime``). When
two nodes connect, including after a partition healed, they merge their tables; a name
that the two held for different pids (each side registered it while they were apart) is
a *clash*, resolved once, and then one pid (or none) holds it everywhere.

How. Every distributed node runs a name server, the process registered locally as
``"global_name_server"``, started with the node (as OTP's kernel starts ``global``). Each
holds a copy of the whole table (read by ``whereis_name`` without asking anyone) and
monitors every pid in it, so a process's death or its node's loss removes its names on
every node by itself. Registration and unregistration go through an arbiter, the
connected node whose name sorts first (the caller's node included), whose name server
decides, tells every name server it is connected to, and answers the caller once they
have all acknowledged (a node lost meanwhile is not waited for). Simpler than OTP's
``global`` locks: one serialisation point instead of a lock taken on every node; the
same outcome in a fully connected cluster.

Clashes. On ``NodeUp`` both name servers send each other their table. A name held for
another pid is resolved by one node: of the two pids' nodes, the one whose name sorts
first (it holds one of them), with the ``resolve`` function its own pid was registered
with, called as ``resolve(name, its_pid, other_pid)`` in its name server. The function
returns the pid that keeps the name, or None (then neither keeps it). The outcome is
sent to every connected node. The default, ``exit_name`` (OTP's ``random_exit_name``,
made deterministic), keeps the pid that sorts first (by node name, then number) and
exits the other with reason ``("global_name_conflict", name)``; ``notify_all_name`` keeps
neither and sends both ``("global_name_conflict", name, other_pid)``.

Non-guarantees. Nodes are not connected transitively (OTP's ``connect_all`` is not done:
beamlike connects on first use only), so the arbiter is the lowest node the *caller* is
connected to; in a cluster that is not fully connected, two arbiters may accept the same
name, and the clash is resolved as after a partition when their nodes meet. Until a
clash is resolved, nodes may answer ``whereis_name`` differently. A resolve function
runs inside the name server: it must be quick and must not call this module. A process
that traps exits survives ``exit_name`` but has lost the name. A node connects to the
nodes of the pids it holds names for (to monitor them).

Prior art: OTP's ``global`` (``lib/kernel/src/global.erl``): a copy of the table on every
node, names removed on nodedown, tables exchanged on nodeup, the resolve methods
``random_exit_name``, ``random_notify_name`` and ``notify_all_name``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from beamlike._core.ids import Pid, Ref
from beamlike._core.node import Node, current_node
from beamlike.dist.errors import DistError
from beamlike.dist.names import function_name
from beamlike.dist.service import ClusterServer, check_term
from beamlike.errors import BadArgumentType, NoProcError
from beamlike.gen_server import CallError, From, call, reply
from beamlike.messages import Down
from beamlike.process import demonitor, exit, monitor, resolve_function
from beamlike.process import send as send_message
from beamlike.timer import sleep

__all__ = [
    "SERVER",
    "GlobalName",
    "exit_name",
    "notify_all_name",
    "register_name",
    "registered_names",
    "send",
    "start_server",
    "unregister_name",
    "via",
    "whereis_name",
]

log = logging.getLogger("beamlike.dist.global")

SERVER = "global_name_server"  # the name server's local name on every distributed node
DEFAULT_RESOLVE = "beamlike.dist.global_:exit_name"
_KEY = "beamlike.dist.global"  # node.extensions: this node's copy of the table
_RETRIES = 5  # arbiters tried when one is lost during a request
_REMEMBERED_LOSERS = 4096


# -- resolve functions -----------------------------------------------------------------------


def exit_name(name: Any, pid1: Pid, pid2: Pid) -> Pid:
    """Keep the pid that sorts first; exit the other with reason
    ``("global_name_conflict", name)`` (the default resolve function). Never blocks."""
    keep, lose = (pid1, pid2) if pid1 < pid2 else (pid2, pid1)
    log.info("global: name conflict on %r: %r keeps it, %r is terminated", name, keep, lose)
    exit(lose, ("global_name_conflict", name))
    return keep


def notify_all_name(name: Any, pid1: Pid, pid2: Pid) -> None:
    """Keep neither: unregister the name and send each pid
    ``("global_name_conflict", name, other_pid)``. Never blocks."""
    send_message(pid1, ("global_name_conflict", name, pid2))
    send_message(pid2, ("global_name_conflict", name, pid1))


# -- the table and the name server -----------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    pid: Pid
    resolve: str
    mref: Ref


def start_server(node: Node) -> Pid:
    """Start the name server of the distributed ``node`` (done by ``beamlike.node.start``).

    Never blocks: its name is registered at once and messages wait for it.
    """
    names: dict[Any, _Entry] = {}  # this node's copy of the table: its name server writes it

    def forget() -> None:
        if node.extensions.get(_KEY) is names:
            del node.extensions[_KEY]

    pid = _NameServer.start(node, names, name=SERVER, forget=forget)
    node.extensions[_KEY] = names
    return pid


class _NameServer(ClusterServer):
    log = log

    def __init__(self, names: dict[Any, _Entry]) -> None:
        super().__init__()
        self.name = self.node.name
        self.label = f"global: {self.name}"
        self.names = names
        self.by_ref: dict[Ref, Any] = {}  # monitor of a registered pid -> its name
        self.peers: dict[str, Ref] = {}  # node -> monitor of its name server
        self.peer_refs: dict[Ref, str] = {}
        self.pending: dict[Ref, tuple[From, set[str], Any]] = {}  # acks awaited
        self.losers: OrderedDict[tuple[Any, Pid], None] = OrderedDict()

    def on_peer(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "apply":
            _, name, pid, resolve, tag, arbiter = message
            self.learn(name, pid, resolve)
            self.ack(arbiter, tag)
        elif kind == "remove":
            _, name, tag, arbiter = message
            self.remove(name)
            self.ack(arbiter, tag)
        elif kind == "ack":
            self.on_ack(message[1], message[2])
        elif kind == "sync":
            for name, pid, resolve in message[2]:
                self.learn(name, pid, resolve)
        elif kind == "learn":
            self.learn(message[1], message[2], message[3])
        elif kind == "resolved":
            self.on_resolved(message[1], message[2], message[3])

    # -- requests, as arbiter ------------------------------------------------------------

    def on_call(self, from_: From, request: Any) -> None:
        kind = request[0]
        if kind == "register":
            _, name, pid, resolve = request
            if name in self.names:
                reply(from_, False)
                return
            self.insert(name, pid, resolve)
            self.broadcast_acked(from_, ("apply", name, pid, resolve), True)
        elif kind == "unregister":
            self.remove(request[1])
            self.broadcast_acked(from_, ("remove", request[1]), None)
        else:
            reply(from_, BadArgumentType(f"global: unknown request {request!r}"))

    def broadcast_acked(self, from_: From, op: tuple[Any, ...], value: Any) -> None:
        """Send ``op`` to every peer name server; answer ``from_`` once all acked."""
        tag = self.node.make_ref()
        targets = {peer for peer in self.peers if self.connected(peer)}
        for peer in targets:
            send_message((SERVER, peer), (*op, tag, self.pid))
        if targets:
            self.pending[tag] = (from_, targets, value)
        else:
            reply(from_, value)

    def ack(self, arbiter: Pid, tag: Ref) -> None:
        if self.connected(arbiter.node):
            send_message(arbiter, ("ack", tag, self.name))

    def on_ack(self, tag: Ref, peer: str) -> None:
        waiting = self.pending.get(tag)
        if waiting is not None:
            waiting[1].discard(peer)
            self.answer_if_done(tag)

    def answer_if_done(self, tag: Ref) -> None:
        from_, targets, value = self.pending[tag]
        if not targets:
            del self.pending[tag]
            reply(from_, value)

    # -- nodes -----------------------------------------------------------------------------

    def node_up(self, peer: str) -> None:
        if peer in self.peers or not self.connected(peer):
            return  # seen already, or gone again (its NodeDown follows)
        ref = monitor((SERVER, peer))
        self.peers[peer] = ref
        self.peer_refs[ref] = peer
        table = [(name, entry.pid, entry.resolve) for name, entry in self.names.items()]
        send_message((SERVER, peer), ("sync", self.name, table))

    def node_down(self, peer: str) -> None:
        ref = self.peers.pop(peer, None)
        if ref is not None:
            del self.peer_refs[ref]
            demonitor(ref, flush=True)
        for tag, (_, targets, _) in list(self.pending.items()):
            if peer in targets:
                targets.discard(peer)
                self.answer_if_done(tag)

    def on_down(self, down: Down) -> None:
        peer = self.peer_refs.get(down.ref)
        if peer is not None:
            self.node_down(peer)
            return
        name = self.by_ref.pop(down.ref, None)
        entry = self.names.get(name) if name is not None else None
        if entry is not None and entry.mref == down.ref:
            del self.names[name]

    # -- the table -------------------------------------------------------------------------

    def insert(self, name: Any, pid: Pid, resolve: str) -> None:
        ref = monitor(pid)
        self.names[name] = _Entry(pid, resolve, ref)
        self.by_ref[ref] = name

    def remove(self, name: Any) -> None:
        entry = self.names.pop(name, None)
        if entry is not None:
            self.by_ref.pop(entry.mref, None)
            demonitor(entry.mref, flush=True)

    def learn(self, name: Any, pid: Pid, resolve: str) -> None:
        """Another name server holds ``name`` for ``pid``."""
        if (name, pid) in self.losers:
            return
        current = self.names.get(name)
        if current is None:
            self.insert(name, pid, resolve)
        elif current.pid != pid:
            self.clash(name, current, pid, resolve)

    def lost(self, name: Any, pid: Pid) -> None:
        self.losers[(name, pid)] = None
        if len(self.losers) > _REMEMBERED_LOSERS:
            self.losers.popitem(last=False)

    def clash(self, name: Any, current: _Entry, pid: Pid, resolve: str) -> None:
        """``name`` is held here for ``current.pid`` and elsewhere for ``pid``."""
        resolver = min(current.pid.node, pid.node)
        if resolver != self.name:
            # The resolver holds one of the two; make sure it hears of the other.
            if self.connected(resolver):
                other = (current.pid, current.resolve) if pid.node == resolver else (pid, resolve)
                send_message((SERVER, resolver), ("learn", name, *other))
            return
        if current.pid.node == self.name:
            mine, theirs = (current.pid, current.resolve), (pid, resolve)
        else:
            mine, theirs = (pid, resolve), (current.pid, current.resolve)
        try:
            winner = resolve_function(mine[1])(name, mine[0], theirs[0])
        except Exception:
            log.exception("global: resolving the clash on %r with %s raised", name, mine[1])
            winner = None
        if winner is not None and winner != mine[0] and winner != theirs[0]:
            log.error("global: %s returned %r for %r: neither pid keeps it", mine[1], winner, name)
            winner = None
        losers = [p for p in (mine[0], theirs[0]) if p != winner]
        kept = None if winner is None else (mine if winner == mine[0] else theirs)
        self.on_resolved(name, kept, losers)
        for peer in self.peers:
            if self.connected(peer):
                send_message((SERVER, peer), ("resolved", name, kept, losers))

    def on_resolved(self, name: Any, kept: tuple[Pid, str] | None, losers: list[Pid]) -> None:
        for pid in losers:
            self.lost(name, pid)
            current = self.names.get(name)
            if current is not None and current.pid == pid:
                self.remove(name)
        if kept is not None:
            self.learn(name, kept[0], kept[1])


# -- the client functions ------------------------------------------------------------------


def _table(what: str) -> dict[Any, _Entry]:
    names = current_node().extensions.get(_KEY)
    if names is None:
        raise DistError(
            f"global_.{what}: this node has no global name server "
            "(it is not distributed: start it with beamlike.node.start)"
        )
    return names  # type: ignore[no-any-return]


def _check_name(name: Any, what: str) -> None:
    check_term(name, f"global_.{what}: a global name")


def _resolve_name(resolve: Any) -> str:
    if resolve is None:
        return DEFAULT_RESOLVE
    name = function_name(resolve)
    resolve_function(name)  # importable here, so most likely over there too
    return name


def _ask_arbiter(request: tuple[Any, ...]) -> Any:
    """Send ``request`` to the arbiter's name server; another arbiter if it is lost."""
    failure: CallError | None = None
    for _ in range(_RETRIES):
        here = current_node()
        arbiter = min([here.name, *(here.dist.nodes() if here.dist is not None else ())])
        server: Any = SERVER if arbiter == here.name else (SERVER, arbiter)
        try:
            return call(server, request, timeout=None)
        except CallError as exc:
            if exc.reason not in ("noconnection", "noproc"):
                raise
            failure = exc
            sleep(0.05)
    raise DistError(
        f"global: no arbiter answered {request[0]} ({failure.reason if failure else ''})"
    )


def register_name(
    name: Any, pid: Pid, resolve: str | Callable[[Any, Pid, Pid], Pid | None] | None = None
) -> bool:
    """Register ``pid`` (of any node) as ``name`` on every connected node.

    Args:
        name: a hashable term that can travel.
        pid: the process; the name goes when it exits or its node is lost.
        resolve: what decides a clash after a partition (``"package.module:function"``
            or an importable function ``(name, pid1, pid2) -> pid or None``); default
            ``exit_name``.

    Blocks until the arbiter decided and every node connected to it has the name.
    Returns False if the name is taken. Raises ``DistError`` on a node that is not
    distributed, ``BadArgument`` for a bad name, pid or resolve function.
    """
    _check_name(name, "register_name")
    if pid.__class__ is not Pid:
        raise BadArgumentType(f"global_.register_name: expected a Pid; got {pid!r}")
    resolve_name = _resolve_name(resolve)
    _table("register_name")
    return bool(_ask_arbiter(("register", name, pid, resolve_name)))


def unregister_name(name: Any) -> None:
    """Remove ``name`` on every connected node (nothing happens if it is not registered).

    Blocks until every node connected to the arbiter has forgotten it. Raises
    ``DistError`` on a node that is not distributed.
    """
    _check_name(name, "unregister_name")
    _table("unregister_name")
    _ask_arbiter(("unregister", name))


def whereis_name(name: Any) -> Pid | None:
    """The pid registered as ``name``, or None. Never blocks (it reads this node's copy).

    Raises ``DistError`` on a node that is not distributed."""
    _check_name(name, "whereis_name")
    entry = _table("whereis_name").get(name)
    return entry.pid if entry is not None else None


def registered_names() -> list[Any]:
    """Every global name, as this node knows them. Never blocks."""
    return list(_table("registered_names"))


def send(name: Any, message: Any) -> Any:
    """Send ``message`` to the process registered as ``name``; return ``message``.

    Never blocks (but as ``beamlike.send`` to another node under backpressure). Raises
    ``NoProcError`` if no process is registered as ``name``.
    """
    pid = whereis_name(name)
    if pid is None:
        raise NoProcError(f"cannot send to global name {name!r}: it is not registered")
    send_message(pid, message)
    return message


@dataclass(frozen=True, slots=True)
class GlobalName:
    """A global name for ``gen_server`` (``name=``), ``send`` and ``monitor`` (Erlang's
    ``{global, Name}``, or ``{via, global, Name}``). Make it with ``via(name)``."""

    name: Any
    resolve: Any = field(default=None, compare=False)

    def whereis_name(self) -> Pid | None:
        """The pid, or None. Never blocks."""
        return whereis_name(self.name)

    def register_name(self, pid: Pid) -> bool:
        """Register ``pid`` as this name everywhere; False if taken. Blocks (see
        ``register_name``)."""
        return register_name(self.name, pid, self.resolve)

    def unregister_name(self) -> None:
        """Remove this name everywhere. Blocks (see ``unregister_name``)."""
        unregister_name(self.name)

    def send(self, message: Any) -> Any:
        """Send ``message`` to its process. Never blocks; ``NoProcError`` if none."""
        return send(self.name, message)


def via(name: Any, resolve: str | Callable[..., Any] | None = None) -> GlobalName:
    """A global name usable as ``gen_server.start(..., name=via(name))``, with ``send``
    and ``monitor``. Never blocks. Raises ``BadArgument`` for a bad name."""
    _check_name(name, "via")
    if resolve is not None:
        _resolve_name(resolve)
    return GlobalName(name, resolve)
