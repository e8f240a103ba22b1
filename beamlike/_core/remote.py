"""The seam between the local runtime and the distribution layer (``beamlike.dist``).

The kernel knows nothing of sockets. A node that is distributed has ``node.dist``, an
object implementing ``Distribution``: the kernel calls it whenever a send, link,
monitor, exit signal, Down or call reply concerns a pid (or ``(name, node)``) of another
node. The distribution layer, in turn, calls the functions of this module when such an
operation arrives from another node, and ``connection_lost`` when a node is gone.

The essay
---------
Links and monitors that cross nodes are recorded on the local side exactly as local
ones are (a remote pid in ``links``, a remote watcher in ``monitored_by``, a remote target
in ``monitors``), plus an index by node name (``node.remote_index``) of the local pids
that have any of them, so that losing a node touches only the processes concerned:

- a local process linked to a pid of the lost node gets an exit signal with reason
  ``"noconnection"`` (trappable, as in Erlang);
- a local monitor on a pid of the lost node delivers ``Down(ref, pid, "noconnection")``;
- monitors held by processes of the lost node are dropped.

Guarantees (together with the distribution layer's ordering per pair of nodes): a Down
or exit signal that arrives from a node comes after every message that node's process
sent before exiting; ``connection_lost`` is delivered after every operation already
received from that node.
"""

from __future__ import annotations

from typing import Any, Protocol

from beamlike._core.ids import Pid, Ref
from beamlike._core.process import DEAD, EXITING
from beamlike._core.signals import deliver, exit_signal
from beamlike.messages import Down, Exit

__all__ = [
    "Distribution",
    "NOCONNECTION",
    "connection_lost",
    "incoming_demonitor",
    "incoming_down",
    "incoming_exit",
    "incoming_link",
    "incoming_link_exit",
    "incoming_monitor",
    "incoming_reply",
    "incoming_send",
    "incoming_unlink",
    "index_remote",
    "record_remote_link",
    "record_remote_monitor",
]

NOCONNECTION = "noconnection"


