"""Receive patterns, compiled once into matcher functions.

A pattern is one of:

- ``ANY``: matches every message;
- a type (class): matches instances of it (``isinstance``);
- a callable that is not a class: a predicate, called with the message (one that
  raises an ``Exception`` does not match, as a failing Erlang guard);
- a tuple or list of patterns: a message of the same kind (tuple or list) and length
  whose elements match element-wise;
- a dict of patterns: a dict message that has at least those keys, with matching values;
- a dataclass instance whose fields hold patterns: a message of exactly that dataclass,
  field-wise (so ``Down(ref, ANY, ANY)`` matches the Down for ``ref``);
- anything else hashable: a literal, compared with ``==`` (Python equality, so ``1``
  matches ``1.0`` and ``True``; Erlang's ``=:=`` is stricter).

Sets, iterators, generators and other unhashable objects are rejected with
``BadArgument``: they are almost always a mistake.

Every matcher returns a real ``bool``, which lets the mailbox find the first match with
``operator.indexOf(map(matcher, mailbox), True)``: the loop runs in C.

Literal, tuple and list patterns go further: they compile into a *probe* that the mailbox
finds with ``operator.indexOf(mailbox, probe)``, a loop entirely in C. A tuple pattern's
probe is an instance of a tuple *subclass* of the same shape, whose wildcard and
predicate positions hold objects with an ``__eq__`` that answers for the pattern.
Because its class is a subclass of ``tuple``, CPython compares it *first* (probe on the
left) with every tuple message, using tuple's own C comparison: a message of another
length, or whose literal positions differ, is rejected without running Python code, and
only candidates reach the wildcard's ``__eq__``. Skipping 10,000 unrelated messages
costs a few hundred microseconds.

One corner: a message of a tuple *subclass* (a namedtuple) is compared from its side,
so an element whose ``__eq__`` returns False (rather than NotImplemented) for unknown
types does not match ``ANY`` or a type there. Built-in types and dataclasses are fine.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from beamlike.errors import BadArgument

__all__ = ["ANY", "Compiled", "Matcher", "compile_pattern", "compile_patterns", "match_all"]

Matcher = Callable[[Any], bool]


class _Any:
    """The wildcard pattern. There is one instance, ``ANY``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


ANY: Any = _Any()


class _Wildcard:
    """Inside a probe: equal to everything (``ANY``)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __repr__(self) -> str:
        return "ANY"


class _Matches:
    """Inside a probe: equal to what its matcher accepts (a type, predicate...)."""

    __slots__ = ("matcher", "pattern")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, matcher: Matcher, pattern: Any) -> None:
        self.matcher = matcher
        self.pattern = pattern

    def __eq__(self, other: object) -> bool:
        return self.matcher(other)

    def __ne__(self, other: object) -> bool:
        return not self.matcher(other)

    def __repr__(self) -> str:
        return repr(self.pattern)


_WILDCARD = _Wildcard()


class _TupleProbe(tuple):  # type: ignore[type-arg]
    """A tuple pattern's probe; see the module docstring."""

    __slots__ = ()


class _ListProbe(list):  # type: ignore[type-arg]
    """A list pattern's probe; see the module docstring."""

    __slots__ = ()


def _probe(pattern: Any) -> Any:
    """The object that compares equal (probe on the left) to what ``pattern`` matches."""
    kind = _kind(pattern)
    if kind == "any":
        return _WILDCARD
    if kind == "literal":
        return pattern
    if kind == "sequence":
        probe_class = _TupleProbe if pattern.__class__ is tuple else _ListProbe
        return probe_class(_probe(p) for p in pattern)
    return _Matches(compile_pattern(pattern), pattern)


def match_all(message: Any) -> bool:
    """The matcher of ``ANY``."""
    return True


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (of type {type(value).__name__})"


def _kind(pattern: Any) -> str:
    if pattern is ANY:
        return "any"
    if isinstance(pattern, type):
        return "type"
    cls = pattern.__class__
    if cls is tuple or cls is list:
        return "sequence"
    if cls is dict:
        return "dict"
    if dataclasses.is_dataclass(pattern):
        return "dataclass"
    if isinstance(pattern, (set, Iterator)) or hasattr(pattern, "__next__"):
        return "invalid"
    if callable(pattern):
        return "predicate"
    if isinstance(pattern, Hashable):
        try:
            hash(pattern)
        except TypeError:
            return "invalid"
        return "literal"
    return "invalid"


