"""Receive patterns, compiled once into matcher functions.

A pattern is one of:

- ``ANY``: matches every message;
- a type (class): matches instances of it (``isinstance``);
- a callable that is not a class: a predicate, called with the message;
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
``operator.indexOf(map(matcher, mailbox), True)``: the scan runs in C.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from beamlike.errors import BadArgument

__all__ = ["ANY", "Matcher", "compile_patterns", "match_all"]

Matcher = Callable[[Any], bool]


class _Any:
    """The wildcard pattern. There is one instance, ``ANY``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


ANY: Any = _Any()


def match_all(message: Any) -> bool:
    """The matcher of ``ANY``."""
    return True


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (of type {type(value).__name__})"


def _is_literal(pattern: Any) -> bool:
    return pattern is not ANY and _kind(pattern) == "literal"


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
    return bool(predicate(message))


def _compile_sequence(pattern: tuple[Any, ...] | list[Any]) -> Matcher:
    cls = pattern.__class__
    size = len(pattern)
    literal_positions = [i for i, p in enumerate(pattern) if _is_literal(p)]
    complex_parts = [
        (i, compile_pattern(p))
        for i, p in enumerate(pattern)
        if p is not ANY and i not in literal_positions
    ]
    if literal_positions:
        getter = operator.itemgetter(*literal_positions)
        expected = getter(pattern)
    else:
        getter = None
        expected = None

    if not complex_parts:
        if getter is None:

            def match_shape(message: Any) -> bool:
                return isinstance(message, cls) and len(message) == size

            return match_shape

        def match_literals(message: Any) -> bool:
            return isinstance(message, cls) and len(message) == size and getter(message) == expected

        return match_literals

    def match_sequence(message: Any) -> bool:
        if not isinstance(message, cls) or len(message) != size:
            return False
        if getter is not None and getter(message) != expected:
            return False
        for index, matcher in complex_parts:
            if not matcher(message[index]):
                return False
        return True

    return match_sequence


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
    fields_matcher = _compile_sequence(values)
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


_cache: dict[Any, Matcher] = {}
_CACHE_LIMIT = 512


def compile_patterns(patterns: tuple[Any, ...]) -> Matcher:
    """Compile the patterns of one ``receive`` into a single matcher.

    Matchers of hashable pattern tuples are cached. Raises ``BadArgument`` for an invalid
    pattern. Never blocks.
    """
    try:
        cached = _cache.get(patterns)
    except TypeError:  # a list or dict inside: not hashable, compile every time
        cached = None
        hashable = False
    else:
        hashable = True
    if cached is not None:
        return cached
    if len(patterns) == 1:
        matcher = compile_pattern(patterns[0])
    else:
        matchers = tuple(compile_pattern(p) for p in patterns)
        matcher = match_all if match_all in matchers else _any_of(matchers)
    if hashable:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[patterns] = matcher
    return matcher
