"""The Anthropic adapter: the Messages API (``/v1/messages``) over ``requests``.

Guarantees, beyond ``Provider``'s:

- The wire format is Anthropic's: ``system`` is a top-level field; every message is a
  list of content blocks (``text``; ``image`` and ``document`` with a base64 source for
  images, PDFs and plain text; ``tool_use`` ``{id, name, input}`` in assistant messages;
  ``tool_result`` ``{tool_use_id, content, is_error}`` inside a *user* message);
  consecutive messages of the same role are merged into one (the API requires user and
  assistant to alternate) with the ``tool_result`` blocks first; messages without any
  block are left out (the API refuses empty content); tools are declared as
  ``{name, description, input_schema}``. The headers are ``x-api-key`` and
  ``anthropic-version``.
- Stop reasons are vendor-neutral: ``end_turn``/``stop_sequence`` → ``"stop"``,
  ``tool_use`` → ``"tool_calls"``, ``max_tokens`` → ``"max_tokens"``, ``refusal`` →
  ``"content_filter"``; others pass through. Input tokens include cached ones
  (``cache_creation_input_tokens`` + ``cache_read_input_tokens``).
- Streaming follows the event protocol: ``message_start`` (input usage),
  ``content_block_start``/``_delta``/``_stop`` (text deltas yielded as they arrive;
  ``input_json_delta`` fragments assembled and the tool call yielded complete at its
  ``content_block_stop``), ``message_delta`` (stop reason, output tokens),
  ``message_stop`` (the last chunk, with usage and finish reason); ``ping`` and unknown
  events are ignored; an ``error`` event raises by its type (``overloaded_error`` →
  ``ProviderUnavailable``, ``rate_limit_error`` → ``RateLimited``, ...). A stream that
  ends before ``message_stop`` raises ``StreamInterrupted``.
- Tool arguments that are not a JSON object come back as ``{"__invalid_json__":
  "<text>"}`` (``INVALID_JSON_KEY``), as in the OpenAI adapter, where the choice is
  explained.
- ``request.options`` entries are added to the JSON body (``top_p``, ``top_k``,
  ``stop_sequences``, ``tool_choice``, ``metadata``, ...); a key the adapter sets
  itself is refused. ``max_tokens`` (required by the API) is ``request.max_tokens`` or
  the provider's ``max_tokens``.
- A call is bounded by the smaller of ``request.timeout`` and the provider's
  ``timeout``. ``embed`` is not offered (the base class raises).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from elixirchain.errors import BadRequest, ConfigError, ProviderError, StreamInterrupted
from elixirchain.messages import (
    ASSISTANT,
    TOOL,
    USER,
    Attachment,
    Chunk,
    Message,
    Request,
    Response,
    ToolCall,
    Usage,
)
from elixirchain.providers import _http
from elixirchain.providers._http import INVALID_JSON_KEY, HttpProvider
from elixirchain.providers._http_errors import error_for_event

__all__ = ["DEFAULT_BASE_URL", "INVALID_JSON_KEY", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "max_tokens",
    "refusal": "content_filter",
}

# Anthropic's error types, as the HTTP statuses they come with.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


class AnthropicProvider(HttpProvider):
    """Claude through the Messages API.

    Args:
        api_key: the key; default ``$ANTHROPIC_API_KEY``. May be missing only for a
            server on this machine.
        base_url: default ``$ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com``
            (the adapter appends ``/v1/messages``).
        model: the model used when a request names none.
        timeout: upper bound in seconds for every call.
        max_tokens: the answer budget when a request sets none.
        anthropic_version: sent as ``anthropic-version``.

    Raises:
        AuthenticationError: no key for a server that is not local.
        ConfigError: a malformed ``base_url``, ``timeout`` or ``max_tokens``.
    """

    name = "anthropic"
    chat_path = "/v1/messages"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "claude-sonnet-4-5",
        timeout: float = 60.0,
        max_tokens: int = 1024,
        anthropic_version: str = "2023-06-01",
    ) -> None:
        self._configure(
            base_url=base_url,
            api_key=api_key,
            model=model,
            default_url=DEFAULT_BASE_URL,
            url_env="ANTHROPIC_BASE_URL",
            key_env="ANTHROPIC_API_KEY",
        )
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(f"anthropic max_tokens must be a positive int; got {max_tokens!r}")
        self.max_tokens = max_tokens
        headers = {"anthropic-version": anthropic_version}
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key
        self._connect(timeout, headers)

    # -- requests --

    def payload(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body sent for ``request``. Never blocks.

        Raises ``BadRequest`` for an attachment type the API cannot take and
        ``ConfigError`` for an option that names a key the adapter sets.
        """
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": _messages(request.messages),
        }
        if request.system:
            body["system"] = request.system
        if request.tools:
            body["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": dict(tool.parameters),
                }
                for tool in request.tools
            ]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if stream:
            body["stream"] = True
        return self._with_options(body, request)

    # -- internals --

    def _response(self, data: Any, model: str) -> Response:
        if isinstance(data, dict) and data.get("type") == "error":
            raise _event_error(data)
        try:
            blocks = data["content"]
            text = "".join(b["text"] for b in blocks if b.get("type") == "text")
            calls = tuple(
                ToolCall(str(b["id"]), str(b["name"]), _http.parse_arguments(b.get("input")))
                for b in blocks
                if b.get("type") == "tool_use"
            )
            usage = _usage(data.get("usage") or {})
            reason = data.get("stop_reason")
        except _http.SHAPE_ERRORS as exc:
            raise self._malformed("message", data, exc) from None
        return Response(
            Message.assistant(text, calls),
            usage,
            _http.finish_reason(reason, calls, _STOP),
            str(data.get("model") or model),
        )

    def _stream(self, url: str, payload: dict[str, Any], timeout: float) -> Iterator[Chunk]:
        assembly = _StreamAssembly()
        events = self._http.post_stream(url, payload, timeout=timeout, last_event="message_stop")
        finished = False
        try:
            for event in events:
                data = self._event_json(event)
                if not isinstance(data, dict):
                    raise self._malformed("stream event", event.data, TypeError("not an object"))
                kind = data.get("type") or event.event
                if kind == "error":
                    raise _event_error(data)
                try:
                    chunk = assembly.feed(kind, data)
                except _http.SHAPE_ERRORS as exc:
                    raise self._malformed("stream event", event.data, exc) from None
                finished = finished or kind == "message_stop"
                if chunk is not None:
                    yield chunk
        finally:
            events.close()
        if finished:  # post_stream ended after message_stop (and kept the connection)
            return
        raise StreamInterrupted(
            "anthropic event stream ended before message_stop", provider="anthropic"
        )


