"""Process groups (Erlang's ``pg``): named groups of processes of any node, per scope.

=====================================================  ======================================
function (blocks?)                                     what it does
=====================================================  ======================================
``start_link(scope="pg")`` (never)                     start a scope on this node
``join(group, pids)`` / ``leave(group, pids)`` (yes)    local processes join / leave a group
``get_members(group)`` (never)                         its members on every node
``get_local_members(group)`` (never)                   its members on this node
``which_groups()``, ``which_local_groups()`` (never)   the groups that have members
``monitor(group)`` (yes)                               ``(ref, members)``, then ``Join`` and
                                                       ``Leave`` messages
``monitor_scope()``, ``demonitor(ref)`` (yes)          the same for every group; stop
=====================================================  ======================================

Every function takes ``scope=`` (default ``"pg"``, the scope every distributed node starts
with ``beamlike.node.start``). Example::

    from beamlike.dist import pg

    pg.join("workers", self_pid())                 # on beta
    pg.get_members("workers")                      # on alpha, soon: [<beta's pid>]
    ref, members = pg.monitor("workers")
    receive(pg.Join(ref, "workers", ANY))          # the next one that joins

The essay
---------
As OTP's ``pg``: a scope is a server process registered locally under the scope's name,
on each node that uses the scope. It owns the memberships of its node's processes and
keeps a copy of those of every other scope server of the same name that it knows. A
``join`` or ``leave`` changes this node's memberships at once (``get_members`` here sees
it when ``join`` returns) and is then sent to the other scope servers. Scope servers find
each other when their nodes connect (``NodeUp``: each sends the other ``discover``, and
answers one with its node's memberships, ``sync``), and monitor each other: when a node
is lost, its members are removed on every other node at once. A member that exits is
removed from all its groups. Membership has multiplicity: a process that joined a group
twice is in it twice and must leave twice. Groups exist while they have members.

Guarantees: eventual consistency. Changes made by one scope server reach each other
scope server in the order made; after the joins and leaves stop and the nodes stay
connected, every node sees the same members. Non-guarantees: no order among changes
made on different nodes; ``get_members`` on two nodes may differ while changes travel;
nodes are not connected transitively, so a node sees the members of the nodes it is
connected to only. Reads never block: they read this node's copy.

Prior art: OTP's ``pg`` (``lib/kernel/src/pg.erl``, OTP 23+), which replaced ``pg2``'s
global locks with this eventually consistent design; ``monitor``/``monitor_scope`` as
in OTP 25.1.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from beamlike._core.ids import Pid, Ref
from beamlike._core.node import Node, current_node, current_process
from beamlike.dist.service import ClusterServer, check_term
from beamlike.errors import BadArgument, BadArgumentType, NoProcError
from beamlike.gen_server import From, call, reply
from beamlike.messages import ANY, Down
from beamlike.process import demonitor as demonitor_process
from beamlike.process import monitor as monitor_process
from beamlike.process import receive, send

__all__ = [
    "DEFAULT_SCOPE",
    "Join",
    "Leave",
    "demonitor",
    "get_local_members",
    "get_members",
    "join",
    "leave",
    "monitor",
    "monitor_scope",
    "start_link",
    "start_scope",
    "which_groups",
    "which_local_groups",
]

log = logging.getLogger("beamlike.dist.pg")

DEFAULT_SCOPE = "pg"
_KEY = "beamlike.dist.pg"  # node.extensions: scope name -> _View


@dataclass(frozen=True, slots=True)
class Join:
    """Processes joined a monitored group (OTP's ``{Ref, join, Group, Pids}``)."""

    ref: Ref
    group: Any
    pids: tuple[Pid, ...]


@dataclass(frozen=True, slots=True)
class Leave:
    """Processes left a monitored group, or exited, or their node was lost (OTP's
    ``{Ref, leave, Group, Pids}``)."""

    ref: Ref
    group: Any
    pids: tuple[Pid, ...]


class _View:
    """What one scope knows, read by the client functions; written by its server only."""

    __slots__ = ("members", "local")

    def __init__(self) -> None:
        self.members: dict[Any, list[Pid]] = {}  # group -> members on every node
        self.local: dict[Any, list[Pid]] = {}  # group -> members on this node


# -- starting a scope ------------------------------------------------------------------------


def _start(node: Node, scope: str, link: Any) -> Pid:
    if not isinstance(scope, str) or not scope:
        raise BadArgumentType(f"a pg scope is a non-empty str (its server's name); got {scope!r}")
    view = _View()
    views = node.extensions.setdefault(_KEY, {})

    def forget() -> None:
        if views.get(scope) is view:
            del views[scope]

    pid = _ScopeServer.start(node, scope, view, name=scope, link=link, forget=forget)
    views[scope] = view
    return pid


def start_link(scope: str = DEFAULT_SCOPE) -> Pid:
    """Start the scope ``scope`` on the caller's node, linked to the caller; its server is
    registered locally as ``scope``.

    Never blocks (the name is registered at once). Raises ``AlreadyRegisteredError`` if
    ``scope`` is a registered name already.
    """
    me = current_process()
    return _start(me.node, scope, me)


def start_scope(node: Node, scope: str = DEFAULT_SCOPE) -> Pid:
    """Start the scope ``scope`` on ``node``, linked to nothing (``beamlike.node.start``
    starts ``"pg"`` this way). Never blocks."""
    return _start(node, scope, None)


# -- the scope server ------------------------------------------------------------------------


class _ScopeServer(ClusterServer):
    log = log

    def __init__(self, scope: str, view: _View) -> None:
        super().__init__()
        self.scope = scope
        self.label = f"pg scope {scope!r}"
        self.view = view
        self.local = view.local
        self.members_of: dict[Pid, tuple[Ref, list[Any]]] = {}  # local member -> its groups
        self.peers: dict[Pid, tuple[Ref, dict[Any, list[Pid]]]] = {}  # other scope servers
        self.watchers: dict[Ref, tuple[Pid, Any]] = {}  # monitor ref -> (watcher, group)
        self.watcher_refs: dict[Pid, tuple[Ref, set[Ref]]] = {}  # watcher -> its monitors
        self.everything = object()  # the "group" of a monitor_scope

    def on_peer(self, message: tuple[Any, ...]) -> None:
        if len(message) < 2 or message[1].__class__ is not Pid:
            return
        kind, peer = message[0], message[1]
        if peer.node == self.node.name:
            return
        if kind == "discover":
            self.send_to(peer, ("sync", self.pid, self.local))
            if peer not in self.peers:
                self.add_peer(peer)
                self.send_to(peer, ("discover", self.pid))
        elif kind == "sync":
            self.on_sync(peer, message[2])
        elif kind == "join":
            groups = self.add_peer(peer)
            group, pids = message[2], list(message[3])
            groups.setdefault(group, []).extend(pids)
            self.changed(group, Join, pids)
        elif kind == "leave":
            groups = self.add_peer(peer)
            pids, left_groups = list(message[2]), message[3]
            for group in left_groups:
                self.changed(group, Leave, _remove_each(groups, group, pids))

    # -- other nodes -----------------------------------------------------------------------

    def send_to(self, peer: Pid, message: Any) -> None:
        """Send to another scope server if its node is connected (never connects)."""
        if self.connected(peer.node):
            send(peer, message)

    def broadcast(self, message: Any) -> None:
        for peer in self.peers:
            self.send_to(peer, message)

    def node_up(self, node: str) -> None:
        """Tell the scope server of ``node``, if any, that this one exists."""
        if self.connected(node):
            send((self.scope, node), ("discover", self.pid))

    def add_peer(self, peer: Pid) -> dict[Any, list[Pid]]:
        known = self.peers.get(peer)
        if known is None:
            known = self.peers[peer] = (monitor_process(peer), {})
        return known[1]

    def on_sync(self, peer: Pid, groups: dict[Any, list[Pid]]) -> None:
        old = self.add_peer(peer)
        new = {group: list(pids) for group, pids in groups.items() if pids}
        self.peers[peer] = (self.peers[peer][0], new)
        for group in set(old) | set(new):
            before, after = Counter(old.get(group, ())), Counter(new.get(group, ()))
            self.changed(group, Leave, list((before - after).elements()))
            self.changed(group, Join, list((after - before).elements()))

    # -- this node's members -----------------------------------------------------------------

    def on_call(self, from_: From, request: Any) -> None:
        kind = request[0]
        if kind == "join":
            _, group, pids = request
            for pid in pids:
                entry = self.members_of.get(pid)
                if entry is None:
                    self.members_of[pid] = (monitor_process(pid), [group])
                else:
                    entry[1].append(group)
            self.local.setdefault(group, []).extend(pids)
            self.changed(group, Join, pids)
            self.broadcast(("join", self.pid, group, pids))
            reply(from_, True)
        elif kind == "leave":
            _, group, pids = request
            gone = _remove_each(self.local, group, pids)
            for pid in gone:
                self.forget_membership(pid, group)
            if gone:
                self.changed(group, Leave, gone)
                self.broadcast(("leave", self.pid, gone, [group]))
            reply(from_, bool(gone))
        elif kind == "monitor":
            group = request[1]
            ref = self.watch(from_.pid, group)
            reply(from_, (ref, list(self.view.members.get(group, ()))))
        elif kind == "monitor_scope":
            ref = self.watch(from_.pid, self.everything)
            reply(from_, (ref, {g: list(pids) for g, pids in self.view.members.items()}))
        elif kind == "demonitor":
            reply(from_, self.unwatch(request[1]))
        else:
            reply(from_, BadArgument(f"pg: unknown request {request!r}"))

    def forget_membership(self, pid: Pid, group: Any) -> None:
        mref, groups = self.members_of[pid]
        groups.remove(group)
        if not groups:
            del self.members_of[pid]
            demonitor_process(mref, flush=True)

    def on_down(self, down: Down) -> None:
        pid = down.pid
        member = self.members_of.get(pid)
        if member is not None and member[0] == down.ref:
            del self.members_of[pid]
            groups = list(dict.fromkeys(member[1]))
            for group in groups:
                members = self.local.get(group, [])
                gone = [p for p in members if p == pid]
                members[:] = [p for p in members if p != pid]
                if not members:
                    self.local.pop(group, None)
                self.changed(group, Leave, gone)
            self.broadcast(("leave", self.pid, [pid] * len(member[1]), groups))
            return
        peer = self.peers.get(pid)
        if peer is not None and peer[0] == down.ref:
            del self.peers[pid]
            for group, pids in peer[1].items():
                self.changed(group, Leave, pids)
            return
        watcher = self.watcher_refs.get(pid)
        if watcher is not None and watcher[0] == down.ref:
            del self.watcher_refs[pid]
            for ref in watcher[1]:
                self.watchers.pop(ref, None)

    # -- the view and the monitors -------------------------------------------------------------

    def changed(self, group: Any, kind: type[Join] | type[Leave], pids: list[Pid]) -> None:
        """Rebuild the members of ``group`` and tell its watchers."""
        if not pids:
            return
        members = list(self.local.get(group, ()))
        for _, groups in self.peers.values():
            members.extend(groups.get(group, ()))
        if members:
            self.view.members[group] = members
        else:
            self.view.members.pop(group, None)
        for ref, (watcher, watched) in self.watchers.items():
            if watched is self.everything or watched == group:
                send(watcher, kind(ref, group, tuple(pids)))

    def watch(self, watcher: Pid, group: Any) -> Ref:
        ref = self.node.make_ref()
        self.watchers[ref] = (watcher, group)
        known = self.watcher_refs.get(watcher)
        if known is None:
            known = self.watcher_refs[watcher] = (monitor_process(watcher), set())
        known[1].add(ref)
        return ref

    def unwatch(self, ref: Ref) -> bool:
        entry = self.watchers.pop(ref, None)
        if entry is None:
            return False
        watcher = entry[0]
        mref, refs = self.watcher_refs[watcher]
        refs.discard(ref)
        if not refs:
            del self.watcher_refs[watcher]
            demonitor_process(mref, flush=True)
        return True


def _remove_each(groups: dict[Any, list[Pid]], group: Any, pids: Iterable[Pid]) -> list[Pid]:
    """Remove one membership of ``group`` for each of ``pids`` from ``groups`` (and the
    group once it has no member left); return the pids removed."""
    members = groups.get(group, [])
    gone = []
    for pid in pids:
        try:
            members.remove(pid)
        except ValueError:
            continue
        gone.append(pid)
    if not members:
        groups.pop(group, None)
    return gone


# -- the client functions ------------------------------------------------------------------


def _view(scope: str, what: str) -> _View:
    view = current_node().extensions.get(_KEY, {}).get(scope)
    if view is None:
        raise NoProcError(
            f"pg.{what}: no pg scope {scope!r} runs on this node "
            f"(start it with pg.start_link({scope!r}))"
        )
    return view  # type: ignore[no-any-return]


def _check_group(group: Any, what: str) -> None:
    check_term(group, f"pg.{what}: a group")


def _local_pids(pids: Pid | Iterable[Pid], what: str) -> list[Pid]:
    listed = [pids] if pids.__class__ is Pid else list(pids)  # type: ignore[arg-type]
    here = current_node().name
    for pid in listed:
        if pid.__class__ is not Pid:
            raise BadArgumentType(f"pg.{what}: expected a Pid or a list of Pids; got {pids!r}")
        if pid.node != here:
            raise BadArgument(
                f"pg.{what}: only processes of this node ({here}) can join or leave; got {pid!r}"
            )
    return listed


def join(group: Any, pids: Pid | Iterable[Pid], *, scope: str = DEFAULT_SCOPE) -> None:
    """Make the processes ``pids`` (of this node; one Pid or several) members of
    ``group``. A process may join a group more than once.

    Blocks until this node's scope server recorded it (then ``get_members`` here shows
    it; other nodes see it once it reached them). Raises ``BadArgument`` for a pid of
    another node or a bad group, ``NoProcError`` if the scope does not run here.
    """
    _check_group(group, "join")
    listed = _local_pids(pids, "join")
    _view(scope, "join")
    call(scope, ("join", group, listed), timeout=None)


def leave(group: Any, pids: Pid | Iterable[Pid], *, scope: str = DEFAULT_SCOPE) -> bool:
    """Remove one membership of each of ``pids`` (of this node) from ``group``.

    Blocks until this node's scope server recorded it. Returns False if none of them
    was a member (OTP's ``not_joined``). Raises as ``join``.
    """
    _check_group(group, "leave")
    listed = _local_pids(pids, "leave")
    _view(scope, "leave")
    return bool(call(scope, ("leave", group, listed), timeout=None))


def get_members(group: Any, *, scope: str = DEFAULT_SCOPE) -> list[Pid]:
    """The members of ``group`` on every node this node knows (a pid once per join).

    Never blocks. Raises ``NoProcError`` if the scope does not run here."""
    return list(_view(scope, "get_members").members.get(group, ()))


def get_local_members(group: Any, *, scope: str = DEFAULT_SCOPE) -> list[Pid]:
    """The members of ``group`` on this node. Never blocks."""
    return list(_view(scope, "get_local_members").local.get(group, ()))


def which_groups(*, scope: str = DEFAULT_SCOPE) -> list[Any]:
    """The groups with members on any node this node knows. Never blocks."""
    return list(_view(scope, "which_groups").members)


def which_local_groups(*, scope: str = DEFAULT_SCOPE) -> list[Any]:
    """The groups with members on this node. Never blocks."""
    return list(_view(scope, "which_local_groups").local)


def monitor(group: Any, *, scope: str = DEFAULT_SCOPE) -> tuple[Ref, list[Pid]]:
    """Watch ``group``: returns ``(ref, its members now)``; from then on the caller gets
    ``Join(ref, group, pids)`` and ``Leave(ref, group, pids)`` for every change, until
    ``demonitor(ref)`` or the caller exits.

    Blocks until the scope server answered. Raises ``NoProcError`` if the scope does
    not run here.
    """
    _check_group(group, "monitor")
    _view(scope, "monitor")
    ref, members = call(scope, ("monitor", group), timeout=None)
    return ref, members


def monitor_scope(*, scope: str = DEFAULT_SCOPE) -> tuple[Ref, dict[Any, list[Pid]]]:
    """Watch every group of the scope: returns ``(ref, {group: members})``, then ``Join``
    and ``Leave`` messages as ``monitor``. Blocks until the scope server answered."""
    _view(scope, "monitor_scope")
    ref, groups = call(scope, ("monitor_scope",), timeout=None)
    return ref, groups


def demonitor(ref: Ref, *, scope: str = DEFAULT_SCOPE) -> bool:
    """Stop the monitor ``ref``; its messages already in the caller's mailbox are removed.

    Blocks until the scope server answered. Returns False if ``ref`` was not one.
    """
    if ref.__class__ is not Ref:
        raise BadArgumentType(f"pg.demonitor expects the Ref of a pg monitor; got {ref!r}")
    _view(scope, "demonitor")
    found = bool(call(scope, ("demonitor", ref), timeout=None))
    while receive(Join(ref, ANY, ANY), Leave(ref, ANY, ANY), timeout=0, default=None) is not None:
        pass
    return found
