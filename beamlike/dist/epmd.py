"""The port mapper: which TCP port the node ``name@host`` listens on (Erlang's EPMD).

A tiny daemon on each host maps the names of the nodes running there to the port each
one listens on. A node registers when it starts and keeps that connection open; another
node that wants to reach ``alpha@host`` asks the daemon on ``host`` for ``alpha``'s port.
The daemon is started on demand by the first node that finds none, and is shared by all
the nodes of the host; it holds nothing but the map.

=================================================  ==========================================
client function                                    what it does
=================================================  ==========================================
``register(name, port, creation)``                 a ``Registration``; ``close()`` unregisters
``lookup(name)``                                   ``(port, creation)``, or ``None``
``names()``                                        ``{name: (port, creation)}``
``ping()``                                         the daemon's OS pid, or ``None``
``start_daemon(host=, port=)``                     start a daemon in the background
``EpmdResolver``, ``StaticResolver``,              the ``Resolver`` a node uses to find a peer
``FixedPortResolver``
=================================================  ==========================================

Example::

    from beamlike.dist import epmd

    reg = epmd.register("alpha@127.0.0.1", 5001, creation=1)   # starts the daemon if needed
    assert epmd.lookup("alpha@127.0.0.1") == (5001, 1)
    reg.close()                                                # alpha is gone at once
    assert epmd.lookup("alpha@127.0.0.1") is None

The daemon is ``python -m beamlike.dist.epmd [--host 127.0.0.1] [--port N]``; the port
defaults to ``$BEAMLIKE_EPMD_PORT``, else 4370 (one above Erlang's 4369, so that both can
run on one host).

The essay
---------
*Guarantees.* A registration lives exactly as long as the TCP connection that made it: the
daemon drops the name as soon as it sees that connection close, whether the node stopped,
called ``Registration.close()``, or was killed with SIGKILL (the kernel closes its sockets).
Closes are handled before requests: in each turn of its loop the daemon first reads every
connection that is ready, dropping those that closed, and only then answers the requests it
read; so a node restarted under the name of one that was killed is not refused because the
daemon had not yet noticed the death. A name is held by one connection, and a connection
holds at most one name. Bad input (not JSON, not an object, an unknown op, a bad name, a
line over 4 KiB) is answered with an error and never stops the daemon; only an over-long
line also closes the connection that sent it. When two nodes start a daemon at once, one
binds the port, the other finds it taken and exits quietly; both nodes then register with
the one that runs.

*Non-guarantees.* The daemon is neither authenticated nor encrypted, like Erlang's: any
process that can reach it may register a free name or list the names (the node's
connections themselves are authenticated by the cookie). It listens on loopback unless told
otherwise, so ``EpmdResolver`` finds the nodes of one host; use ``--host`` (and a daemon
started by hand), ``StaticResolver`` or ``FixedPortResolver`` across hosts. Registrations are
not persistent: a daemon that is restarted has forgotten every node, and nodes do not
register again (neither do Erlang nodes).

*Prior art.* Erlang's ``epmd`` (``erts/epmd/src/epmd_srv.c``): a registration is bound to
its connection, and ``ERL_EPMD_PORT`` moves the daemon. Erlang's ``-epmd_module`` replaces
the port mapper with a module of callbacks (``register_node``, ``port_please``), which is
the ``Resolver`` here; ``-erl_epmd_port``, for containers where every node listens on one
well-known port and there is no daemon, is ``FixedPortResolver``.

The protocol: newline-delimited JSON over TCP, one response per request, in order::

    {"op": "register", "name": "alpha@127.0.0.1", "port": 5001, "creation": 3}
        -> {"ok": true} | {"ok": false, "error": "taken"}
    {"op": "lookup", "name": "alpha@127.0.0.1"}
        -> {"ok": true, "port": 5001, "creation": 3} | {"ok": false, "error": "not_found"}
    {"op": "names"}  -> {"ok": true, "names": {"alpha@127.0.0.1": {"port": 5001, "creation": 3}}}
    {"op": "ping"}   -> {"ok": true, "pid": 4242}

Other errors: ``bad_json``, ``bad_request`` (not an object), ``unknown_op``, ``bad_name``,
``bad_port``, ``bad_creation``, ``already_registered`` (this connection holds a name),
``line_too_long`` (then the connection is closed).

This module uses the standard library only (and ``beamlike.errors``): the daemon does not
depend on gevent. A node that uses the client runs under gevent's monkey patching, where
these blocking sockets are cooperative.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol, TypeGuard, runtime_checkable

from beamlike.errors import BadArgument, BadArgumentType, BeamlikeError

__all__ = [
    "DEFAULT_PORT",
    "NODES_ENV",
    "PORT_ENV",
    "Daemon",
    "EpmdError",
    "EpmdResolver",
    "FixedPortResolver",
    "NameTakenError",
    "Registration",
    "Resolver",
    "StaticResolver",
    "default_epmd_port",
    "lookup",
    "main",
    "names",
    "ping",
    "register",
    "start_daemon",
]

DEFAULT_PORT = 4370
PORT_ENV = "BEAMLIKE_EPMD_PORT"
NODES_ENV = "BEAMLIKE_NODES"
LOCALHOST = "127.0.0.1"

MAX_LINE = 4096  # bytes of one request, without its newline
MAX_NAME = 255  # characters of a node name
MAX_CREATION = 2**32 - 1
MAX_CLIENTS = 1000  # connections the daemon keeps at once; more are closed on accept
MAX_PENDING = 1 << 20  # unsent bytes of answers to one connection before it is dropped
MAX_REPLY = 1 << 20  # bytes of one answer the client accepts
RECV_SIZE = 65536


class EpmdError(BeamlikeError):
    """The port mapper could not be reached, did not answer in time, or refused a request."""


class NameTakenError(EpmdError):
    """The node name is registered already, by another connection.

    Attributes:
        name: the node name that was asked for.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"node name {name!r} is already registered with epmd")
        self.name = name