class Distribution(Protocol):
    """What the kernel asks of the distribution layer. No method blocks: each queues an
    operation on the connection to the other node (connecting on first use), and a node
    that cannot be reached is reported with ``connection_lost`` as in Erlang."""

    def send(self, sender: Pid | None, dest: Pid | tuple[str, str], message: Any) -> None:
        """Deliver ``message`` to a pid or ``(name, node)`` of another node."""

    def link(self, local: Pid, remote: Pid) -> None:
        """``local`` linked itself to ``remote``: the other side records the link."""

    def unlink(self, local: Pid, remote: Pid) -> None:
        """``local`` removed its link to ``remote``."""

    def exit(self, sender: Pid, remote: Pid, reason: Any) -> None:
        """``exit(remote, reason)`` called by ``sender`` (not a link signal)."""

    def link_exit(self, dead: Pid, remote: Pid, reason: Any) -> None:
        """The local process ``dead``, linked to ``remote``, exited with ``reason``."""

    def monitor(self, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
        """``watcher`` monitors a process of another node (by pid or (name, node))."""

    def demonitor(self, watcher: Pid, target: Pid | tuple[str, str], ref: Ref) -> None:
        """``watcher`` removed its monitor ``ref``."""

    def down(self, watcher: Pid, ref: Ref, shown: Any, reason: Any) -> None:
        """A local process monitored by the remote ``watcher`` exited."""

    def shutdown(self) -> None:
        """Disconnect every node and stop listening (the node is stopping)."""

    def reply(self, caller: Pid, tag: Ref, value: Any) -> None:
        """Answer a call made by ``caller`` of another node (delivered only while the
        caller still waits: its node drops late replies)."""


def index_remote(node: Any, local: Pid, remote_node: str) -> None:
    """Record that ``local`` has a link or monitor involving ``remote_node``."""
    node.remote_index.setdefault(remote_node, set()).add(local)


def record_remote_link(proc: Any, remote: Pid) -> None:
    """Record, on the local side only, that ``proc`` is linked to ``remote``, a pid of
    another node. Never blocks."""
    if proc.links is None:
        proc.links = set()
    proc.links.add(remote)
    index_remote(proc.node, proc.pid, remote.node)


def record_remote_monitor(watcher: Any, target: Pid | tuple[str, str], ref: Ref) -> None:
    """Record, on the local side only, that ``watcher`` monitors ``target`` (a pid or
    ``(name, node)`` of another node) under ``ref``. Never blocks."""
    if watcher.monitors is None:
        watcher.monitors = {}
    watcher.monitors[ref] = target
    remote_node = target.node if isinstance(target, Pid) else target[1]
    index_remote(watcher.node, watcher.pid, remote_node)


# -- operations arriving from another node ----------------------------------------------


def incoming_send(node: Any, dest: Pid | str, message: Any) -> None:
    """A message from another node for a local pid or registered name. A dead pid or an
    unregistered name drops it, as Erlang does."""
    if dest.__class__ is str:
        proc = node.names.get(dest)
    else:
        proc = node.lookup(dest)
    if proc is not None:
        deliver(proc, message)


def incoming_reply(node: Any, tag: Ref, value: Any) -> None:
    """A call reply from another node: delivered while the caller's alias is active."""
    proc = node.aliases.get(tag)
    if proc is not None:
        deliver(proc, (tag, value))


def incoming_link(node: Any, local: Pid, remote: Pid) -> None:
    """``remote`` linked to the local ``local``; if it is not alive, ``remote`` gets
    ``"noproc"`` back through ``node.dist.link_exit``."""
    proc = node.lookup(local)
    if proc is None or proc.state is DEAD or proc.state is EXITING:
        node.dist.link_exit(local, remote, "noproc")
        return
    record_remote_link(proc, remote)


def incoming_unlink(node: Any, local: Pid, remote: Pid) -> None:
    """``remote`` removed its link to ``local``."""
    proc = node.lookup(local)
    if proc is not None and proc.links:
        proc.links.discard(remote)


def incoming_link_exit(node: Any, local: Pid, dead: Pid, reason: Any) -> None:
    """The remote ``dead``, linked to ``local``, exited: a link exit signal."""
    proc = node.lookup(local)
    if proc is None or not proc.links or dead not in proc.links:
        if proc is not None and proc.trap_exit and reason == "noproc":
            deliver(proc, Exit(dead, reason))  # the answer to linking a dead pid
        return
    proc.links.discard(dead)
    exit_signal(node, proc, dead, reason, via_link=True)


def incoming_exit(node: Any, local: Pid, sender: Pid, reason: Any) -> None:
    """``exit(local, reason)`` called by the remote ``sender``."""
    proc = node.lookup(local)
    if proc is not None:
        exit_signal(node, proc, sender, reason, via_link=False)


def incoming_monitor(node: Any, target: Pid | str, watcher: Pid, ref: Ref) -> None:
    """The remote ``watcher`` monitors a local pid or name; answers ``"noproc"`` at once
    when there is no such process."""
    if target.__class__ is str:
        proc = node.names.get(target)
        shown: Any = proc.pid if proc is not None else (target, node.name)
    else:
        proc = node.lookup(target)
        shown = target
    if proc is None or proc.state is DEAD or proc.state is EXITING:
        node.dist.down(watcher, ref, shown, "noproc")
        return
    if proc.monitored_by is None:
        proc.monitored_by = {}
    proc.monitored_by[ref] = (watcher, shown)
    index_remote(node, proc.pid, watcher.node)


def incoming_demonitor(node: Any, target: Pid | str, ref: Ref) -> None:
    """The remote watcher removed its monitor ``ref``."""
    proc = node.names.get(target) if target.__class__ is str else node.lookup(target)
    if proc is not None and proc.monitored_by:
        proc.monitored_by.pop(ref, None)


def incoming_down(node: Any, watcher: Pid, ref: Ref, shown: Any, reason: Any) -> None:
    """A remote process monitored by the local ``watcher`` exited."""
    proc = node.lookup(watcher)
    if proc is not None and proc.monitors and proc.monitors.pop(ref, None) is not None:
        deliver(proc, Down(ref, shown, reason))


def connection_lost(node: Any, remote_node: str) -> None:
    """Every link and monitor with ``remote_node`` fires with ``"noconnection"``.

    Called by the distribution layer after the last operation received from that node.
    Never blocks.
    """
    for local in node.remote_index.pop(remote_node, ()):
        proc = node.lookup(local)
        if proc is None:
            continue
        if proc.monitored_by:
            for ref, (watcher, _) in list(proc.monitored_by.items()):
                if watcher.__class__ is Pid and watcher.node == remote_node:
                    del proc.monitored_by[ref]
        if proc.monitors:
            for ref, target in list(proc.monitors.items()):
                # a pid, or a (name, node) tuple
                if (target.node if target.__class__ is Pid else target[1]) == remote_node:
                    del proc.monitors[ref]
                    deliver(proc, Down(ref, target, NOCONNECTION))
        if proc.links:
            for other in [p for p in proc.links if p.node == remote_node]:
                proc.links.discard(other)
                exit_signal(node, proc, other, NOCONNECTION, via_link=True)
