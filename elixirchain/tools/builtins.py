"""The built-in tools, by name: what ``as_tool("calculator")`` and agents' ``tools=[...]``
options resolve a string to.

Guarantees: each call of ``builtin_tool`` returns a new instance; an unknown name is
refused with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from elixirchain.errors import ConfigError
from elixirchain.tools.base import Tool, check_tool
from elixirchain.tools.calculator import Calculator

__all__ = ["BUILTIN_TOOLS", "builtin_tool"]

BUILTIN_TOOLS: Mapping[str, Callable[[], Tool]] = MappingProxyType({"calculator": Calculator})


def builtin_tool(name: str) -> Tool:
    """A new instance of the built-in tool ``name``. Never blocks.

    Raises ``ConfigError`` (a ``ValueError``) for an unknown name, listing the built-ins.
    """
    factory = BUILTIN_TOOLS.get(name)
    if factory is None:
        raise ConfigError(
            f"unknown built-in tool {name!r}; built-in tools are: {', '.join(BUILTIN_TOOLS)}"
        )
    return check_tool(factory())
