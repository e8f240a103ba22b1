"""Fixtures and helpers for tests with real nodes as OS processes (nodes, rpc, global, pg).

A port-mapper daemon on a free port for the test module, the test process as the
distributed node ``alpha...@127.0.0.1`` (net_ticktime 1 s) and peers started as child
processes, all killed after each test.
Import the fixtures into a test module by name::

    from tests.dist_support.cluster import alpha_fixture, epmd_fixture, peers_fixture  # noqa: F401

(registered as ``alpha``, ``peers`` and ``epmd_daemon``, the names tests take).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from beamlike import Node, receive
from beamlike import node as bnode
from beamlike.dist import Peer, start_peer
from beamlike.timer import sleep

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "test-cookie-4711"
FUNCS = "tests.dist_support.funcs"
SERVICES = "tests.dist_support.services"
PEER_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
_names = count(1)


def unique(prefix: str) -> str:
    """A node name no other test uses: ``prefix<os pid>x<n>@127.0.0.1``."""
    return f"{prefix}{os.getpid()}x{next(_names)}@127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_alpha(prefix: str = "alpha", **kwargs: Any) -> Node:
    """Make this test process the distributed node ``<prefix>...@127.0.0.1`` (the test's
    cookie, net_ticktime 1 s unless given); stop it with ``beamlike.node.stop``."""
    kwargs.setdefault("cookie", COOKIE)
    kwargs.setdefault("net_ticktime", 1.0)
    return bnode.start(unique(prefix), **kwargs)


def idle() -> None:
    """A local process that waits for ever."""
    receive("never sent")


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` (every 10 ms, as a process) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        sleep(0.01)


@pytest.fixture(name="epmd_daemon", scope="module", autouse=True)
def epmd_fixture() -> Iterator[int]:
    """A port-mapper daemon for the module; nodes find it through the environment."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beamlike.dist.epmd", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert b"listening" in line, line
    previous = os.environ.get("BEAMLIKE_EPMD_PORT")
    os.environ["BEAMLIKE_EPMD_PORT"] = str(port)
    try:
        yield port
    finally:
        if previous is None:
            del os.environ["BEAMLIKE_EPMD_PORT"]
        else:
            os.environ["BEAMLIKE_EPMD_PORT"] = previous
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.fixture(name="peers")
def peers_fixture() -> Iterator[Callable[..., Peer]]:
    """Start peers (``make(prefix, **start_peer_args)``); all are killed after the test."""
    started: list[Peer] = []

    def make(prefix: str = "peer", **kwargs: Any) -> Peer:
        kwargs.setdefault("cookie", COOKIE)
        kwargs.setdefault("net_ticktime", 1.0)
        kwargs.setdefault("env", PEER_ENV)
        name = kwargs.pop("name", None) or unique(prefix)
        peer = start_peer(name, **kwargs)
        started.append(peer)
        return peer

    try:
        yield make
    finally:
        for peer in started:
            peer.kill()
            assert not peer.is_alive()


@pytest.fixture(name="alpha")
def alpha_fixture(node: Node) -> Iterator[Node]:
    """This test process as the distributed node ``alpha...@127.0.0.1``."""
    distributed = start_alpha()
    try:
        yield distributed
    finally:
        bnode.stop(distributed)
