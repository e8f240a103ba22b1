"""Registry: find processes by key, as Elixir's ``Registry`` does.

A registry maps keys to the processes that registered them, each entry with a value. With
``keys="unique"`` a key points to at most one process; with ``keys="duplicate"`` a key may
point to many (a pub/sub topic, a group). A process registers *itself*; its entries are
removed when it exits, before its links and monitors fire, so a restarted process can
register the same key again as soon as its supervisor hears of the crash.

The entries live on the node; a small *owner* process, registered under the registry's
name, stands for the registry's life: when it exits, the registry is gone.

==============================================  ===================================================
function                                        what it does (none of them blocks)
==============================================  ===================================================
``Registry.start_link(name, keys)``             start a registry owned by a linked process
``Registry.start(name, keys)``                  same, not linked
``Registry.child_spec(name, keys)``             ``{"id": name, "start": (start_link, args, kwargs)}``
``Registry.register(reg, key, value)``          register the caller under ``key``
``Registry.unregister(reg, key)``               remove the caller's entries for ``key``
``Registry.unregister_match(reg, key, pat)``    same, only entries whose value matches ``pat``
``Registry.lookup(reg, key)``                   ``[(pid, value), ...]`` in registration order
``Registry.match(reg, key, pat, guard)``        the entries of ``key`` whose value matches
``Registry.keys(reg, pid)``                     the keys ``pid`` registered
``Registry.values(reg, key, pid)``              the values ``pid`` registered under ``key``
``Registry.update_value(reg, key, fn)``         ``(new, old)``: the caller's value through ``fn``
``Registry.count(reg)``, ``count_match(...)``   number of entries (matching a pattern)
``Registry.dispatch(reg, key, fn)``             ``fn(entries)`` when ``key`` has entries
``Registry.select(reg, where)``                 ``(key, pid, value)`` for which ``where`` is true
``Registry.meta(reg, k)``, ``put_meta(...)``    registry-wide metadata
``Registry.via(reg, key)``                      a name for ``send``, ``monitor``, GenServers
==============================================  ===================================================

Patterns (``match``, ``count_match``, ``unregister_match``) are matched against the
value: ``ANY`` matches everything, a tuple / list pattern matches a tuple / list of the
same length element-wise, a dict pattern a dict that has at least its keys with matching
values, anything else is compared with ``==``. ``guard``, if given, is then called with
the value and must return a truthy value.

Example::

    import gevent.monkey; gevent.monkey.patch_all()
    from beamlike import receive, self_pid, send, spawn
    from beamlike.registry import Registry

    Registry.start_link("workers", keys="unique")

    def worker(parent):
        Registry.register("workers", "alice", "scribe")
        send(parent, "ready")
        sender, text = receive()
        send(sender, text.upper())

    spawn(worker, self_pid())
    receive("ready", timeout=1)
    assert Registry.lookup("workers", "alice")[0][1] == "scribe"
    send(Registry.via("workers", "alice"), (self_pid(), "hello"))
    assert receive(timeout=1) == "HELLO"
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from beamlike._core.ids import Pid
from beamlike._core.node import Node, current_node
from beamlike._core.signals import deliver
from beamlike.errors import AlreadyRegisteredError, BadArgument, BadArgumentType, NoProcError
from beamlike.messages import ANY
from beamlike.process import receive, self_pid, spawn_opt

__all__ = ["DUPLICATE", "UNIQUE", "Registry", "Via"]

UNIQUE = "unique"
DUPLICATE = "duplicate"
_KINDS = (UNIQUE, DUPLICATE)

Entry = tuple[Pid, Any]


# -- the state of one registry, kept on its node ---------------------------------------


class _Entry:
    __slots__ = ("key", "pid", "value")

    def __init__(self, key: Any, pid: Pid, value: Any) -> None:
        self.key = key
        self.pid = pid
        self.value = value


class _State:
    """The entries of one running registry. Every index is an insertion-ordered dict
    keyed by a sequence number, so lookups, removals and registration order are all
    cheap."""

    __slots__ = (
        "by_key",
        "by_pid",
        "entries",
        "hooked",
        "kind",
        "listeners",
        "meta",
        "name",
        "node",
        "owner",
        "running",
        "seq",
    )

    def __init__(
        self, node: Node, name: str, kind: str, owner: Pid, listeners: tuple[str, ...]
    ) -> None:
        self.node = node
        self.name = name
        self.kind = kind
        self.owner = owner
        self.listeners = listeners
        self.entries: dict[int, _Entry] = {}
        self.by_key: dict[Any, dict[int, _Entry]] = {}
        self.by_pid: dict[Pid, dict[int, _Entry]] = {}
        self.hooked: set[Pid] = set()  # pids whose exit hook for this registry is set
        self.meta: dict[Any, Any] = {}
        self.seq = itertools.count()
        self.running = True

    def insert(self, key: Any, pid: Pid, value: Any) -> None:
        if self.kind == UNIQUE:
            held = self.by_key.get(key)
            if held:
                raise AlreadyRegisteredError(key, next(iter(held.values())).pid)
        if pid not in self.hooked:
            self.node.on_exit(pid, self.process_exited)  # NoProcError if pid is dead
            self.hooked.add(pid)
        seq = next(self.seq)
        entry = _Entry(key, pid, value)
        self.entries[seq] = entry
        self.by_key.setdefault(key, {})[seq] = entry
        self.by_pid.setdefault(pid, {})[seq] = entry
        if self.listeners:
            self.notify(("register", self.name, key, pid, value))

    def remove(self, seq: int, entry: _Entry) -> None:
        del self.entries[seq]
        of_key = self.by_key[entry.key]
        del of_key[seq]
        if not of_key:
            del self.by_key[entry.key]
        of_pid = self.by_pid[entry.pid]
        del of_pid[seq]
        if not of_pid:
            del self.by_pid[entry.pid]
        if self.listeners:
            self.notify(("unregister", self.name, entry.key, entry.pid))

    def remove_own(self, pid: Pid, key: Any, only: Callable[[Any], Any] | None = None) -> None:
        """Remove ``pid``'s entries for ``key`` (only those whose value ``only`` accepts)."""
        of_key = self.by_key.get(key)
        if not of_key:
            return
        for seq, entry in list(of_key.items()):
            if entry.pid == pid and (only is None or only(entry.value)):
                self.remove(seq, entry)

    def notify(self, message: tuple[Any, ...]) -> None:
        names = self.node.names
        for listener in self.listeners:
            proc = names.get(listener)
            if proc is not None:  # a listener that is not running misses the news
                deliver(proc, message)

    def process_exited(self, pid: Pid, reason: Any) -> None:
        # An exit hook: runs in the exiting process's greenlet and must not block.
        self.hooked.discard(pid)
        if not self.running:
            return
        for seq, entry in list(self.by_pid.get(pid, {}).items()):
            self.remove(seq, entry)

    def owner_exited(self, pid: Pid, reason: Any) -> None:
        self.running = False
        registries = _registries(self.node)
        if registries.get(self.name) is self:
            del registries[self.name]
        self.entries.clear()
        self.by_key.clear()
        self.by_pid.clear()
        self.meta.clear()


