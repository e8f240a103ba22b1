"""Process groups between real OS processes (beamlike.dist.pg, OTP's pg).

The test process is the node ``alpha`` (net_ticktime 1 s); peers are child processes
running functions of ``tests/dist_support/services.py`` (fixtures in
``tests/dist_support/cluster.py``). Changes that travel are awaited through
``pg.monitor`` messages, or polled with deadlines.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import beamlike
from beamlike import ANY, Node, receive, self_pid, send, spawn
from beamlike import node as bnode
from beamlike.dist import pg, rpc
from beamlike.dist import spawn as remote_spawn
from beamlike.dist.pg import Join, Leave
from tests.dist_support.cluster import (  # noqa: F401
    SERVICES,
    alpha_fixture,
    epmd_fixture,
    idle,
    peers_fixture,
    wait_until,
)

MEMBERS = "beamlike.dist.pg:get_members"


def start_member(peer: Any, groups: list[Any]) -> Any:
    remote_spawn(peer.name, f"{SERVICES}:member", groups, self_pid())
    return receive(("member", ANY), timeout=5)[1]


def test_a_join_on_one_node_is_seen_on_another_and_so_is_a_leave(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    assert bnode.connect(beta.name)
    ref, members = pg.monitor("workers")
    assert members == []
    pid = start_member(beta, ["workers"])
    assert receive(Join(ref, "workers", ANY), timeout=5) == Join(ref, "workers", (pid,))
    assert pg.get_members("workers") == [pid]
    assert pg.get_local_members("workers") == []
    assert pg.which_groups() == ["workers"] and pg.which_local_groups() == []
    # a member of this node, seen over there
    pg.join("workers", self_pid())
    assert receive(Join(ref, "workers", ANY), timeout=5) == Join(ref, "workers", (self_pid(),))
    assert pg.get_local_members("workers") == [self_pid()]
    wait_until(lambda: sorted(rpc.call(beta.name, MEMBERS, "workers")) == sorted([pid, self_pid()]))
    # leaving
    send(pid, ("leave", "workers"))
    assert receive(("left", "workers", ANY), timeout=5) == ("left", "workers", True)
    assert receive(Leave(ref, "workers", ANY), timeout=5) == Leave(ref, "workers", (pid,))
    assert pg.get_members("workers") == [self_pid()]
    send(pid, ("leave", "workers"))
    assert receive(("left", "workers", ANY), timeout=5) == ("left", "workers", False)
    assert pg.leave("workers", self_pid()) is True
    assert pg.leave("workers", self_pid()) is False
    assert pg.which_groups() == []
    wait_until(lambda: rpc.call(beta.name, MEMBERS, "workers") == [])
    assert pg.demonitor(ref) is True and pg.demonitor(ref) is False


def test_a_member_that_exits_leaves_all_its_groups_everywhere(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    assert bnode.connect(beta.name)
    ref, groups = pg.monitor_scope()
    assert groups == {}
    pid = start_member(beta, ["a", ("b", 2), "a"])  # in "a" twice
    joins = [receive(Join(ref, ANY, ANY), timeout=5) for _ in range(3)]
    assert joins == [Join(ref, "a", (pid,)), Join(ref, ("b", 2), (pid,)), Join(ref, "a", (pid,))]
    assert pg.get_members("a") == [pid, pid] and pg.get_members(("b", 2)) == [pid]
    local = spawn(idle)
    pg.join("a", [local, local])
    assert receive(Join(ref, "a", ANY), timeout=5) == Join(ref, "a", (local, local))
    send(pid, "stop")
    leaves = {receive(Leave(ref, ANY, ANY), timeout=5) for _ in range(2)}
    assert leaves == {Leave(ref, "a", (pid, pid)), Leave(ref, ("b", 2), (pid,))}
    assert pg.get_members("a") == [local, local] and pg.which_groups() == ["a"]
    beamlike.exit(local, "kill")
    assert receive(Leave(ref, "a", ANY), timeout=5) == Leave(ref, "a", (local, local))
    assert pg.which_groups() == []
    wait_until(lambda: rpc.call(beta.name, "beamlike.dist.pg:which_groups") == [])


def test_the_members_of_a_killed_node_are_removed_on_the_others(alpha: Node, peers: Any) -> None:
    beta, gamma = peers("beta"), peers("gamma")
    assert bnode.connect(beta.name) and bnode.connect(gamma.name)
    ref, _ = pg.monitor("g")
    on_beta = start_member(beta, ["g"])
    on_gamma = start_member(gamma, ["g"])
    for _ in range(2):
        receive(Join(ref, "g", ANY), timeout=5)
    assert sorted(pg.get_members("g")) == sorted([on_beta, on_gamma])
    started = time.monotonic()
    beta.kill()
    assert receive(Leave(ref, "g", ANY), timeout=5) == Leave(ref, "g", (on_beta,))
    elapsed = time.monotonic() - started
    print(f"\nkill -9 -> pg members removed in {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    assert pg.get_members("g") == [on_gamma]


def test_nodes_that_connect_exchange_the_memberships_they_had(alpha: Node, peers: Any) -> None:
    beta = peers("beta", run=f"{SERVICES}:member_from_the_start", args=["early"])
    ref, members = pg.monitor("early")
    assert members == []  # not connected: alpha knows nothing of beta's groups
    assert bnode.connect(beta.name)
    joined = receive(Join(ref, "early", ANY), timeout=5)
    assert len(joined.pids) == 1 and joined.pids[0].node == beta.name
    # and the other way round
    pg.join("late", self_pid())
    wait_until(lambda: rpc.call(beta.name, MEMBERS, "late") == [self_pid()])


def test_a_scope_of_its_own_and_bad_input(alpha: Node, peers: Any) -> None:
    pid = pg.start_link("chat")
    assert beamlike.whereis("chat") == pid
    with pytest.raises(beamlike.AlreadyRegisteredError):
        pg.start_link("chat")
    pg.join("room", self_pid(), scope="chat")
    assert pg.get_members("room", scope="chat") == [self_pid()]
    assert pg.get_members("room") == []  # the default scope is another one
    with pytest.raises(beamlike.NoProcError, match="no pg scope 'other' runs on this node"):
        pg.get_members("room", scope="other")
    remote = beamlike.Pid("beta@127.0.0.1", 7, 0, 1)
    with pytest.raises(beamlike.BadArgument, match="only processes of this node"):
        pg.join("room", remote, scope="chat")
    with pytest.raises(beamlike.BadArgumentType, match="expected a Pid or a list of Pids"):
        pg.join("room", ["not a pid"])  # type: ignore[list-item]
    with pytest.raises(beamlike.BadArgumentType, match="hashable term that can travel"):
        pg.join(["a list"], self_pid())
    with pytest.raises(beamlike.BadArgumentType, match="a pg scope is a non-empty str"):
        pg.start_link("")
