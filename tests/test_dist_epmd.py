"""The port mapper (beamlike.dist.epmd): the daemon, its client, and the resolvers.

Every test that needs a daemon starts its own on a free port (``epmd_port`` fixture) and
terminates it at the end; tests where the client starts the daemon record what it started
(``started`` fixture) and terminate that. Nothing waits with a bare sleep: a daemon is
ready when it prints its "listening" line, and the rest polls with a deadline.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from beamlike.dist import epmd
from beamlike.dist.epmd import (
    EpmdError,
    EpmdResolver,
    FixedPortResolver,
    NameTakenError,
    Registration,
    Resolver,
    StaticResolver,
)
from beamlike.errors import BadArgument, BadArgumentType
from tests.dist_support.cluster import free_port

ALPHA = "alpha@127.0.0.1"
BETA = "beta@127.0.0.1"


def poll_until(predicate: Callable[[], Any], timeout: float = 2.0) -> Any:
    """``predicate()`` once it is truthy, polled until ``timeout`` seconds have passed;
    its last (falsy) value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.01)


def start_daemon_process(port: int) -> subprocess.Popen[bytes]:
    """A daemon on ``port``, returned once it accepts connections."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "beamlike.dist.epmd", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != f"epmd: listening on 127.0.0.1:{port}\n".encode():
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"the daemon did not start: {line!r} {err!r}")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    proc.communicate(timeout=5)


@pytest.fixture
def epmd_port() -> Iterator[int]:
    """The port of a daemon started for this test."""
    port = free_port()
    proc = start_daemon_process(port)
    try:
        yield port
    finally:
        stop(proc)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The daemons the client starts during the test; terminated at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    real = epmd.start_daemon

    def recording(**kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real(**kwargs)
        procs.append(proc)
        return proc

    monkeypatch.setattr(epmd, "start_daemon", recording)
    try:
        yield procs
    finally:
        for proc in procs:
            stop(proc)


class Raw:
    """A bare protocol connection: bytes in, one decoded answer out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ask(self, line: bytes) -> Any:
        self.send(line + b"\n")
        return self.answer()

    def answer(self) -> Any:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "the daemon closed the connection instead of answering"
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def at_eof(self) -> bool:
        return self.buf == b"" and self.sock.recv(65536) == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(epmd_port: int) -> Iterator[Callable[[], Raw]]:
    conns: list[Raw] = []

    def connect() -> Raw:
        conns.append(Raw(epmd_port))
        return conns[-1]

    try:
        yield connect
    finally:
        for conn in conns:
            conn.close()


def register_line(name: str, port: Any = 5001, creation: Any = 3) -> bytes:
    return json.dumps({"op": "register", "name": name, "port": port, "creation": creation}).encode()


# --- register, lookup, names --------------------------------------------------------------


def test_a_registered_name_is_found_by_lookup_and_listed_by_names(epmd_port: int) -> None:
    with epmd.register(ALPHA, 5001, 3, epmd_port=epmd_port, start=False) as alpha:
        with epmd.register(BETA, 5002, 1, epmd_port=epmd_port, start=False):
            assert epmd.lookup(ALPHA, epmd_port=epmd_port) == (5001, 3)
            assert epmd.lookup(BETA, epmd_port=epmd_port) == (5002, 1)
            assert epmd.lookup("gamma@127.0.0.1", epmd_port=epmd_port) is None
            assert epmd.names(epmd_port=epmd_port) == {ALPHA: (5001, 3), BETA: (5002, 1)}
    assert isinstance(alpha, Registration)
    assert repr(alpha) == (
        f"<Registration 'alpha@127.0.0.1' port=5001 creation=3 epmd=127.0.0.1:{epmd_port} closed>"
    )


def test_closing_the_registration_drops_the_name_at_once(epmd_port: int) -> None:
    alpha = epmd.register(ALPHA, 5001, 3, epmd_port=epmd_port, start=False)
    assert epmd.lookup(ALPHA, epmd_port=epmd_port) == (5001, 3)
    alpha.close()
    alpha.close()  # idempotent
    assert alpha.closed
    assert epmd.lookup(ALPHA, epmd_port=epmd_port) is None
    assert epmd.names(epmd_port=epmd_port) == {}
    with epmd.register(ALPHA, 6001, 4, epmd_port=epmd_port, start=False):
        assert epmd.lookup(ALPHA, epmd_port=epmd_port) == (6001, 4)


