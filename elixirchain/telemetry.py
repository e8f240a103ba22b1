"""Telemetry: named events, handlers attached to them, and spans (Erlang's ``:telemetry``).

Guarantees:

- ``execute`` never blocks by itself and never raises: handlers run synchronously, in the
  calling process, in the order they were attached. A handler that raises is detached
  (and the failure logged on the ``"elixirchain.telemetry"`` logger); the caller and the
  other handlers go on. A handler should be quick: to do slow work, send a message to a
  process of your own from the handler.
- Handlers belong to the beamlike ``Node`` (``node.extensions["elixirchain.telemetry"]``),
  not to a module-level registry: a fresh node starts with none.
- An event name is a non-empty tuple of strings, matched exactly (no prefixes, no
  wildcards), as in Erlang. Measurements are numbers; metadata is anything.

Example::

    from elixirchain import telemetry

    def log_call(event, measurements, metadata):
        print(event, measurements["duration"], metadata["model"])

    telemetry.attach("log-calls", ("elixirchain", "provider", "call", "stop"), log_call)
    with telemetry.span(("my_app", "work"), {"job": 7}):
        ...                                # emits my_app.work.start and .stop

The events elixirchain emits are listed in ``docs/telemetry.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import beamlike
from elixirchain.errors import ConfigError

__all__ = [
    "EXTENSION",
    "Event",
    "Handler",
    "HandlerFunction",
    "Span",
    "attach",
    "detach",
    "execute",
    "list_handlers",
    "span",
]

log = logging.getLogger("elixirchain.telemetry")

EXTENSION = "elixirchain.telemetry"

Event = tuple[str, ...]
HandlerFunction = Callable[[Event, Mapping[str, Any], Mapping[str, Any]], None]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Handler:
    """One attachment, as ``list_handlers`` reports it: handler ``id`` on ``event``."""

    id: str
    event: Event
    function: HandlerFunction


class _Registry:
    """The handlers of one node: by id, and by event for dispatch."""

    __slots__ = ("by_id", "by_event")

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[tuple[Event, ...], HandlerFunction]] = {}
        # event -> handlers in attach order; replaced (never mutated) so that a dispatch
        # in progress keeps iterating the list it started with.
        self.by_event: dict[Event, tuple[tuple[str, HandlerFunction], ...]] = {}


def _registry() -> _Registry:
    extensions = beamlike.node.current().extensions
    registry = extensions.get(EXTENSION)
    if registry is None:
        registry = extensions[EXTENSION] = _Registry()
    return registry  # type: ignore[no-any-return]


def _check_event(event: Any, what: str) -> Event:
    if (
        event.__class__ is not tuple
        or not event
        or not all(part.__class__ is str for part in event)
    ):
        raise ConfigError(
            f"{what} must be a non-empty tuple of str, such as "
            f"('elixirchain', 'provider', 'call', 'stop'); got {event!r}"
        )
    return event  # type: ignore[no-any-return]


def _check_events(events: Any) -> tuple[Event, ...]:
    if events.__class__ is tuple and events and all(p.__class__ is str for p in events):
        return (events,)
    if isinstance(events, (tuple, list)) and events:
        checked = tuple(_check_event(e, "each event") for e in events)
        return tuple(dict.fromkeys(checked))  # duplicates attach once
    raise ConfigError(
        "attach expects an event (a non-empty tuple of str) or a non-empty list of events; "
        f"got {events!r}"
    )


def attach(
    handler_id: str,
    event: Event | Sequence[Event],
    handler: HandlerFunction,
) -> None:
    """Attach ``handler`` under ``handler_id`` to one event or to each of a list of events.

    ``handler(event, measurements, metadata)`` then runs, in the emitting process, each
    time one of those events is executed. Never blocks.

    Raises:
        ConfigError: (a ``ValueError``) ``handler_id`` is already attached, is not a
            ``str``, an event is not a non-empty tuple of ``str``, or ``handler`` is not
            callable.
    """
    if handler_id.__class__ is not str:
        raise ConfigError(f"a handler id must be a str; got {handler_id!r}")
    events = _check_events(event)
    if not callable(handler):
        raise ConfigError(f"a telemetry handler must be callable; got {handler!r}")
    registry = _registry()
    if handler_id in registry.by_id:
        raise ConfigError(f"a telemetry handler with id {handler_id!r} is already attached")
    registry.by_id[handler_id] = (events, handler)
    for name in events:
        registry.by_event[name] = (*registry.by_event.get(name, ()), (handler_id, handler))


def detach(handler_id: str) -> bool:
    """Detach the handler ``handler_id`` from all its events.

    Returns True if it was attached, False if not. Never blocks.
    """
    registry = _registry()
    entry = registry.by_id.pop(handler_id, None)
    if entry is None:
        return False
    for name in entry[0]:
        left = tuple(h for h in registry.by_event.get(name, ()) if h[0] != handler_id)
        if left:
            registry.by_event[name] = left
        else:
            registry.by_event.pop(name, None)
    return True


def execute(
    event: Event,
    measurements: Mapping[str, float],
    metadata: Mapping[str, Any] = _EMPTY,
) -> None:
    """Emit ``event``: run every handler attached to it with ``measurements`` and
    ``metadata``.

    Never blocks (handlers run synchronously in the caller and should be quick); never
    raises because of a handler: one that raises is detached and logged.

    Raises:
        ConfigError: ``event`` is not a non-empty tuple of ``str`` (the emitter's bug).
    """
    registry = _registry()
    handlers = registry.by_event.get(event)
    if handlers is None:
        if event.__class__ is not tuple:
            _check_event(event, "a telemetry event")
        return
    for handler_id, function in handlers:
        try:
            function(event, measurements, metadata)
        except Exception as exc:
            if registry.by_id.get(handler_id, (None, None))[1] is function:
                detach(handler_id)
            log.error(
                "telemetry handler %r raised on event %r and was detached: %r",
                handler_id,
                event,
                exc,
                exc_info=exc,
            )


def list_handlers(prefix: Event = ()) -> list[Handler]:
    """The attachments whose event starts with ``prefix`` (all of them for ``()``), one
    ``Handler`` per (handler, event), in attach order. Never blocks."""
    if prefix.__class__ is not tuple or not all(p.__class__ is str for p in prefix):
        raise ConfigError(f"list_handlers prefix must be a tuple of str; got {prefix!r}")
    size = len(prefix)
    return [
        Handler(handler_id, name, function)
        for handler_id, (events, function) in _registry().by_id.items()
        for name in events
        if name[:size] == prefix
    ]


@dataclass(slots=True)
class Span:
    """What the body of ``span`` may add to its stop event: extra ``measurements`` and
    ``metadata`` (merged over the start metadata)."""

    measurements: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@contextmanager
def span(event_prefix: Event, metadata: Mapping[str, Any] = _EMPTY) -> Iterator[Span]:
    """Emit ``prefix + ("start",)`` now and ``prefix + ("stop",)`` when the block ends,
    or ``prefix + ("exception",)`` when it raises (the exception is re-raised).

    Measurements: start ``{"system_time": time.time(), "monotonic_time": ...}``; stop
    and exception ``{"duration": seconds}``. The exception event's metadata adds
    ``kind`` (the exception's class name) and ``reason`` (the exception). The block may
    add stop measurements and metadata through the ``Span`` it is given::

        with telemetry.span(("app", "query"), {"table": "users"}) as s:
            rows = run_query()
            s.measurements["rows"] = len(rows)

    Blocks while the block runs; the events themselves never block.
    """
    _check_event(event_prefix, "a span's event prefix")
    meta = dict(metadata)
    started = time.monotonic()
    execute((*event_prefix, "start"), {"system_time": time.time(), "monotonic_time": started}, meta)
    extra = Span()
    try:
        yield extra
    except BaseException as exc:
        duration = time.monotonic() - started
        execute(
            (*event_prefix, "exception"),
            {"duration": duration},
            {**meta, **extra.metadata, "kind": type(exc).__name__, "reason": exc},
        )
        raise
    duration = time.monotonic() - started
    execute(
        (*event_prefix, "stop"),
        {"duration": duration, **extra.measurements},
        {**meta, **extra.metadata},
    )
