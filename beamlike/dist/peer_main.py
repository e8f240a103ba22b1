"""The entry point of a peer node: ``python -m beamlike.dist.peer_main --name NAME ...``.

Started by ``beamlike.dist.peer.start_peer``. It starts the node (cookie from
``$BEAMLIKE_COOKIE``), spawns ``--run`` if given, prints ``BEAMLIKE-PEER-READY name
port`` on standard output, and runs until its standard input says ``stop`` or closes (the
parent died); then it stops the node and exits. Logs go to standard error, at the level
in ``$BEAMLIKE_PEER_LOG`` (default WARNING).

The child is not monkey-patched (library code never patches): functions it runs that
need gevent's cooperative standard library must patch it themselves.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import zmq.green as zmq

from beamlike.dist.epmd import EpmdResolver, FixedPortResolver, Resolver, StaticResolver
from beamlike.dist.net import resolve_function, start_node, stop_node
from beamlike.dist.peer import READY
from beamlike.errors import BadArgument

__all__ = ["main"]


def _resolver(spec: str) -> Resolver:
    if spec == "epmd":
        return EpmdResolver()
    if spec == "static":
        return StaticResolver.from_env()
    kind, _, port = spec.partition(":")
    if kind == "fixed" and port.isdigit():
        return FixedPortResolver(int(port))
    raise BadArgument(f"--resolver must be epmd, static or fixed:PORT; got {spec!r}")


def _wait_for_stop() -> None:
    """Block (cooperatively) until standard input says ``stop`` or reaches its end."""
    fd = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(fd, zmq.POLLIN)
    seen = b""
    while True:
        poller.poll()
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        seen = (seen + chunk)[-64:]
        if b"stop" in seen:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beamlike.dist.peer_main")
    parser.add_argument("--name", required=True)
    parser.add_argument("--net-ticktime", type=float, default=60.0)
    parser.add_argument("--resolver", default="epmd")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--options", default="{}")
    parser.add_argument("--run")
    parser.add_argument("--args", default="[]")
    ns = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("BEAMLIKE_PEER_LOG", "WARNING").upper(),
        stream=sys.stderr,
        format=f"%(asctime)s [{ns.name}] %(name)s %(levelname)s: %(message)s",
    )
    node = start_node(
        ns.name,
        port=ns.port,
        resolver=_resolver(ns.resolver),
        net_ticktime=ns.net_ticktime,
        **json.loads(ns.options),
    )
    if ns.run:
        node.spawn(resolve_function(ns.run), tuple(json.loads(ns.args)), {})
    assert node.dist is not None
    sys.stdout.write(f"{READY} {node.name} {node.dist.port}\n")
    sys.stdout.flush()
    try:
        _wait_for_stop()
    finally:
        stop_node(node)
        zmq.Poller().poll(50)  # let the last frames leave
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
