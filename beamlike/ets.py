"""ETS-like tables: in-memory key-value tables owned by processes.

Erlang's ``ets`` with Python values. A table holds tuples; the key of an object is
``obj[keypos]`` (0-based). It belongs to the process that made it, is read and written
by other processes as its access mode allows, and is deleted when its owner exits,
unless an *heir* inherits it. Every function works on the node of the calling process
and **never blocks** (a ``where``/``result``/``fn`` callback you pass runs inline).

==================================================  =======================================
function                                            what it does
==================================================  =======================================
``new(name, type, *, access, named_table, ...)``    make a table; returns its id
``insert(tab, obj_or_list)``, ``insert_new``        store objects (``insert_new``: all or none)
``lookup``, ``lookup_element``, ``member``          read by key
``delete(tab)``, ``delete(tab, key)``               delete the table / the key's objects
``delete_object``, ``delete_all_objects``, ``take``  remove objects
``update_counter``, ``update_element``              change objects in place (set tables)
``first``, ``next``, ``last``, ``prev``             walk keys; the end is ``END_OF_TABLE``
``match``, ``match_object``                         pattern match with ``ANY`` and ``Var(n)``
``select``, ``select_count``, ``select_delete``     pattern plus Python predicate
``foldl``, ``foldr``, ``tab2list``                  whole-table traversal
``give_away``, ``setopts(heir=...)``                hand a table to another process
``info``, ``all``, ``rename``, ``whereis``          introspection and names
==================================================  =======================================

Example::

    from beamlike import ets

    tab = ets.new("users", "ordered_set", access="public")
    ets.insert(tab, [("bob", 31), ("alice", 27)])
    assert ets.lookup(tab, "alice") == [("alice", 27)]
    assert ets.tab2list(tab) == [("alice", 27), ("bob", 31)]
    assert ets.update_counter(tab, "bob", 1) == 32
    assert ets.match(tab, (ets.Var(1), 27)) == [["alice"]]

See ``docs/ets.md`` for the differences from Erlang.
"""

from __future__ import annotations

import builtins
import itertools
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from beamlike._core import node as node_module
from beamlike._core.ids import Pid
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.messages import ANY
from beamlike.process import self_pid, send

__all__ = [
    "END_OF_TABLE",
    "AccessError",
    "EtsTransfer",
    "NoTableError",
    "TableId",
    "Tid",
    "Var",
    "all",
    "delete",
    "delete_all_objects",
    "delete_object",
    "first",
    "foldl",
    "foldr",
    "give_away",
    "info",
    "insert",
    "insert_new",
    "last",
    "lookup",
    "lookup_element",
    "match",
    "match_object",
    "member",
    "new",
    "next",
    "prev",
    "rename",
    "select",
    "select_count",
    "select_delete",
    "setopts",
    "tab2list",
    "take",
    "update_counter",
    "update_element",
    "whereis",
]

END_OF_TABLE = "$end_of_table"
"""What ``first``/``next``/``last``/``prev`` return past the end (Erlang's atom)."""

TYPES = ("set", "ordered_set", "bag", "duplicate_bag")
ACCESS_MODES = ("public", "protected", "private")

_MISSING: Any = object()
_READ, _WRITE, _OWNER = "read", "write", "owner"


class AccessError(BadArgument):
    """The calling process may not do this operation on the table (Erlang's ``badarg``).

    Attributes:
        table: the table id given; operation: what was tried; access: the table's mode;
        pid: the calling process; owner: the table's owner.
    """

    def __init__(self, table: Any, operation: str, access: str, pid: Pid, owner: Pid) -> None:
        super().__init__(
            f"{operation} on table {table!r} is not allowed: the table is {access} and "
            f"the calling process {pid!r} is not its owner {owner!r}"
        )
        self.table = table
        self.operation = operation
        self.access = access
        self.pid = pid
        self.owner = owner


class NoTableError(BadArgument):
    """The table does not exist: it was deleted, or its owner exited without an heir."""

    def __init__(self, table: Any) -> None:
        super().__init__(f"table {table!r} does not exist (it was deleted, or its owner exited)")
        self.table = table


class Tid:
    """The identifier of a table; hashable, prints as ``#Tid<name.3>``."""

    __slots__ = ("name", "number", "_node")

    def __init__(self, name: str, number: int, node_key: tuple[str, int]) -> None:
        self.name = name
        self.number = number
        self._node = node_key

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Tid:
            return NotImplemented
        return self.number == other.number and self._node == other._node  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.number, self._node))

    def __repr__(self) -> str:
        return f"#Tid<{self.name}.{self.number}>"