_KEY = "beamlike.registry"  # node.extensions: the running registries, by name


def _registries(node: Node) -> dict[str, _State]:
    """The running registries of ``node``, by name (made on first use)."""
    registries: dict[str, _State] | None = node.extensions.get(_KEY)
    if registries is None:
        registries = node.extensions[_KEY] = {}
    return registries


def _state(registry: Any, what: str) -> _State:
    if registry.__class__ is not str:
        raise BadArgumentType(
            f"{what} expects a registry name (str); got {registry!r} "
            f"(of type {type(registry).__name__})"
        )
    node = current_node()
    state = _registries(node).get(registry)
    if state is None:
        raise BadArgument(
            f"{what}: registry {registry!r} is not running on node {node.name!r} "
            f"(start it with Registry.start_link({registry!r}, keys=...); "
            "a registry is gone once its owner process exited)"
        )
    return state


def _check_key(key: Any, what: str) -> None:
    try:
        hash(key)
    except TypeError:
        raise BadArgumentType(
            f"{what}: a registry key must be hashable; got {key!r} (of type {type(key).__name__})"
        ) from None


def _check_kind(keys: Any, what: str) -> None:
    if keys.__class__ is not str or keys not in _KINDS:
        raise BadArgument(f"{what}: keys must be one of 'unique', 'duplicate'; got {keys!r}")


def _check_pid(pid: Any, what: str) -> Pid:
    if pid.__class__ is not Pid:
        raise BadArgumentType(f"{what} expects a Pid; got {pid!r} (of type {type(pid).__name__})")
    return pid  # type: ignore[no-any-return]


def _check_callable(fn: Any, what: str, optional: bool = False) -> None:
    if (fn is None and not optional) or (fn is not None and not callable(fn)):
        raise BadArgumentType(f"{what} expects a callable; got {fn!r}")


def _unique_only(state: _State, what: str) -> None:
    if state.kind != UNIQUE:
        raise BadArgument(
            f"{what} works on unique registries only; registry {state.name!r} has "
            f"keys={state.kind!r}"
        )


