"""JSON Schema for tools: made from a function's type hints, and checked against arguments.

Guarantees: ``function_schema`` turns a function's signature into the JSON Schema object
a model sees, or raises ``TypeError`` at decoration time naming the parameter whose hint
it cannot express. ``validate_arguments`` checks a model's arguments against such a
schema (the subset below) and lists every problem in one ``InvalidToolArguments``; it
coerces nothing except an int where a number is expected (which becomes a float).
``bind_value`` turns validated JSON values back into what the hints ask for (``Enum``
members, dataclasses).

=================================  ===================================================
type hint                          JSON Schema
=================================  ===================================================
``str``, ``int``, ``float``,       ``{"type": "string" | "integer" | "number" |
``bool``                           "boolean"}``
``list[T]``, ``tuple[T, ...]``,    ``{"type": "array", "items": <T>}``
``Sequence[T]``
``dict[str, T]``, ``Mapping``      ``{"type": "object", "additionalProperties": <T>}``
``Literal["a", "b"]``              ``{"type": "string", "enum": ["a", "b"]}``
an ``Enum`` subclass               ``{"type": ..., "enum": [member values]}``
``X | None``, ``Optional[X]``      ``{"anyOf": [<X>, {"type": "null"}]}``
``X | Y``                          ``{"anyOf": [<X>, <Y>]}``
a ``TypedDict``, a dataclass       a nested object (its fields; required ones listed)
``Any``, no hint                   ``{}`` (anything)
=================================  ===================================================

A parameter with a default is not required. Descriptions come from the Google-style
docstring: the summary paragraph describes the tool, the ``Args:`` section each
parameter.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from elixirchain.errors import InvalidToolArguments

__all__ = [
    "CONTEXT_PARAMETER",
    "bind_value",
    "function_schema",
    "parse_docstring",
    "schema_for_hint",
    "validate_arguments",
]

# The parameter a tool function may take to receive its ToolContext; never in the schema.
CONTEXT_PARAMETER = "context"

_SUPPORTED = (
    "str, int, float, bool, list[T], tuple[T, ...], dict[str, T], Literal[...], an Enum, "
    "Optional[T] / T | None, a union, a TypedDict, a dataclass, Any"
)

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


# -- docstrings ----------------------------------------------------------------------

_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_ARG_SECTIONS = ("args", "arguments", "parameters", "params", "attributes", "fields")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the ``Args:`` descriptions of a Google-style docstring.

    Returns ``(summary, {parameter: description})``; continuation lines are joined with
    single spaces. Never blocks.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    described: dict[str, str] = {}
    inside = False
    current: str | None = None
    entry_indent = 0
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 0 and _SECTION.match(stripped):
            inside = stripped[:-1].strip().lower() in _ARG_SECTIONS
            current = None
            continue
        if not inside or not stripped:
            continue
        if indent == 0:  # unindented text ends the section
            inside = False
            continue
        match = _ARG.match(stripped)
        if match and (current is None or indent <= entry_indent):
            current = match.group(1)
            entry_indent = indent
            described[current] = match.group(3).strip()
        elif current is not None:
            described[current] = f"{described[current]} {stripped}".strip()
    return " ".join(summary), described


# -- hints to schema -----------------------------------------------------------------


def _is_typeddict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__total__")


def _literal_schema(values: tuple[Any, ...], where: str) -> dict[str, Any]:
    for value in values:
        if value is not None and type(value) not in _SCALARS:
            raise TypeError(
                f"{where}: Literal values must be str, int, float, bool or None; got {value!r}"
            )
    kinds = {_SCALARS[type(v)] for v in values if v is not None}
    schema: dict[str, Any] = {}
    if len(kinds) == 1 and None not in values:
        schema["type"] = kinds.pop()
    schema["enum"] = list(values)
    return schema


def _object_schema(
    fields: Sequence[tuple[str, Any, bool]], where: str, descriptions: Mapping[str, str]
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, hint, is_required in fields:
        prop = schema_for_hint(hint, f"{where}.{name}")
        if descriptions.get(name):
            prop = {**prop, "description": descriptions[name]}
        properties[name] = prop
        if is_required:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _class_fields(hint: type, where: str) -> list[tuple[str, Any, bool]]:
    try:
        hints = get_type_hints(hint)
    except Exception as exc:
        raise TypeError(
            f"{where}: cannot resolve the type hints of {hint.__name__}: {exc}"
        ) from exc
    if dataclasses.is_dataclass(hint):
        return [
            (
                f.name,
                hints.get(f.name, Any),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(hint)
            if f.init
        ]
    required_keys = getattr(hint, "__required_keys__", frozenset(hints))
    return [(name, sub, name in required_keys) for name, sub in hints.items()]


def schema_for_hint(hint: Any, where: str = "parameter") -> dict[str, Any]:
    """The JSON Schema of one type hint (see the table of the module docstring).

    Raises ``TypeError`` naming ``where`` for a hint it cannot express. Never blocks.
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        return _literal_schema(args, where)
    if origin is Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        parts = [schema_for_hint(a, where) for a in options]
        if len(options) < len(args):
            parts.append({"type": "null"})
        return {"anyOf": parts}
    if origin is typing.Annotated:
        return schema_for_hint(args[0], where)
    if (
        hint in (list, tuple)
        or origin in (list, Sequence)
        or (origin is tuple and (not args or (len(args) == 2 and args[1] is Ellipsis)))
    ):
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = schema_for_hint(args[0], f"{where}[]")
        return schema
    if hint in (dict, Mapping) or origin in (dict, Mapping):
        schema = {"type": "object"}
        if args:
            if args[0] is not str:
                raise TypeError(f"{where}: dict keys must be str to be a JSON object; got {hint!r}")
            schema["additionalProperties"] = schema_for_hint(args[1], f"{where}{{}}")
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return _literal_schema(tuple(values), where)
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or _is_typeddict(hint)):
        _, described = parse_docstring(hint.__doc__)
        return _object_schema(_class_fields(hint, where), where, described)
    raise TypeError(
        f"{where}: type hint {hint!r} cannot be expressed as JSON Schema; supported: {_SUPPORTED}"
    )


