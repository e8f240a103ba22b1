"""Tools: the Tool base class, @tool, as_tool, ToolBox, built-ins."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from elixirchain.errors import ConfigError, ToolNotFound
from elixirchain.messages import ToolSpec
from elixirchain.tools import (
    BUILTIN_TOOLS,
    Calculator,
    FunctionTool,
    Tool,
    ToolBox,
    ToolContext,
    ToolTypeError,
    as_tool,
    builtin_tool,
    tool,
)

# Module-level tools: pickled by reference (what offload="process" needs).


@tool
def shout(text: str) -> str:
    """Upper-case the text.

    Args:
        text: what to shout.
    """
    return text.upper()


def plain_add(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


class Echo(Tool):
    name = "echo"
    description = "Repeat the text."
    parameters = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }

    def execute(self, args: dict[str, Any], context: ToolContext) -> Any:
        return args["text"]


class NeedsArgs(Tool):
    name = "needs_args"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


# --- Tool and @tool -----------------------------------------------------------------


def test_a_tool_subclass_describes_itself_with_a_spec() -> None:
    echo = Echo()
    assert echo.spec() == ToolSpec("echo", "Repeat the text.", Echo.parameters)
    assert echo.execute({"text": "hi"}, ToolContext()) == "hi"
    assert repr(echo) == "<Echo 'echo'>"


def test_the_spec_is_a_copy_the_caller_may_change() -> None:
    spec = Echo().spec()
    spec.parameters["properties"]["text"]["type"] = "integer"  # type: ignore[index]
    assert Echo.parameters["properties"]["text"]["type"] == "string"


def test_a_tool_without_execute_says_what_is_missing() -> None:
    class Lazy(Tool):
        name = "lazy"

    with pytest.raises(
        NotImplementedError, match=r"^Lazy must implement execute\(self, args, context\)$"
    ):
        Lazy().execute({}, ToolContext())


def test_tool_decorator_without_arguments_keeps_the_function_callable() -> None:
    assert isinstance(shout, FunctionTool)
    assert shout("hey") == "HEY"
    assert shout.name == "shout"
    assert shout.description == "Upper-case the text."
    assert shout.__name__ == "shout"
    assert shout.__doc__ is not None and shout.__doc__.startswith("Upper-case")
    assert shout.execute({"text": "a"}, ToolContext()) == "A"


def test_tool_decorator_with_arguments_sets_them() -> None:
    @tool(name="lookup-v2", description="Find it.", timeout=2.5, retries=2, offload="thread")
    def lookup(key: str) -> str:
        """Ignored summary."""
        return key

    assert (lookup.name, lookup.description, lookup.timeout, lookup.retries, lookup.offload) == (
        "lookup-v2",
        "Find it.",
        2.5,
        2,
        "thread",
    )
    assert lookup("k") == "k"


def test_a_context_parameter_receives_the_context_and_is_not_in_the_schema() -> None:
    @tool
    def whoami(greeting: str, context: ToolContext) -> str:
        """Say who calls."""
        return f"{greeting} {context.agent} {context.call_id}"

    assert list(whoami.parameters["properties"]) == ["greeting"]
    context = ToolContext(agent="helper", call_id="c1")
    assert whoami.execute({"greeting": "hi"}, context) == "hi helper c1"


def test_bad_tool_settings_are_refused_at_decoration() -> None:
    def f() -> None:
        """F."""

    with pytest.raises(ConfigError) as info:
        tool(f, name="has space")
    assert str(info.value) == (
        "tool FunctionTool: name must match ^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$ (letters, digits, "
        "'_' and '-', at most 64, not starting with a digit); got 'has space'"
    )
    with pytest.raises(
        ConfigError, match=r"^tool 'f': timeout must be None or seconds > 0; got 0$"
    ):
        tool(f, timeout=0)
    with pytest.raises(ConfigError, match=r"^tool 'f': retries must be an int >= 0; got -1$"):
        tool(f, retries=-1)
    with pytest.raises(
        ConfigError, match=r"^tool 'f': offload must be None, 'thread' or 'process'; got 'gpu'$"
    ):
        tool(f, offload="gpu")
    with pytest.raises(ConfigError, match=r"name must match"):
        tool(f, name="x" * 65)


def test_a_tool_whose_parameters_are_not_an_object_schema_is_refused() -> None:
    class Broken(Tool):
        name = "broken"
        parameters = {"type": "array"}

    with pytest.raises(ConfigError) as info:
        as_tool(Broken)
    assert str(info.value) == (
        "tool 'broken': parameters must be a JSON Schema object ({'type': 'object', "
        "'properties': {...}}); got {'type': 'array'}"
    )


def test_a_function_tool_pickles_by_reference_or_by_its_function() -> None:
    assert pickle.loads(pickle.dumps(shout)) is shout
    wrapped = tool(plain_add, timeout=3.0)
    copy = pickle.loads(pickle.dumps(wrapped))
    assert copy is not wrapped
    assert (copy.name, copy.timeout, copy.fn, copy(2)) == ("plain_add", 3.0, plain_add, 3)


def test_the_context_has_empty_defaults() -> None:
    assert ToolContext() == ToolContext("", "", "", "", {})


# --- as_tool ------------------------------------------------------------------------


def test_as_tool_accepts_each_supported_form() -> None:
    echo = Echo()
    assert as_tool(echo) is echo
    made = as_tool(Echo)
    assert isinstance(made, Echo)
    assert as_tool(shout) is shout
    plain = as_tool(plain_add)
    assert isinstance(plain, FunctionTool)
    assert plain.name == "plain_add"
    assert plain.parameters["required"] == ["a"]
    assert isinstance(as_tool("calculator"), Calculator)


def test_as_tool_accepts_a_bound_method() -> None:
    class Shop:
        def price(self, item: str) -> int:
            """The price of an item."""
            return len(item)

    priced = as_tool(Shop().price)
    assert priced.name == "price"
    assert list(priced.parameters["properties"]) == ["item"]
    assert priced.execute({"item": "abc"}, ToolContext()) == 3


def test_as_tool_refuses_anything_else_saying_what_it_accepts() -> None:
    with pytest.raises(ToolTypeError) as info:
        as_tool(42)
    assert str(info.value) == (
        "as_tool accepts a Tool instance, a Tool subclass, a function (plain or decorated with "
        "@tool) or a built-in tool name ('calculator'); got 42 (int)"
    )
    assert isinstance(info.value, TypeError)


def test_as_tool_refuses_an_unknown_builtin_name() -> None:
    with pytest.raises(ConfigError) as info:
        as_tool("calculater")
    assert str(info.value) == "unknown built-in tool 'calculater'; built-in tools are: calculator"
    assert isinstance(info.value, ValueError)


def test_as_tool_says_when_a_tool_class_needs_arguments() -> None:
    with pytest.raises(
        ToolTypeError, match=r"^as_tool could not instantiate NeedsArgs\(\) with no arguments"
    ):
        as_tool(NeedsArgs)


def test_builtins_are_new_instances_by_name() -> None:
    assert list(BUILTIN_TOOLS) == ["calculator"]
    assert builtin_tool("calculator") is not builtin_tool("calculator")


# --- ToolBox ------------------------------------------------------------------------


def test_a_toolbox_holds_tools_by_name_in_the_order_added() -> None:
    box = ToolBox([shout, Echo, "calculator"])
    assert box.names() == ("shout", "echo", "calculator")
    assert list(box) == ["shout", "echo", "calculator"]
    assert len(box) == 3
    assert "echo" in box and "nope" not in box
    assert box["shout"] is shout
    assert box.get("shout") is shout
    assert [spec.name for spec in box.specs()] == ["shout", "echo", "calculator"]
    assert box.specs()[0] == shout.spec()


def test_adding_a_name_twice_is_refused_naming_it() -> None:
    box = ToolBox([Echo])
    with pytest.raises(ConfigError) as info:
        box.add(Echo())
    assert str(info.value) == (
        "the toolbox already has a tool named 'echo'; remove it first or give the new one "
        "another name"
    )
    assert isinstance(info.value, ValueError)


def test_removing_returns_the_tool_and_an_unknown_name_lists_the_known_ones() -> None:
    box = ToolBox([shout, Echo])
    assert box.remove("shout") is shout
    assert box.names() == ("echo",)
    with pytest.raises(ToolNotFound) as info:
        box.remove("shout")
    assert str(info.value) == "no tool named 'shout'; known tools: echo"


def test_get_of_an_unknown_name_raises_unless_given_a_default() -> None:
    box = ToolBox()
    with pytest.raises(ToolNotFound) as info:
        box.get("x")
    assert str(info.value) == "no tool named 'x'; known tools: none (the toolbox is empty)"
    with pytest.raises(ToolNotFound):
        box["x"]
    assert box.get("x", None) is None


def test_a_toolbox_refuses_a_single_tool_given_instead_of_a_list() -> None:
    with pytest.raises(ToolTypeError, match=r"^ToolBox expects an iterable of tools"):
        ToolBox(Echo())  # type: ignore[arg-type]
