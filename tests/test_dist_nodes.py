"""Distribution between real OS processes (beamlike.dist.net, connection, peer).

Every test starts a distributed node in the test process (``alpha``, net_ticktime 1 s)
and peer nodes as child processes (``beamlike.dist.start_peer``), all on 127.0.0.1 and
found through a port-mapper daemon started for this module on a free port. Peers run
functions of ``tests/dist_support/funcs.py`` by name. Fixtures (in
``tests/dist_support/cluster.py``) kill every child at the end. Waits are receives with
timeouts; the few polls have deadlines.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import zmq.green as zmq

import beamlike
from beamlike import (
    ANY,
    Down,
    Exit,
    Node,
    NodeDown,
    NodeUp,
    gen_server,
    monitor,
    process_flag,
    receive,
    self_pid,
    send,
    spawn,
)
from beamlike import node as bnode
from beamlike.dist import DistError, Peer, codec
from beamlike.dist import spawn as remote_spawn
from beamlike.dist.connection import INITIATOR, RESPONDER, UP, Conn
from beamlike.dist.epmd import lookup
from beamlike.dist.net import DistNode, read_cookie
from beamlike.dist.wire import encode_batch, pack_body
from beamlike.gen_server import CallError
from beamlike.timer import sleep
from tests.dist_support.cluster import (  # noqa: F401
    COOKIE,
    FUNCS,
    PEER_ENV,
    alpha_fixture,
    epmd_fixture,
    free_port,
    peers_fixture,
    start_alpha,
    unique,
    wait_until,
)


def dist_of(node: Node) -> DistNode:
    assert isinstance(node.dist, DistNode)
    return node.dist


def remote_echo(peer: Peer, name: str | None = None) -> Any:
    return remote_spawn(peer.name, f"{FUNCS}:echo", *([name] if name else []))


def round_trip(dest: Any, term: Any, timeout: float = 5.0) -> None:
    send(dest, (self_pid(), term))
    assert receive(("echo", term), timeout=timeout) == ("echo", term)


# -- sending ------------------------------------------------------------------------------


def test_send_to_a_remote_pid_and_to_a_registered_name(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    pid = remote_echo(beta, "echo")
    assert pid.node == beta.name
    round_trip(pid, "by pid")
    round_trip(("echo", beta.name), "by name")
    assert bnode.nodes() == [beta.name]


def test_many_messages_between_a_pair_arrive_in_order(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    n = 20_000
    remote_spawn(beta.name, f"{FUNCS}:count_to", self_pid(), n)
    for i in range(n):
        assert receive(timeout=10) == ("n", i)
    assert receive(timeout=5) == "done"
    echo = remote_echo(beta)
    for i in range(n):
        send(echo, (self_pid(), i))
    for i in range(n):
        assert receive(timeout=10) == ("echo", i)


def test_terms_travel_with_pids_refs_tuples_and_exceptions(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    echo = remote_echo(beta)
    ref = beamlike.make_ref()
    term = (self_pid(), ref, {"k": [1, (2, 3)]}, frozenset({4}), ValueError("bad"))
    send(echo, (self_pid(), term))
    _, back = receive(("echo", ANY), timeout=5)
    assert back[:4] == term[:4]
    assert isinstance(back[4], codec.RemoteError) and back[4].type_name == "ValueError"


def test_a_message_that_cannot_travel_fails_at_the_call_site(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    echo = remote_echo(beta)
    with pytest.raises(codec.EncodeError):
        send(echo, (self_pid(), lambda: 1))
    round_trip(echo, "still fine")


def test_batch_frames_are_what_the_codec_makes_of_the_ops() -> None:
    ops = [("op", i, "x" * i) for i in range(40)]
    assert encode_batch([codec.encode(op) for op in ops]) == codec.encode_batch(ops)
    many = [i for i in range(70_000)]
    assert encode_batch([codec.encode(i) for i in many]) == codec.encode_batch(many)


# -- gen_server --------------------------------------------------------------------------


def test_a_gen_server_call_to_a_server_on_another_node(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    remote_spawn(beta.name, f"{FUNCS}:start_counter", "counter", self_pid())
    _, pid = receive(("counter", ANY), timeout=5)
    assert gen_server.call(("counter", beta.name), ("add", 5)) == 5
    assert gen_server.call(pid, ("add", 2)) == 7
    assert gen_server.call(("counter", beta.name), "whoami") == beta.name
    gen_server.cast(("counter", beta.name), "ignored")  # a cast it does not handle
    with pytest.raises(CallError) as info:
        gen_server.call(("nobody", beta.name), "get", timeout=5)
    assert info.value.reason == "noproc"


def test_a_call_to_a_killed_node_fails_with_noconnection(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    remote_spawn(beta.name, f"{FUNCS}:start_counter", "counter", self_pid())
    receive(("counter", ANY), timeout=5)
    beta.suspend()

    def caller(parent: Any) -> None:
        try:
            gen_server.call(("counter", beta.name), "get", timeout=10)
        except CallError as exc:
            send(parent, ("call failed", exc.reason))

    spawn(caller, self_pid())
    receive(timeout=0.2, default=None)
    beta.kill()
    assert receive(("call failed", ANY), timeout=5) == ("call failed", "noconnection")


# -- failure detection -------------------------------------------------------------------


def test_a_remote_link_gets_noconnection_when_the_peer_is_killed(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    pid = remote_spawn(beta.name, f"{FUNCS}:wait_forever")
    process_flag("trap_exit", True)
    beamlike.link(pid)
    round_trip(remote_echo(beta), "linked")  # the link is in place over there
    started = time.monotonic()
    beta.kill()
    assert receive(Exit, timeout=5) == Exit(pid, "noconnection")
    elapsed = time.monotonic() - started
    print(f"\nkill -9 -> link noconnection in {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0


def test_a_monitor_gets_down_noconnection_when_the_peer_is_killed(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    pid = remote_echo(beta, "echo")
    ref = monitor(pid)
    by_name = monitor(("echo", beta.name))
    round_trip(pid, "monitored")
    started = time.monotonic()
    beta.kill()
    assert receive(Down(ref, ANY, ANY), timeout=5) == Down(ref, pid, "noconnection")
    elapsed = time.monotonic() - started
    print(f"\nkill -9 -> monitor Down in {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    assert receive(Down(by_name, ANY, ANY), timeout=5).reason == "noconnection"


def test_a_remote_exit_and_a_remote_down_carry_the_reason(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    process_flag("trap_exit", True)
    pid = remote_spawn(beta.name, f"{FUNCS}:crash_after", 0.1, link=True)
    down_pid, ref = remote_spawn(beta.name, f"{FUNCS}:crash_after", 0.1, monitor=True)
    exit_message = receive(Exit, timeout=5)
    assert exit_message.pid == pid
    assert isinstance(exit_message.reason, codec.RemoteError)
    assert exit_message.reason.type_name == "ValueError"
    down = receive(Down(ref, ANY, ANY), timeout=5)
    assert down.pid == down_pid and down.reason.type_name == "ValueError"
    # exit/2 across nodes
    victim = remote_spawn(beta.name, f"{FUNCS}:wait_forever", monitor=True)
    beamlike.exit(victim[0], "stop it")
    assert receive(Down(victim[1], ANY, ANY), timeout=5).reason == "stop it"
    # monitoring a remote process that does not exist
    ghost = beamlike.Pid(beta.name, 999_999, 0, down_pid.creation)
    ghost_ref = monitor(ghost)
    assert receive(Down(ghost_ref, ANY, ANY), timeout=5) == Down(ghost_ref, ghost, "noproc")


def test_monitor_node_and_monitor_nodes_report_node_up_and_down(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    bnode.monitor_nodes(True)
    assert bnode.connect(beta.name)
    assert receive(NodeUp, timeout=5) == NodeUp(beta.name)
    bnode.monitor_node(beta.name)
    bnode.monitor_node(beta.name)  # two monitors, two messages
    beta.kill()
    for _ in range(3):
        assert receive(NodeDown, timeout=5) == NodeDown(beta.name, "connection_closed")
    assert bnode.nodes() == []


def test_monitor_node_of_a_node_that_cannot_be_reached_reports_at_once(alpha: Node) -> None:
    started = time.monotonic()
    bnode.monitor_node("nobody@127.0.0.1")
    assert receive(NodeDown, timeout=5) == NodeDown("nobody@127.0.0.1", "connection_setup_failed")
    assert time.monotonic() - started < 2.0
    assert not bnode.connect("nobody@127.0.0.1")


def test_a_suspended_peer_is_declared_down_within_net_ticktime(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    assert bnode.connect(beta.name)
    bnode.monitor_node(beta.name)
    round_trip(remote_echo(beta), "awake")
    receive(timeout=0.3, default=None)  # idle: only ticks flow
    started = time.monotonic()
    beta.suspend()
    assert receive(NodeDown, timeout=5) == NodeDown(beta.name, "net_tick_timeout")
    elapsed = time.monotonic() - started
    print(f"\nSIGSTOP -> nodedown after {elapsed:.3f} s (net_ticktime 1.0)")
    assert 0.75 <= elapsed <= 1.25
    beta.resume()


def test_disconnect_reports_node_down_on_both_sides(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    remote_spawn(beta.name, f"{FUNCS}:watch_nodes", self_pid())
    assert receive("watching", timeout=5) == "watching"
    process_flag("trap_exit", True)
    pid = remote_spawn(beta.name, f"{FUNCS}:wait_forever", link=True)
    bnode.monitor_nodes(True)
    assert bnode.disconnect(beta.name)
    assert receive(NodeDown, timeout=5) == NodeDown(beta.name, "disconnect")
    assert receive(Exit, timeout=5) == Exit(pid, "noconnection")
    # beta saw it too, and tells us over a new connection
    seen = receive(("seen", beta.name, NodeDown(alpha.name, ANY)), timeout=5)
    assert seen[2].reason == "connection_closed"
    assert not bnode.disconnect("nobody@127.0.0.1")


# -- security and incarnations -------------------------------------------------------------


def test_a_wrong_cookie_is_refused_and_nothing_is_delivered(
    alpha: Node, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    beamlike.register("inbox", self_pid())
    caplog.set_level(logging.INFO, logger="beamlike.dist")
    mallory = peers(
        "mallory",
        cookie="not-the-cookie",
        run=f"{FUNCS}:spam",
        args=[alpha.name, "inbox", 30, 0.02, 0.5],  # tries to send to us after 0.5 s
    )
    assert not bnode.connect(mallory.name)  # this node checks mallory's answer
    assert receive(timeout=1.5, default=None) is None  # nothing from mallory arrived
    assert bnode.nodes() == []
    refusals = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert refusals == [f"refused connection to {mallory.name}: bad cookie"]
    assert COOKIE not in caplog.text and "not-the-cookie" not in caplog.text


def test_a_bad_answer_to_the_challenge_or_a_bad_version_is_refused(
    alpha: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """A hand-made initiator: HELLO, read the CHALLENGE, answer with a wrong MAC."""
    caplog.set_level(logging.INFO, logger="beamlike.dist")
    ctx = zmq.Context.instance()
    inbox = ctx.socket(zmq.ROUTER)
    inbox.setsockopt(zmq.LINGER, 0)
    inbox.setsockopt(zmq.ROUTER_HANDOVER, 1)  # as a node's: the newest pipe of a name wins
    port = inbox.bind_to_random_port("tcp://127.0.0.1")
    out = ctx.socket(zmq.DEALER)
    out.setsockopt(zmq.LINGER, 0)
    out.setsockopt(zmq.IDENTITY, b"evil@127.0.0.1")
    out.connect(dist_of(alpha).endpoint)
    poller = zmq.Poller()
    poller.register(inbox, zmq.POLLIN)

    def next_frame() -> list[bytes]:
        assert poller.poll(5000), "no answer"
        return inbox.recv_multipart()  # type: ignore[no-any-return]

    try:
        nonce = os.urandom(32)
        hello = [1, "evil@127.0.0.1", 7, f"tcp://127.0.0.1:{port}", nonce]
        out.send_multipart([b"HELLO", pack_body(hello)])
        ident, tag, body = next_frame()
        assert (ident, tag) == (alpha.name.encode(), b"CHALLENGE")
        out.send_multipart([b"ACK", pack_body([b"\0" * 32])])
        assert next_frame()[1:] == [b"REFUSED", pack_body(["bad cookie"])]
        out.send_multipart([b"HELLO", pack_body([99, *hello[1:]])])
        assert next_frame()[1] == b"REFUSED"
    finally:
        out.close()
        inbox.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "refused connection from evil@127.0.0.1: bad cookie",
        "refused connection from evil@127.0.0.1: it speaks protocol version 99, this node 1",
    ]
    assert bnode.nodes() == []


def test_a_restarted_peer_does_not_get_messages_meant_for_the_old_one(
    alpha: Node, peers: Any
) -> None:
    name = unique("phoenix")
    old = peers(name=name)
    old_echo = remote_echo(old, "echo")
    round_trip(old_echo, "first life")
    bnode.monitor_node(name)
    old.kill()
    receive(NodeDown, timeout=5)
    new = peers(name=name)
    new_echo = remote_echo(new, "echo")
    assert new_echo.creation != old_echo.creation
    send(old_echo, (self_pid(), "for the old one"))  # same node name, old creation
    round_trip(new_echo, "second life")
    assert receive(("echo", "for the old one"), timeout=0.3, default=None) is None


def test_simultaneous_connects_yield_one_session(node: Node) -> None:
    first = start_alpha("sima")
    second = start_alpha("simb")
    low, high = sorted([first, second], key=lambda n: n.name)
    try:
        for _ in range(10):
            me = self_pid()

            def connect_from(here: DistNode, there: str, me: Any = me) -> None:
                send(me, ("connected", here.name, here.connect(there)))

            first.spawn(connect_from, (dist_of(first), second.name), {})
            second.spawn(connect_from, (dist_of(second), first.name), {})
            results = {receive(("connected", ANY, ANY), timeout=5)[1:] for _ in range(2)}
            assert results == {(first.name, True), (second.name, True)}
            a, b = dist_of(low).conns[high.name], dist_of(high).conns[low.name]
            assert a.state is UP and b.state is UP
            assert a.sid == b.sid
            # the attempt of the node with the greater name won
            assert (b.role, a.role) == (INITIATOR, RESPONDER)
            dist_of(first).disconnect(second.name)
            wait_until(lambda: not dist_of(second).conns and not dist_of(first).conns)
    finally:
        bnode.stop(first)
        bnode.stop(second)


def test_simultaneous_connects_between_two_peers(alpha: Node, peers: Any) -> None:
    one, two = peers("simx"), peers("simy")
    for _ in range(3):
        a = remote_spawn(one.name, f"{FUNCS}:connect_on_go", two.name, self_pid())
        b = remote_spawn(two.name, f"{FUNCS}:connect_on_go", one.name, self_pid())
        send(a, "go")
        send(b, "go")
        results = {receive(("connected", ANY, ANY), timeout=5)[1:] for _ in range(2)}
        assert results == {(one.name, True), (two.name, True)}
        remote_spawn(one.name, f"{FUNCS}:session_of", two.name, self_pid())
        remote_spawn(two.name, f"{FUNCS}:session_of", one.name, self_pid())
        sessions = [receive(("session", ANY, ANY), timeout=5) for _ in range(2)]
        assert sessions[0][1] is not None and sessions[0][1] == sessions[1][1]
        assert {s[2] for s in sessions} == {INITIATOR, RESPONDER}
        remote_spawn(one.name, "beamlike.node:disconnect", two.name)
        receive(timeout=0.2, default=None)


def test_closing_a_connection_stops_its_socket_monitor_first(alpha: Node) -> None:
    """libzmq's I/O thread sends monitor events with a blocking send: closing our end of
    a monitor while its DEALER still lives (it lingers to flush a BYE, and reconnects)
    would block that thread, and with it every socket of the process."""
    calls: list[str] = []

    class Spy:
        def __init__(self, name: str) -> None:
            self.name = name

        def disable_monitor(self) -> None:
            calls.append(f"{self.name}.disable_monitor")

        def send_multipart(self, frame: list[bytes], flags: int = 0) -> None:
            calls.append(f"{self.name}.send {frame[0]!r}")

        def close(self, linger: int | None = None) -> None:
            calls.append(f"{self.name}.close linger={linger}")

    conn = Conn("spy@127.0.0.1", INITIATOR, time.monotonic())
    conn.dealer, conn.monitor_socket = Spy("dealer"), Spy("monitor")
    dist_of(alpha).close_sockets(conn, [b"BYE", b"sid"])
    assert calls == [
        "dealer.disable_monitor",
        "dealer.send b'BYE'",
        "dealer.close linger=500",
        "monitor.close linger=0",
    ]


def test_malformed_frames_tear_down_only_that_peer(
    alpha: Node, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="beamlike.dist")
    beta, gamma = peers("beta"), peers("gamma")
    gamma_echo = remote_echo(gamma)
    # A raw socket sends junk of every shape: dropped, nothing torn down.
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"mallory@127.0.0.1")
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(dist_of(alpha).endpoint)
    junk = [
        [b"x"],
        [b"a", b"b", b"c", b"d", b"e"],
        [b"HELLO", b"\xff\xfe\xfd"],
        [b"HELLO", codec.encode([1, "mallory@127.0.0.1", 1, "nowhere", b"short"])],
        [b"ACK", b""],
        [b"S" * 16, b"\x00" * 8, b"\xc1"],
        [b"BYE", b"S" * 16],
        [b"\x00" * 100_000, b"", b""],
    ]
    for frame in junk:
        raw.send_multipart(frame)
    round_trip(gamma_echo, "gamma after junk")
    raw.close()
    # Beta breaks its session in two ways; each time only beta is torn down.
    for kind in ("gap", "garbage"):
        bnode.monitor_node(beta.name)
        injector = remote_spawn(beta.name, f"{FUNCS}:inject", alpha.name, kind, self_pid())
        send(injector, "go")
        assert receive(NodeDown, timeout=5) == NodeDown(beta.name, "protocol_error")
        round_trip(gamma_echo, f"gamma after {kind}")
        assert gamma.name in bnode.nodes()
    assert receive(("must not arrive", ANY), timeout=0.3, default=None) is None
    assert any("it sent frame" in r.getMessage() for r in caplog.records)
    assert any("undecodable frame" in r.getMessage() for r in caplog.records)


# -- backpressure ---------------------------------------------------------------------------


def test_a_slow_receiver_blocks_the_sender_and_memory_stays_bounded(node: Node, peers: Any) -> None:
    busy_limit = 256 << 10
    here = start_alpha(net_ticktime=30.0, hwm=4, busy_limit=busy_limit)
    try:
        slow = peers("slow", net_ticktime=30.0, hwm=4)
        sink = remote_spawn(slow.name, f"{FUNCS}:sink", self_pid())
        conn = dist_of(here).conns[slow.name]
        payload = b"x" * (64 << 10)
        n = 600
        progress = [0]

        def sender() -> None:
            for i in range(n):
                send(sink, (i, payload))
                progress[0] = i + 1
            send(sink, "end")

        slow.suspend()
        spawn(sender)
        # wait until the sender stops making progress
        deadline = time.monotonic() + 10
        last, still = -1, 0
        while still < 5:
            assert time.monotonic() < deadline, "the sender never blocked"
            sleep(0.1)
            still = still + 1 if progress[0] == last else 0
            last = progress[0]
        blocked_at = progress[0]
        print(f"\nsender blocked after {blocked_at} x 64 KiB; queued {conn.queued_bytes} bytes")
        assert blocked_at < n
        assert conn.queued_bytes <= busy_limit + len(payload) + 1024
        slow.resume()
        assert receive(("sunk", ANY, ANY), timeout=30) == ("sunk", n, True)
    finally:
        bnode.stop(here)


# -- remote spawn ---------------------------------------------------------------------------


def test_remote_spawn(alpha: Node, peers: Any) -> None:
    from tests.dist_support import funcs

    beta = peers("beta")
    pid = remote_spawn(beta.name, funcs.echo)  # a function object, sent by its name
    round_trip(pid, "spawned by function object")
    pid, ref = remote_spawn(beta.name, f"{FUNCS}:crash_after", 0.0, monitor=True)
    assert receive(Down(ref, ANY, ANY), timeout=5).pid == pid
    with pytest.raises(DistError, match="has no attribute"):
        remote_spawn(beta.name, f"{FUNCS}:no_such_function")
    with pytest.raises(DistError, match="cannot import"):
        remote_spawn(beta.name, "no_such_module:f")
    with pytest.raises(DistError, match="noconnection"):
        remote_spawn("nobody@127.0.0.1", f"{FUNCS}:echo")
    with pytest.raises(beamlike.BadArgument):
        remote_spawn(beta.name, lambda: None)
    local = remote_spawn(alpha.name, f"{FUNCS}:echo")  # on this node: a local spawn
    assert local.node == alpha.name
    assert spawn(f"{FUNCS}:echo").node == alpha.name  # beamlike.spawn stays local


def test_remote_spawn_fails_when_the_node_is_lost_meanwhile(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    assert bnode.connect(beta.name)
    beta.suspend()

    def spawner(parent: Any) -> None:
        try:
            remote_spawn(beta.name, f"{FUNCS}:echo")
        except DistError as exc:
            send(parent, ("failed", str(exc)))

    spawn(spawner, self_pid())
    receive(timeout=0.1, default=None)
    beta.kill()
    _, text = receive(("failed", ANY), timeout=5)
    assert "noconnection" in text


# -- node life cycle ------------------------------------------------------------------------


def watched_node(node: Node, beta: Peer) -> tuple[Node, Node]:
    """``(observer, here)``: a node to which ``beta`` reports the NodeUp and NodeDown it
    sees, and another node (started while ``node`` is the default), connected to
    ``beta``."""
    observer = start_alpha()
    remote_spawn(beta.name, f"{FUNCS}:watch_nodes", self_pid())
    assert receive("watching", timeout=5) == "watching"
    with node.as_default():
        here = start_alpha()
        assert bnode.connect(beta.name)
    return observer, here


def test_stop_disconnects_and_unregisters(node: Node, peers: Any) -> None:
    beta = peers("beta")
    observer, here = watched_node(node, beta)
    # beta tells the observer that `here` came and went
    assert receive(("seen", beta.name, NodeUp(here.name)), timeout=5)
    assert lookup(here.name) is not None
    bnode.stop(here)
    assert lookup(here.name) is None
    assert here.process_count() == 0
    seen = receive(("seen", beta.name, NodeDown(here.name, ANY)), timeout=5)
    assert seen[2].reason == "connection_closed"
    bnode.stop(observer)


def test_node_stop_alone_also_disconnects_and_unregisters(node: Node, peers: Any) -> None:
    beta = peers("beta")
    observer, here = watched_node(node, beta)
    receive(("seen", beta.name, NodeUp(here.name)), timeout=5)
    here.stop()  # the Node method, not beamlike.node.stop
    assert lookup(here.name) is None
    assert receive(("seen", beta.name, NodeDown(here.name, ANY)), timeout=5)
    bnode.stop(observer)


def test_start_refuses_a_name_that_is_taken(alpha: Node) -> None:
    with pytest.raises(beamlike.BeamlikeError):
        bnode.start(alpha.name, cookie=COOKIE)


def test_short_names_get_the_loopback_host(node: Node) -> None:
    here = bnode.start(unique("short").partition("@")[0], cookie=COOKIE)
    try:
        assert here.name.endswith("@127.0.0.1")
        assert bnode.name() == here.name
        assert dist_of(here).endpoint.startswith("tcp://127.0.0.1:")
    finally:
        bnode.stop(here)


def test_the_cookie_file_is_created_private_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("BEAMLIKE_COOKIE", raising=False)
    cookie = read_cookie()
    path = tmp_path / ".beamlike.cookie"
    assert path.read_bytes() == cookie and len(cookie) == 20
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_cookie() == cookie
    monkeypatch.setenv("BEAMLIKE_COOKIE", "from-env")
    assert read_cookie() == b"from-env"
    assert read_cookie("given") == b"given"
    monkeypatch.delenv("BEAMLIKE_COOKIE")
    path.chmod(0o644)
    with pytest.raises(DistError, match="owner only"):
        read_cookie()


def test_a_static_resolver_finds_peers_by_a_fixed_map(node: Node, peers: Any) -> None:
    from beamlike.dist.epmd import StaticResolver

    here_name, beta_name = unique("stat"), unique("statb")
    here_port, beta_port = free_port(), free_port()
    mapping = f"{here_name}=127.0.0.1:{here_port},{beta_name}=127.0.0.1:{beta_port}"
    here = bnode.start(
        here_name,
        cookie=COOKIE,
        port=here_port,
        resolver=StaticResolver({beta_name: ("127.0.0.1", beta_port)}),
    )
    try:
        beta = peers(
            name=beta_name,
            resolver="static",
            port=beta_port,
            env={**PEER_ENV, "BEAMLIKE_NODES": mapping},
        )
        round_trip(remote_echo(beta), "static")
        remote_spawn(beta.name, f"{FUNCS}:count_to", self_pid(), 3)
        assert [receive(timeout=5) for _ in range(4)] == [("n", 0), ("n", 1), ("n", 2), "done"]
    finally:
        bnode.stop(here)


def test_functions_of_a_node_that_is_not_distributed(node: Node) -> None:
    assert not bnode.connect("beta@127.0.0.1")
    assert not bnode.disconnect("beta@127.0.0.1")
    assert bnode.nodes() == []
    bnode.monitor_node("beta@127.0.0.1")
    assert receive(NodeDown, timeout=1) == NodeDown("beta@127.0.0.1", "connection_setup_failed")
    assert bnode.monitor_nodes(True)
    with pytest.raises(DistError, match="not distributed"):
        remote_spawn("beta@127.0.0.1", f"{FUNCS}:echo")
