"""Tools: what an agent offers a model to call, and the toolbox that names them.

Guarantees: every ``Tool`` an agent gets through ``as_tool`` or ``ToolBox.add`` has been
checked (a valid name, a JSON Schema object for its parameters, sane ``timeout``,
``retries`` and ``offload``), so a mistake in a tool's definition fails where the tool is
registered, not in the middle of a conversation. ``execute`` receives arguments that
already passed ``validate_arguments`` against ``parameters`` (the runner checks them).

Three ways to make a tool::

    from elixirchain.tools import Tool, ToolContext, tool

    @tool
    def weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
        '''Current weather of a city.

        Args:
            city: the city's name, e.g. "Paris".
            unit: degrees Celsius or Fahrenheit.
        '''
        return {"city": city, "temperature": 21, "unit": unit}

    class Echo(Tool):
        name = "echo"
        description = "Repeat the text."
        parameters = {"type": "object", "properties": {"text": {"type": "string"}},
                      "required": ["text"]}

        def execute(self, args, context):
            return args["text"]

    as_tool("calculator")   # a built-in, by name

A function decorated with ``@tool`` stays callable (``weather("Paris")``); it may take a
parameter named ``context`` to receive the ``ToolContext`` of the call.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

from elixirchain.errors import ConfigError, ToolNotFound
from elixirchain.messages import ToolSpec
from elixirchain.tools.schema import CONTEXT_PARAMETER, bind_value, function_schema

__all__ = [
    "NAME_PATTERN",
    "OFFLOAD_MODES",
    "FunctionTool",
    "Tool",
    "ToolBox",
    "ToolContext",
    "ToolTypeError",
    "as_tool",
    "check_tool",
    "tool",
]

NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$")
OFFLOAD_MODES = (None, "thread", "process")

_MISSING: Any = object()


class ToolTypeError(ConfigError, TypeError):
    """Something given as a tool, or a tool's attribute, has the wrong type."""