def function_schema(fn: Callable[..., Any], where: str) -> tuple[str, dict[str, Any]]:
    """``(summary, parameters schema)`` of a tool function.

    ``where`` names the tool in errors. A parameter named ``context`` is left out (it
    receives the ``ToolContext``). Raises ``TypeError`` for ``*args``/``**kwargs``,
    positional-only parameters, and hints it cannot express. Never blocks.
    """
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{where}: cannot resolve the type hints: {exc}") from exc
    summary, described = parse_docstring(fn.__doc__)
    fields: list[tuple[str, Any, bool]] = []
    defaults: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name == CONTEXT_PARAMETER:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"{where}: *args and **kwargs cannot be described to a model; "
                f"name each parameter (got {param})"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(
                f"{where}: parameter {param.name!r} is positional-only; tools receive "
                "keyword arguments"
            )
        fields.append((param.name, hints.get(param.name, Any), param.default is param.empty))
        if param.default is not param.empty:
            defaults[param.name] = param.default
    schema = _object_schema(fields, where, described)
    for name, default in defaults.items():
        if default is None or type(default) in _SCALARS:
            schema["properties"][name] = {**schema["properties"][name], "default": default}
        elif isinstance(default, enum.Enum):
            schema["properties"][name] = {
                **schema["properties"][name],
                "default": default.value,
            }
    return summary, schema


# -- validation ----------------------------------------------------------------------

_PYTHON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _label(path: str) -> str:
    return f"argument {path!r}" if path else "the arguments"


