"""HTTP plumbing shared by the ``requests``-based adapters (OpenAI-compatible, Anthropic).

Guarantees:

- Only ``elixirchain.errors`` exceptions leave this module; ``requests``' and
  ``urllib3``'s own never do. Each HTTP status maps to one exception class
  (``error_for_status``), and the message carries the vendor's own error message.
- ``check_url`` runs before every request, so ``ELIXIRCHAIN_FORBID_NETWORK=1`` stops a
  request before any connection is made.
- A call is bounded by its timeout: connecting by ``min(timeout, 10 s)``, the wait for
  the response head by ``timeout``, and reading the body or the event stream by the
  deadline ``start + timeout`` (each socket read waits at most until the deadline). So
  a call ends within ``timeout`` plus at most the time spent connecting.
- Redirects are never followed (a redirect could leave loopback behind the network
  switch's back); they fail as ``ProviderError``.
- Bodies and stream events are bounded in size (``MAX_BODY_BYTES``, ``MAX_EVENT_BYTES``).

The server-sent events parser (``iter_sse``) follows the WHATWG event-stream rules: lines
end with CRLF, LF or CR (also when split between two reads), ``:`` starts a comment, a
blank line dispatches the event, ``data`` lines join with ``"\\n"``, an unfinished event
at the end of the stream is dropped. The OpenAI terminator ``data: [DONE]`` is yielded
as an event whose ``done`` is true, and nothing after it is read.

Every call blocks only the calling beamlike process: the sockets are gevent's patched
ones (the program's entry point patches; this module never does).
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from elixirchain import __version__
from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from elixirchain.messages import Chunk
from elixirchain.providers.base import check_url

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_EVENT_BYTES",
    "INVALID_JSON_KEY",
    "HttpClient",
    "SseError",
    "SseEvent",
    "arguments_json",
    "check_base_url",
    "check_timeout",
    "content_text",
    "error_for_event",
    "error_for_status",
    "guard_stream",
    "is_local_url",
    "iter_sse",
    "parse_arguments",
    "parse_retry_after",
    "vendor_message",
]

CONNECT_TIMEOUT = 10.0  # seconds; a connection takes at most this, or the call's timeout
MAX_BODY_BYTES = 32 * 1024 * 1024  # a JSON answer larger than this is refused
MAX_EVENT_BYTES = 8 * 1024 * 1024  # one server-sent event (or line) larger than this too
POOL_MAXSIZE = 256  # kept-alive connections per provider instance
DRAIN_TIMEOUT = 0.5  # seconds spent reading the end of a body after a complete stream
_READ_SIZE = 64 * 1024
_NO_PROXY: dict[str, Any] = {"http": None, "https": None, "all": None}  # env proxies off


# --- URLs ------------------------------------------------------------------------


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost`` or a loopback address,
    as ``check_url`` decides). Never blocks."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(provider: str, url: str) -> str:
    """Validates an adapter's base URL and returns it without a trailing slash.

    Never blocks. Raises ``ConfigError`` for anything but an absolute http(s) URL.
    """
    if not isinstance(url, str):
        raise ConfigError(
            f"{provider} base_url must be an http(s) URL string; got {url!r} "
            f"(of type {type(url).__name__})"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{provider} base_url must be an absolute http:// or https:// URL; got {url!r}"
        )
    return url.rstrip("/")


# --- errors ----------------------------------------------------------------------


def vendor_message(body: str) -> str:
    """The human message inside a vendor's error body, else the body's start.

    Understands OpenAI's ``{"error": {"message": ...}}``, Anthropic's ``{"type": "error",
    "error": {"type": ..., "message": ...}}`` and the ``{"detail": ...}`` /
    ``{"message": ...}`` shapes of OpenAI-compatible servers. Never blocks.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for candidate in (error, data.get("message"), data.get("detail")):
            if isinstance(candidate, str) and candidate:
                return candidate
    text = body.strip()
    if not text:
        return "(empty body)"
    return text if len(text) <= 300 else text[:300] + "..."


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's wait hint in seconds, or None.

    ``retry-after-ms`` (milliseconds, sent by OpenAI) wins over ``Retry-After``, which is
    either seconds or an HTTP date (then: seconds from ``now``, a Unix time defaulting
    to the present, never negative). Header names are matched case-insensitively.
    Never blocks.
    """
    lowered = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:  # not NaN
            return value
    hint = lowered.get("retry-after")
    if not hint:
        return None
    try:
        seconds = float(hint)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(hint)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        present = time.time() if now is None else now
        return max(0.0, when.timestamp() - present)
    return seconds if seconds >= 0 and seconds == seconds else None


def _error_class(status: int) -> tuple[type[ProviderError], str]:
    if status == 429:
        return RateLimited, "rate limited"
    if status in (401, 403):
        return AuthenticationError, "authentication failed"
    if status in (400, 404, 413, 422):
        return BadRequest, "request refused"
    if status == 408:
        return ProviderTimeout, "request timed out"
    if status == 529 or 500 <= status <= 599:
        return ProviderUnavailable, "unavailable"
    return ProviderError, "unexpected answer"


def error_for_status(
    provider: str, status: int, headers: Mapping[str, str], body: str
) -> ProviderError:
    """The exception for an HTTP error answer (returned, not raised). Never blocks.

    429 → ``RateLimited``; 5xx and 529 (Anthropic's "overloaded") →
    ``ProviderUnavailable``; 400/404/413/422 → ``BadRequest``; 401/403 →
    ``AuthenticationError``; 408 → ``ProviderTimeout``; any other → ``ProviderError``
    (not retryable). ``retry_after`` comes from the headers. Example message:
    ``openai answered HTTP 429 Too Many Requests (rate limited): Rate limit reached ...``.
    """
    cls, what = _error_class(status)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Overloaded" if status == 529 else "Unknown Status"
    message = vendor_message(body)
    error = cls(
        f"{provider} answered HTTP {status} {phrase} ({what}): {message}",
        provider=provider,
        status=status,
        retry_after=parse_retry_after(headers),
        body=body,
    )
    if status == 429 and '"insufficient_quota"' in body:
        error.retryable = False  # OpenAI: the bill, not the rate; waiting will not help
    return error


def error_for_event(provider: str, kind: str, status: int, body: str) -> ProviderError:
    """The exception for an error the vendor reported inside a 200 answer or an event
    stream (returned, not raised). ``kind`` is the vendor's error type, ``status`` the
    HTTP status it stands for (it picks the class as in ``error_for_status``).
    Never blocks."""
    cls, what = _error_class(status)
    return cls(
        f"{provider} reported {kind or 'an error'} ({what}): {vendor_message(body)}",
        provider=provider,
        body=body,
    )


# --- tool arguments --------------------------------------------------------------

INVALID_JSON_KEY = "__invalid_json__"


def parse_arguments(raw: Any) -> dict[str, Any]:
    """A model's tool arguments as a dict, never raising.

    A JSON object (as text or already decoded) is returned as a dict; empty text or
    None is ``{}``; anything else (invalid JSON, a JSON list or number) comes back as
    ``{INVALID_JSON_KEY: "<the text>"}``, so the tool layer's schema check refuses it
    and the model is told, instead of the whole turn failing. Never blocks.
    """
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {INVALID_JSON_KEY: raw}
        if isinstance(value, dict):
            return value
        return {INVALID_JSON_KEY: raw}
    return {INVALID_JSON_KEY: json.dumps(raw, default=str)}


def arguments_json(arguments: Mapping[str, Any]) -> str:
    """Tool arguments as the JSON text sent back to a model; the invalid text kept by
    ``parse_arguments`` goes back unchanged. Never blocks."""
    if set(arguments) == {INVALID_JSON_KEY} and isinstance(arguments[INVALID_JSON_KEY], str):
        return str(arguments[INVALID_JSON_KEY])
    return json.dumps(dict(arguments), ensure_ascii=False, default=str)


def content_text(content: Any) -> str:
    """A tool result's content as text: a str unchanged, anything else as JSON.
    Never blocks."""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)


# --- server-sent events ----------------------------------------------------------


class SseError(ValueError):
    """The event stream breaks the size limits (``iter_sse``)."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its ``event`` name ("message" when unnamed), its ``data``
    (data lines joined with newlines), and the optional ``id`` and ``retry`` fields."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    @property
    def done(self) -> bool:
        """Whether this is OpenAI's end-of-stream marker ``data: [DONE]``."""
        return self.data == "[DONE]"

    def json(self) -> Any:
        """The data decoded as JSON. Raises ``ValueError`` when it is not JSON."""
        return json.loads(self.data)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _lines(chunks: Iterable[bytes], limit: int) -> Iterator[str]:
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # maybe the first half of a CRLF split between two reads
            yield buffer[start : match.start()].decode("utf-8", "replace")
            start = match.end()
        buffer = buffer[start:]
        if len(buffer) > limit:
            raise SseError(f"a server-sent event line is longer than {limit} bytes")
    if buffer.endswith(b"\r"):
        yield buffer[:-1].decode("utf-8", "replace")
    # any other unterminated last line belongs to an unfinished event: dropped


def iter_sse(chunks: Iterable[bytes], *, limit: int = MAX_EVENT_BYTES) -> Iterator[SseEvent]:
    """Parses a server-sent event stream given as byte chunks of any size.

    Blocks while it iterates ``chunks``. Stops after an event whose data is
    ``[DONE]`` (yielding it). Raises ``SseError`` when a line or an event exceeds
    ``limit`` bytes.
    """
    data: list[str] = []
    size = 0
    event = ""
    last_id: str | None = None
    retry: int | None = None
    first = True
    for line in _lines(chunks, limit):
        if first:
            first = False
            line = line.removeprefix("\ufeff")
        if not line:
            if data:
                sse = SseEvent("\n".join(data), event or "message", last_id, retry)
                yield sse
                if sse.done:
                    return
            data, size, event, retry = [], 0, "", None
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
            size += len(value) + 1
            if size > limit:
                raise SseError(f"a server-sent event is larger than {limit} bytes")
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry":
            if value.isdigit():
                retry = int(value)
        # other field names are ignored, as the standard says


# --- streams: delivered or not ---------------------------------------------------


def guard_stream(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Passes ``chunks`` on; a ``ProviderError`` raised after the first chunk reached
    the caller becomes non-retryable (sending again would repeat delivered text).

    Blocks while it iterates ``chunks``. Closing it closes ``chunks``.
    """
    delivered = False
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except ProviderError as error:
                if delivered:
                    error.retryable = False
                raise
            delivered = True
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


# --- the client ------------------------------------------------------------------


def check_timeout(provider: str, timeout: Any) -> float:
    """Returns ``timeout`` as a float; raises ``ConfigError`` unless it is a positive,
    finite number of seconds. Never blocks."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < float("inf")
    ):
        raise ConfigError(
            f"{provider} timeout must be a positive number of seconds; got {timeout!r}"
        )
    return float(timeout)


def _timeouts(provider: str, timeout: float) -> tuple[float, float]:
    seconds = check_timeout(provider, timeout)
    return min(seconds, CONNECT_TIMEOUT), seconds


class HttpClient:
    """One ``requests.Session`` (a pool of kept-alive connections) for one provider.

    ``provider`` is the name used in error messages, or a function returning it. Safe to
    share between beamlike processes: each request takes its own connection.
    """

    def __init__(self, provider: str | Callable[[], str], headers: Mapping[str, str]) -> None:
        self._provider = provider
        if not hasattr(urllib3.HTTPResponse, "read1"):
            raise ConfigError(
                f"the {self.provider} adapter needs urllib3 2.3 or later (for "
                f"HTTPResponse.read1); urllib3 {urllib3.__version__} is installed"
            )
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": f"elixirchain/{__version__}", **headers})
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def provider(self) -> str:
        """The provider's name, as error messages give it (read at each use: the
        registry renames instances, e.g. ``OpenAIProvider`` as ``"ollama"``)."""
        return self._provider() if callable(self._provider) else self._provider

    def close(self) -> None:
        """Closes the kept-alive connections. Never blocks."""
        self.session.close()

    # -- public calls --

    def post_json(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POSTs ``payload`` as JSON and returns the decoded JSON answer.

        Blocks until the answer is read or ``timeout`` seconds passed. Raises the
        ``ProviderError`` of the status (``error_for_status``), ``ProviderTimeout``,
        ``ProviderUnavailable`` (no connection), ``MalformedResponse`` (not JSON) or
        ``NetworkForbidden``.
        """
        deadline = time.monotonic() + _timeouts(self.provider, timeout)[1]
        response = self._send(url, payload, timeout, headers, accept="application/json")
        try:
            body = self._read_body(response, deadline, timeout)
        finally:
            response.close()
        text = body.decode("utf-8", "replace")
        if response.status_code >= 300:
            raise self._status_error(response, text)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MalformedResponse(
                f"{self.provider} sent an answer that is not valid JSON ({exc}); "
                f"it starts with {text[:80]!r}",
                provider=self.provider,
                status=response.status_code,
                body=text,
            ) from None

    def post_stream(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        last_event: str | None = None,
    ) -> Generator[SseEvent, None, None]:
        """POSTs ``payload`` as JSON and yields the server-sent events of the answer.

        The stream ends at the end of the body, after ``data: [DONE]``, or after the
        event named ``last_event``; in the two last cases the rest of the body is read
        quietly (for at most ``DRAIN_TIMEOUT``) so the connection can be used again.

        Blocks while waiting for each event; the whole stream must end within
        ``timeout`` seconds (``ProviderTimeout``). A connection that breaks off raises
        ``StreamInterrupted``; an error status raises as ``post_json`` does. Closing the
        iterator closes the connection.
        """
        deadline = time.monotonic() + _timeouts(self.provider, timeout)[1]
        response = self._send(url, payload, timeout, headers, accept="text/event-stream")
        try:
            if response.status_code >= 300:
                text = self._read_body(response, deadline, timeout).decode("utf-8", "replace")
                raise self._status_error(response, text)
            kind = response.headers.get("content-type", "")
            if kind.startswith("application/json"):
                body = self._read_body(response, deadline, timeout).decode("utf-8", "replace")
                raise MalformedResponse(
                    f"{self.provider} answered a streaming request with JSON instead of an "
                    f"event stream: {vendor_message(body)}",
                    provider=self.provider,
                    status=response.status_code,
                    body=body,
                )
            chunks = self._read_chunks(response, deadline, timeout)
            try:
                for event in iter_sse(chunks):
                    yield event
                    if event.done or (last_event is not None and event.event == last_event):
                        break
            except SseError as exc:
                raise MalformedResponse(
                    f"{self.provider} sent a malformed event stream: {exc}", provider=self.provider
                ) from None
            chunks.close()
            self._drain(response, min(deadline, time.monotonic() + DRAIN_TIMEOUT), timeout)
        finally:
            response.close()

    # -- internals --

    def _send(
        self,
        url: str,
        payload: Mapping[str, Any],
        timeout: float,
        headers: Mapping[str, str] | None,
        *,
        accept: str,
    ) -> requests.Response:
        check_url(url)
        connect, read = _timeouts(self.provider, timeout)
        try:
            data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise BadRequest(
                f"{self.provider} request cannot be encoded as JSON: {exc}", provider=self.provider
            ) from None
        merged = {"Content-Type": "application/json", "Accept": accept, **(headers or {})}
        try:
            return self.session.post(
                url,
                data=data,
                headers=merged,
                timeout=(connect, read),
                stream=True,
                allow_redirects=False,
                proxies=_NO_PROXY if is_local_url(url) else None,
            )
        except requests.Timeout as exc:
            raise ProviderTimeout(
                f"{self.provider} did not answer {url} within {timeout:g} s ({_short(exc)})",
                provider=self.provider,
            ) from None
        except requests.ConnectionError as exc:
            raise ProviderUnavailable(
                f"{self.provider} could not be reached at {url}: {_short(exc)}",
                provider=self.provider,
            ) from None
        except requests.RequestException as exc:
            raise ProviderError(
                f"{self.provider} request to {url} failed: {_short(exc)}", provider=self.provider
            ) from None

    def _status_error(self, response: requests.Response, body: str) -> ProviderError:
        status = response.status_code
        if 300 <= status < 400:
            return ProviderError(
                f"{self.provider} answered HTTP {status} redirecting to "
                f"{response.headers.get('location', '?')!r}; redirects are not followed: "
                "set base_url to the final address",
                provider=self.provider,
                status=status,
                body=body,
            )
        return error_for_status(self.provider, status, response.headers, body)

    def _read_body(self, response: requests.Response, deadline: float, timeout: float) -> bytes:
        parts: list[bytes] = []
        size = 0
        for part in self._read_chunks(response, deadline, timeout, broken=ProviderUnavailable):
            parts.append(part)
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise MalformedResponse(
                    f"{self.provider} sent an answer larger than {MAX_BODY_BYTES} bytes",
                    provider=self.provider,
                    status=response.status_code,
                )
        return b"".join(parts)

    def _read_chunks(
        self,
        response: requests.Response,
        deadline: float,
        timeout: float,
        *,
        broken: type[ProviderError] = StreamInterrupted,
    ) -> Generator[bytes, None, None]:
        raw = response.raw
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(timeout)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            _set_timeout(sock, min(timeout, remaining))
            try:
                data = raw.read1(_READ_SIZE, decode_content=True)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
                raise self._timeout(timeout) from None
            except (
                urllib3.exceptions.HTTPError,
                requests.RequestException,
                http.client.HTTPException,
                OSError,
            ) as exc:
                what = "event stream" if broken is StreamInterrupted else "answer"
                raise broken(
                    f"{self.provider} {what} broke off: {_short(exc)}",
                    provider=self.provider,
                    status=response.status_code,
                ) from None
            finally:
                # the connection may go back to the pool: leave it its usual timeout
                _set_timeout(sock, timeout)
            if not data:
                return
            yield data

    def _drain(self, response: requests.Response, deadline: float, timeout: float) -> None:
        """Reads what follows a complete answer (the last chunk of the body), so the
        connection goes back to the pool; gives up quietly."""
        size = 0
        try:
            for part in self._read_chunks(response, deadline, timeout):
                size += len(part)
                if size > _READ_SIZE:
                    return
        except ProviderError:
            return

    def _timeout(self, timeout: float) -> ProviderTimeout:
        return ProviderTimeout(
            f"{self.provider} did not finish answering within {timeout:g} s",
            provider=self.provider,
        )


def _set_timeout(sock: Any, seconds: float) -> None:
    """Bounds the socket's next reads to ``seconds`` (best effort: None is skipped)."""
    if sock is not None:
        try:
            sock.settimeout(seconds)
        except OSError:
            pass  # a closed socket: the read itself will say so


def _short(exc: BaseException) -> str:
    """An exception as one readable line (requests nests urllib3's reasons)."""
    reason = exc
    for _ in range(4):
        inner = reason.args[0] if reason.args else None
        if isinstance(inner, BaseException):
            reason = inner
            continue
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException) and inner is not reason:
            reason = inner
            continue
        break
    text = str(reason) or type(reason).__name__
    return text if len(text) <= 300 else text[:300] + "..."