TableId = Tid | str
"""What identifies a table: a ``Tid``, or the name of a named table."""


@dataclass(frozen=True, slots=True)
class EtsTransfer:
    """A table was given to the receiving process (Erlang's ``{'ETS-TRANSFER', ...}``).

    ``tid`` is the table id as ``new`` returned it (the name for a named table);
    ``heir_data`` is the heir data, or the gift data of ``give_away``.
    """

    tid: Tid | str
    from_pid: Pid
    heir_data: Any


@dataclass(frozen=True, slots=True)
class Var:
    """A pattern variable (Erlang's ``'$1'``): binds what it meets; twice, equal values."""

    n: int

    def __post_init__(self) -> None:
        if self.n.__class__ is not int or self.n < 0:
            raise BadArgumentType(f"Var expects an int >= 0; got {self.n!r}")

    def __repr__(self) -> str:
        return f"Var({self.n})"


# -- tables and the node's state -----------------------------------------------------


class _Table:
    __slots__ = (
        "tid", "id", "name", "named", "kind", "bag", "access", "keypos",
        "owner", "heir", "heir_data", "data", "keys", "size", "deleted",
    )  # fmt: skip

    def __init__(
        self, tid: Tid, name: str, named: bool, kind: str, access: str, keypos: int, owner: Pid
    ) -> None:
        self.tid = tid
        self.id: Tid | str = name if named else tid
        self.name = name
        self.named = named
        self.kind = kind
        self.bag = kind in ("bag", "duplicate_bag")
        self.access = access
        self.keypos = keypos
        self.owner = owner
        self.heir: Pid | None = None
        self.heir_data: Any = None
        # set/ordered_set: key -> object; bags: key -> list of objects
        self.data: dict[Any, Any] = {}
        self.keys: list[Any] | None = [] if kind == "ordered_set" else None
        self.size = 0
        self.deleted = False


class _State:
    __slots__ = ("node", "tables", "names", "owned", "hooked", "counter")

    def __init__(self, node: node_module.Node) -> None:
        self.node = node
        self.tables: dict[Tid, _Table] = {}
        self.names: dict[str, _Table] = {}
        self.owned: dict[Pid, dict[Tid, _Table]] = {}
        self.hooked: set[Pid] = set()
        self.counter = itertools.count(1)


_KEY = "beamlike.ets"  # node.extensions: the node's tables


def _state() -> _State:
    """The ETS state of the caller's node, made on first use."""
    node = node_module.current_node()
    state: _State | None = node.extensions.get(_KEY)
    if state is None:
        state = node.extensions[_KEY] = _State(node)
    return state


def _is_local_alive(state: _State, pid: Any) -> bool:
    node = state.node
    return (
        pid.__class__ is Pid
        and pid.node == node.name
        and pid.creation == node.creation
        and node.lookup(pid) is not None
    )


def _own(state: _State, table: _Table, pid: Pid) -> None:
    state.owned.get(table.owner, {}).pop(table.tid, None)
    table.owner = pid
    state.owned.setdefault(pid, {})[table.tid] = table
    if pid not in state.hooked:
        state.node.on_exit(pid, lambda dead, reason: _owner_exited(state, dead))
        state.hooked.add(pid)


def _owner_exited(state: _State, pid: Pid) -> None:
    # Runs in the exiting process's greenlet, before its links and monitors fire.
    state.hooked.discard(pid)
    for table in list(state.owned.pop(pid, {}).values()):
        heir = table.heir
        if heir is not None and heir != pid and _is_local_alive(state, heir):
            _own(state, table, heir)
            send(heir, EtsTransfer(table.id, pid, table.heir_data))
        else:
            _drop(state, table)


def _drop(state: _State, table: _Table) -> None:
    state.tables.pop(table.tid, None)
    if table.named and state.names.get(table.name) is table:
        del state.names[table.name]
    state.owned.get(table.owner, {}).pop(table.tid, None)
    table.deleted = True
    table.data = {}
    table.keys = [] if table.keys is not None else None
    table.size = 0


def _find(state: _State, tab: Any) -> _Table | None:
    if tab.__class__ is Tid:
        return state.tables.get(tab)
    if tab.__class__ is str:
        return state.names.get(tab)
    raise BadArgumentType(
        f"a table is identified by a Tid or the name of a named table (str); "
        f"got {tab!r} (of type {type(tab).__name__})"
    )


