"""Global names between real OS processes (beamlike.dist.global_, OTP's global).

The test process is the node ``alpha`` (net_ticktime 1 s); peers are child processes
running functions of ``tests/dist_support/services.py`` (fixtures in
``tests/dist_support/cluster.py``). ``alpha``'s name sorts before the peers', so it is
the arbiter and, in a clash, the resolver. Waits are receives with timeouts, and polls
with deadlines where a change travels on its own.
"""

from __future__ import annotations

from typing import Any

import pytest

import beamlike
from beamlike import ANY, Down, Exit, Node, gen_server, monitor, receive, self_pid, send, spawn
from beamlike import node as bnode
from beamlike.dist import DistError, global_, rpc
from beamlike.dist import spawn as remote_spawn
from beamlike.gen_server import AlreadyStartedError
from tests.dist_support.cluster import (  # noqa: F401
    SERVICES,
    alpha_fixture,
    epmd_fixture,
    idle,
    peers_fixture,
    wait_until,
)

WHEREIS = "beamlike.dist.global_:whereis_name"
NAMES = "beamlike.dist.global_:registered_names"


def hold(peer: Any, name: Any) -> Any:
    """A process of ``peer`` that registered ``name`` globally; its pid."""
    remote_spawn(peer.name, f"{SERVICES}:hold_name", name, self_pid())
    _, _, result, pid = receive(("holding", name, ANY, ANY), timeout=5)
    assert result is True
    return pid


def test_a_name_registered_on_one_node_is_seen_on_the_others_and_cannot_be_taken_twice(
    alpha: Node, peers: Any
) -> None:
    beta, gamma = peers("beta"), peers("gamma")
    assert bnode.connect(beta.name) and bnode.connect(gamma.name)
    me = self_pid()
    assert global_.register_name("leader", me) is True
    # every node connected to the arbiter has it when register_name returns
    assert rpc.call(beta.name, WHEREIS, "leader") == me
    assert rpc.call(gamma.name, WHEREIS, "leader") == me
    assert rpc.call(beta.name, "beamlike.dist.global_:register_name", "leader", me) is False
    assert global_.register_name("leader", spawn(idle)) is False
    # a name registered by a process of beta, through the arbiter alpha
    worker = hold(beta, ("worker", 1))
    assert global_.whereis_name(("worker", 1)) == worker
    assert rpc.call(gamma.name, WHEREIS, ("worker", 1)) == worker
    assert sorted(map(repr, rpc.call(gamma.name, NAMES))) == sorted(
        map(repr, ["leader", ("worker", 1)])
    )
    # send by global name, from another node
    rpc.call(beta.name, "beamlike.dist.global_:send", "leader", "hello")
    assert receive("hello", timeout=5) == "hello"
    with pytest.raises(
        beamlike.NoProcError, match="cannot send to global name 'nobody': it is not registered"
    ):
        global_.send("nobody", "lost")
    assert global_.whereis_name("nobody") is None


