"""Tools: functions a model may call, checked, described to it and run in parallel.

    from elixirchain.tools import ToolBox, ToolContext, run_calls, tool

    @tool
    def add(a: int, b: int) -> int:
        '''Add two integers.'''
        return a + b

    box = ToolBox([add, "calculator"])
    box.specs()                                   # what the model is offered
    run_calls(response.tool_calls, box, ToolContext(agent="helper"))   # in a process

See ``docs/tools.md``. The modules: ``base`` (Tool, @tool, ToolBox), ``schema`` (JSON
Schema from type hints, argument validation), ``runner`` (run_calls), ``calculator``
and ``builtins`` (the built-in tools by name).
"""

from __future__ import annotations

from elixirchain.tools.base import (
    FunctionTool,
    Tool,
    ToolBox,
    ToolContext,
    ToolTypeError,
    as_tool,
    check_tool,
    tool,
)
from elixirchain.tools.builtins import BUILTIN_TOOLS, builtin_tool
from elixirchain.tools.calculator import Calculator
from elixirchain.tools.runner import run_calls
from elixirchain.tools.schema import validate_arguments

__all__ = [
    "BUILTIN_TOOLS",
    "Calculator",
    "FunctionTool",
    "Tool",
    "ToolBox",
    "ToolContext",
    "ToolTypeError",
    "as_tool",
    "builtin_tool",
    "check_tool",
    "run_calls",
    "tool",
    "validate_arguments",
]