# -- patterns --------------------------------------------------------------------------


def _matches(pattern: Any, value: Any) -> bool:
    """Whether ``value`` matches ``pattern`` (the module docstring says how)."""
    if pattern is ANY:
        return True
    if isinstance(pattern, tuple) or isinstance(pattern, list):
        kind = tuple if isinstance(pattern, tuple) else list
        return (
            isinstance(value, kind)
            and len(value) == len(pattern)
            and all(_matches(p, v) for p, v in zip(pattern, value, strict=True))
        )
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _matches(p, value[k]) for k, p in pattern.items()
        )
    return bool(value == pattern)


def _selected(
    entries: Iterable[_Entry], pattern: Any, guard: Callable[[Any], Any] | None
) -> list[_Entry]:
    return [e for e in entries if _matches(pattern, e.value) and (guard is None or guard(e.value))]


# -- the owner process -------------------------------------------------------------------


def registry_owner() -> None:
    """The body of a registry's owner process: it only waits; its exit ends the registry."""
    while True:
        receive()  # nothing is addressed to it; whatever arrives is dropped


def _start(name: Any, keys: Any, listeners: Any, link: bool, what: str) -> Pid:
    if name.__class__ is not str:
        raise BadArgumentType(
            f"{what} expects a registry name (str); got {name!r} (of type {type(name).__name__})"
        )
    _check_kind(keys, what)
    if listeners is None:
        names: tuple[str, ...] = ()
    elif isinstance(listeners, (list, tuple)) and all(n.__class__ is str for n in listeners):
        names = tuple(listeners)
    else:
        raise BadArgumentType(
            f"{what}: listeners must be a list of registered process names (str); got {listeners!r}"
        )
    # Linked (when asked) and registered before it runs; a taken name starts nothing.
    pid: Pid = spawn_opt(registry_owner, link=link, name=name)
    node = current_node()
    state = _State(node, name, keys, pid, names)
    node.on_exit(pid, state.owner_exited)
    _registries(node)[name] = state
    return pid


# -- via names -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Via:
    """A process name that resolves through a unique registry (Elixir's
    ``{:via, Registry, {registry, key}}``).

    ``send``, ``monitor`` and (later) GenServer ``name=`` accept it. Make one with
    ``Registry.via(registry, key, value)``; ``value`` is what ``register_name`` registers
    and takes no part in equality.
    """

    registry: str
    key: Any
    value: Any = field(default=None, compare=False)

    def __repr__(self) -> str:
        if self.value is None:
            return f"Via({self.registry!r}, {self.key!r})"
        return f"Via({self.registry!r}, {self.key!r}, {self.value!r})"

    def _unique_state(self, method: str) -> _State:
        """The state of this via's unique registry; the error names ``method``."""
        registry = self.registry
        if registry.__class__ is str:
            state = _registries(current_node()).get(registry)
            if state is not None and state.kind == UNIQUE:
                return state  # the error message below is formatted only when needed
        what = f"{self!r}.{method}"
        _state(registry, what)  # raises unless the registry is running: then it is not unique
        raise BadArgument(
            f"{what}: via names work with unique registries only; registry "
            f"{registry!r} has keys='duplicate'"
        )

    def whereis_name(self) -> Pid | None:
        """The pid registered under the key, or None. Never blocks."""
        held = self._unique_state("whereis_name").by_key.get(self.key)
        return next(iter(held.values())).pid if held else None

    def register_name(self, pid: Pid) -> bool:
        """Register the live local process ``pid`` (not necessarily the caller) under
        the key with this via's value.

        Returns True, or False if the key is taken. Its entry is removed when ``pid``
        exits. Raises ``NoProcError`` if ``pid`` is not alive. Never blocks.
        """
        state = self._unique_state("register_name")
        node = state.node
        if pid.__class__ is not Pid or pid.node != node.name or node.lookup(pid) is None:
            what = f"{self!r}.register_name"
            _check_pid(pid, what)
            raise NoProcError(f"{what}: {pid!r} is not a live process of this node")
        if self.key in state.by_key:
            return False
        state.insert(self.key, pid, self.value)
        return True

    def unregister_name(self) -> None:
        """Remove the key's entry, whichever process holds it. Never blocks."""
        state = self._unique_state("unregister_name")
        for seq, entry in list(state.by_key.get(self.key, {}).items()):
            state.remove(seq, entry)


# -- the public API --------------------------------------------------------------------


