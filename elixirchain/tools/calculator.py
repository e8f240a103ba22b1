"""The ``calculator`` built-in tool: safe arithmetic on an expression a model wrote.

Guarantees: ``evaluate`` never runs the model's text as Python. It parses it with
``ast.parse(..., mode="eval")`` and walks the tree itself, accepting only numbers
(ints and floats), ``+ - * / // % **``, unary ``+``/``-``, parentheses, the constants
``pi`` and ``e``, and calls of the math functions in ``FUNCTIONS``. Everything else (names,
attributes, subscripts, strings, other calls, comparisons, lambdas) is refused with a
``ValueError`` that says what was not allowed.

It is bounded, so a hostile expression cannot exhaust time or memory: at most
``MAX_LENGTH`` characters, ``MAX_DEPTH`` levels of nesting, and no integer result larger
than ``MAX_BITS`` bits; a power or product that would exceed it (``10**100000``,
``9**9**9``) is refused *before* it is computed, from the operands' sizes. Division by
zero and results that are too large for a float or not real (``(-8) ** 0.5``) are
refused with a clear message too. A float result that is a whole number is returned as
an int (``6/3`` gives ``2``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from elixirchain.tools.base import Tool, ToolContext

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_BITS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Calculator",
    "evaluate",
]

MAX_LENGTH = 500
MAX_DEPTH = 200  # a sum of 200 terms is a chain 200 deep
MAX_BITS = 10_000  # about 3,000 decimal digits

Number = int | float

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, float):
        if not ndigits.is_integer():
            raise ValueError(f"round() needs a whole number of digits; got {ndigits!r}")
        ndigits = int(ndigits)
    return round(x, ndigits)


# name -> (function, fewest arguments, most arguments or None for any number)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "sqrt": (math.sqrt, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1),
    "exp": (math.exp, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "min": (min, 1, None),
    "max": (max, 1, None),
}

# operator -> (function, symbol)
_BINARY: dict[type[ast.operator], tuple[Callable[[Any, Any], Any], str]] = {
    ast.Add: (operator.add, "+"),
    ast.Sub: (operator.sub, "-"),
    ast.Mult: (operator.mul, "*"),
    ast.Div: (operator.truediv, "/"),
    ast.FloorDiv: (operator.floordiv, "//"),
    ast.Mod: (operator.mod, "%"),
    ast.Pow: (operator.pow, "**"),
}

_TOO_LARGE = f"the result would be too large (more than {MAX_BITS} bits)"
_TOO_DEEP = f"the expression is nested too deeply (more than {MAX_DEPTH} levels)"

# What the model may have meant, for the names of nodes we refuse.
_NODE_NAMES = {
    "Attribute": "attribute access",
    "Subscript": "indexing",
    "Compare": "a comparison",
    "BoolOp": "'and'/'or'",
    "Lambda": "a lambda",
    "IfExp": "an 'if' expression",
    "List": "a list",
    "Tuple": "a tuple",
    "Dict": "a dict",
    "Set": "a set",
    "ListComp": "a comprehension",
    "GeneratorExp": "a comprehension",
    "JoinedStr": "an f-string",
    "NamedExpr": "':='",
    "Starred": "'*' unpacking",
}


def _bits(value: Number) -> float:
    """log2 of |value|, or 0 for 0 (floats: their exponent)."""
    if value == 0:
        return 0.0
    if isinstance(value, int):
        return float(value.bit_length())
    return max(0.0, math.log2(abs(value))) if math.isfinite(value) else math.inf


def _check_power(base: Number, exponent: Number) -> None:
    if not isinstance(base, int) or not isinstance(exponent, int):
        return  # float arithmetic: overflows raise OverflowError, caught by the caller
    if exponent < 0 or base in (0, 1, -1):
        return
    if exponent * math.log2(abs(base)) > MAX_BITS:
        raise ValueError(f"{_TOO_LARGE}: {base} ** {exponent}")


def _check_product(left: Number, right: Number) -> None:
    if isinstance(left, int) and isinstance(right, int) and left and right:
        if left.bit_length() + right.bit_length() > MAX_BITS + 1:
            raise ValueError(_TOO_LARGE)


class _Evaluator:
    def __init__(self) -> None:
        self.depth = 0

    def visit(self, node: ast.AST) -> Number:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(_TOO_DEEP)
        try:
            return self._visit(node)
        finally:
            self.depth -= 1

    def _visit(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"only numbers are allowed, got {value!r}")
            return value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            operand = self.visit(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._binary(node)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise ValueError(f"{node.id!r} is a function: call it, e.g. {node.id}(2)")
            raise ValueError(
                f"unknown name {node.id!r}; allowed constants: {', '.join(CONSTANTS)}; allowed "
                f"functions: {', '.join(FUNCTIONS)}"
            )
        if isinstance(node, ast.Call):
            return self._call(node)
        kind = type(node).__name__
        what = _NODE_NAMES.get(kind, f"{kind} syntax")
        raise ValueError(
            f"{what} is not allowed; use numbers, + - * / // % **, parentheses, "
            "the constants pi and e, and the math functions"
        )

    def _binary(self, node: ast.BinOp) -> Number:
        left = self.visit(node.left)
        right = self.visit(node.right)
        op = type(node.op)
        if op is ast.Pow:
            _check_power(left, right)
        elif op is ast.Mult:
            _check_product(left, right)
        fn, symbol = _BINARY[op]
        try:
            result = fn(left, right)
        except ZeroDivisionError:
            raise ValueError(f"division by zero: {left!r} {symbol} {right!r}") from None
        except OverflowError:
            raise ValueError(f"the result is too large: {left!r} {symbol} {right!r}") from None
        return _checked(result)

    def _call(self, node: ast.Call) -> Number:
        func = node.func
        if not isinstance(func, ast.Name):
            raise ValueError(
                "only the math functions may be called, by name: " + ", ".join(FUNCTIONS)
            )
        if func.id not in FUNCTIONS:
            raise ValueError(
                f"function {func.id!r} is not allowed; allowed functions: {', '.join(FUNCTIONS)}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ValueError(f"{func.id}() takes positional numbers only")
        fn, fewest, most = FUNCTIONS[func.id]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            expected = (
                f"{fewest}"
                if fewest == most
                else f"{fewest} or more"
                if most is None
                else f"{fewest} to {most}"
            )
            raise ValueError(f"{func.id}() takes {expected} arguments, got {count}")
        args = [self.visit(arg) for arg in node.args]
        try:
            result = fn(*args)
        except ZeroDivisionError:
            raise ValueError(f"division by zero in {func.id}()") from None
        except OverflowError:
            raise ValueError(f"the result of {func.id}() is too large") from None
        except ValueError as exc:
            shown = ", ".join(repr(a) for a in args)
            raise ValueError(f"{func.id}({shown}) is undefined ({exc})") from None
        return _checked(result)


def _checked(result: Any) -> Number:
    if isinstance(result, complex):
        raise ValueError("the result is not a real number")
    if isinstance(result, int) and result.bit_length() > MAX_BITS:
        raise ValueError(_TOO_LARGE)
    if isinstance(result, float) and not math.isfinite(result):
        raise ValueError(
            "the result is too large" if not math.isnan(result) else "the result is undefined (nan)"
        )
    return result  # type: ignore[no-any-return]


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; an int when it is a whole number.

    Raises ``ValueError`` with a message for the model when the expression is not
    allowed, too long, too deep, too large, divides by zero or is invalid. Never blocks
    (bounded work).
    """
    if not isinstance(expression, str):
        raise ValueError(f"the expression must be a string, got {expression!r}")
    text = expression.strip()
    if not text:
        raise ValueError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ValueError(
            f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH})"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"invalid expression {text!r}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"invalid expression {text!r}: {exc}") from None
    try:
        result = _Evaluator().visit(tree)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        return int(result)
    return result


class Calculator(Tool):
    """Evaluates an arithmetic expression safely (see the module docstring)."""

    name = "calculator"
    description = (
        "Evaluate an arithmetic expression exactly, e.g. '(2 + 3) * 4' or 'sqrt(2) * pi'. "
        "Supports + - * / // % ** and parentheses, the constants pi and e, and the functions "
        f"{', '.join(FUNCTIONS)}."
    )
    parameters = {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "The expression to evaluate, e.g. '2 ** 10 / 4'.",
                "minLength": 1,
                "maxLength": MAX_LENGTH,
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    }

    def execute(self, args: dict[str, Any], context: ToolContext) -> Number:
        """The value of ``args["expression"]``. Never blocks (bounded work)."""
        return evaluate(args["expression"])
