"""Vendors' HTTP error answers as elixirchain errors.

Guarantees: each HTTP status maps to one ``ProviderError`` class (``error_for_status``;
an error reported inside a 200 answer or an event stream goes through the same table,
``error_for_event``), the message carries the vendor's own error message
(``vendor_message``), and ``retry_after`` is the server's wait hint
(``parse_retry_after``). Pure functions of the answer: nothing here does I/O or imports
an HTTP library, so every adapter may use them.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from http import HTTPStatus

from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["error_for_event", "error_for_status", "parse_retry_after", "vendor_message"]


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