# --- validation (shared by the daemon and the client) -----------------------------------


def _name_problem(name: object) -> str | None:
    """Why ``name`` is not a node name, or None when it is one."""
    if not isinstance(name, str):
        return f"a node name must be a str; got {name!r} (of type {type(name).__name__})"
    if len(name) > MAX_NAME:
        return f"a node name has at most {MAX_NAME} characters; got {len(name)}"
    if not name.isprintable() or any(c.isspace() for c in name):
        return f"a node name must be printable, without spaces; got {name!r}"
    local, at, host = name.partition("@")
    if not at or not local or not host or "@" in host:
        return f"a node name must look like 'name@host'; got {name!r}"
    return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_port(value: object) -> TypeGuard[int]:
    return _is_int(value) and 1 <= value <= 65535


def _is_creation(value: object) -> TypeGuard[int]:
    return _is_int(value) and 0 <= value <= MAX_CREATION


def _check_name(name: object) -> str:
    problem = _name_problem(name)
    if problem is not None:
        cls = BadArgumentType if not isinstance(name, str) else BadArgument
        raise cls(problem)
    assert isinstance(name, str)
    return name


def _check_port(port: object, what: str = "port") -> int:
    if not _is_port(port):
        raise BadArgument(f"{what} must be an int from 1 to 65535; got {port!r}")
    return port


def _check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
        raise BadArgument(f"timeout must be None or a number of seconds >= 0; got {timeout!r}")
    return float(timeout)


def default_epmd_port() -> int:
    """The daemon's port: ``$BEAMLIKE_EPMD_PORT``, else 4370. Never blocks.

    Raises:
        BadArgument: the variable is set to something that is not a port number.
    """
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not _is_port(port):
        raise BadArgument(f"{PORT_ENV} must be a port number from 1 to 65535; got {raw!r}")
    return port


def _epmd_port(epmd_port: int | None) -> int:
    return default_epmd_port() if epmd_port is None else _check_port(epmd_port, "epmd_port")


# --- the daemon ---------------------------------------------------------------------------


