"""The OpenAI-compatible adapter: Chat Completions and embeddings over ``requests``.

Speaks to OpenAI and to every server that copies its API (Ollama, vLLM, llama.cpp,
LM Studio, OpenRouter, ...): set ``base_url``. Guarantees, beyond ``Provider``'s:

- The wire format is OpenAI's: the system prompt is the first message; an assistant
  message carries ``tool_calls`` whose ``function.arguments`` are JSON *strings*; each
  ``ToolResult`` becomes its own ``{"role": "tool", "tool_call_id": ...}`` message
  (an error result's text starts with ``"Error: "``, since the format has no error
  flag); tools are declared as ``{"type": "function", "function": {...}}``; image
  attachments travel as ``image_url`` data URLs, PDFs as ``file`` parts, WAV/MP3 as
  ``input_audio``.
- Tool arguments that are not a JSON object (models do emit broken JSON) never raise:
  the call comes back with arguments ``{"__invalid_json__": "<the text>"}``
  (``INVALID_JSON_KEY``). The tool layer's schema check then refuses them and the model
  is told, which lets it correct itself, instead of the turn failing. Sent back to the
  model, such arguments go out as the original text.
- Streaming asks for ``stream_options.include_usage``; text deltas are yielded as they
  arrive, tool-call fragments are assembled by ``index`` and yielded complete on the
  last chunk, with the usage and the finish reason. A stream that ends before
  ``[DONE]`` (and before any finish reason) raises ``StreamInterrupted``.
- Finish reasons are vendor-neutral: ``"stop"``, ``"tool_calls"``, ``"max_tokens"``
  (OpenAI's ``"length"``), ``"content_filter"``.
- ``request.options`` entries are added to the JSON body as they are (``top_p``,
  ``seed``, ``response_format``, ``tool_choice``, ...); naming a key the adapter sets
  itself is refused.
- A call is bounded by the smaller of ``request.timeout`` and the provider's
  ``timeout``.

Example::

    provider = OpenAIProvider(base_url="http://localhost:11434/v1", model="llama3.2")
    answer = provider.generate(Request(model="", messages=(Message.user("Hi"),)))
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from elixirchain.errors import BadRequest, MalformedResponse, ProviderError, StreamInterrupted
from elixirchain.messages import (
    ASSISTANT,
    TOOL,
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

__all__ = ["DEFAULT_BASE_URL", "INVALID_JSON_KEY", "OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

_FINISH = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# OpenAI's error ``type``/``code`` values in a 200 answer or a stream, as HTTP statuses.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "requests": 429,
    "tokens": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 503,
}

_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


class OpenAIProvider(HttpProvider):
    """Chat Completions (``/chat/completions``) and ``/embeddings`` of an OpenAI-compatible
    server.

    Args:
        api_key: the key; default ``$OPENAI_API_KEY``. May be missing only for a server
            on this machine (Ollama, vLLM and llama.cpp need none).
        base_url: default ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
        model: the model used when a request names none.
        timeout: upper bound in seconds for every call.
        organization: sent as ``OpenAI-Organization``.
        extra_headers: added to every request (they win over the adapter's own).

    Raises:
        AuthenticationError: no key for a server that is not local.
        ConfigError: a malformed ``base_url`` or ``timeout``.
    """

    name = "openai"
    chat_path = "/chat/completions"
    default_embedding_model = "text-embedding-3-small"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        timeout: float = 60.0,
        organization: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._configure(
            base_url=base_url,
            api_key=api_key,
            model=model,
            default_url=DEFAULT_BASE_URL,
            url_env="OPENAI_BASE_URL",
            key_env="OPENAI_API_KEY",
            keyless_note=" (a server on this machine, such as Ollama, vLLM or llama.cpp, "
            "needs none)",
        )
        headers: dict[str, str] = {}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if organization:
            headers["OpenAI-Organization"] = organization
        headers.update(extra_headers or {})
        self._connect(timeout, headers)

    # -- requests --

    def payload(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body sent for ``request``. Never blocks.

        Raises ``BadRequest`` for an attachment type the API cannot take and
        ``ConfigError`` for an option that names a key the adapter sets.
        """
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": _messages(request, self.name),
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": dict(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return self._with_options(body, request)

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Embeds each text with ``/embeddings`` (default model
        ``default_embedding_model``); returns the vectors in the order of ``texts``.

        Blocks until done or the provider's timeout passed.
        """
        if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{self.name} embed expects a list of str; got {texts!r}")
        if not texts:
            return []
        chosen = model or self.default_embedding_model
        data = self._http.post_json(
            f"{self.base_url}/embeddings",
            {"model": chosen, "input": list(texts)},
            timeout=self.timeout,
        )
        try:
            rows = sorted(data["data"], key=lambda row: int(row.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except _http.SHAPE_ERRORS as exc:
            raise self._malformed("embeddings answer", data, exc) from None
        if len(vectors) != len(texts):
            raise MalformedResponse(
                f"{self.name} returned {len(vectors)} embeddings for {len(texts)} texts",
                provider=self.name,
            )
        return vectors

    # -- internals --

    def _response(self, data: Any, model: str) -> Response:
        if isinstance(data, dict) and "choices" not in data and data.get("error"):
            raise _event_error(data, self.name)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = _text(message.get("content")) or _text(message.get("refusal"))
            calls = tuple(
                _tool_call(raw, index) for index, raw in enumerate(message.get("tool_calls") or ())
            )
            usage = _usage(data.get("usage"))
            reason = choice.get("finish_reason")
        except _http.SHAPE_ERRORS as exc:
            raise self._malformed("chat completion", data, exc) from None
        return Response(
            Message.assistant(text, calls),
            usage,
            _http.finish_reason(reason, calls, _FINISH),
            str(data.get("model") or model),
        )

    def _stream(self, url: str, payload: dict[str, Any], timeout: float) -> Iterator[Chunk]:
        assembly = _StreamAssembly()
        events = self._http.post_stream(url, payload, timeout=timeout)
        finished = False
        try:
            for event in events:
                if event.done:  # post_stream ends after it (and keeps the connection)
                    finished = True
                    yield assembly.last_chunk()
                    continue
                data = self._event_json(event)
                if isinstance(data, dict) and data.get("error"):
                    raise _event_error(data, self.name)
                try:
                    text = assembly.feed(data)
                except _http.SHAPE_ERRORS as exc:
                    raise self._malformed("stream event", event.data, exc) from None
                if text:
                    yield Chunk(text=text)
        finally:
            events.close()
        if finished:
            return
        if assembly.finish is None:
            raise StreamInterrupted(
                f"{self.name} event stream ended before its finish reason and [DONE]",
                provider=self.name,
            )
        yield assembly.last_chunk()  # a server that omits [DONE] after finishing


# --- requests: vendor-neutral → OpenAI ------------------------------------------


def _messages(request: Request, provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role == TOOL:
            for result in message.tool_results:
                text = _http.content_text(result.content)
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": result.call_id,
                        "content": f"Error: {text}" if result.is_error else text,
                    }
                )
        elif message.role == ASSISTANT:
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                entry["content"] = message.content or None
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": _http.arguments_json(call.arguments),
                        },
                    }
                    for call in message.tool_calls
                ]
            out.append(entry)
        elif message.attachments:
            parts: list[dict[str, Any]] = []
            if message.content:
                parts.append({"type": "text", "text": message.content})
            parts.extend(_attachment(a, provider) for a in message.attachments)
            out.append({"role": "user", "content": parts})
        else:
            out.append({"role": "user", "content": message.content})
    return out


def _attachment(attachment: Attachment, provider: str) -> dict[str, Any]:
    mime = attachment.mime_type.lower()
    data = base64.b64encode(attachment.data).decode("ascii")
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}
    if mime == "application/pdf":
        return {
            "type": "file",
            "file": {"filename": "attachment.pdf", "file_data": f"data:{mime};base64,{data}"},
        }
    if mime in _AUDIO_FORMATS:
        return {
            "type": "input_audio",
            "input_audio": {"data": data, "format": _AUDIO_FORMATS[mime]},
        }
    raise BadRequest(
        f"{provider} cannot send an attachment of type {attachment.mime_type!r}; supported: "
        "image/*, application/pdf, audio/wav, audio/mpeg",
        provider=provider,
    )


# --- answers: OpenAI → vendor-neutral --------------------------------------------


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some compatible servers answer with content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise TypeError(f"content must be a str or a list of parts, got {type(content).__name__}")


def _tool_call(raw: Mapping[str, Any], index: int) -> ToolCall:
    function = raw["function"]
    return ToolCall(
        str(raw.get("id") or _made_up_id(index)),
        str(function["name"]),
        _http.parse_arguments(function.get("arguments")),
    )


def _made_up_id(index: int) -> str:
    """An id for a tool call the server sent without one."""
    return f"call_{index}_{uuid.uuid4().hex[:16]}"


def _usage(raw: Any) -> Usage:
    if not raw:
        return Usage()
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


def _event_error(data: Mapping[str, Any], provider: str) -> ProviderError:
    error = data.get("error")
    kind = ""
    if isinstance(error, dict):
        kind = str(error.get("code") or error.get("type") or "")
        if kind not in _ERROR_STATUS:
            kind = str(error.get("type") or kind)
    status = _ERROR_STATUS.get(kind, 500)
    return error_for_event(provider, kind, status, json.dumps(data))


class _StreamAssembly:
    """Folds ``chat.completion.chunk`` objects: text out at once, tool calls at the end."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}
        self.usage: Usage | None = None
        self.finish: str | None = None

    def feed(self, data: Mapping[str, Any]) -> str:
        """Takes one chunk; returns its text delta."""
        if data.get("usage"):
            self.usage = _usage(data["usage"])
        text = ""
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is not supported: the first choice is the answer
            delta = choice.get("delta") or {}
            text += _text(delta.get("content"))
            for fragment in delta.get("tool_calls") or ():
                self._fragment(fragment)
            if choice.get("finish_reason") is not None:
                self.finish = str(choice["finish_reason"])
        return text

    def _fragment(self, fragment: Mapping[str, Any]) -> None:
        index = fragment.get("index")
        if index is None:  # servers that omit it: a new id opens a new call
            known = {slot["id"] for slot in self.calls.values()}
            fresh = fragment.get("id") and fragment["id"] not in known
            index = len(self.calls) if fresh or not self.calls else max(self.calls)
        slot = self.calls.setdefault(int(index), {"id": "", "name": "", "arguments": ""})
        if fragment.get("id"):
            slot["id"] = str(fragment["id"])
        function = fragment.get("function") or {}
        if function.get("name") and not slot["name"]:
            slot["name"] = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot["arguments"] += arguments
        elif isinstance(arguments, Mapping):  # a server sending the object whole
            slot["arguments"] = json.dumps(arguments)

    def last_chunk(self) -> Chunk:
        calls = tuple(
            ToolCall(
                slot["id"] or _made_up_id(index),
                slot["name"],
                _http.parse_arguments(slot["arguments"]),
            )
            for index, slot in sorted(self.calls.items())
        )
        return Chunk(
            tool_calls=calls,
            usage=self.usage if self.usage is not None else Usage(),
            finish_reason=_http.finish_reason(self.finish, calls, _FINISH),
        )
