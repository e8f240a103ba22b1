"""The bytes between two nodes: frame layouts, operation codes, and the handshake's
cryptography. Pure functions; no sockets, no processes.

===================================================  =====================================
name                                                 what it is
===================================================  =====================================
``HELLO``, ``CHALLENGE``, ``ACK``, ``REFUSED``, ``BYE``  tags of control frames
``OP_SEND`` .. ``OP_TICK``                           the first item of every encoded op
``encode_batch(ops)``, ``pack_seq``, ``unpack_seq``  the parts of a data frame
``handshake_mac``, ``session_id``, ``new_nonce``     the handshake's HMAC, session, nonces
``pack_body``, ``unpack_body``                       handshake bodies (msgpack arrays)
``curve_keypair``, ``curve_failure``                 CurveZMQ keys from the cookie; errors
===================================================  =====================================

The handshake never sends the cookie (Erlang's challenge/response, with HMAC-SHA256)::

    A -> B  HELLO(version, name_a, creation_a, endpoint_a, nonce_a)
    B -> A  CHALLENGE(name_b, creation_b, nonce_b, mac_b, abandoned)   B connects to endpoint_a
    A -> B  ACK(mac_a)
    mac_x = HMAC-SHA256(cookie, role_x + name_a + creation_a + name_b + creation_b
                                + nonce_a + nonce_b)          role_b = b"B", role_a = b"A"

(each field in a canonical byte encoding, ``field``). Both sides then derive the session
id from the two nonces. A control frame is ``[tag, body]``; a data frame is
``[session_id, seq, batch]``, ``seq`` an 8-byte big-endian counter from 1 in each
direction, and ``batch`` is ``codec.encode_batch`` of the operations (``encode_batch``
here builds the same bytes from ops encoded one by one). The ROUTER that receives either
puts the sender's routing id (its node name) in front.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
from typing import Any

import msgpack
import zmq
from zmq.utils import z85

from beamlike.errors import BeamlikeError

__all__ = [
    "ACK",
    "BYE",
    "CHALLENGE",
    "HELLO",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_OPS",
    "NONCE_SIZE",
    "PROTOCOL_VERSION",
    "REFUSED",
    "HandshakeError",
    "curve_failure",
    "curve_keypair",
    "encode_batch",
    "field",
    "handshake_mac",
    "new_nonce",
    "pack_body",
    "pack_seq",
    "session_id",
    "unpack_body",
    "unpack_seq",
]

PROTOCOL_VERSION = 1
# libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: the peer speaks another security
# mechanism (plaintext NULL against CURVE), the value of a HANDSHAKE_FAILED_PROTOCOL event.
ZMTP_MECHANISM_MISMATCH = 0x11000002
NONCE_SIZE = 32
SID_SIZE = 16
MAC_SIZE = 32
MAX_HANDSHAKE = 4096  # bytes of one handshake frame body

# Control frames (two parts after the routing id): tag, body.
HELLO = b"HELLO"
CHALLENGE = b"CHALLENGE"
ACK = b"ACK"
REFUSED = b"REFUSED"
BYE = b"BYE"

# Operation codes (the first item of every encoded op).
OP_SEND = 1  # (OP_SEND, sender, dest pid or name, message)
OP_REPLY = 2  # (OP_REPLY, tag, value)
OP_LINK = 3  # (OP_LINK, from, to)
OP_UNLINK = 4  # (OP_UNLINK, from, to)
OP_EXIT = 5  # (OP_EXIT, from, to, reason)
OP_LINK_EXIT = 6  # (OP_LINK_EXIT, dead, to, reason)
OP_MONITOR = 7  # (OP_MONITOR, watcher, target pid or name, ref)
OP_DEMONITOR = 8  # (OP_DEMONITOR, watcher, target pid or name, ref)
OP_DOWN = 9  # (OP_DOWN, watcher, ref, shown, reason)
OP_SPAWN_REQUEST = 10  # (OP_SPAWN_REQUEST, req, caller, "mod:fn", args, link, monitor ref)
OP_SPAWN_REPLY = 11  # (OP_SPAWN_REPLY, req, pid or None, error text or None)
OP_TICK = 12  # (OP_TICK,)

# A writer puts at most this many ops / bytes in one frame.
MAX_BATCH_OPS = 4096
MAX_BATCH_BYTES = 1 << 20

_SEQ = struct.Struct(">Q")


class HandshakeError(BeamlikeError):
    """A handshake frame that is malformed or does not fit the connection's state."""


# -- data frames ------------------------------------------------------------------------------


def _array_header(n: int) -> bytes:
    if n <= 15:
        return bytes((0x90 | n,))
    if n <= 0xFFFF:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


_ONE = _array_header(1)


