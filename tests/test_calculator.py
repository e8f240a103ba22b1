"""The calculator built-in: exact results, refusals, bounds."""

from __future__ import annotations

import math
import time

import pytest

import beamlike
from elixirchain.messages import ToolCall, ToolResult
from elixirchain.tools import Calculator, ToolBox, ToolContext, run_calls
from elixirchain.tools.calculator import MAX_LENGTH, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),  # right-associative
        ("-2 ** 2", -4),  # ** binds tighter than unary minus
        ("(-2) ** 2", 4),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("10 - 4 - 3", 3),
        ("+5", 5),
        ("2 ** -1", 0.5),
        ("1.5 * 4", 6),
        ("0.1 + 0.2", 0.1 + 0.2),
        ("2 ** 100", 2**100),
    ],
)
def test_arithmetic_follows_python_precedence(expression: str, value: float) -> None:
    assert evaluate(expression) == value


def test_a_whole_float_result_is_an_int_and_others_stay_floats() -> None:
    assert evaluate("6 / 3") == 2
    assert type(evaluate("6 / 3")) is int
    assert evaluate("10 / 4") == 2.5
    assert type(evaluate("10 / 4")) is float
    assert type(evaluate("1e300")) is float  # too large to be an exact int


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("sqrt(16)", 4),
        ("sqrt(2)", math.sqrt(2)),
        ("sin(0)", 0),
        ("cos(pi)", -1),
        ("tan(0)", 0),
        ("log(e)", 1),
        ("log(8, 2)", 3),
        ("log10(1000)", 3),
        ("exp(0)", 1),
        ("abs(-3.5)", 3.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("floor(-2.5)", -3),
        ("ceil(2.1)", 3),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("2 * pi", 2 * math.pi),
    ],
)
def test_math_functions_and_constants(expression: str, value: float) -> None:
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "x + 1",
            "unknown name 'x'; allowed constants: pi, e; allowed functions: sqrt, sin, cos, "
            "tan, log, log10, exp, abs, round, floor, ceil, min, max",
        ),
        (
            "__import__('os').system('true')",
            "only the math functions may be called, by name: sqrt, sin, cos, tan, log, log10, "
            "exp, abs, round, floor, ceil, min, max",
        ),
        (
            "__import__('os')",
            "function '__import__' is not allowed; allowed functions: sqrt, sin, cos, tan, "
            "log, log10, exp, abs, round, floor, ceil, min, max",
        ),
        (
            "eval('1')",
            "function 'eval' is not allowed; allowed functions: sqrt, sin, cos, tan, log, "
            "log10, exp, abs, round, floor, ceil, min, max",
        ),
        (
            "(1).__class__",
            "attribute access is not allowed; use numbers, + - * / // % **, parentheses, the "
            "constants pi and e, and the math functions",
        ),
        (
            "math.sqrt(4)",
            "only the math functions may be called, by name: sqrt, sin, cos, tan, log, log10, "
            "exp, abs, round, floor, ceil, min, max",
        ),
        ("'a' * 3", "only numbers are allowed, got 'a'"),
        ("True + 1", "only numbers are allowed, got True"),
        ("1j * 2", "only numbers are allowed, got 1j"),
        ("sqrt", "'sqrt' is a function: call it, e.g. sqrt(2)"),
        ("sqrt(1, 2)", "sqrt() takes 1 arguments, got 2"),
        ("min()", "min() takes 1 or more arguments, got 0"),
        ("round(x=1)", "round() takes positional numbers only"),
        (
            "1 < 2",
            "a comparison is not allowed; use numbers, + - * / // % **, parentheses, "
            "the constants pi and e, and the math functions",
        ),
        (
            "[1, 2]",
            "a list is not allowed; use numbers, + - * / // % **, parentheses, the "
            "constants pi and e, and the math functions",
        ),
        ("1 +", "invalid expression '1 +': invalid syntax"),
        ("", "the expression is empty"),
    ],
)
def test_anything_but_arithmetic_is_refused_with_a_reason(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        evaluate(expression)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero: 1 / 0"),
        ("1 // 0", "division by zero: 1 // 0"),
        ("5 % 0", "division by zero: 5 % 0"),
        ("0 ** -1", "division by zero: 0 ** -1"),
        ("1 / (2 - 2)", "division by zero: 1 / 0"),
        ("log(8, 1)", "division by zero in log()"),
    ],
)
def test_division_by_zero_is_a_clear_error(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        evaluate(expression)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "expression",
    ["10 ** 100000", "9 ** 9 ** 9", "2 ** 2 ** 64", "(10 ** 3000) * (10 ** 3000)", "7 ** 99999999"],
)
def test_huge_integer_results_are_refused_before_they_are_computed(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(
        ValueError, match=r"^the result would be too large \(more than 10000 bits\)"
    ):
        evaluate(expression)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("10.0 ** 400", "the result is too large: 10.0 ** 400"),
        ("exp(1000)", "the result of exp() is too large"),
        ("1e308 * 10", "the result is too large"),
        ("(-8) ** 0.5", "the result is not a real number"),
        ("sqrt(-1)", "sqrt(-1) is undefined (math domain error)"),
        ("log(0)", "log(0) is undefined (math domain error)"),
    ],
)
def test_overflow_and_undefined_results_are_refused(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        evaluate(expression)
    assert str(info.value) == message


def test_a_big_but_bounded_integer_is_computed_exactly() -> None:
    assert evaluate("10 ** 3000") == 10**3000
    assert evaluate("1 ** (10 ** 100)") == 1


def test_long_expressions_are_refused() -> None:
    expression = "1+" * (MAX_LENGTH // 2) + "1"
    with pytest.raises(ValueError) as info:
        evaluate(expression)
    assert (
        str(info.value) == f"the expression is too long ({len(expression)} characters; at most 500)"
    )


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        evaluate("-" * 300 + "1")
    assert str(info.value) == "the expression is nested too deeply (more than 200 levels)"


def test_a_long_sum_within_the_length_limit_is_fine() -> None:
    assert evaluate("+".join(["1"] * 150)) == 150


def test_the_calculator_tool_answers_through_the_runner_and_reports_errors() -> None:
    def main() -> tuple[ToolResult, ...]:
        calls = [
            ToolCall("a", "calculator", {"expression": "(2 + 3) * 4"}),
            ToolCall("b", "calculator", {"expression": "1 / 0"}),
            ToolCall("c", "calculator", {"expression": "__import__('os')"}),
            ToolCall("d", "calculator", {}),
        ]
        return run_calls(calls, ToolBox(["calculator"]), ToolContext())

    assert beamlike.run(main) == (
        ToolResult("a", "calculator", 20),
        ToolResult(
            "b", "calculator", "tool 'calculator' raised ValueError: division by zero: 1 / 0", True
        ),
        ToolResult(
            "c",
            "calculator",
            "tool 'calculator' raised ValueError: function '__import__' is not allowed; allowed "
            "functions: sqrt, sin, cos, tan, log, log10, exp, abs, round, floor, ceil, min, max",
            True,
        ),
        ToolResult(
            "d",
            "calculator",
            "invalid arguments for tool 'calculator': missing required argument 'expression'",
            True,
        ),
    )


def test_the_calculator_spec_describes_one_string_argument() -> None:
    spec = Calculator().spec()
    assert spec.name == "calculator"
    assert spec.parameters["required"] == ["expression"]
    assert spec.parameters["properties"]["expression"]["type"] == "string"
