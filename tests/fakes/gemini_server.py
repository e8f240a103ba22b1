"""A local HTTP server that speaks the Gemini API's REST wire format, scripted per test.

It answers ``POST /{version}/models/{model}:{action}`` for the actions
``generateContent``, ``streamGenerateContent`` (``?alt=sse``, chunked server-sent events
as the real API sends them), ``embedContent`` and ``batchEmbedContents``, with camelCase
JSON bodies and Google's error bodies (``{"error": {"code", "message", "status",
"details"}}``). Every request is recorded, its JSON body parsed, so a test can assert what
the client put on the wire.

Replies are queued per action and used once each, in order. Besides plain JSON answers a
test can script the failures a real server shows: a 429 with ``RetryInfo``, 5xx answers,
an event stream that breaks off (the socket is closed in the middle of the chunked body),
a hung server that never answers, and a body that is not JSON. An action with nothing
queued answers 500 with a body that says so, so a missing script fails loudly.

It is a ``FakeServer`` (``tests/fakes/http_base.py``): it runs on 127.0.0.1, on a free
port, in a thread (a greenlet under gevent's monkey patching, which the test suite
applies), and each reply becomes that server's ``Canned`` reply.

    server = FakeGeminiServer().start()
    server.add("generateContent", json_reply(text_response("Hello")))
    ...  # point the client at server.base_url
    assert server.requests[0].body["contents"][0]["parts"] == [{"text": "Hi"}]
    server.stop()
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_base import Canned, FakeServer

__all__ = [
    "ACTIONS",
    "FakeGeminiServer",
    "Hang",
    "JsonReply",
    "RecordedRequest",
    "StreamReply",
    "as_server_reads_it",
    "embeddings_response",
    "error_body",
    "error_reply",
    "function_call",
    "json_reply",
    "malformed_reply",
    "rate_limited_reply",
    "response_body",
    "text_response",
]

ACTIONS = ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents")

_PATH = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<action>[A-Za-z]+)$")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# --- canned bodies, as the real API sends them ---------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def function_call(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    thought_signature: bytes | None = None,
) -> dict[str, Any]:
    """One ``functionCall`` part (with its ``thoughtSignature``, base64, when given)."""
    call: dict[str, Any] = {"name": name, "args": dict(args or {})}
    if id is not None:
        call["id"] = id
    part: dict[str, Any] = {"functionCall": call}
    if thought_signature is not None:
        part["thoughtSignature"] = _b64(thought_signature)
    return part


def response_body(
    parts: Sequence[Mapping[str, Any]],
    *,
    finish_reason: str | None = "STOP",
    usage: tuple[int, int] | None = (10, 5),
    thoughts_tokens: int | None = None,
    model_version: str = "gemini-2.5-flash",
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` with one candidate made of ``parts``."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model_version,
        "responseId": "fake-response-1",
    }
    if usage is not None:
        prompt, output = usage
        metadata = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output + (thoughts_tokens or 0),
        }
        if thoughts_tokens is not None:
            metadata["thoughtsTokenCount"] = thoughts_tokens
        body["usageMetadata"] = metadata
    return body


def text_response(
    text: str,
    *,
    thought_signature: bytes | None = None,
    finish_reason: str | None = "STOP",
    usage: tuple[int, int] | None = (10, 5),
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` whose one candidate says ``text``."""
    part: dict[str, Any] = {"text": text}
    if thought_signature is not None:
        part["thoughtSignature"] = _b64(thought_signature)
    return response_body([part], finish_reason=finish_reason, usage=usage)


def embeddings_response(vectors: Iterable[Sequence[float]]) -> dict[str, Any]:
    """A ``batchEmbedContents`` (or, with one vector, ``embedContent``-like) answer."""
    return {"embeddings": [{"values": list(v)} for v in vectors]}


