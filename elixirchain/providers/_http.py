"""HTTP plumbing shared by the ``requests``-based adapters (OpenAI-compatible, Anthropic).

Guarantees:

- Only ``elixirchain.errors`` exceptions leave this module; ``requests``' and
  ``urllib3``'s own never do. Each HTTP status maps to one exception class
  (``_http_errors.error_for_status``), and the message carries the vendor's own error
  message.
- ``check_url`` runs before every request, so ``ELIXIRCHAIN_FORBID_NETWORK=1`` stops a
  request before any connection is made.
- A call is bounded by its timeout: connecting by ``min(timeout, 10 s)``, the wait for
  the response head by ``timeout``, and reading the body or the event stream by the
  deadline ``start + timeout`` (each socket read waits at most until the deadline). So
  a call ends within ``timeout`` plus at most the time spent connecting.
- Redirects are never followed (a redirect could leave loopback behind the network
  switch's back); they fail as ``ProviderError``.
- Bodies and stream events are bounded in size (``MAX_BODY_BYTES``,
  ``_sse.MAX_EVENT_BYTES``).

Event streams are parsed by ``_sse.iter_sse``; error answers become exceptions in
``_http_errors``.

Every call blocks only the calling beamlike process: the sockets are gevent's patched
ones (the program's entry point patches; this module never does).
"""

from __future__ import annotations

import http.client
import json
import os
import time
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterator, Mapping
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
    StreamInterrupted,
)
from elixirchain.messages import Chunk, Request, Response, ToolCall
from elixirchain.providers._http_errors import error_for_status, vendor_message
from elixirchain.providers._sse import SseError, SseEvent, iter_sse
from elixirchain.providers.base import Provider, check_url, is_local_url

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_BODY_BYTES",
    "INVALID_JSON_KEY",
    "SHAPE_ERRORS",
    "HttpClient",
    "HttpProvider",
    "arguments_json",
    "check_base_url",
    "check_timeout",
    "content_text",
    "finish_reason",
    "guard_stream",
    "parse_arguments",
]

CONNECT_TIMEOUT = 10.0  # seconds; a connection takes at most this, or the call's timeout
MAX_BODY_BYTES = 32 * 1024 * 1024  # a JSON answer larger than this is refused
POOL_MAXSIZE = 256  # kept-alive connections per provider instance
DRAIN_TIMEOUT = 0.5  # seconds spent reading the end of a body after a complete stream
_READ_SIZE = 64 * 1024
_NO_PROXY: dict[str, Any] = {"http": None, "https": None, "all": None}  # env proxies off
# What reading a decoded answer of the wrong shape raises (caught as MalformedResponse).
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)


def _environment_settings(url: str) -> tuple[Any, Any]:
    """``(proxies, verify)`` for requests to ``url``'s host, from the environment, as
    requests would read them (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE,
    CURL_CA_BUNDLE): a loopback host never goes through a proxy; plain HTTP needs no CA
    bundle. Never blocks."""
    proxies = _NO_PROXY if is_local_url(url) else requests.utils.get_environ_proxies(url)
    if url.startswith("http://"):
        return proxies, False  # no TLS, nothing to verify
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return proxies, bundle or True