@dataclass(frozen=True)
class ToolContext:
    """Where a tool call comes from; passed to ``Tool.execute``.

    Attributes:
        agent: the name of the agent that runs the call.
        conversation_id: the conversation it belongs to.
        turn_id: the turn of that conversation.
        call_id: the ``ToolCall.id`` being answered.
        metadata: anything else the agent wants its tools to see.
    """

    agent: str = ""
    conversation_id: str = ""
    turn_id: str = ""
    call_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Tool:
    """A tool a model may call. Subclass it and implement ``execute``, or use ``@tool``.

    Attributes:
        name: how the model calls it; matches ``^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$``.
        description: what it does, for the model.
        parameters: the JSON Schema (``"type": "object"``) of its arguments.
        timeout: seconds a call may take; None: the runner's default.
        retries: extra attempts after an exception or a timeout (0: the runner's
            default, which is no retry unless the runner is told otherwise).
        offload: where ``execute`` runs: None (in the call's own beamlike task
            process, which suits I/O), ``"thread"`` (an OS thread: blocking C calls) or
            ``"process"`` (a worker OS process: CPU-bound work; the tool instance,
            arguments and context are pickled, so the tool must be picklable and its
            class importable, and the result must be picklable).
    """

    name: str = ""
    description: str = ""
    parameters: Mapping[str, Any] = {"type": "object", "properties": {}}
    timeout: float | None = None
    retries: int = 0
    offload: str | None = None

    def execute(self, args: dict[str, Any], context: ToolContext) -> Any:
        """Run the tool with validated ``args``; return a JSON-able result.

        Raise an exception to report a failure: the runner sends its message back to the
        model as an error result. Blocks the calling process while it runs.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement execute(self, args, context)"
        )

    def spec(self) -> ToolSpec:
        """The tool as offered to a model (a copy of its schema). Never blocks."""
        return ToolSpec(self.name, self.description, copy.deepcopy(dict(self.parameters)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def check_tool(candidate: Tool) -> Tool:
    """Check a tool's definition; return it. Never blocks.

    Raises ``ToolTypeError`` or ``ConfigError`` saying which attribute is wrong, what
    was expected and what was given.
    """
    what = f"tool {type(candidate).__name__}"
    name = candidate.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"{what}: name must match {NAME_PATTERN.pattern} (letters, digits, '_' and "
            f"'-', at most 64, not starting with a digit); got {name!r}"
        )
    what = f"tool {name!r}"
    if not isinstance(candidate.description, str):
        raise ToolTypeError(
            f"{what}: description must be a str; got {type(candidate.description).__name__}"
        )
    parameters = candidate.parameters
    if not isinstance(parameters, Mapping) or parameters.get("type") != "object":
        raise ConfigError(
            f"{what}: parameters must be a JSON Schema object ({{'type': 'object', "
            f"'properties': {{...}}}}); got {parameters!r}"
        )
    timeout = candidate.timeout
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ConfigError(f"{what}: timeout must be None or seconds > 0; got {timeout!r}")
    retries = candidate.retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{what}: retries must be an int >= 0; got {retries!r}")
    if candidate.offload not in OFFLOAD_MODES:
        raise ConfigError(
            f"{what}: offload must be None, 'thread' or 'process'; got {candidate.offload!r}"
        )
    return candidate


# -- tools from functions ------------------------------------------------------------


def _rebuild_function_tool(fn: Callable[..., Any], settings: dict[str, Any]) -> FunctionTool:
    return FunctionTool(fn, **settings)


class FunctionTool(Tool):
    """A tool made from a function by ``@tool``; calling it calls the function.

    Its ``parameters`` come from the function's type hints and its ``description`` from
    the docstring's summary (see ``elixirchain.tools.schema``). ``execute`` turns JSON
    values into what the hints ask for (``Enum`` members, dataclasses) and passes the
    ``ToolContext`` as ``context=`` when the function has such a parameter.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        offload: str | None = None,
    ) -> None:
        if not callable(fn):
            raise ToolTypeError(f"@tool expects a function; got {fn!r} ({type(fn).__name__})")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "")
        summary, parameters = function_schema(fn, f"tool {self.name!r}")
        self.description = description if description is not None else summary
        self.parameters = parameters
        self.timeout = timeout
        self.retries = retries
        self.offload = offload
        self._settings = {
            "name": name,
            "description": description,
            "timeout": timeout,
            "retries": retries,
            "offload": offload,
        }
        signature = inspect.signature(fn)
        self._takes_context = CONTEXT_PARAMETER in signature.parameters
        self._hints = get_type_hints(fn, include_extras=True)  # resolved once already
        functools.update_wrapper(self, fn)
        check_tool(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def execute(self, args: dict[str, Any], context: ToolContext) -> Any:
        kwargs = {key: bind_value(self._hints.get(key, Any), value) for key, value in args.items()}
        if self._takes_context:
            kwargs[CONTEXT_PARAMETER] = context
        return self.fn(**kwargs)

    def __reduce__(self) -> Any:
        # Pickled by reference when the module attribute is this tool (the usual
        # ``@tool`` on a module-level function), else rebuilt from the function.
        module = inspect.getmodule(self.fn)
        target: Any = module
        for part in getattr(self, "__qualname__", "").split("."):
            target = getattr(target, part, None)
        if target is self:
            return self.__qualname__
        return (_rebuild_function_tool, (self.fn, self._settings))


@overload
def tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    offload: str | None = None,
) -> FunctionTool: ...