def _table(tab: Any, operation: str, need: str) -> _Table:
    table = _find(_state(), tab)
    if table is None:
        raise NoTableError(tab)
    access = table.access
    if need == _READ and access != "private":
        return table
    if need == _WRITE and access == "public":
        return table
    me = self_pid()
    if me != table.owner:
        raise AccessError(tab, operation, access, me, table.owner)
    return table


# -- validation helpers ---------------------------------------------------------------


def _objects_arg(table: _Table, tab: Any, value: Any, operation: str) -> list[tuple[Any, ...]]:
    objects = [value] if isinstance(value, tuple) else value
    if not isinstance(objects, list):
        raise BadArgumentType(
            f"{operation} expects a tuple or a list of tuples; "
            f"got {value!r} (of type {type(value).__name__})"
        )
    need = table.keypos + 1
    for obj in objects:
        if not isinstance(obj, tuple):
            raise BadArgumentType(
                f"{operation} expects tuples as objects; got {obj!r} (of type {type(obj).__name__})"
            )
        if len(obj) < need:
            raise BadArgument(
                f"{operation}: table {tab!r} has its key at position {table.keypos} (0-based), "
                f"so objects need at least {need} elements; got {obj!r} with {len(obj)}"
            )
        _check_key(obj[table.keypos], operation)
    return objects


def _check_key(key: Any, operation: str) -> None:
    try:
        hash(key)
    except TypeError:
        raise BadArgumentType(
            f"{operation}: keys must be hashable; got {key!r} (of type {type(key).__name__})"
        ) from None


def _get(table: _Table, key: Any) -> Any:
    try:
        return table.data.get(key, _MISSING)
    except TypeError:  # unhashable: cannot be a key of the table
        return _MISSING


def _check_ordered(table: _Table, tab: Any, new_keys: list[Any], operation: str) -> None:
    keys = table.keys
    if keys is None or not new_keys:
        return
    try:
        sorted(new_keys)
        for key in new_keys:
            bisect_left(keys, key)
    except TypeError:
        raise BadArgument(
            f"{operation}: the keys of ordered_set {tab!r} must be comparable with each "
            f"other (<); cannot order {new_keys!r} among the keys already in the table"
        ) from None


def _add_key(table: _Table, key: Any) -> None:
    keys = table.keys
    if keys is not None:
        keys.insert(bisect_left(keys, key), key)


def _remove_key(table: _Table, key: Any) -> None:
    del table.data[key]
    keys = table.keys
    if keys is not None:
        del keys[bisect_left(keys, key)]


def _position(pos: Any, what: str) -> int:
    if pos.__class__ is not int or pos < 0:
        raise BadArgument(f"{what}: a position must be an int >= 0 (0-based); got {pos!r}")
    return pos  # type: ignore[no-any-return]


# -- creating and deleting tables -----------------------------------------------------


def new(
    name: str,
    type: str = "set",
    *,
    access: str = "protected",
    named_table: bool = False,
    keypos: int = 0,
    heir: Pid | None = None,
    heir_data: Any = None,
    read_concurrency: bool = False,
    write_concurrency: bool = False,
    compressed: bool = False,
) -> TableId:
    """Make a table owned by the calling process. Never blocks.

    Args:
        name: the table's name; with ``named_table`` also its id.
        type: ``"set"``, ``"ordered_set"``, ``"bag"`` or ``"duplicate_bag"``.
        access: ``"public"``, ``"protected"`` (owner writes, all read) or ``"private"``.
        named_table: return (and accept) ``name`` as the table id.
        keypos: the position (0-based) of the key in each object.
        heir: a process that inherits the table when the owner exits; a pid that is not
            alive now is ignored, as in Erlang.
        heir_data: sent to the heir in its ``EtsTransfer`` message.
        read_concurrency: accepted and ignored (one OS thread).
        write_concurrency: accepted and ignored.
        compressed: accepted and ignored.

    Returns:
        The table id: a ``Tid``, or ``name`` for a named table.

    Raises:
        BadArgument: an unknown type or access mode, a bad keypos, or a named table
            whose name is taken.
    """
    if name.__class__ is not str:
        raise BadArgumentType(f"a table name must be a str; got {name!r}")
    if type not in TYPES:
        raise BadArgument(f"unknown table type {type!r}; expected one of {', '.join(TYPES)}")
    if access not in ACCESS_MODES:
        raise BadArgument(
            f"unknown access mode {access!r}; expected one of {', '.join(ACCESS_MODES)}"
        )
    if keypos.__class__ is not int or keypos < 0:
        raise BadArgument(f"keypos must be an int >= 0 (0-based); got {keypos!r}")
    if heir is not None and heir.__class__ is not Pid:
        raise BadArgumentType(f"heir must be a Pid or None; got {heir!r}")
    state = _state()
    if named_table and name in state.names:
        raise BadArgument(f"a named table {name!r} already exists")
    node = state.node
    tid = Tid(name, builtins.next(state.counter), (node.name, node.creation))
    me = self_pid()
    table = _Table(tid, name, bool(named_table), type, access, keypos, me)
    if heir is not None and _is_local_alive(state, heir):
        table.heir, table.heir_data = heir, heir_data
    _own(state, table, me)
    state.tables[tid] = table
    if table.named:
        state.names[name] = table
    return table.id


