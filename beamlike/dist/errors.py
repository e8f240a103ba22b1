"""The exceptions of the distribution layer.

``DistError`` is the root: a node that cannot start, a remote spawn that failed, a message
too large to travel. ``beamlike.dist.rpc`` derives its errors from it; the wire codec's
``EncodeError``/``DecodeError`` and the handshake's ``HandshakeError`` live with their
modules (``codec``, ``wire``).
"""

from __future__ import annotations

from beamlike.errors import BeamlikeError

__all__ = ["DistError"]


class DistError(BeamlikeError):
    """A distribution failure: a node that cannot start, a remote spawn that failed."""