# --- requests: vendor-neutral → Anthropic ----------------------------------------


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        role = ASSISTANT if message.role == ASSISTANT else USER
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for entry in out:  # tool results must open a user message
        entry["content"].sort(key=lambda block: block["type"] != "tool_result")
    return out


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == TOOL:
        return [
            {
                "type": "tool_result",
                "tool_use_id": result.call_id,
                "content": _http.content_text(result.content),
                "is_error": result.is_error,
            }
            for result in message.tool_results
        ]
    blocks = [_attachment(a) for a in message.attachments]
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        )
    return blocks


def _attachment(attachment: Attachment) -> dict[str, Any]:
    mime = attachment.mime_type.lower()
    if mime in _IMAGE_TYPES or mime == "application/pdf":
        data = base64.b64encode(attachment.data).decode("ascii")
        kind = "image" if mime in _IMAGE_TYPES else "document"
        return {"type": kind, "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime == "text/plain":
        text = attachment.data.decode("utf-8", "replace")
        return {"type": "document", "source": {"type": "text", "media_type": mime, "data": text}}
    raise BadRequest(
        f"anthropic cannot send an attachment of type {attachment.mime_type!r}; supported: "
        f"{', '.join(_IMAGE_TYPES)}, application/pdf, text/plain",
        provider="anthropic",
    )


# --- answers: Anthropic → vendor-neutral -----------------------------------------


def _usage(raw: Mapping[str, Any]) -> Usage:
    given = (
        raw.get("input_tokens"),
        raw.get("cache_creation_input_tokens"),
        raw.get("cache_read_input_tokens"),
    )
    return Usage(sum(int(n or 0) for n in given), int(raw.get("output_tokens") or 0))


def _event_error(data: Mapping[str, Any]) -> ProviderError:
    error = data.get("error")
    kind = str(error.get("type") or "") if isinstance(error, dict) else ""
    status = _ERROR_STATUS.get(kind, 500)
    return error_for_event("anthropic", kind, status, json.dumps(data))


class _StreamAssembly:
    """Folds the Messages stream: text out at once, a tool call at its block's end."""

    def __init__(self) -> None:
        self.tools: dict[int, dict[str, Any]] = {}  # open tool_use blocks by index
        self.calls: list[ToolCall] = []
        self.started = Usage()  # usage from message_start
        self.output_tokens = 0
        self.stop_reason: str | None = None

    def feed(self, kind: str, data: Mapping[str, Any]) -> Chunk | None:
        """Takes one event; returns the chunk it completes, if any."""
        if kind == "message_start":
            self.started = _usage(data["message"].get("usage") or {})
            self.output_tokens = self.started.output_tokens
        elif kind == "content_block_start":
            block = data["content_block"]
            if block.get("type") == "tool_use":
                self.tools[int(data["index"])] = {
                    "id": str(block["id"]),
                    "name": str(block["name"]),
                    "json": "",
                    "input": block.get("input") or {},
                }
            elif block.get("type") == "text" and block.get("text"):
                return Chunk(text=str(block["text"]))
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta.get("type") == "text_delta" and delta.get("text"):
                return Chunk(text=str(delta["text"]))
            if delta.get("type") == "input_json_delta":
                self.tools[int(data["index"])]["json"] += str(delta.get("partial_json") or "")
        elif kind == "content_block_stop":
            tool = self.tools.pop(int(data["index"]), None)
            if tool is not None:
                arguments = _http.parse_arguments(tool["json"] if tool["json"] else tool["input"])
                call = ToolCall(tool["id"], tool["name"], arguments)
                self.calls.append(call)
                return Chunk(tool_calls=(call,))
        elif kind == "message_delta":
            if data.get("delta", {}).get("stop_reason") is not None:
                self.stop_reason = str(data["delta"]["stop_reason"])
            usage = data.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.output_tokens = int(usage["output_tokens"])
            if usage.get("input_tokens") is not None:
                self.started = _usage(usage)
        elif kind == "message_stop":
            usage = Usage(self.started.input_tokens, self.output_tokens)
            return Chunk(
                usage=usage,
                finish_reason=_http.finish_reason(self.stop_reason, tuple(self.calls), _STOP),
            )
        return None  # ping, thinking blocks, and events added to the API later