def delete(tab: TableId, key: Any = _MISSING) -> bool:
    """``delete(tab)`` deletes the table; ``delete(tab, key)`` deletes the key's objects.

    Needs write access (as Erlang's ``delete/1``, a public table may be deleted by any
    process). Returns True. Never blocks.
    """
    table = _table(tab, "delete", _WRITE)
    if key is _MISSING:
        _drop(_state(), table)
        return True
    if _get(table, key) is not _MISSING:
        table.size -= len(table.data[key]) if table.bag else 1
        _remove_key(table, key)
    return True


def delete_all_objects(tab: TableId) -> bool:
    """Remove every object; the table stays. Returns True. Never blocks."""
    table = _table(tab, "delete_all_objects", _WRITE)
    table.data = {}
    if table.keys is not None:
        table.keys = []
    table.size = 0
    return True


# -- writing ------------------------------------------------------------------------


def insert(tab: TableId, objects: tuple[Any, ...] | list[tuple[Any, ...]]) -> bool:
    """Store one object or a list of them, all or none (on a bad object, none).

    A set replaces the object with the same key; a bag adds it unless an equal object
    is there; a duplicate_bag always adds it. Returns True. Never blocks.
    """
    table = _table(tab, "insert", _WRITE)
    objs = _objects_arg(table, tab, objects, "insert")
    _store(table, tab, objs, "insert")
    return True


def insert_new(tab: TableId, objects: tuple[Any, ...] | list[tuple[Any, ...]]) -> bool:
    """Like ``insert``, but stores nothing and returns False if any key is present.

    Never blocks.
    """
    table = _table(tab, "insert_new", _WRITE)
    objs = _objects_arg(table, tab, objects, "insert_new")
    keypos = table.keypos
    if any(obj[keypos] in table.data for obj in objs):
        return False
    _store(table, tab, objs, "insert_new")
    return True


def _store(table: _Table, tab: Any, objs: list[tuple[Any, ...]], operation: str) -> None:
    keypos, data = table.keypos, table.data
    if table.keys is not None:
        fresh = list({obj[keypos]: None for obj in objs if obj[keypos] not in data})
        _check_ordered(table, tab, fresh, operation)
    for obj in objs:
        key = obj[keypos]
        present = data.get(key, _MISSING)
        if not table.bag:
            if present is _MISSING:
                table.size += 1
                _add_key(table, key)
            data[key] = obj
        elif present is _MISSING:
            data[key] = [obj]
            table.size += 1
        elif table.kind == "duplicate_bag" or obj not in present:
            present.append(obj)
            table.size += 1


def delete_object(tab: TableId, obj: tuple[Any, ...]) -> bool:
    """Remove the objects equal to ``obj`` (all copies in a duplicate_bag).

    Returns True. Never blocks.
    """
    table = _table(tab, "delete_object", _WRITE)
    if not isinstance(obj, tuple):
        raise BadArgumentType(
            f"delete_object expects a tuple; got {obj!r} (of type {type(obj).__name__})"
        )
    (obj,) = _objects_arg(table, tab, obj, "delete_object")
    key = obj[table.keypos]
    present = _get(table, key)
    if present is _MISSING:
        return True
    if not table.bag:
        if present == obj:
            _remove_key(table, key)
            table.size -= 1
        return True
    kept = [o for o in present if o != obj]
    table.size -= len(present) - len(kept)
    if kept:
        table.data[key] = kept
    else:
        del table.data[key]
    return True


def take(tab: TableId, key: Any) -> list[tuple[Any, ...]]:
    """Remove and return the objects with ``key`` (``[]`` if none). Never blocks."""
    table = _table(tab, "take", _WRITE)
    found = _get(table, key)
    if found is _MISSING:
        return []
    objs = list(found) if table.bag else [found]
    table.size -= len(objs)
    _remove_key(table, key)
    return objs