class Registry:
    """Elixir's ``Registry``: the functions are static methods (``Registry.lookup(...)``).

    Every function works on the registries of the caller's node and never blocks, except
    where a callback given to it blocks.
    """

    UNIQUE = UNIQUE
    DUPLICATE = DUPLICATE

    @staticmethod
    def start_link(name: str, keys: str = UNIQUE, *, listeners: Iterable[str] | None = None) -> Pid:
        """Start the registry ``name`` with an owner process linked to the caller.

        Args:
            name: the registry's name; its owner process is registered under it.
            keys: ``"unique"`` (a key has at most one process) or ``"duplicate"``.
            listeners: names of registered processes that get
                ``("register", name, key, pid, value)`` and
                ``("unregister", name, key, pid)`` for every entry added or removed.

        Returns:
            The owner's pid. The registry is usable as soon as this returns.

        Raises:
            AlreadyRegisteredError: ``name`` is already a registered process name.
            BadArgument: ``keys`` is not ``"unique"`` or ``"duplicate"``.

        Never blocks.
        """
        return _start(name, keys, listeners, True, "Registry.start_link")

    @staticmethod
    def start(name: str, keys: str = UNIQUE, *, listeners: Iterable[str] | None = None) -> Pid:
        """As ``start_link``, but the owner is not linked to the caller. Never blocks."""
        return _start(name, keys, listeners, False, "Registry.start")

    @staticmethod
    def child_spec(
        name: str, keys: str = UNIQUE, *, listeners: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """A child spec for a supervisor: ``{"id": name, "start": (fn, args, kwargs)}``.

        Never blocks.
        """
        if name.__class__ is not str:
            raise BadArgumentType(
                f"Registry.child_spec expects a registry name (str); got {name!r}"
            )
        _check_kind(keys, "Registry.child_spec")
        kwargs: dict[str, Any] = {"keys": keys}
        if listeners is not None:
            kwargs["listeners"] = list(listeners)
        return {"id": name, "start": (Registry.start_link, (name,), kwargs)}

    @staticmethod
    def register(registry: str, key: Any, value: Any) -> None:
        """Register the calling process under ``key`` with ``value``.

        In a unique registry a key has one holder: registering a taken key (also by the
        caller itself) raises ``AlreadyRegisteredError(key, holder_pid)``. In a duplicate
        registry a process may register the same key many times. The entry is removed
        when the caller exits. Never blocks.
        """
        state = _state(registry, "Registry.register")
        _check_key(key, "Registry.register")
        state.insert(key, self_pid(), value)

    @staticmethod
    def unregister(registry: str, key: Any) -> None:
        """Remove the caller's entries for ``key`` (none: nothing happens). Never blocks."""
        state = _state(registry, "Registry.unregister")
        _check_key(key, "Registry.unregister")
        state.remove_own(self_pid(), key)

    @staticmethod
    def unregister_match(
        registry: str, key: Any, pattern: Any, guard: Callable[[Any], Any] | None = None
    ) -> None:
        """Remove the caller's entries for ``key`` whose value matches ``pattern`` (and
        ``guard``). Never blocks."""
        what = "Registry.unregister_match"
        state = _state(registry, what)
        _check_key(key, what)
        _check_callable(guard, f"{what} guard=", optional=True)
        state.remove_own(
            self_pid(),
            key,
            only=lambda v: _matches(pattern, v) and (guard is None or guard(v)),
        )

    @staticmethod
    def lookup(registry: str, key: Any) -> list[Entry]:
        """The ``(pid, value)`` entries of ``key``, in registration order. Never blocks."""
        state = _state(registry, "Registry.lookup")
        _check_key(key, "Registry.lookup")
        return [(e.pid, e.value) for e in state.by_key.get(key, {}).values()]

    @staticmethod
    def match(
        registry: str, key: Any, pattern: Any, guard: Callable[[Any], Any] | None = None
    ) -> list[Entry]:
        """The ``(pid, value)`` entries of ``key`` whose value matches ``pattern`` and for
        which ``guard(value)`` is true. Never blocks."""
        state = _state(registry, "Registry.match")
        _check_key(key, "Registry.match")
        _check_callable(guard, "Registry.match guard=", optional=True)
        found = _selected(state.by_key.get(key, {}).values(), pattern, guard)
        return [(e.pid, e.value) for e in found]

    @staticmethod
    def keys(registry: str, pid: Pid) -> list[Any]:
        """The keys ``pid`` registered, in registration order (a key registered twice in a
        duplicate registry appears twice; a dead pid has none). Never blocks."""
        state = _state(registry, "Registry.keys")
        _check_pid(pid, "Registry.keys")
        return [e.key for e in state.by_pid.get(pid, {}).values()]

    @staticmethod
    def values(registry: str, key: Any, pid: Pid) -> list[Any]:
        """The values ``pid`` registered under ``key``, in registration order. Never
        blocks."""
        state = _state(registry, "Registry.values")
        _check_key(key, "Registry.values")
        _check_pid(pid, "Registry.values")
        return [e.value for e in state.by_key.get(key, {}).values() if e.pid == pid]

    @staticmethod
    def update_value(registry: str, key: Any, fn: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Replace the caller's value under ``key`` by ``fn(old)``; return ``(new, old)``.

        Unique registries only. Raises ``BadArgument`` if the caller does not hold
        ``key``. Never blocks (unless ``fn`` does).
        """
        what = "Registry.update_value"
        state = _state(registry, what)
        _check_key(key, what)
        _check_callable(fn, what)
        _unique_only(state, what)
        me = self_pid()
        held = state.by_key.get(key)
        entry = next(iter(held.values())) if held else None
        if entry is None or entry.pid != me:
            holder = f"it is held by {entry.pid!r}" if entry is not None else "nobody holds it"
            raise BadArgument(
                f"{what}: {me!r} does not hold key {key!r} in registry {registry!r} ({holder})"
            )
        old = entry.value
        new = fn(old)
        entry.value = new
        return new, old

    @staticmethod
    def count(registry: str) -> int:
        """The number of entries in the registry. Never blocks."""
        return len(_state(registry, "Registry.count").entries)

    @staticmethod
    def count_match(
        registry: str, key: Any, pattern: Any, guard: Callable[[Any], Any] | None = None
    ) -> int:
        """The number of entries of ``key`` that ``match`` would return. Never blocks."""
        state = _state(registry, "Registry.count_match")
        _check_key(key, "Registry.count_match")
        _check_callable(guard, "Registry.count_match guard=", optional=True)
        return len(_selected(state.by_key.get(key, {}).values(), pattern, guard))

    @staticmethod
    def dispatch(registry: str, key: Any, fn: Callable[[list[Entry]], Any]) -> None:
        """Call ``fn`` with the ``(pid, value)`` entries of ``key``, in the caller; not at
        all if ``key`` has none. Never blocks (unless ``fn`` does)."""
        state = _state(registry, "Registry.dispatch")
        _check_key(key, "Registry.dispatch")
        _check_callable(fn, "Registry.dispatch")
        entries = [(e.pid, e.value) for e in state.by_key.get(key, {}).values()]
        if entries:
            fn(entries)

    @staticmethod
    def select(registry: str, where: Callable[[Any, Pid, Any], Any]) -> list[tuple[Any, Pid, Any]]:
        """The ``(key, pid, value)`` of every entry for which ``where(key, pid, value)``
        is true, in registration order. Never blocks."""
        state = _state(registry, "Registry.select")
        _check_callable(where, "Registry.select")
        return [
            (e.key, e.pid, e.value)
            for e in list(state.entries.values())
            if where(e.key, e.pid, e.value)
        ]

    @staticmethod
    def meta(registry: str, key: Any, default: Any = None) -> Any:
        """The registry's metadata under ``key``, or ``default``. Never blocks."""
        state = _state(registry, "Registry.meta")
        _check_key(key, "Registry.meta")
        return state.meta.get(key, default)

    @staticmethod
    def put_meta(registry: str, key: Any, value: Any) -> None:
        """Store ``value`` as the registry's metadata under ``key``. Never blocks."""
        state = _state(registry, "Registry.put_meta")
        _check_key(key, "Registry.put_meta")
        state.meta[key] = value

    @staticmethod
    def delete_meta(registry: str, key: Any) -> None:
        """Remove the registry's metadata under ``key``, if any. Never blocks."""
        state = _state(registry, "Registry.delete_meta")
        _check_key(key, "Registry.delete_meta")
        state.meta.pop(key, None)

    @staticmethod
    def via(registry: str, key: Any, value: Any = None) -> Via:
        """A via name for ``key`` in the unique registry ``registry``.

        The registry need not be running yet; if it is and has duplicate keys, this
        raises ``BadArgument`` at once. Never blocks.
        """
        if registry.__class__ is not str:
            raise BadArgumentType(f"Registry.via expects a registry name (str); got {registry!r}")
        _check_key(key, "Registry.via")
        state = _registries(current_node()).get(registry)
        if state is not None and state.kind != UNIQUE:
            raise BadArgument(
                f"Registry.via: via names work with unique registries only; registry "
                f"{registry!r} has keys='duplicate'"
            )
        return Via(registry, key, value)