def error_body(
    code: int,
    message: str,
    *,
    status: str | None = None,
    details: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Google's error body: ``{"error": {"code", "message", "status", "details"}}``."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = [dict(d) for d in details]
    return {"error": error}


# --- scripted replies ----------------------------------------------------------------


@dataclass(frozen=True)
class JsonReply:
    """Answer with ``status`` and ``body`` (JSON-encoded unless it is already bytes)."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

    def canned(self) -> Canned:
        data = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        headers = {"Content-Type": "application/json; charset=UTF-8", **self.headers}
        return Canned(status=self.status, headers=headers, body=data)


@dataclass(frozen=True)
class StreamReply:
    """Answer 200 with server-sent events, one per item (a dict is JSON-encoded, a str
    is sent as the raw ``data:`` text). With ``break_after=n`` the socket is closed after
    ``n`` events, in the middle of the chunked body; ``delay`` spaces the events out."""

    events: Sequence[Any]
    break_after: int | None = None
    delay: float = 0.0  # seconds before each event (a slow model)

    def canned(self) -> Canned:
        frames = [
            f"data: {e if isinstance(e, str) else json.dumps(e)}\r\n\r\n".encode()
            for e in self.events
        ]
        return Canned(
            headers={"Content-Type": "text/event-stream"},
            events=frames,
            break_after=self.break_after,
            event_delay=self.delay,
        )


@dataclass(frozen=True)
class Hang:
    """Never answer (until the server stops)."""

    def canned(self) -> Canned:
        return Canned(hang=True)


def json_reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JsonReply:
    return JsonReply(body, status, dict(headers or {}))


def error_reply(
    code: int,
    message: str,
    *,
    status: str | None = None,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JsonReply:
    return JsonReply(
        error_body(code, message, status=status, details=details), code, dict(headers or {})
    )


def rate_limited_reply(
    retry_delay: str | None = "17s", headers: Mapping[str, str] | None = None
) -> JsonReply:
    """The 429 Gemini sends when a quota is exhausted, with ``RetryInfo.retryDelay``."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                    "quotaValue": "10",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
    ]
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return error_reply(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        details=details,
        headers=headers,
    )


def malformed_reply(text: str = '{"candidates": [{"content": ') -> JsonReply:
    """A 200 whose body is not JSON (cut off in the middle)."""
    return JsonReply(text.encode("utf-8"), 200, {})


# --- recording -----------------------------------------------------------------------

# Fields whose value is a google.protobuf.Struct/Value (user data): kept verbatim when a
# body is read as the server does.
_STRUCT_FIELDS = frozenset(
    {"args", "response", "parametersJsonSchema", "responseJsonSchema", "partialArgs"}
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def as_server_reads_it(value: Any) -> Any:
    """A JSON body with every field name in camelCase, as the API's JSON parser reads it
    (it accepts both ``mime_type`` and ``mimeType``); user data inside Struct fields
    (function arguments and responses, JSON schemas) is left as sent."""
    if isinstance(value, list):
        return [as_server_reads_it(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = _camel(key)
            out[name] = item if name in _STRUCT_FIELDS else as_server_reads_it(item)
        return out
    return value


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. ``body`` is the parsed JSON (or None)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    raw_body: bytes
    body: Any
    version: str | None
    model: str | None
    action: str | None

    @property
    def wire(self) -> Any:
        """The body with field names as the server reads them (camelCase)."""
        return as_server_reads_it(self.body)


# --- the server ----------------------------------------------------------------------


class FakeGeminiServer(FakeServer):
    """The scripted Gemini server. Use ``start()``/``stop()`` or ``with``.

    Attributes:
        requests: every request received, in order (this module's ``RecordedRequest``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._queues: dict[str, deque[JsonReply | StreamReply | Hang]] = {
            a: deque() for a in ACTIONS
        }
        self._peers = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the SDK appends ``/v1beta/models/...``)."""
        return self.url

    # -- scripting

    def add(self, action: str, reply: JsonReply | StreamReply | Hang) -> None:
        """Queues ``reply`` for the next request of ``action``. Never blocks."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        with self._changed:
            self._queues[action].append(reply)

    def hold_replies_until(self, count: int) -> None:
        """Holds every reply until ``count`` requests are in flight together (a barrier
        that proves requests were in flight at the same time). Never blocks."""
        with self._changed:
            self._peers = count

    # -- called by the handlers

    def _recorded(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> RecordedRequest:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        split = urlsplit(path)
        match = _PATH.match(split.path)
        return RecordedRequest(
            method=method,
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query).items()},
            headers=headers,
            raw_body=body,
            body=parsed,
            version=match["version"] if match else None,
            model=match["model"] if match else None,
            action=match["action"] if match else None,
        )

    def _next_reply(self, request: RecordedRequest) -> Canned:
        if request.method != "POST" or request.action not in ACTIONS:
            message = f"Method not found: {request.method} {request.path}"
            return JsonReply(error_body(404, message), 404).canned()
        queue = self._queues[request.action]
        if not queue:
            message = f"fake Gemini server: no reply queued for {request.action}"
            return error_reply(500, message).canned()
        canned = queue.popleft().canned()
        canned.peers = self._peers
        return canned