def _set_only(table: _Table, tab: Any, operation: str) -> None:
    if table.bag:
        raise BadArgument(
            f"{operation} works on set and ordered_set tables; {tab!r} is a {table.kind}"
        )


def update_counter(
    tab: TableId, key: Any, incr: Any, default: tuple[Any, ...] | None = None
) -> Any:
    """Add to integer elements of the object with ``key``; return the new value(s).

    ``incr`` is an int (added to element ``keypos + 1``), ``(pos, incr)``,
    ``(pos, incr, threshold, setvalue)`` (if the result passes ``threshold`` — above it
    for ``incr >= 0``, below it for ``incr < 0`` — the element becomes ``setvalue``), or
    a list of these (then a list of results is returned). All updates happen or none.
    A missing key inserts ``default`` first (its key element replaced by ``key``).
    Only for set and ordered_set tables. Never blocks.

    Raises:
        BadArgument: missing key without default, an element that is not an int, a
            position out of range or at the key, or a bag table.
    """
    table = _table(tab, "update_counter", _WRITE)
    if incr.__class__ is tuple and len(incr) == 2 and not table.bag:
        # The common case, without the general path's lists: one (pos, incr) on a key
        # that is there. Anything unusual falls through to the checks below.
        pos, inc = incr
        obj = _get(table, key)
        if (
            obj is not _MISSING
            and pos.__class__ is int
            and inc.__class__ is int
            and table.keypos != pos >= 0
            and pos < len(obj)
            and obj[pos].__class__ is int
        ):
            value = obj[pos] + inc
            table.data[key] = (*obj[:pos], value, *obj[pos + 1 :])
            return value
    _set_only(table, tab, "update_counter")
    many = isinstance(incr, list)
    ops = [_counter_op(op, table.keypos) for op in (incr if many else [incr])]
    obj = _get(table, key)
    fresh = obj is _MISSING
    if fresh:
        if default is None:
            raise BadArgument(
                f"update_counter: key {key!r} is not in table {tab!r} and no default object was given"
            )
        _check_key(key, "update_counter")
        (default,) = _objects_arg(table, tab, [default], "update_counter")
        obj = default[: table.keypos] + (key,) + default[table.keypos + 1 :]
        _check_ordered(table, tab, [key], "update_counter")
    elements = list(obj)
    results = []
    for pos, inc, threshold, setvalue in ops:
        if pos >= len(elements):
            raise BadArgument(
                f"update_counter: position {pos} is out of range for {obj!r} in {tab!r}"
            )
        current = elements[pos]
        if current.__class__ is not int:
            raise BadArgument(
                f"update_counter: element {pos} of {obj!r} in {tab!r} is {current!r}, not an int"
            )
        value = current + inc
        if threshold is not None and (
            (inc >= 0 and value > threshold) or (inc < 0 and value < threshold)
        ):
            value = setvalue
        elements[pos] = value
        results.append(value)
    table.data[key] = tuple(elements)
    if fresh:
        table.size += 1
        _add_key(table, key)
    return results if many else results[0]


def _counter_op(op: Any, keypos: int) -> tuple[int, int, Any, Any]:
    if op.__class__ is int:
        return keypos + 1, op, None, None
    if isinstance(op, tuple) and len(op) in (2, 4):
        pos = _position(op[0], "update_counter")
        if pos == keypos:
            raise BadArgument(f"update_counter cannot update the key (position {pos})")
        for value in op[1:]:
            if value.__class__ is not int:
                raise BadArgument(f"update_counter: {op!r} must hold ints; got {value!r}")
        return (pos, op[1], op[2], op[3]) if len(op) == 4 else (pos, op[1], None, None)
    raise BadArgument(
        "update_counter expects an int, (pos, incr), (pos, incr, threshold, setvalue) "
        f"or a list of these; got {op!r}"
    )


def update_element(tab: TableId, key: Any, changes: Any) -> bool:
    """Set elements of the object with ``key``: ``(pos, value)`` or a list of these.

    Returns False if the key is absent. All changes happen or none. Only for set and
    ordered_set tables; the key position cannot be changed. Never blocks.
    """
    table = _table(tab, "update_element", _WRITE)
    _set_only(table, tab, "update_element")
    pairs = changes if isinstance(changes, list) else [changes]
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise BadArgument(
                f"update_element expects (pos, value) or a list of these; got {pair!r}"
            )
        if _position(pair[0], "update_element") == table.keypos:
            raise BadArgument(f"update_element cannot change the key (position {pair[0]})")
    obj = _get(table, key)
    if obj is _MISSING:
        return False
    elements = list(obj)
    for pos, value in pairs:
        if pos >= len(elements):
            raise BadArgument(
                f"update_element: position {pos} is out of range for {obj!r} in {tab!r}"
            )
        elements[pos] = value
    table.data[key] = tuple(elements)
    return True


