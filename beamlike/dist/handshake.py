"""The handshake between two nodes, as the state machine of ``Conn``: control frames in,
control frames out, and a connection UP (or torn down) at the end.

=====================================  ===================================================
function                               when
=====================================  ===================================================
``send_hello(dist, conn)``             this node starts a connection (the initiator)
``on_control(dist, ident, tag, body)``  a control frame arrived on the ROUTER
``refuse(dist, endpoint, peer, why)``  tell a node this one will not talk to, and forget it
=====================================  ===================================================

The frames and the MACs are ``wire``'s; docs/distribution.md ("The protocol") states the
exchange. The rules kept here:

- A checks ``mac_b`` before it sends anything else, B checks ``mac_a``; the side that
  finds a bad MAC logs one line, answers ``REFUSED`` and closes; nothing from that peer is
  delivered. A HELLO with another protocol version is refused the same way.
- A HELLO from a node this node is connected to means that node starts over (it
  restarted, or lost the session): the old session is torn down first.
- Simultaneous connect: the attempt of the node with the greater name wins; the other
  abandons its own attempt and answers the winner's HELLO, on the same DEALER when it
  already has one to that endpoint (so its own HELLO, if it left, arrives before the
  CHALLENGE and is dropped by the winner), else naming its abandoned nonce in
  ``abandoned`` so that a late copy of its HELLO is ignored. Exactly one session results.

Prior art: Erlang's ``dist_util`` (the challenge/response and the simultaneous-connect
rule by node name).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import zmq.green as zmq

from beamlike.dist.connection import INITIATOR, RESPONDER, SETUP, UP, Conn
from beamlike.dist.names import plausible
from beamlike.dist.transport import FAREWELL_LINGER_MS, secure
from beamlike.dist.wire import (
    ACK,
    BYE,
    CHALLENGE,
    HELLO,
    NONCE_SIZE,
    PROTOCOL_VERSION,
    REFUSED,
    HandshakeError,
    handshake_mac,
    ident_text,
    new_nonce,
    pack_body,
    same_mac,
    short,
    stray,
    unpack_body,
)

if TYPE_CHECKING:
    from beamlike.dist.net import DistNode

__all__ = ["on_control", "refuse", "send_hello"]

log = logging.getLogger("beamlike.dist")


def send_hello(dist: DistNode, conn: Conn) -> None:
    """Queue the HELLO that starts the handshake as initiator. Never blocks."""
    conn.nonce_a = new_nonce()
    body = pack_body([PROTOCOL_VERSION, dist.name, dist.node.creation, dist.endpoint, conn.nonce_a])
    conn.control.append([HELLO, body])
    conn.wake()


def on_control(dist: DistNode, ident: bytes, tag: bytes, body: bytes) -> None:
    """A control frame ``[tag, body]`` from the node whose routing id is ``ident``.
    Never blocks."""
    name = ident_text(ident)
    log.debug("got %s from %s", short(tag), name)
    if tag == HELLO:
        _on_hello(dist, name, body)
        return
    conn = dist.conns.get(name)
    if conn is None:
        stray(ident, f"a {short(tag)} frame outside any handshake")
        return
    if tag == CHALLENGE:
        _on_challenge(dist, conn, body)
    elif tag == ACK:
        _on_ack(dist, conn, body)
    elif tag == REFUSED:
        if conn.state is SETUP:
            try:
                (reason,) = unpack_body(body, (str,), "REFUSED")
            except HandshakeError as exc:
                reason = str(exc)
            log.debug("%s refused the connection: %s", conn.peer, reason)
            dist.teardown(conn, "connection_setup_failed", f"refused: {reason}", quiet=True)
    elif tag == BYE:
        if conn.state is UP and body == conn.sid:
            dist.teardown(conn, "connection_closed", "the peer disconnected")
    else:
        stray(ident, f"an unknown frame {short(tag)}")


def _on_hello(dist: DistNode, name: str, body: bytes) -> None:
    try:
        version, hname, creation, endpoint, nonce = unpack_body(
            body, (int, str, int, str, bytes), "HELLO"
        )
    except HandshakeError as exc:
        log.warning("refused connection from %s: %s", name, exc)
        return
    if version != PROTOCOL_VERSION:
        log.warning(
            "refused connection from %s: it speaks protocol version %s, this node %s",
            hname,
            version,
            PROTOCOL_VERSION,
        )
        refuse(dist, endpoint, hname, f"protocol version {PROTOCOL_VERSION} expected")
        return
    if (
        hname != name
        or hname == dist.name
        or not plausible(hname)
        or not 0 < creation < 1 << 32
        or len(nonce) != NONCE_SIZE
        or not endpoint.startswith("tcp://")
    ):
        log.warning("refused connection from %s: malformed HELLO", name)
        return
    conn = dist.conns.get(hname)
    reuse = False
    abandoned = b""
    if conn is not None:
        if conn.state is UP:
            if creation == conn.peer_creation and nonce == conn.abandoned:
                # The HELLO of an attempt the peer gave up for ours (simultaneous
                # connect) that arrived late, on the socket the peer closed.
                log.debug("dropped a stale HELLO from %s", hname)
                return
            # The peer starts over: it lost the session, or it is a new incarnation.
            dist.teardown(conn, "connection_closed", "the peer started a new session")
            conn = None
        elif conn.role == INITIATOR:
            if hname < dist.name:
                log.debug("simultaneous connect with %s: this node's attempt wins", hname)
                return
            log.debug("simultaneous connect with %s: its attempt wins", hname)
            conn.role = RESPONDER
            if conn.dealer is not None and conn.endpoint == endpoint:
                # Answer on the same socket: our HELLO, if it left, is ahead of the
                # CHALLENGE in the same pipe, and the peer drops it while it waits.
                reuse = True
            else:
                abandoned = conn.nonce_a  # our HELLO may have left on that socket
                dist.close_sockets(conn)
        else:
            dist.close_sockets(conn)  # a new attempt replaces the pending one
    if conn is None:
        conn = dist.new_conn(hname, RESPONDER)
    conn.control.clear()
    conn.started = time.monotonic()
    conn.peer_creation = creation
    conn.nonce_a = nonce
    conn.nonce_b = new_nonce()
    if not reuse:
        dist.open_dealer(conn, endpoint)
    mac = handshake_mac(
        dist.cookie, b"B", hname, creation, dist.name, dist.node.creation, nonce, conn.nonce_b
    )
    body = pack_body([dist.name, dist.node.creation, conn.nonce_b, mac, abandoned])
    conn.control.append([CHALLENGE, body])
    conn.wake()


def _on_challenge(dist: DistNode, conn: Conn, body: bytes) -> None:
    if conn.state is not SETUP or conn.role != INITIATOR or not conn.nonce_a:
        stray(conn.ident, "a CHALLENGE it was not asked for")
        return
    try:
        bname, creation, nonce_b, mac, abandoned = unpack_body(
            body, (str, int, bytes, bytes, bytes), "CHALLENGE"
        )
    except HandshakeError as exc:
        _give_up(dist, conn, str(exc))
        return
    if bname != conn.peer or len(nonce_b) != NONCE_SIZE or not 0 < creation < 1 << 32:
        _give_up(dist, conn, "malformed CHALLENGE")
        return
    me, mine = dist.name, dist.node.creation
    expected = handshake_mac(dist.cookie, b"B", me, mine, bname, creation, conn.nonce_a, nonce_b)
    if not same_mac(mac, expected):
        _give_up(dist, conn, "bad cookie", refusal="bad cookie")
        return
    conn.peer_creation = creation
    conn.nonce_b = nonce_b
    conn.abandoned = abandoned
    answer = handshake_mac(dist.cookie, b"A", me, mine, bname, creation, conn.nonce_a, nonce_b)
    conn.control.append([ACK, pack_body([answer])])
    dist.up(conn)


def _on_ack(dist: DistNode, conn: Conn, body: bytes) -> None:
    if conn.state is not SETUP or conn.role != RESPONDER or not conn.nonce_b:
        stray(conn.ident, "an ACK it was not asked for")
        return
    try:
        (mac,) = unpack_body(body, (bytes,), "ACK")
    except HandshakeError as exc:
        _give_up(dist, conn, str(exc))
        return
    expected = handshake_mac(
        dist.cookie,
        b"A",
        conn.peer,
        conn.peer_creation,
        dist.name,
        dist.node.creation,
        conn.nonce_a,
        conn.nonce_b,
    )
    if not same_mac(mac, expected):
        _give_up(dist, conn, "bad cookie", refusal="bad cookie")
        return
    dist.up(conn)


def _give_up(dist: DistNode, conn: Conn, why: str, *, refusal: str | None = None) -> None:
    """Log why the handshake of ``conn`` failed and tear it down (telling the peer
    ``refusal``, if given). Never blocks."""
    direction = "to" if conn.role == INITIATOR else "from"
    log.warning("refused connection %s %s: %s", direction, conn.peer, why)
    dist.teardown(conn, "connection_setup_failed", why, refusal=refusal, quiet=True)


def refuse(dist: DistNode, endpoint: str, peer: str, reason: str) -> None:
    """Tell a node this one will not talk to why, on a short-lived socket. Never blocks."""
    if not endpoint.startswith("tcp://"):
        return
    dealer = dist.ctx.socket(zmq.DEALER)
    try:
        dealer.setsockopt(zmq.IDENTITY, dist.ident)
        secure(dist, dealer, peer)
        dealer.setsockopt(zmq.SNDHWM, 4)
        dealer.connect(endpoint)
        dealer.send_multipart([REFUSED, pack_body([reason])], flags=zmq.NOBLOCK)
    except zmq.ZMQError:
        pass
    finally:
        dealer.close(linger=FAREWELL_LINGER_MS)