def compile_pattern(pattern: Any) -> Matcher:
    """Compile one pattern into a matcher. Raises ``BadArgument`` for an invalid one.

    Never blocks.
    """
    kind = _kind(pattern)
    if kind == "any":
        return match_all
    if kind == "literal":
        return functools.partial(operator.eq, pattern)
    if kind == "type":
        return functools.partial(_isinstance_of, pattern)
    if kind == "predicate":
        return functools.partial(_call_predicate, pattern)
    if kind == "sequence":
        return _compile_sequence(pattern)
    if kind == "dict":
        return _compile_dict(pattern)
    if kind == "dataclass":
        return _compile_dataclass(pattern)
    raise BadArgument(
        "invalid receive pattern: expected ANY, a literal, a type, a predicate, or a "
        f"tuple/list/dict/dataclass of patterns; got {_describe(pattern)}"
    )


def _isinstance_of(cls: type, message: Any) -> bool:
    return isinstance(message, cls)


def _call_predicate(predicate: Callable[[Any], Any], message: Any) -> bool:
    # As an Erlang guard that raises: no match (so ``lambda m: m > 5`` skips strings).
    try:
        return bool(predicate(message))
    except Exception:
        return False


def _compile_sequence(pattern: tuple[Any, ...] | list[Any]) -> Matcher:
    # tuple_richcompare / list_richcompare with the probe as left operand: sizes first,
    # then element by element, each probe element's __eq__ first.
    return functools.partial(operator.eq, _probe(pattern))


def _compile_dict(pattern: dict[Any, Any]) -> Matcher:
    parts = [(key, compile_pattern(value)) for key, value in pattern.items()]
    missing = object()

    def match_dict(message: Any) -> bool:
        if not isinstance(message, dict):
            return False
        for key, matcher in parts:
            value = message.get(key, missing)
            if value is missing or not matcher(value):
                return False
        return True

    return match_dict


def _compile_dataclass(pattern: Any) -> Matcher:
    cls = type(pattern)
    names = [f.name for f in dataclasses.fields(pattern)]
    values = tuple(getattr(pattern, name) for name in names)
    fields_matcher = compile_pattern(values)
    getter = operator.attrgetter(*names) if len(names) > 1 else None

    def match_dataclass(message: Any) -> bool:
        if message.__class__ is not cls:
            return False
        if getter is None:
            return fields_matcher(tuple(getattr(message, n) for n in names))
        return fields_matcher(getter(message))

    return match_dataclass


def _any_of(matchers: tuple[Matcher, ...]) -> Matcher:
    def match_any_of(message: Any) -> bool:
        for matcher in matchers:
            if matcher(message):
                return True
        return False

    return match_any_of


class Compiled:
    """The compiled patterns of one receive: how to find the first match.

    ``probes`` holds, per pattern, either ``(True, probe)`` (find it with
    ``operator.indexOf``) or ``(False, matcher)``; ``matcher`` answers for all of them.
    """

    __slots__ = ("probes", "matcher")

    def __init__(self, probes: tuple[tuple[bool, Any], ...], matcher: Matcher) -> None:
        self.probes = probes
        self.matcher = matcher


def _scanner(pattern: Any) -> tuple[bool, Any]:
    """``(True, probe)`` for a pattern ``operator.indexOf`` can find (a literal, a tuple
    or list: its matcher is ``probe ==``), else ``(False, matcher)``."""
    kind = _kind(pattern)
    if kind == "literal" or kind == "sequence":
        return (True, _probe(pattern))
    return (False, compile_pattern(pattern))


_cache: dict[Any, Compiled] = {}
_CACHE_LIMIT = 512


def compile_patterns(patterns: tuple[Any, ...]) -> Compiled:
    """Compile the patterns of one ``receive``.

    Results for hashable pattern tuples are cached. Raises ``BadArgument`` for an
    invalid pattern. Never blocks.
    """
    try:
        cached = _cache.pop(patterns, None)
    except TypeError:  # a list or dict inside: not hashable, compile every time
        cached = None
        hashable = False
    else:
        hashable = True
    if cached is not None:
        _cache[patterns] = cached  # most recently used last (dicts keep order)
        return cached
    probes = tuple(_scanner(p) for p in patterns)
    matchers = tuple(
        functools.partial(operator.eq, scanner) if is_probe else scanner
        for is_probe, scanner in probes
    )
    matcher = matchers[0] if len(matchers) == 1 else _any_of(matchers)
    compiled = Compiled(probes, matcher)
    if hashable:
        if len(_cache) >= _CACHE_LIMIT:
            # Drop the least recently used half: patterns holding a fresh reference
            # (used once) go, the hot ones of receive loops stay.
            for key in list(_cache)[: _CACHE_LIMIT // 2]:
                del _cache[key]
        _cache[patterns] = compiled
    return compiled
