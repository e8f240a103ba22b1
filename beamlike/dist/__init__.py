"""Distribution over ZeroMQ: nodes that talk to each other (see docs/distribution.md).

=====================================================  =====================================
function                                               what it does
=====================================================  =====================================
``beamlike.node.start(name, cookie=, ...)``            make this OS process a named node
``beamlike.node.connect(name)`` / ``disconnect``       (dis)connect a node; blocks / never
``beamlike.node.nodes()``                              the connected nodes
``beamlike.node.monitor_node(name)``                   ``NodeDown`` when that node goes
``beamlike.node.monitor_nodes()``                      ``NodeUp``/``NodeDown`` of every node
``spawn(node, "pkg.mod:fn", *args, link=, monitor=)``  start a process on another node
``start_peer(name, ...)``, ``cluster(n, ...)``         start nodes as child OS processes
``rpc.call(node, fn, *args)``, ``rpc.multicall``       run a function on other nodes (erpc)
``global_.register_name(name, pid)``, ``whereis_name``  cluster-wide names (OTP's global)
``pg.join(group, pids)``, ``pg.get_members(group)``    process groups (OTP's pg)
=====================================================  =====================================

Sending, linking, monitoring and calling work on pids and ``(name, node)`` of other
nodes exactly as on local ones: the kernel hands them to ``node.dist``.
"""

from __future__ import annotations

from typing import Any

from beamlike._core.node import current_node
from beamlike.dist import global_, pg, rpc
from beamlike.dist.errors import DistError
from beamlike.dist.names import full_name
from beamlike.dist.net import DistNode
from beamlike.dist.peer import Peer, cluster, start_peer
from beamlike.dist.rpc import RpcError, RpcException, RpcTimeout
from beamlike.process import spawn_opt

__all__ = [
    "DistError",
    "DistNode",
    "Peer",
    "RpcError",
    "RpcException",
    "RpcTimeout",
    "cluster",
    "global_",
    "pg",
    "rpc",
    "spawn",
    "start_peer",
]


def spawn(node: str, fn: Any, *args: Any, link: bool = False, monitor: bool = False) -> Any:
    """Start ``fn(*args)`` as a process of the node ``node``; return its pid (with
    ``monitor``: ``(pid, ref)``), linked to / monitored by the caller if asked.

    ``fn`` is ``"package.module:function"`` or a module-level function, which the other
    node imports by that name: code never travels, so it must be installed there. The
    arguments must be terms that can travel (``codec``).

    Blocks until the other node answered. Raises ``DistError`` if it cannot be reached
    (or is lost meanwhile) or cannot find the function; ``codec.EncodeError`` for
    arguments that cannot travel.
    """
    here = current_node()
    target = full_name(node)
    if target == here.name:
        return spawn_opt(fn, args, link=link, monitor=monitor)
    dist = here.dist
    if dist is None:
        raise DistError(
            f"cannot spawn on {target}: this node is not distributed "
            "(start it with beamlike.node.start)"
        )
    return dist.spawn(target, fn, args, link=link, monitor=monitor)
