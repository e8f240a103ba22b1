"""Vendor-neutral conversation data: what agents, memory and every provider adapter speak.

All types are frozen, slotted dataclasses; sequences are tuples, so a value can be
shared between processes without copying. ``to_dict``/``from_dict`` give a JSON-safe
form (bytes as base64) used by the memory backends.

- ``Message``: one entry of a conversation. ``role`` is "user", "assistant" or "tool"
  (the system prompt travels separately, in ``Request.system``). An assistant message may
  carry ``tool_calls``; a tool message carries ``tool_results``.
- ``ToolCall``: the model asks for a tool. ``signature`` is an opaque provider token that
  must be sent back unchanged with the call (Gemini's ``thoughtSignature``).
- ``ToolResult``: the answer to one ``ToolCall`` (``call_id`` matches ``ToolCall.id``).
- ``ToolSpec``: a tool as offered to the model (name, description, JSON Schema).
- ``Attachment``: inline bytes (an image, a PDF) with their MIME type.
- ``Chunk``: one piece of a streamed answer: a text delta, finished tool calls, and on
  the last chunk the usage and finish reason.
- ``Usage``: token counts.
- ``Request`` / ``Response``: one provider call and its complete answer.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASSISTANT",
    "TOOL",
    "USER",
    "Attachment",
    "Chunk",
    "Message",
    "Request",
    "Response",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "collect",
]

USER = "user"
ASSISTANT = "assistant"
TOOL = "tool"
ROLES = (USER, ASSISTANT, TOOL)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one provider call (zeros when the provider reported none)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    def to_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        return cls(int(data.get("input_tokens", 0)), int(data.get("output_tokens", 0)))


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks to run tool ``name`` with ``arguments`` (a JSON object)."""

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    signature: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "arguments": dict(self.arguments),
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(
            str(data["id"]),
            str(data["name"]),
            dict(data.get("arguments") or {}),
            _unb64(data.get("signature")),
        )


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of one tool call. ``content`` is JSON-able; errors set ``is_error``."""

    call_id: str
    name: str
    content: Any
    is_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "name": self.name,
            "content": self.content,
            "is_error": self.is_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolResult:
        return cls(
            str(data["call_id"]), str(data["name"]), data.get("content"), bool(data["is_error"])
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """Inline bytes sent to the model: an image, a PDF, audio."""

    mime_type: str
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"mime_type": self.mime_type, "data": _b64(self.data)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        return cls(str(data["mime_type"]), _unb64(data["data"]) or b"")


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of a conversation.

    ``signature`` is an opaque provider token attached to the text (Gemini may sign text
    parts too); adapters send it back unchanged.
    """

    role: str
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    signature: bytes | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Message role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"Message content must be a str, got {type(self.content).__name__}")

    @classmethod
    def user(cls, text: str, attachments: Iterable[Attachment] = ()) -> Message:
        return cls(USER, text, attachments=tuple(attachments))

    @classmethod
    def assistant(
        cls, text: str = "", tool_calls: Iterable[ToolCall] = (), signature: bytes | None = None
    ) -> Message:
        return cls(ASSISTANT, text, tool_calls=tuple(tool_calls), signature=signature)

    @classmethod
    def tool(cls, results: Iterable[ToolResult]) -> Message:
        return cls(TOOL, tool_results=tuple(results))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "tool_results": [r.to_dict() for r in self.tool_results],
            "attachments": [a.to_dict() for a in self.attachments],
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            str(data["role"]),
            str(data.get("content", "")),
            tuple(ToolCall.from_dict(c) for c in data.get("tool_calls") or ()),
            tuple(ToolResult.from_dict(r) for r in data.get("tool_results") or ()),
            tuple(Attachment.from_dict(a) for a in data.get("attachments") or ()),
            _unb64(data.get("signature")),
        )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as offered to the model: ``parameters`` is a JSON Schema object."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Request:
    """One provider call. ``timeout`` (seconds) bounds the whole call; never None."""

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: the assistant message, token usage, and why it stopped."""

    message: Message
    usage: Usage = Usage()
    finish_reason: str = "stop"
    model: str = ""

    @property
    def text(self) -> str:
        return self.message.content

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.message.tool_calls


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed answer.

    ``text`` is a delta to append. ``tool_calls`` holds calls whose arguments are
    complete (adapters assemble partial argument fragments before emitting them).
    ``usage``, ``finish_reason`` and ``signature`` (a text-part signature) are set on the
    chunk where the provider reports them, usually the last.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    signature: bytes | None = None


def collect(chunks: Iterable[Chunk], model: str = "") -> Response:
    """Folds a stream of chunks into the Response a non-streaming call would give.

    Blocks while it iterates ``chunks``.
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    usage = Usage()
    finish = "stop"
    signature = None
    for chunk in chunks:
        if chunk.text:
            texts.append(chunk.text)
        calls.extend(chunk.tool_calls)
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.finish_reason is not None:
            finish = chunk.finish_reason
        if chunk.signature is not None:
            signature = chunk.signature
    message = Message.assistant("".join(texts), calls, signature)
    return Response(message, usage, finish, model)
