"""Peer nodes: start other nodes as child OS processes (OTP's ``peer`` module).

=============================================  ==============================================
function / method                              what it does
=============================================  ==============================================
``start_peer(name, cookie=, ...) -> Peer``     start ``python -m beamlike.dist.peer_main``
``cluster(n, prefix=, cookie=, ...)``          start ``n`` peers at once
``Peer.stop()`` / ``Peer.kill()``              stop cleanly / SIGKILL
``Peer.suspend()`` / ``Peer.resume()``         SIGSTOP / SIGCONT
=============================================  ==============================================

Example::

    with start_peer("beta", cookie="secret") as beta:      # beta@127.0.0.1
        pid = beamlike.dist.spawn(beta.name, "mypkg.workers:run")

A peer runs no code of yours until you spawn it there by name (or pass ``run=``): the
module must be importable in the child, so give it a ``PYTHONPATH`` through ``env`` if it
is not installed. The child watches its standard input: when the parent dies (or calls
``stop``) it stops its node and exits. On Linux it is also killed by the kernel when
the parent dies (``PR_SET_PDEATHSIG``), even while suspended.

The cookie goes to the child in its environment (``BEAMLIKE_COOKIE``), never on its
command line, which other users can read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import zmq.green as zmq

from beamlike.dist.errors import DistError
from beamlike.dist.names import full_name
from beamlike.errors import BadArgument

__all__ = ["Peer", "cluster", "start_peer"]

READY = "BEAMLIKE-PEER-READY"


class Peer:
    """A node running as a child OS process. A context manager: leaving it stops the peer.

    Attributes:
        name: the peer's node name.
        os_pid: its OS process id.
        port: the TCP port it listens on.
        process: its ``subprocess.Popen``.
    """

    def __init__(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.process = process
        self.os_pid = process.pid
        self.port = 0
        self._buffer = b""

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else f"exited {self.process.returncode}"
        return f"<Peer {self.name} os_pid={self.os_pid} {state}>"

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def is_alive(self) -> bool:
        """Whether the child process still runs. Never blocks."""
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the peer cleanly (its node disconnects and unregisters), killing it if it
        has not exited within ``timeout`` seconds. Blocks until it exited."""
        if self.process.poll() is not None:
            self._close_pipes()
            return
        self.resume()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(b"stop\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass
        if not self._wait(timeout):
            self.kill()
        self._close_pipes()

    def kill(self) -> None:
        """Kill the peer with SIGKILL (no clean-up: its connections just break). Blocks
        until it exited."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait(None)
        self._close_pipes()

    def suspend(self) -> None:
        """Stop the peer with SIGSTOP: it stays connected but silent. Never blocks."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a suspended peer (SIGCONT). Never blocks."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def _wait(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.process.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return False
            _green_sleep(0.01)
        return True

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def _await_ready(self, timeout: float) -> None:
        """Read the child's stdout until it says it is ready. Blocks (the caller only)."""
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        deadline = time.monotonic() + timeout
        poller = zmq.Poller()
        poller.register(fd, zmq.POLLIN)
        while True:
            while b"\n" in self._buffer:
                line, _, self._buffer = self._buffer.partition(b"\n")
                words = line.decode("utf-8", "replace").split()
                if len(words) == 3 and words[0] == READY:
                    self.name, self.port = words[1], int(words[2])
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise DistError(f"peer {self.name} did not start within {timeout} s")
            if not poller.poll(int(left * 1000) + 1):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.process.wait()
                raise DistError(
                    f"peer {self.name} exited with status {code} before it was ready "
                    "(its standard error says why)"
                )
            self._buffer += chunk


def _green_sleep(seconds: float) -> None:
    """Sleep without blocking other greenlets (the calling code may not be a process)."""
    zmq.Poller().poll(int(seconds * 1000))


def _launch(
    name: str,
    *,
    cookie: str | bytes,
    net_ticktime: float,
    resolver: str,
    port: int,
    env: Mapping[str, str] | None,
    run: str | None,
    args: Sequence[Any],
    options: Mapping[str, Any],
) -> Peer:
    name = full_name(name)
    if isinstance(cookie, bytes):
        cookie = cookie.decode("utf-8")
    if not isinstance(cookie, str) or not cookie:
        raise BadArgument("start_peer needs a non-empty cookie")
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    child_env["BEAMLIKE_COOKIE"] = cookie
    command = [
        sys.executable,
        "-m",
        "beamlike.dist.peer_main",
        "--name",
        name,
        "--net-ticktime",
        repr(float(net_ticktime)),
        "--resolver",
        resolver,
        "--port",
        str(port),
    ]
    if options:
        command += ["--options", json.dumps(dict(options))]
    if run is not None:
        command += ["--run", run, "--args", json.dumps(list(args))]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    return Peer(name, process)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def start_peer(
    name: str,
    *,
    cookie: str | bytes,
    net_ticktime: float = 60.0,
    resolver: str = "epmd",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    run: str | None = None,
    args: Sequence[Any] = (),
    timeout: float = 30.0,
    **options: Any,
) -> Peer:
    """Start the node ``name`` as a child OS process; return it once it listens.

    Args:
        name: its node name (``"beta"`` means ``"beta@127.0.0.1"``).
        cookie: its cookie (given to the child in its environment).
        net_ticktime: its ``net_ticktime``.
        resolver: ``"epmd"`` (the port mapper, ``$BEAMLIKE_EPMD_PORT`` included),
            ``"static"`` (``StaticResolver.from_env()``: pass ``BEAMLIKE_NODES`` in
            ``env``) or ``"fixed:PORT"``.
        port: the port it listens on (0: a free one).
        env: variables added to the child's environment (``PYTHONPATH``...).
        run: ``"package.module:function"`` to spawn in the child once it started, with
            ``args`` (JSON values).
        timeout: seconds to wait for it to be ready.
        options: other ``beamlike.node.start`` options (JSON values), e.g. ``hwm``.

    Blocks until the child is ready. Raises ``DistError`` if it exits or is not ready
    in time (it is killed then).
    """
    peer = _launch(
        name,
        cookie=cookie,
        net_ticktime=net_ticktime,
        resolver=resolver,
        port=port,
        env=env,
        run=run,
        args=args,
        options=options,
    )
    try:
        peer._await_ready(timeout)
    except BaseException:
        peer.kill()
        raise
    return peer


def cluster(
    n: int,
    prefix: str = "peer",
    *,
    cookie: str | bytes,
    net_ticktime: float = 60.0,
    resolver: str = "epmd",
    env: Mapping[str, str] | None = None,
    run: str | None = None,
    args: Sequence[Any] = (),
    timeout: float = 30.0,
    **options: Any,
) -> list[Peer]:
    """Start ``n`` peers named ``prefix1@127.0.0.1`` ... ``prefixN@127.0.0.1`` at once
    (``prefix`` may name the host: ``"w@10.0.0.5"``; other arguments as
    ``start_peer``). Blocks until all are ready; if one fails, all are killed and
    ``DistError`` is raised."""
    if n.__class__ is not int or n < 1:
        raise BadArgument(f"cluster needs n >= 1; got {n!r}")
    base, _, host = prefix.partition("@")
    peers: list[Peer] = []
    try:
        for i in range(1, n + 1):
            peers.append(
                _launch(
                    f"{base}{i}@{host or '127.0.0.1'}",
                    cookie=cookie,
                    net_ticktime=net_ticktime,
                    resolver=resolver,
                    port=0,
                    env=env,
                    run=run,
                    args=args,
                    options=options,
                )
            )
        for peer in peers:
            peer._await_ready(timeout)
    except BaseException:
        for peer in peers:
            peer.kill()
        raise
    return peers