CHILD = textwrap.dedent(
    """
    import sys, time
    from beamlike.dist import epmd
    reg = epmd.register("kid@127.0.0.1", 5999, 7, epmd_port=int(sys.argv[1]), start=False)
    print("registered", flush=True)
    time.sleep(60)
    """
)


def test_a_name_is_dropped_within_a_second_when_its_process_is_killed(epmd_port: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(epmd_port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"registered\n", child.stderr
        assert epmd.lookup("kid@127.0.0.1", epmd_port=epmd_port) == (5999, 7)
        killed_at = time.monotonic()
        child.kill()  # SIGKILL: no Python code runs, the kernel closes its socket
        gone = poll_until(
            lambda: epmd.lookup("kid@127.0.0.1", epmd_port=epmd_port) is None, timeout=1.0
        )
        assert gone, "the name of a killed node was still registered after 1 s"
        assert time.monotonic() - killed_at < 1.0
    finally:
        child.kill()
        child.communicate(timeout=5)
    assert child.returncode == -9


def test_a_taken_name_is_refused(epmd_port: int, raw: Callable[[], Raw]) -> None:
    with epmd.register(ALPHA, 5001, 3, epmd_port=epmd_port, start=False):
        with pytest.raises(NameTakenError) as info:
            epmd.register(ALPHA, 5002, 4, epmd_port=epmd_port, start=False)
        assert str(info.value) == "node name 'alpha@127.0.0.1' is already registered with epmd"
        assert info.value.name == ALPHA
        assert raw().ask(register_line(ALPHA)) == {"ok": False, "error": "taken"}
        assert epmd.lookup(ALPHA, epmd_port=epmd_port) == (5001, 3)


def test_one_connection_holds_at_most_one_name(epmd_port: int, raw: Callable[[], Raw]) -> None:
    conn = raw()
    assert conn.ask(register_line(ALPHA)) == {"ok": True}
    assert conn.ask(register_line(BETA)) == {"ok": False, "error": "already_registered"}
    assert epmd.names(epmd_port=epmd_port) == {ALPHA: (5001, 3)}


def test_the_protocol_answers_lookup_names_and_ping(raw: Callable[[], Raw]) -> None:
    conn = raw()
    assert conn.ask(register_line(ALPHA)) == {"ok": True}
    assert conn.ask(b'{"op": "lookup", "name": "alpha@127.0.0.1"}') == {
        "ok": True,
        "port": 5001,
        "creation": 3,
    }
    assert conn.ask(b'{"op": "lookup", "name": "beta@127.0.0.1"}') == {
        "ok": False,
        "error": "not_found",
    }
    assert conn.ask(b'{"op": "names"}') == {
        "ok": True,
        "names": {ALPHA: {"port": 5001, "creation": 3}},
    }
    pong = conn.ask(b'{"op": "ping"}')
    assert pong["ok"] is True and isinstance(pong["pid"], int)


# --- bad input ------------------------------------------------------------------------------


def test_bad_json_and_unknown_ops_get_errors_and_the_connection_keeps_serving(
    raw: Callable[[], Raw],
) -> None:
    conn = raw()
    assert conn.ask(b"not json") == {"ok": False, "error": "bad_json"}
    assert conn.ask(b"") == {"ok": False, "error": "bad_json"}
    assert conn.ask(b"\xff\xfe\x00") == {"ok": False, "error": "bad_json"}
    assert conn.ask(b"[" * 4000) == {"ok": False, "error": "bad_json"}
    assert conn.ask(b"[1, 2]") == {"ok": False, "error": "bad_request"}
    assert conn.ask(b'{"op": "shutdown"}') == {"ok": False, "error": "unknown_op"}
    assert conn.ask(b'{"op": 42}') == {"ok": False, "error": "unknown_op"}
    assert conn.ask(b"{}") == {"ok": False, "error": "unknown_op"}
    assert conn.ask(register_line(ALPHA)) == {"ok": True}


BAD_REQUESTS: list[tuple[bytes, str]] = [
    (register_line("alpha"), "bad_name"),
    (register_line("@host"), "bad_name"),
    (register_line("alpha@"), "bad_name"),
    (register_line("a@b@c"), "bad_name"),
    (register_line("al pha@127.0.0.1"), "bad_name"),
    (register_line("alpha\n@127.0.0.1"), "bad_name"),
    (register_line("a" * 251 + "@host"), "bad_name"),
    (register_line(None), "bad_name"),  # type: ignore[arg-type]
    (register_line(ALPHA, port=0), "bad_port"),
    (register_line(ALPHA, port=65536), "bad_port"),
    (register_line(ALPHA, port="5001"), "bad_port"),
    (register_line(ALPHA, port=True), "bad_port"),
    (register_line(ALPHA, port=5001.0), "bad_port"),
    (register_line(ALPHA, creation=-1), "bad_creation"),
    (register_line(ALPHA, creation=2**32), "bad_creation"),
    (register_line(ALPHA, creation=None), "bad_creation"),
    (b'{"op": "lookup"}', "bad_name"),
    (b'{"op": "lookup", "name": ["alpha@127.0.0.1"]}', "bad_name"),
]


def test_bad_names_ports_and_creations_are_answered_with_errors(raw: Callable[[], Raw]) -> None:
    conn = raw()
    answers = [(line, conn.ask(line)) for line, _ in BAD_REQUESTS]
    assert answers == [(line, {"ok": False, "error": error}) for line, error in BAD_REQUESTS]
    assert conn.ask(register_line("a" * 250 + "@host")) == {"ok": True}
    assert raw().ask(b'{"op": "names"}') == {
        "ok": True,
        "names": {"a" * 250 + "@host": {"port": 5001, "creation": 3}},
    }


def test_an_oversized_line_is_refused_and_closes_only_that_connection(
    epmd_port: int, raw: Callable[[], Raw]
) -> None:
    holder, other = raw(), raw()
    assert holder.ask(register_line(ALPHA)) == {"ok": True}
    big = raw()
    big.send(b"x" * 5000)  # no newline yet: refused once the line is over 4 KiB
    assert big.answer() == {"ok": False, "error": "line_too_long"}
    assert big.at_eof()
    huge = raw()
    assert huge.ask(b'{"op": "ping", "pad": "' + b"y" * 4100 + b'"}') == {
        "ok": False,
        "error": "line_too_long",
    }
    assert huge.at_eof()
    fits = raw()
    assert fits.ask(b'{"op": "names", "pad": "' + b"z" * 4000 + b'"}')["ok"] is True
    assert other.ask(b'{"op": "lookup", "name": "alpha@127.0.0.1"}')["port"] == 5001
    assert epmd.names(epmd_port=epmd_port) == {ALPHA: (5001, 3)}


def test_an_oversized_line_drops_the_name_its_connection_registered(
    epmd_port: int, raw: Callable[[], Raw]
) -> None:
    conn = raw()
    assert conn.ask(register_line(ALPHA)) == {"ok": True}
    conn.send(b"x" * 5000)
    assert conn.answer() == {"ok": False, "error": "line_too_long"}
    assert epmd.lookup(ALPHA, epmd_port=epmd_port) is None


# --- starting the daemon ------------------------------------------------------------------


def test_the_client_starts_the_daemon_on_demand(started: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    assert epmd.ping(epmd_port=port) is None
    with epmd.register(ALPHA, 5001, 3, epmd_port=port) as alpha:
        assert len(started) == 1
        assert epmd.ping(epmd_port=port) == started[0].pid
        assert epmd.lookup(ALPHA, epmd_port=port) == (5001, 3)
        assert alpha.epmd_address == ("127.0.0.1", port)
    # the daemon outlives its registrations
    assert epmd.ping(epmd_port=port) == started[0].pid
    assert started[0].poll() is None


def test_two_clients_racing_to_start_the_daemon_end_with_one_daemon(
    started: list[subprocess.Popen[bytes]],
) -> None:
    port = free_port()
    results: dict[str, Any] = {}

    def client(name: str, node_port: int) -> None:
        try:
            results[name] = epmd.register(name, node_port, 1, epmd_port=port)
        except BaseException as exc:  # reported by the assertion below
            results[name] = exc

    threads = [
        threading.Thread(target=client, args=(ALPHA, 5001)),
        threading.Thread(target=client, args=(BETA, 5002)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5.0)
    try:
        assert {name: type(result) for name, result in results.items()} == {
            ALPHA: Registration,
            BETA: Registration,
        }, results
        assert epmd.names(epmd_port=port) == {ALPHA: (5001, 1), BETA: (5002, 1)}
        assert len(started) == 2  # both found no daemon and started one

        def the_one_running() -> list[subprocess.Popen[bytes]]:
            running = [proc for proc in started if proc.poll() is None]
            return running if len(running) == 1 else []

        running = poll_until(the_one_running)
        assert [proc.pid for proc in running] == [epmd.ping(epmd_port=port)]
        loser = next(p for p in started if p is not running[0])
        assert loser.returncode == 0  # it found the port taken, by a daemon: not an error
    finally:
        for result in results.values():
            if isinstance(result, Registration):
                result.close()


def test_a_second_daemon_on_a_taken_port_exits_quietly(epmd_port: int) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "beamlike.dist.epmd", "--port", str(epmd_port)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
    )
    pid = epmd.ping(epmd_port=epmd_port)
    assert (second.returncode, second.stdout) == (0, b"")
    assert second.stderr == f"epmd: already running on 127.0.0.1:{epmd_port} (pid {pid})\n".encode()


def test_the_daemon_refuses_a_port_taken_by_something_else() -> None:
    with socket.socket() as other:  # bound, not listening: nobody answers there
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "beamlike.dist.epmd", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"epmd: cannot listen on 127.0.0.1:{port}: ".encode())


def test_without_a_daemon_register_lookup_and_names_raise_and_ping_answers_none() -> None:
    port = free_port()
    with pytest.raises(EpmdError) as info:
        epmd.register(ALPHA, 5001, 3, epmd_port=port, start=False)
    assert str(info.value) == f"no epmd is running at 127.0.0.1:{port}"
    with pytest.raises(EpmdError) as info:
        epmd.lookup(ALPHA, epmd_port=port)
    assert str(info.value) == f"no epmd is running at 127.0.0.1:{port}"
    with pytest.raises(EpmdError):
        epmd.names(epmd_port=port)
    assert epmd.ping(epmd_port=port) is None


def test_the_daemon_port_comes_from_the_environment(
    epmd_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEAMLIKE_EPMD_PORT", raising=False)
    assert epmd.default_epmd_port() == 4370
    monkeypatch.setenv("BEAMLIKE_EPMD_PORT", str(epmd_port))
    assert epmd.default_epmd_port() == epmd_port
    with epmd.register(ALPHA, 5001, 3, start=False):
        assert epmd.lookup(ALPHA) == (5001, 3)
    monkeypatch.setenv("BEAMLIKE_EPMD_PORT", "epmd")
    with pytest.raises(BadArgument) as info:
        epmd.default_epmd_port()
    assert str(info.value) == "BEAMLIKE_EPMD_PORT must be a port number from 1 to 65535; got 'epmd'"


def test_the_client_rejects_bad_arguments_at_the_call_site() -> None:
    with pytest.raises(BadArgument) as info:
        epmd.register("alpha", 5001, 3, start=False)
    assert str(info.value) == "a node name must look like 'name@host'; got 'alpha'"
    with pytest.raises(BadArgumentType) as type_info:
        epmd.lookup(42)  # type: ignore[arg-type]
    assert str(type_info.value) == "a node name must be a str; got 42 (of type int)"
    with pytest.raises(BadArgument) as info:
        epmd.register(ALPHA, 70000, 3, start=False)
    assert str(info.value) == "port must be an int from 1 to 65535; got 70000"
    with pytest.raises(BadArgument) as info:
        epmd.register(ALPHA, 5001, -1, start=False)
    assert str(info.value) == "creation must be an int from 0 to 4294967295; got -1"
    with pytest.raises(BadArgument) as info:
        epmd.lookup(ALPHA, epmd_port=0)
    assert str(info.value) == "epmd_port must be an int from 1 to 65535; got 0"
    with pytest.raises(BadArgument) as info:
        epmd.names(timeout=-1)
    assert str(info.value) == "timeout must be None or a number of seconds >= 0; got -1"


# --- resolvers ------------------------------------------------------------------------------


def test_every_resolver_is_a_resolver() -> None:
    assert isinstance(EpmdResolver(4999), Resolver)
    assert isinstance(StaticResolver({}), Resolver)
    assert isinstance(FixedPortResolver(4400), Resolver)


def test_the_epmd_resolver_registers_resolves_and_unregisters(epmd_port: int) -> None:
    alpha, beta = EpmdResolver(epmd_port, start=False), EpmdResolver(epmd_port, start=False)
    alpha.register(ALPHA, 5001, 3)
    try:
        assert beta.resolve(ALPHA) == ("127.0.0.1", 5001)
        assert beta.resolve(BETA) is None
        with pytest.raises(BadArgument) as info:
            alpha.register(ALPHA, 5001, 3)
        assert str(info.value) == (
            "this resolver has registered 'alpha@127.0.0.1' already; call unregister() first"
        )
    finally:
        alpha.unregister()
    assert beta.resolve(ALPHA) is None
    alpha.unregister()  # idempotent


def test_the_epmd_resolver_asks_the_daemon_on_the_host_of_the_name(epmd_port: int) -> None:
    resolver = EpmdResolver(epmd_port, start=False)
    with epmd.register("alpha@localhost", 5001, 3, epmd_port=epmd_port, start=False):
        assert resolver.resolve("alpha@localhost") == ("localhost", 5001)
    assert EpmdResolver(free_port(), start=False).resolve(ALPHA) is None  # no daemon there


def test_the_static_resolver_resolves_from_its_map() -> None:
    resolver = StaticResolver({ALPHA: ("127.0.0.1", 5001), "beta@h": ("10.0.0.2", 5002)})
    resolver.register(ALPHA, 9999, 1)  # does nothing
    resolver.unregister()
    assert resolver.resolve(ALPHA) == ("127.0.0.1", 5001)
    assert resolver.resolve("beta@h") == ("10.0.0.2", 5002)
    assert resolver.resolve("gamma@h") is None
    with pytest.raises(BadArgument) as info:
        StaticResolver({ALPHA: ("127.0.0.1", 0)})
    assert str(info.value) == (
        "StaticResolver maps a node name to (host, port); got 'alpha@127.0.0.1': ('127.0.0.1', 0)"
    )


def test_the_static_resolver_reads_beamlike_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "BEAMLIKE_NODES", "alpha@h=127.0.0.1:5001, beta@h=127.0.0.1:5002,,gamma@h=[::1]:5003"
    )
    assert StaticResolver.from_env().mapping == {
        "alpha@h": ("127.0.0.1", 5001),
        "beta@h": ("127.0.0.1", 5002),
        "gamma@h": ("::1", 5003),
    }
    monkeypatch.delenv("BEAMLIKE_NODES")
    assert StaticResolver.from_env().mapping == {}
    monkeypatch.setenv("BEAMLIKE_NODES", "alpha@h=127.0.0.1")
    with pytest.raises(BadArgument) as info:
        StaticResolver.from_env()
    assert str(info.value) == "BEAMLIKE_NODES: entry 'alpha@h=127.0.0.1' is not 'name@host=ip:port'"
    monkeypatch.setenv("BEAMLIKE_NODES", "alpha@h=127.0.0.1:5001,alpha@h=127.0.0.1:5002")
    with pytest.raises(BadArgument) as info:
        StaticResolver.from_env()
    assert str(info.value) == "BEAMLIKE_NODES: node 'alpha@h' is given twice"


def test_the_fixed_port_resolver_gives_the_host_of_the_name_and_the_well_known_port() -> None:
    resolver = FixedPortResolver(4400)
    resolver.register("alpha@10.0.0.5", 4400, 1)
    resolver.unregister()
    assert resolver.resolve("alpha@10.0.0.5") == ("10.0.0.5", 4400)
    assert resolver.resolve("beta@node-b.cluster.local") == ("node-b.cluster.local", 4400)
    with pytest.raises(BadArgument) as info:
        resolver.register("alpha@10.0.0.5", 5001, 1)
    assert str(info.value) == (
        "node 'alpha@10.0.0.5' listens on port 5001, but FixedPortResolver "
        "expects every node on port 4400"
    )
    with pytest.raises(BadArgument):
        resolver.resolve("no-host")