# -- reading ------------------------------------------------------------------------


def lookup(tab: TableId, key: Any) -> list[tuple[Any, ...]]:
    """The objects with ``key`` (``[]`` if none). Never blocks."""
    table = _table(tab, "lookup", _READ)
    found = _get(table, key)
    if found is _MISSING:
        return []
    return list(found) if table.bag else [found]


def lookup_element(tab: TableId, key: Any, pos: int) -> Any:
    """Element ``pos`` (0-based) of the object with ``key``; a list of them for bags.

    Raises ``BadArgument`` if the key is absent or an object is too short. Never blocks.
    """
    table = _table(tab, "lookup_element", _READ)
    _position(pos, "lookup_element")
    found = _get(table, key)
    if found is _MISSING:
        raise BadArgument(f"lookup_element: key {key!r} is not in table {tab!r}")
    objs = found if table.bag else [found]
    for obj in objs:
        if pos >= len(obj):
            raise BadArgument(f"lookup_element: position {pos} is out of range for {obj!r}")
    return [obj[pos] for obj in objs] if table.bag else objs[0][pos]


def member(tab: TableId, key: Any) -> bool:
    """Whether the table has an object with ``key``. Never blocks."""
    return _get(_table(tab, "member", _READ), key) is not _MISSING


def _ordered_objects(table: _Table, reverse: bool = False) -> list[tuple[Any, ...]]:
    data = table.data
    keys: Iterable[Any] = table.keys if table.keys is not None else data
    if reverse:
        keys = reversed(list(keys))
    if table.bag:
        out = [obj for key in keys for obj in data[key]]
        return out
    return [data[key] for key in keys]


def tab2list(tab: TableId) -> list[tuple[Any, ...]]:
    """All objects; in key order for ordered_set, insertion order otherwise. Never blocks."""
    return _ordered_objects(_table(tab, "tab2list", _READ))


def foldl(fn: Callable[[Any, Any], Any], acc: Any, tab: TableId) -> Any:
    """``acc = fn(obj, acc)`` over the objects in table order; returns ``acc``.

    Works on a snapshot, so ``fn`` may change the table. Never blocks (``fn`` runs inline).
    """
    for obj in _ordered_objects(_table(tab, "foldl", _READ)):
        acc = fn(obj, acc)
    return acc


def foldr(fn: Callable[[Any, Any], Any], acc: Any, tab: TableId) -> Any:
    """Like ``foldl``, from the last object to the first. Never blocks."""
    for obj in _ordered_objects(_table(tab, "foldr", _READ), reverse=True):
        acc = fn(obj, acc)
    return acc


def first(tab: TableId) -> Any:
    """The first key (smallest for ordered_set), or ``END_OF_TABLE``. Never blocks."""
    table = _table(tab, "first", _READ)
    if not table.data:
        return END_OF_TABLE
    return table.keys[0] if table.keys is not None else builtins.next(iter(table.data))


def last(tab: TableId) -> Any:
    """The last key (largest for ordered_set), or ``END_OF_TABLE``. Never blocks."""
    table = _table(tab, "last", _READ)
    if not table.data:
        return END_OF_TABLE
    return table.keys[-1] if table.keys is not None else builtins.next(reversed(table.data))


def next(tab: TableId, key: Any) -> Any:
    """The key after ``key``, or ``END_OF_TABLE``. Never blocks.

    For ordered_set, the next larger key (``key`` need not be present); otherwise the
    next in insertion order, and ``key`` must be present (else ``BadArgument``).
    """
    return _step(tab, key, "next", +1)


def prev(tab: TableId, key: Any) -> Any:
    """The key before ``key``, or ``END_OF_TABLE`` (see ``next``). Never blocks."""
    return _step(tab, key, "prev", -1)


def _step(tab: Any, key: Any, operation: str, direction: int) -> Any:
    table = _table(tab, operation, _READ)
    keys = table.keys
    if keys is not None:
        try:
            if direction > 0:
                i = bisect_right(keys, key)
                return keys[i] if i < len(keys) else END_OF_TABLE
            i = bisect_left(keys, key) - 1
            return keys[i] if i >= 0 else END_OF_TABLE
        except TypeError:
            raise BadArgument(
                f"{operation}: {key!r} cannot be compared with the keys of {tab!r}"
            ) from None
    if _get(table, key) is _MISSING:
        raise BadArgument(f"{operation}: key {key!r} is not in table {tab!r}")
    order = list(table.data)
    i = order.index(key) + direction
    return order[i] if 0 <= i < len(order) else END_OF_TABLE