# --- URLs ------------------------------------------------------------------------


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
        # The environment is read once per host (_environment_settings), not by requests
        # on every request: with trust_env it walks os.environ for proxies and looks up
        # ~/.netrc each time (a quarter of the client's time with 1,000 concurrent
        # chats), and a netrc entry would replace the provider's API key header.
        self.session.trust_env = False
        self._settings: dict[str, tuple[Any, Any]] = {}
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
        timeout = check_timeout(self.provider, timeout)
        deadline = time.monotonic() + timeout
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
        timeout = check_timeout(self.provider, timeout)
        deadline = time.monotonic() + timeout
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
        try:
            data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise BadRequest(
                f"{self.provider} request cannot be encoded as JSON: {exc}", provider=self.provider
            ) from None
        merged = {"Content-Type": "application/json", "Accept": accept, **(headers or {})}
        origin = url[: url.find("/", url.find("//") + 2)] if url.count("/") > 2 else url
        settings = self._settings.get(origin)
        if settings is None:
            settings = self._settings[origin] = _environment_settings(url)
        proxies, verify = settings
        try:
            return self.session.post(
                url,
                data=data,
                headers=merged,
                timeout=(min(timeout, CONNECT_TIMEOUT), timeout),
                stream=True,
                allow_redirects=False,
                proxies=proxies,
                verify=verify,
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


# --- the adapters' shared shape --------------------------------------------------


class HttpProvider(Provider):
    """What the ``requests``-based adapters share: the endpoint and key set-up, one
    ``HttpClient``, the bound on each call, and ``generate``/``stream`` on the chat
    endpoint ``base_url + chat_path``.

    A subclass sets ``name`` and ``chat_path``, calls ``_configure`` then ``_connect``
    from its ``__init__``, and implements ``payload`` (the JSON body), ``_response``
    (a decoded answer as a ``Response``) and ``_stream`` (the events as chunks).
    """

    chat_path = ""
    base_url: str
    api_key: str | None
    model: str
    timeout: float
    _http: HttpClient

    def _configure(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        default_url: str,
        url_env: str,
        key_env: str,
        keyless_note: str = "",
    ) -> None:
        """Sets ``base_url`` and ``api_key`` (given, else from ``url_env``/``key_env``,
        else ``default_url``/none) and ``model``. Never blocks.

        Raises ``AuthenticationError`` when there is no key for a server that is not
        local (``keyless_note`` ends its message), ``ConfigError`` for a malformed
        ``base_url`` or a ``model`` that is not a str.
        """
        url = base_url or os.environ.get(url_env) or default_url
        self.base_url = check_base_url(self.name, url)
        self.api_key = api_key or os.environ.get(key_env) or None
        if self.api_key is None and not is_local_url(self.base_url):
            raise AuthenticationError(
                f"{self.name} needs an API key for {self.base_url}: pass api_key=... or set "
                f"{key_env}{keyless_note}",
                provider=self.name,
            )
        if not isinstance(model, str):
            raise ConfigError(f"{self.name} model must be a str; got {model!r}")
        self.model = self.default_model = model

    def _connect(self, timeout: float, headers: Mapping[str, str]) -> None:
        """Sets ``timeout`` (``ConfigError`` unless a positive number) and opens the
        connection pool sending ``headers``. Never blocks (connections open on use)."""
        self.timeout = check_timeout(self.name, timeout)
        self._http = HttpClient(lambda: self.name, headers)

    def api_key_for_gate(self) -> str | None:
        """The key; for a keyless local server, its URL (each server its own gate)."""
        return self.api_key or self.base_url

    def close(self) -> None:
        """Closes the kept-alive connections. Never blocks."""
        self._http.close()

    @abstractmethod
    def payload(self, request: Request, *, stream: bool = False) -> dict[str, Any]:
        """The JSON body sent for ``request``. Never blocks."""

    def generate(self, request: Request) -> Response:
        """Sends ``request`` to the chat endpoint and returns the answer.

        Blocks until the answer arrived, the timeout passed (``ProviderTimeout``) or
        the call failed (another ``ProviderError``).
        """
        payload = self.payload(request)
        data = self._http.post_json(
            self.base_url + self.chat_path, payload, timeout=self._timeout(request)
        )
        return self._response(data, payload["model"])

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Sends ``request`` with ``"stream": true`` and yields the answer as it arrives.

        The request is checked (and refused) at once; it is sent at the first
        ``next()``. Blocks while waiting for each chunk; closing the iterator closes the
        connection. An error after the first chunk is not retryable.
        """
        payload = self.payload(request, stream=True)
        url = self.base_url + self.chat_path
        check_url(url)
        return guard_stream(self._stream(url, payload, self._timeout(request)))

    @abstractmethod
    def _response(self, data: Any, model: str) -> Response:
        """The decoded answer ``data`` (to a request for ``model``) as a Response."""

    @abstractmethod
    def _stream(self, url: str, payload: dict[str, Any], timeout: float) -> Iterator[Chunk]:
        """POSTs ``payload`` to ``url`` and yields the answer's chunks."""

    def _timeout(self, request: Request) -> float:
        return min(float(request.timeout), self.timeout)

    def _with_options(self, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """``body`` with ``request.options`` added; ``ConfigError`` for an option that
        names a key the adapter sets itself."""
        clash = sorted(set(request.options) & set(body))
        if clash:
            raise ConfigError(
                f"{self.name} request options may not override {', '.join(map(repr, clash))}: "
                "the adapter sets them from the Request's own fields"
            )
        body.update(request.options)
        return body

    def _event_json(self, event: SseEvent) -> Any:
        """A stream event's data decoded; ``MalformedResponse`` when it is not JSON."""
        try:
            return event.json()
        except ValueError as exc:
            raise self._malformed("stream event", event.data, exc) from None

    def _malformed(self, what: str, data: Any, exc: Exception) -> MalformedResponse:
        shown = data if isinstance(data, str) else repr(data)
        return MalformedResponse(
            f"{self.name} sent a {what} of unexpected shape ({type(exc).__name__}: {exc}); "
            f"it starts with {shown[:120]!r}",
            provider=self.name,
            body=shown,
        )


def finish_reason(reason: Any, calls: tuple[ToolCall, ...], names: Mapping[str, str]) -> str:
    """The vendor-neutral finish reason for the vendor's ``reason`` (renamed by
    ``names``, else passed through); without one, by whether tools were called."""
    if reason is None:
        return "tool_calls" if calls else "stop"
    return names.get(str(reason), str(reason))


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
