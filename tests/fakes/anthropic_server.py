"""A fake Anthropic server speaking the real Messages API wire format.

``FakeAnthropicServer`` is a scriptable ``FakeServer``: queue replies with
``reply_text``, ``reply_tool_uses``, ``stream_text``, ``stream_tool_uses``,
``reply_rate_limited``, ``reply_overloaded``, ``reply_server_error``,
``stream_error``, ``reply_malformed``, ``hang``...; read what arrived in ``requests``.
Point the adapter at ``server.url`` (the adapter appends ``/v1/messages``).

The bodies copy what api.anthropic.com sends: ``message`` objects with content blocks
and ``usage``; the named event stream (``message_start``, ``content_block_start``,
``ping``, ``content_block_delta``, ``content_block_stop``, ``message_delta``,
``message_stop``, ``error``); error bodies ``{"type": "error", "error": {...},
"request_id": ...}`` with ``retry-after`` and ``anthropic-ratelimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.fakes.http_base import Canned, FakeServer, sse

__all__ = ["MODEL", "FakeAnthropicServer", "message"]

MODEL = "claude-sonnet-4-5-20250929"

RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization (fake-org) of 50 "
    "requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
    "You can see the response headers for current usage. Please reduce the prompt length or "
    "the maximum tokens requested, or try again later."
)


def message(
    text: str | None,
    tool_uses: Sequence[tuple[str, str, dict[str, Any]]] = (),
    *,
    input_tokens: int = 21,
    output_tokens: int = 9,
    stop_reason: str | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """A ``message`` object: a text block (if ``text``) then ``(id, name, input)``
    tool_use blocks."""
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    for call_id, name, arguments in tool_uses:
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return {
        "id": "msg_01FakeFakeFake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        },
    }


def _error_body(type_: str, message_: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": type_, "message": message_},
        "request_id": "req_011FakeFakeFake",
    }


def _event(data: dict[str, Any]) -> bytes:
    return sse(data, event=str(data["type"]))


def _start(input_tokens: int) -> list[bytes]:
    start = message(None, input_tokens=input_tokens, output_tokens=1)
    start["content"], start["stop_reason"] = [], None
    return [_event({"type": "message_start", "message": start}), _event({"type": "ping"})]


def _end(stop_reason: str, output_tokens: int) -> list[bytes]:
    return [
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            }
        ),
        _event({"type": "message_stop"}),
    ]


def _block(
    index: int, content_block: dict[str, Any], delta_type: str, key: str, pieces: Sequence[str]
) -> list[bytes]:
    """content_block_start, a ``delta_type`` delta carrying each piece as ``key``, and
    content_block_stop."""
    start = {"type": "content_block_start", "index": index, "content_block": content_block}
    frames = [_event(start)]
    for piece in pieces:
        delta = {"type": delta_type, key: piece}
        frames.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
    frames.append(_event({"type": "content_block_stop", "index": index}))
    return frames


def _text_block(index: int, deltas: Sequence[str]) -> list[bytes]:
    return _block(index, {"type": "text", "text": ""}, "text_delta", "text", deltas)


def _tool_block(index: int, call_id: str, name: str, fragments: Sequence[str]) -> list[bytes]:
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    return _block(index, block, "input_json_delta", "partial_json", fragments)


_STREAM = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class FakeAnthropicServer(FakeServer):
    """A ``FakeServer`` with Anthropic-shaped replies. Every ``reply_*``/``stream_*``
    method accepts ``Canned`` options as keywords (``delay``, ``peers``, ...)."""

    def reply_text(
        self, text: str, *, input_tokens: int = 21, output_tokens: int = 9, **options: Any
    ) -> None:
        body = message(text, input_tokens=input_tokens, output_tokens=output_tokens)
        self.push(Canned.json(body, **options))

    def reply_tool_uses(
        self,
        calls: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        text: str | None = None,
        **options: Any,
    ) -> None:
        self.push(Canned.json(message(text, calls), **options))

    def stream_text(
        self,
        deltas: Sequence[str],
        *,
        input_tokens: int = 21,
        output_tokens: int = 9,
        stop_reason: str = "end_turn",
        **options: Any,
    ) -> None:
        """message_start, ping, one text block with a delta each, message_delta,
        message_stop. With ``break_after=N`` the socket closes after N events."""
        frames = _start(input_tokens) + _text_block(0, deltas) + _end(stop_reason, output_tokens)
        self.push(Canned(headers=_STREAM, events=frames, **options))

    def stream_tool_uses(
        self,
        calls: Sequence[tuple[str, str, Sequence[str]]],
        *,
        text: Sequence[str] = (),
        input_tokens: int = 21,
        output_tokens: int = 9,
        **options: Any,
    ) -> None:
        """An optional text block, then one tool_use block per ``(id, name, partial_json
        fragments)``."""
        frames = _start(input_tokens)
        index = 0
        if text:
            frames += _text_block(0, text)
            index = 1
        for offset, (call_id, name, fragments) in enumerate(calls):
            frames += _tool_block(index + offset, call_id, name, fragments)
        frames += _end("tool_use", output_tokens)
        self.push(Canned(headers=_STREAM, events=frames, **options))

    def stream_error(self, deltas: Sequence[str], type_: str, message_: str) -> None:
        """A stream that reports ``error`` after some text (as when the API overloads
        mid-answer)."""
        frames = _start(21) + _text_block(0, deltas)[:-1]
        frames.append(_event(_error_body(type_, message_)))
        self.push(Canned(headers=_STREAM, events=frames))

    def reply_error(
        self,
        status: int,
        type_: str,
        message_: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.push(Canned.json(_error_body(type_, message_), status, headers=headers or {}))

    def reply_rate_limited(self, *, retry_after: str = "30") -> None:
        headers = {
            "retry-after": retry_after,
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:30Z",
        }
        self.reply_error(429, "rate_limit_error", RATE_LIMIT_MESSAGE, headers=headers)

    def reply_overloaded(self) -> None:
        self.reply_error(529, "overloaded_error", "Overloaded")

    def reply_server_error(self, status: int = 500) -> None:
        self.reply_error(status, "api_error", "Internal server error")

    def reply_malformed(self, body: bytes = b'{"id": "msg_01", "content": [{"type": "te') -> None:
        self.push(Canned(headers={"Content-Type": "application/json"}, body=body))

    def hang(self) -> None:
        """The next request is read and never answered."""
        self.push(Canned(hang=True))
