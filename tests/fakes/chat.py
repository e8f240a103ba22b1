"""What the provider tests send: a request of one user message, and a tool to offer."""

from __future__ import annotations

from elixirchain.messages import Message, Request, ToolSpec

__all__ = ["WEATHER", "ask"]

WEATHER = ToolSpec(
    "get_weather",
    "The current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def ask(text: str = "Hi", **fields: object) -> Request:
    """A request of one user message; no model (the provider's default)."""
    return Request(model="", messages=(Message.user(text),), **fields)  # type: ignore[arg-type]