# -- patterns -------------------------------------------------------------------------

_Matcher = Callable[[Any, dict[int, Any]], bool]


def _is_literal(pattern: Any) -> bool:
    if pattern is ANY or pattern.__class__ is Var or isinstance(pattern, dict):
        return False  # a dict pattern matches a superset, not only an equal dict
    if isinstance(pattern, (tuple, list)):
        return builtins.all(_is_literal(p) for p in pattern)
    return True


def _compile(pattern: Any) -> _Matcher:
    """A matcher ``m(value, bindings) -> bool`` that binds ``Var``s in ``bindings``."""
    if pattern is ANY:
        return lambda value, bindings: True
    if pattern.__class__ is Var:
        n = pattern.n

        def var(value: Any, bindings: dict[int, Any]) -> bool:
            bound = bindings.get(n, _MISSING)
            if bound is _MISSING:
                bindings[n] = value
                return True
            return bool(bound == value)

        return var
    if _is_literal(pattern):
        return lambda value, bindings: bool(value == pattern)
    if isinstance(pattern, (tuple, list)):
        kind = tuple if isinstance(pattern, tuple) else list
        subs = [_compile(p) for p in pattern]
        size = len(subs)

        def sequence(value: Any, bindings: dict[int, Any]) -> bool:
            if not isinstance(value, kind) or len(value) != size:
                return False
            for sub, element in zip(subs, value, strict=True):
                if not sub(element, bindings):
                    return False
            return True

        return sequence
    items = [(k, _compile(p)) for k, p in pattern.items()]

    def subset(value: Any, bindings: dict[int, Any]) -> bool:
        if not isinstance(value, dict):
            return False
        for k, sub in items:
            if k not in value or not sub(value[k], bindings):
                return False
        return True

    return subset


def _candidates(table: _Table, pattern: Any) -> list[tuple[Any, ...]]:
    """The objects that may match: one key's objects when the pattern's key is literal."""
    keypos = table.keypos
    if isinstance(pattern, tuple) and len(pattern) > keypos and _is_literal(pattern[keypos]):
        found = _get(table, pattern[keypos])
        if found is _MISSING:
            return []
        return list(found) if table.bag else [found]
    return _ordered_objects(table)


def _matching(
    table: _Table, pattern: Any, where: Callable[[Any], Any] | None = None
) -> list[tuple[tuple[Any, ...], dict[int, Any]]]:
    matcher = _compile(pattern)
    out = []
    for obj in _candidates(table, pattern):
        bindings: dict[int, Any] = {}
        if matcher(obj, bindings) and (where is None or where(obj)):
            out.append((obj, bindings))
    return out


def match_object(tab: TableId, pattern: Any) -> list[tuple[Any, ...]]:
    """The objects that match ``pattern`` (``ANY``, ``Var(n)``, literals, nested tuples,
    lists, dicts as subsets). A literal key in the pattern is looked up directly.

    Never blocks.
    """
    return [obj for obj, _ in _matching(_table(tab, "match_object", _READ), pattern)]


def match(tab: TableId, pattern: Any) -> list[list[Any]]:
    """For each matching object, the values bound to the ``Var``s, by variable number.

    ``match(t, (Var(1), ANY, Var(2)))`` gives ``[[key, third], ...]``; the same ``Var``
    twice matches only equal values. Never blocks.
    """
    return [
        [bindings[n] for n in sorted(bindings)]
        for _, bindings in _matching(_table(tab, "match", _READ), pattern)
    ]


