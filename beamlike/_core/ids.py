"""Process identifiers and references.

A ``Pid`` names a process on a node: the node's name, a number unique on that node, a
serial (always 0 here; Erlang uses it when the number wraps) and the node's *creation*,
which changes each time a node of that name starts, so that a pid of an earlier
incarnation never reaches a process of a later one. Pids print as in Erlang,
``<0.42.0>`` for the local node (``<alpha@host.42.0>`` for another node's pid).

A local pid also keeps a private, direct reference to its process while the process is
alive (``_proc``), which makes ``send`` a pointer chase instead of a table look-up. It
is cleared when the process exits and never travels: a pid decoded from elsewhere has
none and is resolved through the node's table.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["Pid", "Ref", "local_node_name"]

# Set by the node module: returns the name of the node that the caller runs on, used
# only to print pids and refs of that node with the short ``0`` prefix.
_local_name_hook: Any = None


def local_node_name() -> str | None:
    """Name of the caller's node, or None when no node exists yet. Never blocks."""
    hook = _local_name_hook
    return hook() if hook is not None else None


class _Id:
    """What pids and refs share: equality and total order by their fields (``_key``),
    only with their own kind, and a hash of their number."""

    __slots__ = ()
    id: int

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # The number alone: equal ids have equal numbers, and ids of other nodes that
        # share a number are told apart by __eq__. Cheap, and no cached int per id.
        return self.id

    def __lt__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() < other._key()  # type: ignore[no-any-return]

    def __le__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() <= other._key()  # type: ignore[no-any-return]

    def __gt__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() > other._key()  # type: ignore[no-any-return]

    def __ge__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() >= other._key()  # type: ignore[no-any-return]


class Pid(_Id):
    """Identifies one process, on this node or another. Hashable, totally ordered."""

    __slots__ = ("node", "id", "serial", "creation", "_proc")

    def __init__(self, node: str, id: int, serial: int = 0, creation: int = 0) -> None:
        self.node = node
        self.id = id
        self.serial = serial
        self.creation = creation
        self._proc: Any = None

    def _key(self) -> tuple[str, int, int, int]:
        return (self.node, self.id, self.serial, self.creation)

    def __repr__(self) -> str:
        prefix = "0" if self.node == local_node_name() else self.node
        return f"<{prefix}.{self.id}.{self.serial}>"

    def __reduce__(self) -> Any:
        return (Pid, (self.node, self.id, self.serial, self.creation))


_ref_numbers = itertools.count(1)


class Ref(_Id):
    """A unique reference (Erlang's ``make_ref()``). Hashable, totally ordered."""

    __slots__ = ("node", "id", "creation")

    def __init__(self, node: str, id: int | None = None, creation: int = 0) -> None:
        self.node = node
        self.id = next(_ref_numbers) if id is None else id
        self.creation = creation

    def _key(self) -> tuple[str, int, int]:
        return (self.node, self.id, self.creation)

    def __repr__(self) -> str:
        prefix = "0" if self.node == local_node_name() else self.node
        return f"#Ref<{prefix}.{self.creation}.0.{self.id}>"

    def __reduce__(self) -> Any:
        return (Ref, (self.node, self.id, self.creation))
