"""What goes wrong inside a google-genai call, as elixirchain errors (the Gemini adapter's
error translation).

Guarantees: ``translate`` turns every exception an SDK call raises into a
``ProviderError`` subclass, none is let through: Gemini's error answers (the SDK's
``APIError``) by their HTTP code, with ``retry_after`` from Gemini's
``RetryInfo.retryDelay`` detail, else a ``Retry-After`` header; the HTTP client's
transport errors (httpx or its fork httpx2, told apart by class name) as timeouts,
refused connections and broken streams; undecodable answers as ``MalformedResponse``.

This module never imports google-genai (the adapter alone does): ``translate`` is given
the SDK's ``errors`` module. Never blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from elixirchain.providers._http_errors import parse_retry_after

__all__ = ["NAME", "deadline_error", "translate"]

NAME = "gemini"

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_HTTP_PACKAGES = ("httpx", "httpx2", "httpcore", "httpcore2")


def deadline_error(timeout: float, delivered: int) -> ProviderError:
    """The error for a stream still running at its deadline, after ``delivered``
    chunks (returned, not raised): not retryable once something was delivered."""
    message = f"the gemini stream did not finish within its timeout of {timeout:g} s"
    if delivered:
        return StreamInterrupted(
            f"{message}, after {delivered} chunk(s)", provider=NAME, retryable=False
        )
    return ProviderTimeout(message, provider=NAME)


def translate(
    exc: Exception, sdk_errors: ModuleType, *, timeout: float, base_url: str, streaming: bool
) -> ProviderError:
    """The elixirchain error for an exception raised inside an SDK call (returned, not
    raised). ``sdk_errors`` is ``google.genai.errors``.

    Only SDK calls run inside the ``try`` blocks that call this, so every exception it
    sees comes from the SDK or its HTTP stack; none is let through.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk_errors.APIError):
        return _api_error(exc)
    if isinstance(exc, (json.JSONDecodeError, sdk_errors.UnknownApiResponseError)) or (
        type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")
    ):
        body = exc.doc if isinstance(exc, json.JSONDecodeError) else str(exc)
        return MalformedResponse(
            f"gemini's answer could not be decoded: {exc}", provider=NAME, body=body
        )
    kind = _transport_kind(exc)
    if kind == "timeout":
        return ProviderTimeout(
            f"gemini did not answer within the timeout of {timeout:g} s", provider=NAME
        )
    if kind == "connect":
        return ProviderUnavailable(
            f"could not connect to gemini at {base_url}: {exc}", provider=NAME
        )
    if kind == "broken" and streaming:
        return StreamInterrupted(
            f"the gemini stream broke off before its first chunk: {exc}",
            provider=NAME,
            retryable=True,
        )
    if kind is not None:
        return ProviderUnavailable(f"the connection to gemini failed: {exc}", provider=NAME)
    if isinstance(exc, (ValueError, TypeError)):
        return BadRequest(f"the google-genai SDK refused the request: {exc}", provider=NAME)
    return ProviderError(f"the google-genai SDK failed: {exc!r}", provider=NAME)


def _transport_kind(exc: BaseException) -> str | None:
    """ "timeout", "connect", "broken" or "other" for a transport error, else None.

    The SDK runs on httpx or on its fork httpx2, whose exception classes share names,
    so they are told apart by name.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if type(exc).__module__.split(".")[0] in _HTTP_PACKAGES:
        if "TimeoutException" in names:
            return "timeout"
        if "ConnectError" in names:
            return "connect"
        if names & {"RemoteProtocolError", "ReadError", "WriteError", "NetworkError"}:
            return "broken"
        return "other"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    if isinstance(exc, OSError):
        return "broken"
    return None


def _api_error(exc: Any) -> ProviderError:
    """Gemini's error answer (``google.genai.errors.APIError``) as an elixirchain error."""
    code = int(exc.code) if isinstance(exc.code, int) else None
    details = exc.details
    body = json.dumps(details, default=str) if details is not None else None
    message = f"gemini answered {code} {exc.status or ''}".rstrip() + f": {exc.message or ''}"
    fields: dict[str, Any] = {"provider": NAME, "status": code, "body": body}
    if code == 429:
        return RateLimited(message, retry_after=_retry_after(exc), **fields)
    if code in (401, 403) or _reason(details) == "API_KEY_INVALID":
        return AuthenticationError(message, **fields)
    if code == 408:
        return ProviderTimeout(message, **fields)
    if code is not None and 400 <= code < 500:
        return BadRequest(message, **fields)
    if code is not None and 500 <= code < 600:
        return ProviderUnavailable(message, retry_after=_retry_after(exc), **fields)
    return ProviderError(message, **fields)


def _error_details(details: Any) -> list[Mapping[str, Any]]:
    error = details.get("error", details) if isinstance(details, Mapping) else None
    found = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in found if isinstance(d, Mapping)] if isinstance(found, list) else []


def _reason(details: Any) -> str | None:
    for detail in _error_details(details):
        if detail.get("@type") == _ERROR_INFO:
            return str(detail.get("reason"))
    return None


def _retry_after(exc: Any) -> float | None:
    """Seconds from ``RetryInfo.retryDelay`` ("17s", "1.5s"), else ``Retry-After``."""
    for detail in _error_details(exc.details):
        if detail.get("@type") == _RETRY_INFO:
            delay = _duration(detail.get("retryDelay"))
            if delay is not None:
                return delay
    headers = getattr(exc.response, "headers", None)
    return parse_retry_after(headers) if isinstance(headers, Mapping) else None


def _duration(value: Any) -> float | None:
    """A protobuf Duration as JSON ("17s", "0.500s") or as {"seconds", "nanos"}."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)s\s*", value)
        return float(match[1]) if match else None
    if isinstance(value, Mapping):
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None
