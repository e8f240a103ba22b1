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

The server runs on 127.0.0.1, on a free port, in a thread (a greenlet under gevent's
monkey patching, which the test suite applies).

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
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

# How long a hung reply or a held reply waits at most, so a forgotten stop() cannot
# keep a handler alive for ever.
_MAX_WAIT = 60.0


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


@dataclass(frozen=True)
class StreamReply:
    """Answer 200 with server-sent events, one per item (a dict is JSON-encoded, a str
    is sent as the raw ``data:`` text). With ``break_after=n`` the socket is closed after
    ``n`` events, in the middle of the chunked body; ``delay`` spaces the events out."""

    events: Sequence[Any]
    break_after: int | None = None
    delay: float = 0.0  # seconds between events (a slow model)


@dataclass(frozen=True)
class Hang:
    """Never answer (until the server stops)."""


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGeminiServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30.0  # an idle keep-alive connection ends after this

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        return

    def do_GET(self) -> None:
        self._send_json(404, error_body(404, f"Method not found: GET {self.path}"), {})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        split = urlsplit(self.path)
        match = _PATH.match(split.path)
        recorded = RecordedRequest(
            method="POST",
            path=split.path,
            query={k: v[-1] for k, v in parse_qs(split.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            raw_body=raw,
            body=body,
            version=match["version"] if match else None,
            model=match["model"] if match else None,
            action=match["action"] if match else None,
        )
        fake._record(recorded)
        if match is None or match["action"] not in ACTIONS:
            self._send_json(404, error_body(404, f"Method not found: {split.path}"), {})
            return
        reply = fake._next_reply(match["action"])
        fake._wait_until_released()
        if isinstance(reply, Hang):
            fake._stopping.wait(_MAX_WAIT)
            self.close_connection = True
        elif isinstance(reply, StreamReply):
            self._send_stream(reply)
        else:
            self._send_json(reply.status, reply.body, reply.headers)

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, reply: StreamReply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for count, event in enumerate(reply.events):
            if reply.break_after is not None and count >= reply.break_after:
                self._break_connection()
                return
            if count and reply.delay:
                time.sleep(reply.delay)  # cooperative under gevent's patching
            text = event if isinstance(event, str) else json.dumps(event)
            self._write_chunk(f"data: {text}\r\n\r\n".encode())
        if reply.break_after is not None:
            self._break_connection()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _break_connection(self) -> None:
        """Close the socket in the middle of the chunked body, as a dropped link does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeGeminiServer:
    """The scripted Gemini server. Use ``start()``/``stop()`` or ``with``.

    Attributes:
        requests: every request received, in order.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: dict[str, deque[JsonReply | StreamReply | Hang]] = {
            a: deque() for a in ACTIONS
        }
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._hold_until: int | None = None
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle

    def start(self) -> FakeGeminiServer:
        """Binds 127.0.0.1 on a free port and serves in a thread. Never blocks."""
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Releases hung and held replies, stops serving and closes the socket.

        Blocks until the serving thread ended.
        """
        self._stopping.set()
        with self._lock:
            self._arrived.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> FakeGeminiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the SDK appends ``/v1beta/models/...``)."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting

    def add(self, action: str, reply: JsonReply | StreamReply | Hang) -> None:
        """Queues ``reply`` for the next request of ``action``. Never blocks."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        with self._lock:
            self._replies[action].append(reply)

    def hold_replies_until(self, count: int) -> None:
        """Holds every reply until ``count`` requests have arrived in all (a barrier that
        proves requests were in flight at the same time). Never blocks."""
        with self._lock:
            self._hold_until = count

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Blocks until ``count`` requests arrived or ``timeout`` passed; True if they did."""
        with self._lock:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    # -- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._arrived.notify_all()

    def _next_reply(self, action: str) -> JsonReply | StreamReply | Hang:
        with self._lock:
            queue = self._replies[action]
            if queue:
                return queue.popleft()
        return error_reply(500, f"fake Gemini server: no reply queued for {action}")

    def _wait_until_released(self) -> None:
        with self._lock:
            hold = self._hold_until
            if hold is not None:
                self._arrived.wait_for(
                    lambda: len(self.requests) >= hold or self._stopping.is_set(), _MAX_WAIT
                )
