"""JSON Schema from type hints and docstrings, and the validation of a model's arguments."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, TypedDict

import pytest

from elixirchain.errors import InvalidToolArguments
from elixirchain.tools import tool, validate_arguments
from elixirchain.tools.schema import bind_value, parse_docstring, schema_for_hint

# --- hints --------------------------------------------------------------------------


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    """A point on the plane.

    Attributes:
        x: horizontal position.
        y: vertical position.
    """

    x: float
    y: float = 0.0
    tags: list[str] = field(default_factory=list)


class Options(TypedDict, total=False):
    verbose: bool
    depth: int


class Required(TypedDict):
    name: str


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (list, {"type": "array"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (Sequence[float], {"type": "array", "items": {"type": "number"}}),
        (dict, {"type": "object"}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Unit, {"type": "string", "enum": ["c", "f"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Optional[str], {"anyOf": [{"type": "string"}, {"type": "null"}]}),  # noqa: UP045
        (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            list[dict[str, bool]],
            {
                "type": "array",
                "items": {"type": "object", "additionalProperties": {"type": "boolean"}},
            },
        ),
    ],
)
def test_each_supported_hint_has_its_json_schema(hint: Any, schema: dict[str, Any]) -> None:
    assert schema_for_hint(hint) == schema


def test_a_dataclass_becomes_a_nested_object_with_its_required_fields_and_descriptions() -> None:
    assert schema_for_hint(Point) == {
        "type": "object",
        "properties": {
            "x": {"type": "number", "description": "horizontal position."},
            "y": {"type": "number", "description": "vertical position."},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["x"],
        "additionalProperties": False,
    }


def test_a_typeddict_becomes_a_nested_object_with_its_required_keys() -> None:
    assert schema_for_hint(Options) == {
        "type": "object",
        "properties": {"verbose": {"type": "boolean"}, "depth": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert schema_for_hint(Required) == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }


def test_a_hint_without_json_schema_is_refused_naming_the_parameter() -> None:
    with pytest.raises(TypeError) as info:

        @tool
        def bad(when: complex) -> None:
            """Bad."""

    assert str(info.value).startswith(
        "tool 'bad'.when: type hint <class 'complex'> cannot be expressed as JSON Schema; "
        "supported: str, int, float, bool, list[T]"
    )


def test_dict_keys_must_be_strings() -> None:
    with pytest.raises(TypeError, match=r"dict keys must be str to be a JSON object"):
        schema_for_hint(dict[int, str], "p")


def test_star_args_and_kwargs_are_refused() -> None:
    with pytest.raises(TypeError, match=r"^tool 'f': \*args and \*\*kwargs cannot be described"):

        @tool
        def f(*values: int) -> None:
            """F."""


# --- functions ----------------------------------------------------------------------


def test_a_function_schema_has_descriptions_defaults_and_required_parameters() -> None:
    @tool
    def forecast(
        city: str,
        days: int = 3,
        unit: Unit = Unit.CELSIUS,
        where: Point | None = None,
        context: Any = None,
    ) -> dict[str, Any]:
        """Weather forecast for a city.

        Looks it up in a table.

        Args:
            city: the city's name,
                as the model spells it.
            days (int): how many days ahead.

        Returns:
            the forecast.
        """
        return {}

    assert forecast.description == "Weather forecast for a city."
    assert forecast.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city's name, as the model spells it."},
            "days": {"type": "integer", "description": "how many days ahead.", "default": 3},
            "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
            "where": {"anyOf": [schema_for_hint(Point), {"type": "null"}], "default": None},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_an_optional_parameter_without_default_stays_required() -> None:
    @tool
    def f(x: int | None) -> None:
        """F."""

    assert f.parameters["required"] == ["x"]


def test_the_docstring_summary_spans_its_first_paragraph_only() -> None:
    summary, args = parse_docstring(
        """Adds two numbers
        and returns the sum.

        More words.

        Args:
            a: first.
            b: second,
              continued.
        Raises:
            ValueError: never.
        """
    )
    assert summary == "Adds two numbers and returns the sum."
    assert args == {"a": "first.", "b": "second, continued."}


def test_no_docstring_gives_empty_descriptions() -> None:
    assert parse_docstring(None) == ("", {})


# --- validation ---------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "x": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number"},
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "point": {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x"],
            "additionalProperties": False,
        },
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "flag": {"type": "boolean"},
    },
    "required": ["x"],
    "additionalProperties": False,
}


def _problems(args: Any, schema: dict[str, Any] = SCHEMA) -> str:
    with pytest.raises(InvalidToolArguments) as info:
        validate_arguments(schema, args)
    return str(info.value)


def test_valid_arguments_are_returned_with_ints_made_floats_where_numbers_are_expected() -> None:
    checked = validate_arguments(
        SCHEMA,
        {"x": 3, "ratio": 2, "point": {"x": 1, "y": 2.5}, "maybe": None, "tags": ["a"]},
    )
    assert checked == {
        "x": 3,
        "ratio": 2.0,
        "point": {"x": 1.0, "y": 2.5},
        "maybe": None,
        "tags": ["a"],
    }
    assert type(checked["ratio"]) is float
    assert type(checked["point"]["x"]) is float
    assert type(checked["x"]) is int


def test_a_wrong_type_is_reported_with_value_and_type() -> None:
    assert _problems({"x": "abc"}) == "argument 'x': expected integer, got 'abc' (str)"


def test_nothing_is_coerced_but_int_to_float() -> None:
    assert _problems({"x": 2.0}) == "argument 'x': expected integer, got 2.0 (float)"
    assert _problems({"x": 1, "name": 12}) == "argument 'name': expected string, got 12 (int)"


def test_a_bool_is_not_an_integer() -> None:
    assert _problems({"x": True}) == "argument 'x': expected integer, got True (bool)"
    assert _problems({"x": 1, "flag": 1}) == "argument 'flag': expected boolean, got 1 (int)"


def test_missing_and_unexpected_arguments_are_reported() -> None:
    assert _problems({"y": 1}) == "missing required argument 'x'; unexpected argument 'y'"


def test_every_problem_is_listed() -> None:
    assert _problems(
        {"x": 0, "name": "a", "unit": "k", "tags": ["ok", 3], "point": {"y": "up", "z": 1}}
    ) == (
        "argument 'x': expected at least 1, got 0; "
        "argument 'name': expected at least 2 characters, got 1; "
        "argument 'unit': expected one of 'c', 'f', got 'k' (str); "
        "argument 'tags[1]': expected string, got 3 (int); "
        "missing required argument 'point.x'; "
        "argument 'point.y': expected number, got 'up' (str); "
        "unexpected argument 'point.z'"
    )


def test_maximum_and_max_length_are_checked() -> None:
    assert _problems({"x": 11, "name": "toolong"}) == (
        "argument 'x': expected at most 10, got 11; "
        "argument 'name': expected at most 5 characters, got 7"
    )


def test_any_of_reports_the_alternatives() -> None:
    assert _problems({"x": 1, "maybe": "no"}) == (
        "argument 'maybe': expected integer or null, got 'no' (str)"
    )


def test_any_of_points_inside_the_alternative_of_the_right_kind() -> None:
    schema = {
        "type": "object",
        "properties": {"p": schema_for_hint(Point | None)},
    }
    assert _problems({"p": {"x": "far"}}, schema) == (
        "argument 'p.x': expected number, got 'far' (str)"
    )


def test_arguments_that_are_not_an_object_are_refused() -> None:
    assert _problems([1, 2]) == "the arguments must be a JSON object, got [1, 2] (list)"


def test_additional_properties_may_be_a_schema() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert validate_arguments(schema, {"a": 1}) == {"a": 1}
    assert _problems({"a": "1"}, schema) == "argument 'a': expected integer, got '1' (str)"


def test_long_values_are_shortened_in_messages() -> None:
    message = _problems({"x": "y" * 100})
    assert message == f"argument 'x': expected integer, got '{'y' * 56}... (str)"


def test_an_enum_value_must_match_in_kind_too() -> None:
    schema = {"type": "object", "properties": {"n": {"enum": [1, 2]}}}
    assert validate_arguments(schema, {"n": 1}) == {"n": 1}
    assert _problems({"n": True}, schema) == "argument 'n': expected one of 1, 2, got True (bool)"


# --- binding ------------------------------------------------------------------------


def test_validated_values_are_bound_to_enums_and_dataclasses() -> None:
    assert bind_value(Unit, "f") is Unit.FAHRENHEIT
    assert bind_value(Point | None, {"x": 1.0, "tags": ["a"]}) == Point(1.0, 0.0, ["a"])
    assert bind_value(list[Unit], ["c", "f"]) == [Unit.CELSIUS, Unit.FAHRENHEIT]
    assert bind_value(dict[str, Level], {"a": 2}) == {"a": Level.HIGH}
    assert bind_value(tuple[int, ...], [1, 2]) == (1, 2)
    assert bind_value(int | None, None) is None
