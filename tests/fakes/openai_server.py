"""A fake OpenAI server speaking the real Chat Completions and embeddings wire format.

Two uses:

- In tests, ``FakeOpenAIServer`` (a scriptable ``FakeServer``): queue replies with
  ``reply_text``, ``reply_tool_calls``, ``stream_text``, ``stream_tool_calls``,
  ``reply_rate_limited``, ``reply_server_error``, ``reply_malformed``, ``hang``, ...; read
  what arrived in ``requests``. Point the adapter at ``server.base_url``.
- As its own OS process, for benchmarks::

      python tests/fakes/openai_server.py --port 0 --delay 0.1

  prints the port it listens on (one line, just the number), then answers every
  ``POST .../chat/completions`` (streaming or not) with a fixed short answer after
  ``--delay`` seconds. It runs on gevent's WSGI server with monkey patching, so a
  thousand concurrent connections cost a thousand greenlets.

The bodies copy what api.openai.com sends (ids, ``object`` names, ``usage``, the
``error`` object of a 429 and its ``retry-after`` and ``x-ratelimit-*`` headers).
"""

from __future__ import annotations

if __name__ == "__main__":  # the benchmark process: patch before anything imports socket
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

if not __package__:  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.http_base import Canned, FakeServer, sse  # noqa: E402

__all__ = ["MODEL", "FakeOpenAIServer", "completion", "completion_chunk", "main"]

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1_726_000_000
DEFAULT_TEXT = "Hello from the fake OpenAI server."

