"""Liveness: ticks on quiet connections, peers declared down after ``net_ticktime`` of
silence, handshakes that take too long.

Every ``net_ticktime/8`` the ticker process of a node looks at each connection:

- in SETUP for longer than ``setup_timeout``: torn down (``"connection_setup_failed"``);
- UP, and nothing at all arrived from the peer for ``net_ticktime``: first the ROUTER is
  drained (a node that was busy must not blame its peers for frames it did not read),
  then, still silent, torn down (``"net_tick_timeout"``);
- UP, and nothing sent to the peer for half a period, with nothing queued: a tick goes
  out, so that the peer hears from this node at least every ``net_ticktime/8``.

A frozen peer is thus declared down within ``net_ticktime`` plus or minus 12.5 %, inside
Erlang's ±25 %.

Prior art: Erlang's ``net_kernel`` ticker (``net_ticktime``, four ticks per period,
declared down after four silent ones).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from beamlike.dist.connection import SETUP, UP
from beamlike.timer import sleep

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = ["ticker_main"]

ROUNDS_PER_TICKTIME = 8


def ticker_main(dist: DistNode) -> None:
    """The body of the ticker process, until the node closes. Blocks."""
    period = dist.net_ticktime / ROUNDS_PER_TICKTIME
    while not dist.closed:
        sleep(period)
        tick_round(dist, period)


def tick_round(dist: DistNode, period: float) -> None:
    """One look at every connection (see the module docstring). Never blocks."""
    now = time.monotonic()
    for conn in list(dist.conns.values()):
        if conn.state is SETUP:
            if now - conn.started > dist.setup_timeout:
                dist.teardown(conn, "connection_setup_failed", "the handshake timed out")
            continue
        if conn.state is not UP:
            continue
        if now - conn.last_recv > dist.net_ticktime:
            dist.drain_router()  # frames may wait that this node was too busy to read
            silent = time.monotonic() - conn.last_recv
            if conn.state is UP and silent > dist.net_ticktime:
                dist.teardown(conn, "net_tick_timeout", f"nothing received for {silent:.2f} s")
                continue
        if not conn.queue and not conn.tick_pending and now - conn.last_sent >= period / 2:
            conn.tick_pending = True
            conn.enqueue(dist.tick)