def _expected(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind is not None:
        return str(kind)
    if "anyOf" in schema:
        return " or ".join(_expected(part) for part in schema["anyOf"])
    return "a value"


def _has_type(schema: Mapping[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    if kind is None:
        return False
    kinds = kind if isinstance(kind, list) else [kind]
    return any(_PYTHON_TYPES.get(k, lambda v: True)(value) for k in kinds)


def _same(value: Any, option: Any) -> bool:
    return bool(value == option) and isinstance(value, bool) == isinstance(option, bool)


def _check(schema: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> Any:
    """Check ``value``; append problems; return it with ints made floats for numbers."""
    if "anyOf" in schema:
        near: list[list[str]] = []  # problems of the parts whose type the value has
        for part in schema["anyOf"]:
            found: list[str] = []
            result = _check(part, value, path, found)
            if not found:
                return result
            if _has_type(part, value):
                near.append(found)
        if len(near) == 1:  # the value is of the right kind but wrong inside: say where
            problems.extend(near[0])
        else:
            problems.append(f"{_label(path)}: expected {_expected(schema)}, got {_show(value)}")
        return value
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        matched = [k for k in kinds if _PYTHON_TYPES.get(k, lambda v: True)(value)]
        if not matched:
            problems.append(f"{_label(path)}: expected {_expected(schema)}, got {_show(value)}")
            return value
        if matched == ["number"] and isinstance(value, int):
            value = float(value)
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        problems.append(f"{_label(path)}: expected {_expected(schema)}, got {_show(value)}")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{_label(path)}: expected at least {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{_label(path)}: expected at most {schema['maximum']}, got {value}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(
                f"{_label(path)}: expected at least {schema['minLength']} characters, "
                f"got {len(value)}"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(
                f"{_label(path)}: expected at most {schema['maxLength']} characters, "
                f"got {len(value)}"
            )
    if isinstance(value, (list, tuple)) and "items" in schema:
        value = [
            _check(schema["items"], item, f"{path}[{index}]", problems)
            for index, item in enumerate(value)
        ]
    if isinstance(value, Mapping) and (kind == "object" or "properties" in schema):
        value = _check_object(schema, value, path, problems)
    return value


def _check_object(
    schema: Mapping[str, Any], value: Mapping[str, Any], path: str, problems: list[str]
) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    checked: dict[str, Any] = {}
    prefix = f"{path}." if path else ""
    for name in schema.get("required", ()):
        if name not in value:
            problems.append(f"missing required argument {prefix + name!r}")
    for name, item in value.items():
        if not isinstance(name, str):
            problems.append(f"{_label(path)}: keys must be strings, got {_show(name)}")
            continue
        if name in properties:
            checked[name] = _check(properties[name], item, prefix + name, problems)
        elif extra is False:
            problems.append(f"unexpected argument {prefix + name!r}")
        elif isinstance(extra, Mapping):
            checked[name] = _check(extra, item, prefix + name, problems)
        else:
            checked[name] = item
    return checked


def validate_arguments(schema: Mapping[str, Any], args: Any) -> dict[str, Any]:
    """Check ``args`` against ``schema`` (a JSON Schema object); return the checked copy.

    Supports ``type`` (one or a list), ``properties``, ``required``,
    ``additionalProperties`` (bool or schema), ``enum``, ``items``, ``minimum`` /
    ``maximum``, ``minLength`` / ``maxLength``, nested objects and ``anyOf``. Coerces
    nothing, except that an int given for a ``number`` becomes a float. Raises
    ``InvalidToolArguments`` listing every problem, separated by ``"; "``, e.g.
    ``argument 'x': expected integer, got 'abc' (str)``. Never blocks.
    """
    if not isinstance(schema, Mapping):
        raise TypeError(f"validate_arguments expects a JSON Schema mapping; got {_show(schema)}")
    if not isinstance(args, Mapping):
        raise InvalidToolArguments(f"the arguments must be a JSON object, got {_show(args)}")
    problems: list[str] = []
    checked = _check_object(schema, args, "", problems)
    if problems:
        raise InvalidToolArguments("; ".join(problems))
    return checked


# -- binding -------------------------------------------------------------------------


def bind_value(hint: Any, value: Any) -> Any:
    """Turn a validated JSON value into what ``hint`` asks for. Never blocks.

    ``Enum`` hints get their member, dataclass hints an instance; lists, tuples, dicts,
    unions and TypedDicts are converted item by item. Everything else is returned as is.
    """
    if value is None or hint is Any:
        return value
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is typing.Annotated:
        return bind_value(args[0], value)
    if origin is Union or origin is types.UnionType:
        for option in args:
            if option is type(None):
                continue
            try:
                return bind_value(option, value)
            except (TypeError, ValueError):
                continue
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        hints = get_type_hints(hint)
        return hint(**{k: bind_value(hints.get(k, Any), v) for k, v in value.items()})
    if _is_typeddict(hint) and isinstance(value, Mapping):
        hints = get_type_hints(hint)
        return {k: bind_value(hints.get(k, Any), v) for k, v in value.items()}
    if origin in (list, Sequence) and args and isinstance(value, (list, tuple)):
        return [bind_value(args[0], item) for item in value]
    if origin is tuple and args and isinstance(value, (list, tuple)):
        return tuple(bind_value(args[0], item) for item in value)
    if hint is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (dict, Mapping) and len(args) == 2 and isinstance(value, Mapping):
        return {k: bind_value(args[1], v) for k, v in value.items()}
    return value