RATE_LIMIT_MESSAGE = (
    "Rate limit reached for gpt-4o-mini in organization org-fake123 on requests per min "
    "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"


# --- bodies ----------------------------------------------------------------------


def completion(
    text: str | None,
    tool_calls: Sequence[tuple[str, str, Any]] = (),
    *,
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    finish_reason: str | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """A ``chat.completion`` object. ``tool_calls`` are ``(id, name, arguments)``;
    arguments that are not a str are JSON-encoded, as OpenAI does."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
            for call_id, name, arguments in tool_calls
        ]
    return {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_fake",
    }


def completion_chunk(
    delta: dict[str, Any] | None, *, finish_reason: str | None = None, model: str = MODEL
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` gives the final usage-only chunk's
    shape without usage (callers add it)."""
    choices = []
    if delta is not None:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    return {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
        "usage": None,
    }


def _usage_chunk(prompt_tokens: int, completion_tokens: int, model: str = MODEL) -> dict[str, Any]:
    chunk = completion_chunk(None, model=model)
    chunk["usage"] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return chunk


def _text_frames(
    deltas: Iterable[str], prompt_tokens: int, completion_tokens: int, finish_reason: str
) -> list[bytes]:
    frames = [sse(completion_chunk({"role": "assistant", "content": "", "refusal": None}))]
    frames += [sse(completion_chunk({"content": delta})) for delta in deltas]
    return frames + _end_frames(finish_reason, prompt_tokens, completion_tokens)


def _end_frames(finish_reason: str, prompt_tokens: int, completion_tokens: int) -> list[bytes]:
    """The finish chunk, the usage chunk and ``[DONE]``."""
    return [
        sse(completion_chunk({}, finish_reason=finish_reason)),
        sse(_usage_chunk(prompt_tokens, completion_tokens)),
        sse("[DONE]"),
    ]


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- the scriptable fake -----------------------------------------------------------

_STREAM = {"Content-Type": "text/event-stream"}


class FakeOpenAIServer(FakeServer):
    """A ``FakeServer`` with OpenAI-shaped replies. ``base_url`` ends in ``/v1``.

    Every ``reply_*``/``stream_*`` method accepts ``Canned`` options as keywords
    (``delay``, ``peers``, ``headers``...).
    """

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reply_text(
        self,
        text: str,
        *,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        finish_reason: str = "stop",
        **options: Any,
    ) -> None:
        body = completion(
            text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
        )
        self.push(Canned.json(body, **options))

    def reply_tool_calls(
        self,
        calls: Sequence[tuple[str, str, Any]],
        *,
        text: str | None = None,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        **options: Any,
    ) -> None:
        """``calls`` are ``(id, name, arguments)``; a str argument is sent as is."""
        body = completion(
            text, calls, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        self.push(Canned.json(body, **options))

    def stream_text(
        self,
        deltas: Sequence[str],
        *,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        finish_reason: str = "stop",
        **options: Any,
    ) -> None:
        """An event stream: a role chunk, one chunk per delta, the finish chunk, the
        usage chunk, ``[DONE]``. With ``break_after=N`` the socket closes after N
        frames."""
        frames = _text_frames(deltas, prompt_tokens, completion_tokens, finish_reason)
        self.push(Canned(headers=_STREAM, events=frames, **options))

    def stream_tool_calls(
        self,
        calls: Sequence[tuple[str, str, Sequence[str]]],
        *,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        **options: Any,
    ) -> None:
        """``calls`` are ``(id, name, argument fragments)``; fragments of different calls
        are interleaved, as a parallel tool call streams."""
        frames = [sse(completion_chunk({"role": "assistant", "content": None, "refusal": None}))]
        for index, (call_id, name, _) in enumerate(calls):
            first = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            frames.append(sse(completion_chunk({"tool_calls": [first]})))
        longest = max((len(fragments) for _, _, fragments in calls), default=0)
        for position in range(longest):
            for index, (_, _, fragments) in enumerate(calls):
                if position < len(fragments):
                    piece = {"index": index, "function": {"arguments": fragments[position]}}
                    frames.append(sse(completion_chunk({"tool_calls": [piece]})))
        frames += _end_frames("tool_calls", prompt_tokens, completion_tokens)
        self.push(Canned(headers=_STREAM, events=frames, **options))

    def reply_embeddings(self, vectors: Sequence[Sequence[float]], **options: Any) -> None:
        body = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": list(v)}
                for i, v in enumerate(vectors)
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        }
        self.push(Canned.json(body, **options))

    def reply_error(
        self,
        status: int,
        message: str,
        *,
        type_: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        self.push(
            Canned.json(_error(message, type_, code), status, headers=headers or {}, **options)
        )

    def reply_rate_limited(
        self, *, retry_after: str | None = "20", retry_after_ms: str | None = None
    ) -> None:
        """OpenAI's 429: the ``requests`` rate-limit error body and its headers."""
        headers = {
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "20s",
        }
        if retry_after is not None:
            headers["retry-after"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        self.reply_error(
            429, RATE_LIMIT_MESSAGE, type_="requests", code="rate_limit_exceeded", headers=headers
        )

    def reply_server_error(self, status: int = 500) -> None:
        self.reply_error(status, SERVER_ERROR_MESSAGE, type_="server_error")

    def reply_malformed(self, body: bytes = b'{"id": "chatcmpl-fake0001", "choices": [') -> None:
        self.push(Canned(headers={"Content-Type": "application/json"}, body=body))

    def hang(self) -> None:
        """The next request is read and never answered."""
        self.push(Canned(hang=True))


# --- the benchmark process -------------------------------------------------------


def bench_app(delay: float, text: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering every chat completion with ``text`` after ``delay`` s."""
    import gevent

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method != "POST" or not path.endswith("/chat/completions"):
            body = json.dumps(
                _error(
                    f"Unknown request URL: {method} {path}.", "invalid_request_error", "unknown_url"
                )
            ).encode()
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [body]
        try:
            payload = json.loads(environ["wsgi.input"].read() or b"{}")
        except ValueError:
            body = json.dumps(
                _error(
                    "We could not parse the JSON body of your request.",
                    "invalid_request_error",
                    None,
                )
            ).encode()
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [body]
        if delay > 0:
            gevent.sleep(delay)
        if payload.get("stream"):
            start_response("200 OK", [("Content-Type", "text/event-stream")])
            return _text_frames([text], 11, 7, "stop")
        body = json.dumps(completion(text)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def _no_delay_server_class() -> type:
    from gevent import pywsgi

    class NoDelayServer(pywsgi.WSGIServer):  # type: ignore[misc]
        """Sends each write at once (TCP_NODELAY), as production HTTP servers do: with
        Nagle's algorithm on, a response written in two parts waits for the client's
        delayed ACK (about 40 ms on Linux) before its second part leaves."""

        def handle(self, sock: Any, address: Any) -> Any:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle(sock, address)

    return NoDelayServer


def _raise_file_limit() -> None:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: Sequence[str] | None = None) -> int:
    """Serves the benchmark app until interrupted or terminated. Blocks."""
    import signal

    import gevent

    parser = argparse.ArgumentParser(description="A fake OpenAI Chat Completions server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the answer")
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error(f"--delay must be >= 0; got {args.delay}")
    _raise_file_limit()
    server = _no_delay_server_class()(
        (args.host, args.port), bench_app(args.delay, args.text), log=None, backlog=4096
    )
    server.start()
    gevent.signal_handler(signal.SIGTERM, server.close)
    print(server.server_port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
