"""rpc between real OS processes (beamlike.dist.rpc, Erlang's erpc).

The test process is the node ``alpha`` (net_ticktime 1 s); peers are child processes
running functions of ``tests/dist_support/services.py`` (fixtures in
``tests/dist_support/cluster.py``). Waits are receives with timeouts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

import beamlike
from beamlike import ANY, Node, receive, self_pid, spawn
from beamlike import node as bnode
from beamlike.dist import DistNode, RpcError, RpcException, RpcTimeout, codec, rpc
from tests.dist_support.cluster import (  # noqa: F401
    COOKIE,
    FUNCS,
    PEER_ENV,
    SERVICES,
    alpha_fixture,
    epmd_fixture,
    free_port,
    peers_fixture,
    start_alpha,
    unique,
    wait_until,
)

NOBODY = "nobody@127.0.0.1"


def test_call_returns_the_value_of_the_function_run_in_a_new_process_there(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")
    assert rpc.call(beta.name, "os:getpid") == beta.os_pid
    assert rpc.call(beta.name, f"{SERVICES}:add", 2, 3, times=2) == 10
    first_node, first = rpc.call(beta.name, f"{SERVICES}:whoami")
    second_node, second = rpc.call(beta.name, f"{SERVICES}:whoami")
    assert first_node == second_node == beta.name
    assert first.node == beta.name and first != second
    # on this node itself: a new process here, and any callable will do
    here, pid = rpc.call(alpha.name, f"{SERVICES}:whoami")
    assert here == alpha.name and pid != self_pid()
    assert rpc.call(alpha.name, lambda x: x * 2, 21) == 42


def test_a_remote_exception_is_raised_here_with_its_type_message_and_traceback(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")
    with pytest.raises(RpcException) as info:
        rpc.call(beta.name, f"{SERVICES}:fail", "boom")
    error = info.value
    assert (error.kind, error.type_name, error.message) == ("error", "ValueError", "boom")
    assert error.reason == codec.RemoteError("ValueError", "boom", ("boom",))
    assert error.node == beta.name and error.function == f"{SERVICES}:fail"
    assert "raise ValueError(message)" in error.remote_traceback
    assert str(error) == f"rpc of {SERVICES}:fail on {beta.name} raised ValueError: boom"
    # a function the other node cannot import
    with pytest.raises(RpcException) as info:
        rpc.call(beta.name, f"{SERVICES}:no_such_function")
    assert info.value.type_name == "beamlike.errors.BadArgument"
    assert "has no attribute 'no_such_function'" in info.value.message
    # a value that cannot travel back
    with pytest.raises(RpcException) as info:
        rpc.call(beta.name, f"{SERVICES}:unsendable")
    assert info.value.type_name == "beamlike.dist.codec.EncodeError"
    assert info.value.message.startswith("the result cannot travel")
    # a process that exits instead of returning
    with pytest.raises(RpcException) as info:
        rpc.call(beta.name, f"{SERVICES}:exit_with", ("shutdown", "enough"))
    assert (info.value.kind, info.value.reason) == ("exit", ("shutdown", "enough"))
    # the same on this node
    with pytest.raises(RpcException) as info:
        rpc.call(alpha.name, f"{SERVICES}:fail", "here")
    assert (info.value.kind, info.value.type_name, info.value.message) == (
        "error",
        "ValueError",
        "here",
    )


def test_a_timeout_kills_the_remote_process(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    started = time.monotonic()
    with pytest.raises(RpcTimeout) as info:
        rpc.call(beta.name, f"{SERVICES}:report_and_wait", self_pid(), timeout=0.5)
    assert time.monotonic() - started >= 0.5
    assert (info.value.kind, info.value.reason) == ("erpc", "timeout")
    assert isinstance(info.value, TimeoutError)
    _, pid = receive(("running", ANY), timeout=5)
    assert receive(("ended", pid, ANY), timeout=5) == ("ended", pid, "killed")
    assert receive(timeout=0.2, default=None) is None  # no late answer, no Down


def test_the_timeout_bounds_a_frozen_node_too_and_what_it_starts_late_is_killed(
    node: Node, peers: Any
) -> None:
    here = start_alpha(net_ticktime=4.0)
    try:
        beta = peers("beta", net_ticktime=4.0)
        assert bnode.connect(beta.name)
        beta.suspend()  # the spawn request waits in its socket
        started = time.monotonic()
        with pytest.raises(RpcTimeout):
            rpc.call(beta.name, f"{SERVICES}:report_and_wait", self_pid(), timeout=0.3)
        assert time.monotonic() - started < 1.0  # not net_ticktime (4 s)
        receive(timeout=0.5, default=None)
        beta.resume()  # it spawns the rpc process now, and this node kills it
        _, pid = receive(("running", ANY), timeout=5)
        assert receive(("ended", pid, ANY), timeout=5) == ("ended", pid, "killed")
        assert bnode.nodes() == [beta.name]
    finally:
        bnode.stop(here)


def test_a_node_killed_during_a_call_fails_it_with_noconnection_within_a_second(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")

    def caller(parent: Any) -> None:
        try:
            rpc.call(beta.name, f"{SERVICES}:report_and_wait", parent, timeout=30)
        except RpcError as exc:
            beamlike.send(parent, ("failed", exc))

    spawn(caller, self_pid())
    receive(("running", ANY), timeout=5)
    started = time.monotonic()
    beta.kill()
    _, error = receive(("failed", ANY), timeout=5)
    elapsed = time.monotonic() - started
    print(f"\nkill -9 -> rpc noconnection in {elapsed * 1000:.0f} ms")
    assert (type(error), error.kind, error.reason) == (RpcError, "erpc", "noconnection")
    assert elapsed < 1.0
    with pytest.raises(RpcError) as info:
        rpc.call(NOBODY, f"{SERVICES}:add", 1, 2)
    assert info.value.reason == "noconnection"


def test_multicall_runs_in_parallel_and_reports_a_bad_node_in_its_place(
    alpha: Node, peers: Any
) -> None:
    beta = peers("beta")
    started = time.monotonic()
    outcomes = rpc.multicall([beta.name, NOBODY, alpha.name], f"{SERVICES}:slow_name", 1.0)
    elapsed = time.monotonic() - started
    assert outcomes[0] == ("ok", beta.name)
    assert outcomes[1][0] == "error" and outcomes[1][1].reason == "noconnection"
    assert outcomes[2] == ("ok", alpha.name)
    assert 1.0 <= elapsed < 1.8  # one after the other would take 2 s
    outcomes = rpc.multicall([beta.name, alpha.name], f"{SERVICES}:fail", "each", timeout=5)
    assert [(kind, error.node, error.message) for kind, error in outcomes] == [
        ("error", beta.name, "each"),
        ("error", alpha.name, "each"),
    ]
    assert rpc.multicall([], f"{SERVICES}:add", 1, 2) == []
    assert receive(timeout=0.1, default=None) is None  # nothing left behind


def test_cast_runs_the_function_there_and_never_reports(alpha: Node, peers: Any) -> None:
    beta = peers("beta")
    rpc.cast(beta.name, f"{SERVICES}:send_back", self_pid(), "hi")
    assert receive(("cast", ANY, ANY), timeout=5) == ("cast", beta.name, "hi")
    rpc.cast(alpha.name, f"{SERVICES}:send_back", self_pid(), "here")
    assert receive(("cast", ANY, ANY), timeout=5) == ("cast", alpha.name, "here")
    rpc.cast(NOBODY, f"{SERVICES}:send_back", self_pid(), "lost")  # silently nothing
    rpc.cast(beta.name, f"{SERVICES}:fail", "unseen")
    assert receive(timeout=0.3, default=None) is None


def test_bad_arguments_fail_at_the_call_site(alpha: Node) -> None:
    with pytest.raises(beamlike.BadArgument, match="importable module-level function"):
        rpc.call("beta@127.0.0.1", lambda: 1)
    with pytest.raises(codec.EncodeError):
        rpc.call("beta@127.0.0.1", f"{SERVICES}:add", lambda: 1, 2)
    with pytest.raises(beamlike.BadArgumentType, match="timeout must be"):
        rpc.call(alpha.name, f"{SERVICES}:add", 1, 2, timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(beamlike.BadArgument, match="a node name must be"):
        rpc.call("a@b@c", f"{SERVICES}:add", 1, 2)
    with pytest.raises(beamlike.BadArgumentType, match="list of node names"):
        rpc.multicall("beta@127.0.0.1", f"{SERVICES}:add", 1, 2)
    with pytest.raises(beamlike.BadArgument):
        rpc.cast("beta@127.0.0.1", "not a function name")


# -- over encrypted connections (CurveZMQ) ---------------------------------------------------

PAYLOAD = "recognisable-payload-4711-" * 4


def tcp_proxy(target_port: int) -> tuple[int, bytearray, Any]:
    """A TCP proxy to ``127.0.0.1:target_port`` that records every byte it forwards (both
    ways); returns its port, the bytes, and its ``stop``."""
    import gevent
    from gevent.server import StreamServer
    from gevent.socket import create_connection

    captured = bytearray()

    def pump(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                captured.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def handle(client: Any, _address: Any) -> None:
        upstream = create_connection(("127.0.0.1", target_port))
        back = gevent.spawn(pump, upstream, client)
        pump(client, upstream)
        back.join()

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server.server_port, captured, server.stop


def rpc_through_a_proxy(peers: Any, *, encrypt: bool) -> bytes:
    """Start a node here and a peer whose address this node knows as a recording proxy;
    make an rpc carrying PAYLOAD; return what the proxy saw."""
    from beamlike.dist.epmd import StaticResolver

    beta_name, beta_port = unique("beta"), free_port()
    proxy_port, captured, stop = tcp_proxy(beta_port)
    here = bnode.start(
        unique("alpha"),
        cookie=COOKIE,
        resolver=StaticResolver({beta_name: ("127.0.0.1", proxy_port)}),
        encrypt=encrypt,
    )
    try:
        beta = peers(
            name=beta_name,
            resolver="static",
            port=beta_port,
            env={**PEER_ENV, "BEAMLIKE_NODES": f"{beta_name}=127.0.0.1:{beta_port}"},
            encrypt=encrypt,
        )
        assert rpc.call(beta.name, f"{SERVICES}:identity", PAYLOAD) == PAYLOAD
        return bytes(captured)
    finally:
        bnode.stop(here)
        stop()


def test_an_rpc_between_encrypting_nodes_shows_no_plaintext_on_the_wire(
    node: Node, peers: Any
) -> None:
    plain = rpc_through_a_proxy(peers, encrypt=False)
    assert PAYLOAD.encode() in plain and b"beamlike.dist.rpc:_execute" in plain
    assert b"alpha" in plain and b"127.0.0.1" in plain
    secret = rpc_through_a_proxy(peers, encrypt=True)
    assert len(secret) > 1000  # the handshake and the rpc went through the proxy
    assert b"CURVE" in secret  # the ZMTP greeting names the mechanism
    # neither the message, nor the functions, nor the node names and endpoints (which
    # this node's HELLO and ZMTP's routing ids carry in the clear without encryption)
    for clear in (PAYLOAD.encode(), b"beamlike", b"alpha", b"127.0.0.1"):
        assert clear not in secret


def test_an_encrypting_node_refuses_a_plaintext_peer_with_a_clear_log_line(
    node: Node, peers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="beamlike.dist")
    here = start_alpha(encrypt=True)
    try:
        plain = peers("plain")
        started = time.monotonic()
        assert not bnode.connect(plain.name)
        assert time.monotonic() - started < 2.0
        with pytest.raises(RpcError) as info:
            rpc.call(plain.name, f"{SERVICES}:identity", PAYLOAD)
        assert info.value.reason == "noconnection"
        failed = "the CurveZMQ handshake failed (it does not encrypt, or has another cookie)"
        assert {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING} <= {
            f"refused connection to {plain.name}: {failed}",
            f"refused connection to {plain.name}: it does not encrypt "
            "(this node was started with encrypt=True)",
        }
        assert f"refused connection to {plain.name}: " in caplog.text
        # a plaintext node that connects to this one
        peers("plain", run=f"{FUNCS}:spam", args=[here.name, "inbox", 5, 0.05])
        assert isinstance(here.dist, DistNode)
        refused = (
            f"refused a connection on tcp://127.0.0.1:{here.dist.port}: it does not encrypt "
            "(this node was started with encrypt=True)"
        )
        wait_until(lambda: refused in caplog.text)
        # an encrypting node of another cookie
        other = peers("other", cookie="another-cookie", encrypt=True)
        assert not bnode.connect(other.name)
        assert f"refused connection to {other.name}: {failed}" in caplog.text
        # and one of this cookie is welcome
        friend = peers("friend", encrypt=True)
        assert rpc.call(friend.name, f"{SERVICES}:identity", PAYLOAD) == PAYLOAD
        assert bnode.nodes() == [friend.name]
    finally:
        bnode.stop(here)
