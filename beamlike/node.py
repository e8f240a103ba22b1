"""The node a program runs on.

``Node`` holds all runtime state. Code inside a process uses its process's node; code
outside uses the default node, created lazily. A test makes a fresh node::

    node = beamlike.Node()
    with node.as_default():
        ...
    node.stop()
"""

from __future__ import annotations

from beamlike._core.node import Node, current_node, default_node, reset_default, set_default

__all__ = ["Node", "current", "default", "name", "reset_default", "set_default"]


def current() -> Node:
    """The node of the calling process (the default node outside processes).

    Never blocks.
    """
    return current_node()


def default() -> Node:
    """The default node, created on first use. Never blocks."""
    return default_node()


def name() -> str:
    """The name of the caller's node (``"nonode@nohost"`` when not distributed).

    Never blocks.
    """
    return current_node().name