def select(
    tab: TableId,
    pattern: Any = ANY,
    where: Callable[[Any], Any] | None = None,
    result: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """The objects matching ``pattern`` for which ``where(obj)`` is true, each passed
    through ``result(obj)`` when given (Erlang's match specifications, as Python
    callables). Never blocks (the callbacks run inline, on a snapshot).
    """
    found = _matching(_table(tab, "select", _READ), pattern, where)
    if result is None:
        return [obj for obj, _ in found]
    return [result(obj) for obj, _ in found]


def select_count(
    tab: TableId, pattern: Any = ANY, where: Callable[[Any], Any] | None = None
) -> int:
    """How many objects ``select(tab, pattern, where)`` would return. Never blocks."""
    return len(_matching(_table(tab, "select_count", _READ), pattern, where))


def select_delete(
    tab: TableId, pattern: Any = ANY, where: Callable[[Any], Any] | None = None
) -> int:
    """Delete the objects ``select(tab, pattern, where)`` would return; return how many.

    Never blocks.
    """
    table = _table(tab, "select_delete", _WRITE)
    doomed = [obj for obj, _ in _matching(table, pattern, where)]
    keypos = table.keypos
    for obj in doomed:
        key = obj[keypos]
        present = _get(table, key)
        if present is _MISSING:
            continue
        if not table.bag:
            if present is obj:
                _remove_key(table, key)
                table.size -= 1
            continue
        for i, other in enumerate(present):
            if other is obj:
                del present[i]
                table.size -= 1
                break
        if not present:
            del table.data[key]
    return len(doomed)


# -- ownership, names, introspection ----------------------------------------------------


def give_away(tab: TableId, pid: Pid, gift_data: Any) -> bool:
    """Make the live local process ``pid`` the owner; it receives
    ``EtsTransfer(tab, self_pid(), gift_data)``. Only the owner may. Never blocks.
    """
    table = _table(tab, "give_away", _OWNER)
    state = _state()
    if pid.__class__ is not Pid:
        raise BadArgumentType(f"give_away expects a Pid; got {pid!r}")
    if pid == table.owner:
        raise BadArgument(f"give_away: {pid!r} already owns {tab!r}")
    if not _is_local_alive(state, pid):
        raise BadArgument(f"give_away: {pid!r} is not a live process of this node")
    old = table.owner
    _own(state, table, pid)
    send(pid, EtsTransfer(table.id, old, gift_data))
    return True


def setopts(tab: TableId, *, heir: Pid | None = _MISSING, heir_data: Any = None) -> bool:
    """Set the heir (None: no heir) and its data. Only the owner may.

    As in Erlang, an heir that is not alive now is ignored (no heir). Never blocks.
    """
    table = _table(tab, "setopts", _OWNER)
    if heir is _MISSING:
        return True
    if heir is not None and heir.__class__ is not Pid:
        raise BadArgumentType(f"heir must be a Pid or None; got {heir!r}")
    if heir is not None and _is_local_alive(_state(), heir):
        table.heir, table.heir_data = heir, heir_data
    else:
        table.heir, table.heir_data = None, None
    return True


def info(tab: TableId) -> dict[str, Any] | None:
    """A dict describing the table, or None if it does not exist. Never blocks.

    Keys: ``id`` (the Tid), ``name``, ``named_table``, ``type``, ``size`` (objects),
    ``owner``, ``heir`` (None if none), ``protection``, ``keypos``, ``memory`` (an
    estimate in bytes of the table and the objects' top-level elements).
    """
    table = _find(_state(), tab)
    if table is None:
        return None
    return {
        "id": table.tid,
        "name": table.name,
        "named_table": table.named,
        "type": table.kind,
        "size": table.size,
        "owner": table.owner,
        "heir": table.heir,
        "protection": table.access,
        "keypos": table.keypos,
        "memory": _memory(table),
    }


def _memory(table: _Table) -> int:
    size = sys.getsizeof(table) + sys.getsizeof(table.data)
    if table.keys is not None:
        size += sys.getsizeof(table.keys)
    if table.bag:
        size += sum(sys.getsizeof(objs) for objs in table.data.values())
    for obj in _ordered_objects(table):
        size += sys.getsizeof(obj) + sum(sys.getsizeof(e) for e in obj)
    return size


def all() -> list[TableId]:
    """The ids of all tables of the node (names for named tables). Never blocks."""
    return [table.id for table in _state().tables.values()]


def rename(tab: TableId, name: str) -> str:
    """Rename the table; a named table is then reachable only by the new name.

    Returns ``name``. Raises ``BadArgument`` if another named table has it. Never blocks.
    """
    table = _table(tab, "rename", _WRITE)
    if name.__class__ is not str:
        raise BadArgumentType(f"a table name must be a str; got {name!r}")
    state = _state()
    if table.named:
        holder = state.names.get(name)
        if holder is not None and holder is not table:
            raise BadArgument(f"rename: a named table {name!r} already exists")
        del state.names[table.name]
        state.names[name] = table
        table.id = name
    table.name = name
    return name


def whereis(name: str) -> Tid | None:
    """The Tid of the named table ``name``, or None. Never blocks."""
    if name.__class__ is not str:
        raise BadArgumentType(f"whereis expects a str name; got {name!r}")
    table = _state().names.get(name)
    return table.tid if table is not None else None