def test_unregister_name_removes_it_everywhere(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    assert bnode.connect(beta.name)
    assert global_.register_name("job", self_pid())
    assert rpc.call(beta.name, WHEREIS, "job") == self_pid()
    global_.unregister_name("job")
    assert global_.whereis_name("job") is None
    assert rpc.call(beta.name, WHEREIS, "job") is None
    global_.unregister_name("job")  # not registered: nothing happens
    other = spawn(idle)
    assert global_.register_name("job", other) is True
    assert rpc.call(beta.name, WHEREIS, "job") == other


def test_a_name_goes_away_everywhere_when_its_process_exits(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    remote = hold(beta, "remote")
    local = spawn(idle)
    assert global_.register_name("local", local)
    assert rpc.call(beta.name, WHEREIS, "local") == local
    send(remote, "stop")
    beamlike.exit(local, "kill")
    wait_until(lambda: global_.registered_names() == [])
    wait_until(lambda: rpc.call(beta.name, NAMES) == [])


def test_the_names_of_a_lost_node_are_removed_on_the_others(alpha: Node, peers: Any) -> None:
    beta, gamma = peers("beta"), peers("gamma")
    assert bnode.connect(gamma.name)
    hold(beta, "on beta")
    assert global_.register_name("on alpha", self_pid())
    assert rpc.call(gamma.name, WHEREIS, "on beta") is not None
    bnode.monitor_node(beta.name)
    beta.kill()
    receive(beamlike.NodeDown, timeout=5)
    wait_until(lambda: global_.registered_names() == ["on alpha"], timeout=1.0)
    wait_until(lambda: rpc.call(gamma.name, NAMES) == ["on alpha"], timeout=2.0)


def test_a_clash_after_a_partition_heals_leaves_one_holder_and_exits_the_other(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")
    beamlike.register("inbox", self_pid())
    mine = spawn(idle)
    watch_mine = monitor(mine)
    assert global_.register_name("x", mine)
    remote_spawn(beta.name, f"{SERVICES}:hold_name_after_partition", alpha.name, "x", "inbox")
    _, theirs = receive(("ready", ANY), timeout=5)
    assert rpc.call(beta.name, WHEREIS, "x") == mine
    # The partition: each side forgets the other's names; beta's process takes "x" there.
    assert bnode.disconnect(beta.name)
    assert receive(("registered", theirs, ANY), timeout=5) == ("registered", theirs, True)
    # Its message connected the nodes again: the tables merge, the clash is resolved by
    # alpha (the first of the two nodes), with exit_name: the pid that sorts first wins.
    assert mine < theirs
    got = receive(("got", Exit(ANY, ANY)), timeout=5)[1]
    assert got.reason == ("global_name_conflict", "x")
    assert global_.whereis_name("x") == mine
    wait_until(lambda: rpc.call(beta.name, WHEREIS, "x") == mine)
    assert global_.registered_names() == ["x"] and rpc.call(beta.name, NAMES) == ["x"]
    assert receive(Down(watch_mine, ANY, ANY), timeout=0.2, default=None) is None


def test_a_custom_resolve_function_decides_a_clash(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    beamlike.register("inbox", self_pid())
    me = self_pid()

    def forward() -> None:
        send(me, ("mine got", receive()))
        idle()

    mine = spawn(forward)
    assert global_.register_name("y", mine, resolve=global_.notify_all_name)
    remote_spawn(beta.name, f"{SERVICES}:hold_name_after_partition", alpha.name, "y", "inbox")
    _, theirs = receive(("ready", ANY), timeout=5)
    assert bnode.disconnect(beta.name)
    assert receive(("registered", theirs, ANY), timeout=5)[2] is True
    # notify_all_name (alpha's, as alpha resolves) keeps neither and tells both
    conflict = ("global_name_conflict", "y")
    assert receive(("mine got", ANY), timeout=5) == ("mine got", (*conflict, theirs))
    assert receive(("got", ANY), timeout=5) == ("got", (*conflict, mine))
    assert global_.whereis_name("y") is None
    wait_until(lambda: rpc.call(beta.name, WHEREIS, "y") is None)


def test_a_gen_server_with_a_global_via_name_is_reached_from_every_node(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")
    remote_spawn(beta.name, f"{SERVICES}:start_global_counter", "counter", self_pid())
    _, pid = receive(("counter", ANY), timeout=5)
    name = global_.via("counter")
    assert name.whereis_name() == global_.whereis_name("counter") == pid
    assert gen_server.call(name.whereis_name(), ("add", 2)) == 2
    assert gen_server.call(name, ("add", 0)) == 2  # the via name, resolved to another node
    assert rpc.call(beta.name, f"{SERVICES}:call_global", "counter", ("add", 3)) == 5
    send(name, "an info message")  # beamlike.send resolves a via name to a remote pid
    with pytest.raises(AlreadyStartedError) as info:
        gen_server.start(gen_server.GenServer, None, name=name)
    assert info.value.pid == pid
    # a server on this node with a global name, stopped: the name goes with it
    from tests.dist_support.funcs import Counter

    here = gen_server.start(Counter, 10, name=global_.via("here"))
    assert rpc.call(beta.name, WHEREIS, "here") == here
    assert gen_server.call(global_.via("here"), "get") == 10
    gen_server.stop(global_.via("here"))
    assert global_.whereis_name("here") is None
    assert rpc.call(beta.name, WHEREIS, "here") is None


def test_bad_input_and_a_node_that_is_not_distributed(node: Node) -> None:
    with pytest.raises(DistError, match="not distributed"):
        global_.whereis_name("x")
    with pytest.raises(DistError, match="not distributed"):
        global_.register_name("x", self_pid())
    with pytest.raises(beamlike.BadArgumentType, match="hashable term that can travel"):
        global_.register_name(["a list"], self_pid())
    with pytest.raises(beamlike.BadArgumentType, match="expected a Pid"):
        global_.register_name("x", "not a pid")  # type: ignore[arg-type]
    with pytest.raises(beamlike.BadArgument, match="importable module-level function"):
        global_.register_name("x", self_pid(), resolve=lambda n, a, b: a)
    with pytest.raises(beamlike.BadArgument, match="cannot import module"):
        global_.via("x", resolve="no_such_module:f")