class _Client:
    """One connection to the daemon."""

    __slots__ = ("sock", "inbuf", "outbuf", "name", "closing", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.name: str | None = None  # the node name this connection registered
        self.closing = False  # answer what is queued, then close
        self.closed = False


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


class Daemon:
    """The port mapper daemon: one thread, one ``selectors`` loop, stdlib only.

    Binds and listens when created (so ``OSError`` with ``errno.EADDRINUSE`` means another
    daemon, or another program, has the port); ``serve_forever()`` then answers requests.

    Args:
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (see ``address``).
    """

    def __init__(self, host: str = LOCALHOST, port: int = DEFAULT_PORT) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=128)
        listener.setblocking(False)
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._clients: set[_Client] = set()
        self._names: dict[str, tuple[int, int, _Client]] = {}  # name -> (port, creation, conn)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the daemon listens on."""
        host, port = self._listener.getsockname()[:2]
        return host, port

    def serve_forever(self) -> None:
        """Answer requests until the process is stopped. Blocks forever."""
        while True:
            self.serve_once(None)

    def serve_once(self, timeout: float | None) -> None:
        """One turn of the loop: accept, read every ready connection (dropping those that
        closed), then answer what was read, then write. Blocks until something is ready or
        ``timeout`` seconds have passed."""
        events = self._selector.select(timeout)
        readers: list[_Client] = []
        for key, mask in events:
            client = key.data
            if client is None:
                self._accept()
                continue
            if client.closed:
                continue
            if mask & selectors.EVENT_WRITE:
                self._flush(client)
            if mask & selectors.EVENT_READ and not client.closed and self._read(client):
                readers.append(client)
        for client in readers:
            if not client.closed:
                self._answer(client)

    def close(self) -> None:
        """Close every connection and the listening socket. Never blocks."""
        for client in list(self._clients):
            self._drop(client)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._selector.close()

    # connections

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError:  # out of file descriptors: let connections close, then retry
            time.sleep(0.05)
            return
        if len(self._clients) >= MAX_CLIENTS:
            sock.close()
            return
        sock.setblocking(False)
        client = _Client(sock)
        self._clients.add(client)
        self._selector.register(sock, selectors.EVENT_READ, client)

    def _drop(self, client: _Client) -> None:
        if client.closed:
            return
        self._release(client)
        client.closed = True
        self._clients.discard(client)
        try:
            self._selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()

    def _release(self, client: _Client) -> None:
        """Drop the name ``client`` registered, if any."""
        if client.name is not None:
            entry = self._names.get(client.name)
            if entry is not None and entry[2] is client:
                del self._names[client.name]
            client.name = None

    def _read(self, client: _Client) -> bool:
        """Read what ``client`` sent; False when it closed (and was dropped)."""
        try:
            data = client.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._drop(client)
            return False
        if not data:
            self._drop(client)
            return False
        client.inbuf += data
        return True

    def _answer(self, client: _Client) -> None:
        while not client.closing:
            end = client.inbuf.find(b"\n")
            if end < 0:
                if len(client.inbuf) > MAX_LINE:
                    self._close_after_answer(client, _error("line_too_long"))
                return
            if end > MAX_LINE:
                self._close_after_answer(client, _error("line_too_long"))
                return
            line = bytes(client.inbuf[:end])
            del client.inbuf[: end + 1]
            try:
                reply = self._handle(client, line)
            except Exception:  # a bug must cost one connection, never the daemon
                self._drop(client)
                return
            self._send(client, reply)
            if client.closed:
                return

    def _close_after_answer(self, client: _Client, reply: dict[str, Any]) -> None:
        self._release(client)
        client.closing = True
        client.inbuf.clear()
        self._send(client, reply)

    def _send(self, client: _Client, reply: dict[str, Any]) -> None:
        client.outbuf += json.dumps(reply, separators=(",", ":")).encode() + b"\n"
        if len(client.outbuf) > MAX_PENDING:  # it asks without reading the answers
            self._drop(client)
            return
        self._flush(client)

    def _flush(self, client: _Client) -> None:
        if client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(client)
                return
            del client.outbuf[:sent]
        if client.closing and not client.outbuf:
            self._drop(client)
            return
        events = selectors.EVENT_WRITE if client.closing else selectors.EVENT_READ
        if client.outbuf:
            events |= selectors.EVENT_WRITE
        if self._selector.get_key(client.sock).events != events:
            self._selector.modify(client.sock, events, client)

    # requests

    def _handle(self, client: _Client, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _error("bad_json")
        if not isinstance(request, dict):
            return _error("bad_request")
        op = request.get("op")
        if op == "register":
            return self._register(client, request)
        if op == "lookup":
            return self._lookup(request)
        if op == "names":
            return {
                "ok": True,
                "names": {
                    name: {"port": port, "creation": creation}
                    for name, (port, creation, _) in self._names.items()
                },
            }
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        return _error("unknown_op")

    def _register(self, client: _Client, request: dict[str, Any]) -> dict[str, Any]:
        name, port, creation = request.get("name"), request.get("port"), request.get("creation")
        if _name_problem(name) is not None:
            return _error("bad_name")
        if not _is_port(port):
            return _error("bad_port")
        if not _is_creation(creation):
            return _error("bad_creation")
        assert isinstance(name, str)
        if name in self._names:
            return _error("taken")
        if client.name is not None:
            return _error("already_registered")
        self._names[name] = (port, creation, client)
        client.name = name
        return {"ok": True}

    def _lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("name")
        if _name_problem(name) is not None:
            return _error("bad_name")
        assert isinstance(name, str)
        entry = self._names.get(name)
        if entry is None:
            return _error("not_found")
        return {"ok": True, "port": entry[0], "creation": entry[1]}


def main(argv: list[str] | None = None) -> int:
    """``python -m beamlike.dist.epmd``: run a daemon until stopped; returns the exit status.

    Prints ``epmd: listening on HOST:PORT`` once it accepts connections. When the port is
    taken by a daemon that answers, prints so on stderr and returns 0 (a race between two
    starters is not an error); when it is taken by something else, returns 1.
    """
    parser = argparse.ArgumentParser(
        prog="python -m beamlike.dist.epmd",
        description="beamlike's port mapper: maps node names to the ports their nodes listen on.",
    )
    parser.add_argument("--host", default=LOCALHOST, help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port (${PORT_ENV}, else {DEFAULT_PORT})"
    )
    args = parser.parse_args(argv)
    try:
        port = _epmd_port(args.port)
    except BadArgument as exc:
        parser.error(str(exc))
    try:
        daemon = Daemon(args.host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            pid = ping(host=args.host, epmd_port=port, timeout=1.0)
            if pid is not None:
                print(f"epmd: already running on {args.host}:{port} (pid {pid})", file=sys.stderr)
                return 0
        print(f"epmd: cannot listen on {args.host}:{port}: {exc}", file=sys.stderr)
        return 1
    host, bound = daemon.address
    try:
        print(f"epmd: listening on {host}:{bound}", flush=True)
    except OSError:
        pass  # nobody reads our stdout
    try:
        daemon.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.close()
    return 0


# --- the client ---------------------------------------------------------------------------

_spawned: list[subprocess.Popen[bytes]] = []  # daemons this process started, to reap them


def start_daemon(*, host: str = LOCALHOST, port: int | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m beamlike.dist.epmd`` in the background, in its own session (it
    outlives this process). If a daemon has the port already, the new one exits at once,
    with status 0. Never blocks: the daemon may not accept connections yet on return.
    """
    port = _epmd_port(port)
    _spawned[:] = [proc for proc in _spawned if proc.poll() is None]
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "beamlike.dist.epmd", "--host", host, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd="/",  # do not pin the directory this node was started in
        env=env,
    )
    _spawned.append(proc)
    return proc


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _exchange(sock: socket.socket, request: dict[str, Any], deadline: float | None) -> Any:
    """Send one request on ``sock`` and read its answer."""
    sock.settimeout(_remaining(deadline))
    sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
    buf = bytearray()
    while (end := buf.find(b"\n")) < 0:
        if len(buf) > MAX_REPLY:
            raise EpmdError(f"epmd answered {request['op']!r} with more than {MAX_REPLY} bytes")
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(RECV_SIZE)
        if not chunk:
            raise EpmdError(f"epmd closed the connection without answering {request['op']!r}")
        buf += chunk
    try:
        reply = json.loads(bytes(buf[:end]))
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise EpmdError(f"epmd answered {request['op']!r} with {bytes(buf[:end])[:200]!r}")
    return reply


def _connect(
    host: str, port: int, deadline: float | None, start: bool, timeout: float | None
) -> socket.socket:
    """Connect to the daemon; if none runs and ``start``, start one and retry."""
    started = False
    delay = 0.01
    while True:
        try:
            return socket.create_connection((host, port), timeout=_remaining(deadline))
        except ConnectionRefusedError:
            if not start:
                raise EpmdError(f"no epmd is running at {host}:{port}") from None
        if not started:
            start_daemon(host=host, port=port)
            started = True
        left = _remaining(deadline)
        if left is not None and left <= delay:
            raise EpmdError(f"epmd at {host}:{port} did not start within {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _ask(
    request: dict[str, Any], host: str, port: int, timeout: float | None, start: bool
) -> tuple[socket.socket, Any]:
    """Connect (starting a daemon if ``start``) and send one request: the connection, still
    open, and the answer."""
    timeout = _check_timeout(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        sock = _connect(host, port, deadline, start, timeout)
        try:
            return sock, _exchange(sock, request, deadline)
        except BaseException:
            sock.close()
            raise
    except TimeoutError:
        raise EpmdError(f"epmd at {host}:{port} did not answer within {timeout} s") from None
    except OSError as exc:
        raise EpmdError(f"cannot reach epmd at {host}:{port}: {exc}") from exc


def _request(
    request: dict[str, Any], host: str, epmd_port: int | None, timeout: float | None
) -> Any:
    """One request on a connection of its own."""
    sock, reply = _ask(request, host, _epmd_port(epmd_port), timeout, False)
    sock.close()
    return reply


class Registration:
    """A node name registered with the daemon, for as long as this object's connection is
    open: ``close()`` (or the end of this process) unregisters it.

    Attributes:
        name: the node name.
        port: the port the node listens on.
        creation: the node's creation (tells incarnations of one name apart).
        epmd_address: the daemon's (host, port).
    """

    __slots__ = ("name", "port", "creation", "epmd_address", "_sock")

    def __init__(
        self,
        name: str,
        port: int,
        creation: int,
        epmd_address: tuple[str, int],
        sock: socket.socket,
    ) -> None:
        self.name = name
        self.port = port
        self.creation = creation
        self.epmd_address = epmd_address
        self._sock: socket.socket | None = sock

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._sock is None

    def close(self) -> None:
        """Unregister: close the connection; the daemon drops the name as soon as it sees
        it closed. Idempotent. Never blocks."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<Registration {self.name!r} port={self.port} creation={self.creation} "
            f"epmd={self.epmd_address[0]}:{self.epmd_address[1]} {state}>"
        )


def register(
    name: str,
    port: int,
    creation: int,
    *,
    host: str = LOCALHOST,
    epmd_port: int | None = None,
    start: bool = True,
    timeout: float | None = 5.0,
) -> Registration:
    """Register node ``name``, listening on ``port``, with the daemon at ``host``.

    If no daemon runs there and ``start`` is true, starts one (see ``start_daemon``) and
    retries until it accepts. Blocks until the daemon has answered, at most ``timeout``
    seconds in all.

    Args:
        name: the node name, ``"name@host"``.
        port: the TCP port the node listens on.
        creation: the node's creation, an int from 0 to 2**32 - 1.
        host: the daemon's address.
        epmd_port: the daemon's port; None means ``default_epmd_port()``.
        start: start a daemon when none runs.
        timeout: seconds, or None to wait forever.

    Returns:
        The ``Registration``; keep it: the name is registered until it is closed.

    Raises:
        NameTakenError: another connection holds ``name``.
        EpmdError: no daemon could be reached (or started) in time, or it refused.
        BadArgument: ``name``, ``port`` or ``creation`` is not valid.
    """
    name = _check_name(name)
    port = _check_port(port)
    if not _is_creation(creation):
        raise BadArgument(f"creation must be an int from 0 to {MAX_CREATION}; got {creation!r}")
    epmd = _epmd_port(epmd_port)
    request = {"op": "register", "name": name, "port": port, "creation": creation}
    sock, reply = _ask(request, host, epmd, timeout, start)
    if not reply["ok"]:
        sock.close()
        if reply.get("error") == "taken":
            raise NameTakenError(name)
        raise EpmdError(f"epmd refused to register {name!r}: {reply.get('error')!r}")
    sock.settimeout(None)
    return Registration(name, port, creation, (host, epmd), sock)


def lookup(
    name: str, *, host: str = LOCALHOST, epmd_port: int | None = None, timeout: float | None = 5.0
) -> tuple[int, int] | None:
    """``(port, creation)`` of the node ``name`` registered with the daemon at ``host``, or
    None when no node by that name is registered. Blocks until the daemon answers, at most
    ``timeout`` seconds.

    Raises:
        EpmdError: no daemon runs there, or it did not answer in time.
        BadArgument: ``name`` is not a node name.
    """
    name = _check_name(name)
    reply = _request({"op": "lookup", "name": name}, host, epmd_port, timeout)
    if not reply["ok"]:
        if reply.get("error") == "not_found":
            return None
        raise EpmdError(f"epmd refused to look up {name!r}: {reply.get('error')!r}")
    return reply["port"], reply["creation"]


def names(
    *, host: str = LOCALHOST, epmd_port: int | None = None, timeout: float | None = 5.0
) -> dict[str, tuple[int, int]]:
    """Every registered node name, with its ``(port, creation)``. Blocks until the daemon
    answers, at most ``timeout`` seconds.

    Raises:
        EpmdError: no daemon runs there, or it did not answer in time.
    """
    reply = _request({"op": "names"}, host, epmd_port, timeout)
    if not reply["ok"]:
        raise EpmdError(f"epmd refused to list names: {reply.get('error')!r}")
    return {name: (entry["port"], entry["creation"]) for name, entry in reply["names"].items()}


def ping(
    *, host: str = LOCALHOST, epmd_port: int | None = None, timeout: float | None = 5.0
) -> int | None:
    """The OS pid of the daemon at ``host``, or None when none answers. Blocks until the
    daemon answers, at most ``timeout`` seconds."""
    try:
        reply = _request({"op": "ping"}, host, epmd_port, timeout)
    except EpmdError:
        return None
    pid = reply.get("pid") if reply["ok"] else None
    return pid if _is_int(pid) else None


# --- resolvers ------------------------------------------------------------------------------


@runtime_checkable
class Resolver(Protocol):
    """How a node makes itself findable, and finds a peer's (host, port).

    ``register`` is called once the node listens, ``unregister`` when it stops; ``resolve``
    may block (say so in the implementation's docstring) and returns None when the node
    cannot be found, which the node reports as ``"noconnection"``.
    """

    def register(self, name: str, port: int, creation: int) -> None: ...

    def unregister(self) -> None: ...

    def resolve(self, name: str) -> tuple[str, int] | None: ...


class EpmdResolver:
    """Find nodes through the daemon: register with the one on this host (started on
    demand), and resolve ``name@host`` by asking the one on ``host``.

    Args:
        epmd_port: the daemons' port; None means ``default_epmd_port()``, read now.
        start: start a daemon on this host when none runs.
        timeout: seconds a request may take (None: forever).
    """

    def __init__(
        self, epmd_port: int | None = None, *, start: bool = True, timeout: float | None = 5.0
    ) -> None:
        self.epmd_port = _epmd_port(epmd_port)
        self.start = start
        self.timeout = _check_timeout(timeout)
        self.registration: Registration | None = None

    def register(self, name: str, port: int, creation: int) -> None:
        """Register with the daemon on 127.0.0.1. Blocks until it answers (see the module
        function ``register`` for the errors)."""
        if self.registration is not None and not self.registration.closed:
            raise BadArgument(
                f"this resolver has registered {self.registration.name!r} already; "
                "call unregister() first"
            )
        self.registration = register(
            name,
            port,
            creation,
            epmd_port=self.epmd_port,
            start=self.start,
            timeout=self.timeout,
        )

    def unregister(self) -> None:
        """Drop the registration, if any. Never blocks."""
        if self.registration is not None:
            self.registration.close()
            self.registration = None

    def resolve(self, name: str) -> tuple[str, int] | None:
        """``(host, port)`` of ``name@host``, asked of the daemon on ``host``; None when it is
        not registered there or that daemon cannot be reached. Blocks until the daemon
        answers, at most ``timeout`` seconds."""
        host = _check_name(name).partition("@")[2]
        try:
            found = lookup(name, host=host, epmd_port=self.epmd_port, timeout=self.timeout)
        except EpmdError:
            return None
        return None if found is None else (host, found[0])

    def __repr__(self) -> str:
        return f"EpmdResolver(epmd_port={self.epmd_port})"


class StaticResolver:
    """A fixed map from node names to (host, port), for tests and containers.
    ``register`` and ``unregister`` do nothing. Never blocks.

    Args:
        mapping: ``{"alpha@h": ("127.0.0.1", 5001), ...}``.
    """

    def __init__(self, mapping: Mapping[str, tuple[str, int]]) -> None:
        checked: dict[str, tuple[str, int]] = {}
        for name, endpoint in mapping.items():
            _check_name(name)
            if (
                not isinstance(endpoint, tuple)
                or len(endpoint) != 2
                or not isinstance(endpoint[0], str)
                or not endpoint[0]
                or not _is_port(endpoint[1])
            ):
                raise BadArgument(
                    f"StaticResolver maps a node name to (host, port); got {name!r}: {endpoint!r}"
                )
            checked[name] = endpoint
        self.mapping = checked

    @classmethod
    def from_env(cls, var: str = NODES_ENV) -> StaticResolver:
        """The map in environment variable ``var``, as
        ``"alpha@h=127.0.0.1:5001,beta@h=127.0.0.1:5002"`` (IPv6 hosts in brackets:
        ``[::1]:5001``). An unset or empty variable gives an empty map. Never blocks.

        Raises:
            BadArgument: an entry is not ``name@host=ip:port`` or a name comes twice.
        """
        mapping: dict[str, tuple[str, int]] = {}
        for raw in os.environ.get(var, "").split(","):
            entry = raw.strip()
            if not entry:
                continue
            name, _, endpoint = entry.partition("=")
            host, _, port = endpoint.strip().rpartition(":")
            host = host.removeprefix("[").removesuffix("]")
            name = name.strip()
            if (
                not host
                or not port.isdigit()
                or not _is_port(int(port))
                or _name_problem(name) is not None
            ):
                raise BadArgument(f"{var}: entry {entry!r} is not 'name@host=ip:port'")
            if name in mapping:
                raise BadArgument(f"{var}: node {name!r} is given twice")
            mapping[name] = (host, int(port))
        return cls(mapping)

    def register(self, name: str, port: int, creation: int) -> None:
        """Does nothing. Never blocks."""

    def unregister(self) -> None:
        """Does nothing. Never blocks."""

    def resolve(self, name: str) -> tuple[str, int] | None:
        """``(host, port)`` of ``name`` in the map, or None. Never blocks."""
        return self.mapping.get(name)

    def __repr__(self) -> str:
        return f"StaticResolver({self.mapping!r})"


class FixedPortResolver:
    """Every node listens on one well-known port of its own host, and there is no daemon
    (Erlang's ``-erl_epmd_port``, for containers). Never blocks.

    Args:
        port: the port every node listens on.
    """

    def __init__(self, port: int) -> None:
        self.port = _check_port(port)

    def register(self, name: str, port: int, creation: int) -> None:
        """Checks that the node listens on the well-known port. Never blocks.

        Raises:
            BadArgument: ``port`` is not the resolver's port (no peer could find the node).
        """
        _check_name(name)
        if port != self.port:
            raise BadArgument(
                f"node {name!r} listens on port {port!r}, but FixedPortResolver "
                f"expects every node on port {self.port}"
            )

    def unregister(self) -> None:
        """Does nothing. Never blocks."""

    def resolve(self, name: str) -> tuple[str, int] | None:
        """``(host, port)``: the host part of ``name@host`` and the well-known port."""
        return _check_name(name).partition("@")[2], self.port

    def __repr__(self) -> str:
        return f"FixedPortResolver({self.port})"


if __name__ == "__main__":
    sys.exit(main())