def encode_batch(ops: list[bytes]) -> bytes:
    """A batch frame from ops encoded one by one (``codec.encode``): byte for byte what
    ``codec.encode_batch`` makes of the ops themselves, an msgpack array. Never blocks."""
    if len(ops) == 1:
        return _ONE + ops[0]
    return _array_header(len(ops)) + b"".join(ops)


pack_seq = _SEQ.pack
"""``pack_seq(seq)``: a sequence number as 8 big-endian bytes. Never blocks."""


def unpack_seq(data: bytes) -> int | None:
    """The sequence number of a frame, or None if it is not 8 bytes. Never blocks."""
    if len(data) != 8:
        return None
    return int(_SEQ.unpack(data)[0])


# -- the handshake's bytes -----------------------------------------------------------------


def field(value: str | int | bytes) -> bytes:
    """The canonical bytes of one handshake field, for the MAC. Never blocks."""
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"s" + struct.pack(">I", len(data)) + data
    if isinstance(value, int):
        return b"i" + struct.pack(">Q", value)
    return b"b" + struct.pack(">I", len(value)) + value


def handshake_mac(
    cookie: bytes,
    role: bytes,
    name_a: str,
    creation_a: int,
    name_b: str,
    creation_b: int,
    nonce_a: bytes,
    nonce_b: bytes,
) -> bytes:
    """HMAC-SHA256 over the handshake's fields, keyed by the cookie. Never blocks."""
    message = role + b"".join(
        field(v) for v in (name_a, creation_a, name_b, creation_b, nonce_a, nonce_b)
    )
    return hmac.new(cookie, message, hashlib.sha256).digest()


def same_mac(a: bytes, b: bytes) -> bool:
    """Compare two MACs in constant time. Never blocks."""
    return hmac.compare_digest(a, b)


def session_id(nonce_a: bytes, nonce_b: bytes) -> bytes:
    """The session id both sides derive from the two nonces. Never blocks."""
    return hashlib.sha256(b"beamlike-session" + nonce_a + nonce_b).digest()[:SID_SIZE]


def new_nonce() -> bytes:
    """A fresh random nonce. Never blocks."""
    return os.urandom(NONCE_SIZE)


def pack_body(items: list[Any]) -> bytes:
    """A handshake body: a msgpack array of plain values. Never blocks."""
    return msgpack.packb(items, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_body(body: bytes, kinds: tuple[type, ...], what: str) -> list[Any]:
    """Parse a handshake body and check the type of each item. Never blocks.

    Raises:
        HandshakeError: not a msgpack array of exactly those types.
    """
    if len(body) > MAX_HANDSHAKE:
        raise HandshakeError(f"{what} of {len(body)} bytes is too long")
    try:
        items = msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise HandshakeError(f"{what} is not valid msgpack: {exc}") from None
    if not isinstance(items, list) or len(items) != len(kinds):
        raise HandshakeError(f"{what} must be an array of {len(kinds)} items")
    for item, kind in zip(items, kinds, strict=True):
        if type(item) is not kind:
            raise HandshakeError(f"{what} has {type(item).__name__} where {kind.__name__} goes")
    return items


# -- CurveZMQ ----------------------------------------------------------------------------------


def curve_keypair(cookie: bytes, name: str) -> tuple[bytes, bytes]:
    """The CurveZMQ keypair of the node ``name`` in the cluster of ``cookie``: ``(public,
    secret)``, Z85-encoded. Derived (HMAC-SHA256 keyed by the cookie), so any node that
    has the cookie knows every node's public key from its name, and only such a node can
    hold its secret key. Never blocks."""
    secret = hmac.new(cookie, b"beamlike-curve-v1\0" + field(name), hashlib.sha256).digest()
    secret_z85 = z85.encode(secret)
    return zmq.curve_public(secret_z85), secret_z85


def curve_failure(value: int) -> str:
    """Why a CurveZMQ handshake failed, from the value of a ``HANDSHAKE_FAILED_*`` socket
    monitor event. Never blocks."""
    if value == ZMTP_MECHANISM_MISMATCH:
        return "it does not encrypt (this node was started with encrypt=True)"
    # A connecting side often sees only the connection closed (the other side gave up
    # first): it cannot tell a plaintext peer from one with another cookie.
    return "the CurveZMQ handshake failed (it does not encrypt, or has another cookie)"


# -- describing what a peer sent, for log lines ----------------------------------------------

log = logging.getLogger("beamlike.dist")


def short(value: Any) -> str:
    """``repr(value)``, cut to 100 characters. Never blocks."""
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def ident_text(ident: bytes) -> str:
    """A routing id (a node name in UTF-8) as text, whatever its bytes. Never blocks."""
    return ident.decode("utf-8", "replace")


def stray(ident: bytes, what: str) -> None:
    """Log (at DEBUG) a frame dropped because it belongs to no session. Never blocks."""
    log.debug("dropped %s from %s", what, short(ident))