@overload
def tool(
    fn: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    offload: str | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    offload: str | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a tool of a function: ``@tool`` or ``@tool(name=..., timeout=...)``.

    The schema comes from the type hints, the descriptions from the Google-style
    docstring (summary, and the ``Args:`` section for each parameter); ``name`` defaults
    to the function's name and ``description`` to the docstring's summary. Raises
    ``TypeError`` (at decoration) for a parameter whose hint has no JSON Schema
    equivalent, and ``ConfigError`` for a bad name, timeout, retries or offload. Never
    blocks.
    """

    def make(function: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            function,
            name=name,
            description=description,
            timeout=timeout,
            retries=retries,
            offload=offload,
        )

    if fn is None:
        return make
    return make(fn)


def as_tool(obj: Any) -> Tool:
    """A checked ``Tool`` from what a user gave as one. Never blocks.

    Accepts a ``Tool`` instance, a ``Tool`` subclass (instantiated with no arguments), a
    ``@tool`` result, a plain function (wrapped as by ``@tool``) or the name of a
    built-in tool (``"calculator"``). Anything else raises ``ToolTypeError``; an unknown
    built-in name raises ``ConfigError``.
    """
    if isinstance(obj, Tool):
        return check_tool(obj)
    if isinstance(obj, type) and issubclass(obj, Tool):
        try:
            instance = obj()
        except TypeError as exc:
            raise ToolTypeError(
                f"as_tool could not instantiate {obj.__name__}() with no arguments ({exc}); "
                "pass an instance instead"
            ) from exc
        return check_tool(instance)
    if isinstance(obj, str):
        from elixirchain.tools.builtins import builtin_tool  # builtins import this module

        return builtin_tool(obj)
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return FunctionTool(obj)
    raise ToolTypeError(
        "as_tool accepts a Tool instance, a Tool subclass, a function (plain or decorated "
        f"with @tool) or a built-in tool name ('calculator'); got {obj!r} "
        f"({type(obj).__name__})"
    )


# -- the toolbox ---------------------------------------------------------------------


class ToolBox(Mapping[str, Tool]):
    """The tools of an agent, by name (a read-only mapping, plus ``add``/``remove``).

    ``ToolBox([weather, Echo, "calculator"])`` adds each item with ``add``. Iterates
    names in the order they were added. Never blocks.
    """

    def __init__(self, tools: Iterable[Any] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        if tools.__class__ is tuple or tools.__class__ is list:
            pass  # the usual forms, checked without the ABC below
        elif isinstance(tools, (str, Tool)) or not isinstance(tools, Iterable):
            raise ToolTypeError(
                f"ToolBox expects an iterable of tools; got {tools!r} ({type(tools).__name__})"
            )
        for item in tools:
            self.add(item)

    def add(self, obj: Any) -> Tool:
        """Add ``as_tool(obj)``; return the tool. A name already present raises
        ``ConfigError`` (a ``ValueError``) naming it. Never blocks."""
        new = as_tool(obj)
        if new.name in self._tools:
            raise ConfigError(
                f"the toolbox already has a tool named {new.name!r}; remove it first or "
                "give the new one another name"
            )
        self._tools[new.name] = new
        return new

    def _not_found(self, name: Any) -> ToolNotFound:
        known = ", ".join(self._tools) if self._tools else "none (the toolbox is empty)"
        return ToolNotFound(f"no tool named {name!r}; known tools: {known}")

    def remove(self, name: str) -> Tool:
        """Remove the tool ``name``; return it. Unknown: ``ToolNotFound`` listing the
        known names. Never blocks."""
        try:
            return self._tools.pop(name)
        except KeyError:
            raise self._not_found(name) from None

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The tool ``name``; unknown: ``default`` if given, else ``ToolNotFound``
        listing the known names. Never blocks."""
        found = self._tools.get(name)
        if found is not None:
            return found
        if default is not _MISSING:
            return default
        raise self._not_found(name)

    def __getitem__(self, name: str) -> Tool:
        return self.get(name)  # type: ignore[no-any-return]

    def names(self) -> tuple[str, ...]:
        """The tool names, in the order added. Never blocks."""
        return tuple(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """What to offer a model (``Request.tools``), in the order added. Never blocks."""
        return tuple([t.spec() for t in self._tools.values()]) if self._tools else ()

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __repr__(self) -> str:
        return f"ToolBox({list(self._tools)!r})"
