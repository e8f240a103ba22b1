"""Exceptions of elixirchain: one root, and a taxonomy that says what may be retried.

``ElixirChainError`` is the root of every error this package raises. Provider failures
are ``ProviderError`` subclasses that carry ``retryable`` (may the same request succeed
if sent again later?) and ``retry_after`` (the server's wait hint in seconds, from a
``Retry-After`` header or Gemini's ``RetryInfo.retryDelay``), so one retry layer serves
every vendor. Errors of the caller (bad options, bad tool arguments) are ``ValueError``s
too, so plain ``except ValueError`` code keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "AgentAlreadyStarted",
    "AgentNotFound",
    "AuthenticationError",
    "BadRequest",
    "ChatTimeout",
    "CircuitOpen",
    "ConfigError",
    "ElixirChainError",
    "MalformedResponse",
    "NetworkForbidden",
    "Overloaded",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "StreamInterrupted",
    "ToolError",
    "ToolFailed",
    "ToolNotFound",
    "ToolTimeout",
    "InvalidToolArguments",
    "TurnFailed",
    "unknown_option",
]


class ElixirChainError(Exception):
    """Root of the errors raised by elixirchain."""


class ConfigError(ElixirChainError, ValueError):
    """An option or configuration value was refused. The caller's mistake."""


def unknown_option(what: str, given: Iterable[str], valid: Iterable[str]) -> ConfigError:
    """The error for misspelt or unknown options: names them and lists the valid ones.

    Never blocks. Example message: ``start_agent got unknown option 'modle'; valid
    options are: llm_provider, model, name``.
    """
    bad = sorted(given)
    names = ", ".join(repr(b) for b in bad)
    plural = "s" if len(bad) > 1 else ""
    return ConfigError(
        f"{what} got unknown option{plural} {names}; valid options are: " + ", ".join(sorted(valid))
    )


class NetworkForbidden(ElixirChainError):
    """A provider tried to reach a non-loopback host while real requests are forbidden.

    The switch is the environment variable ``ELIXIRCHAIN_FORBID_NETWORK=1`` (set by the
    test suite); see ``elixirchain.providers.base.check_url``.
    """


# --- providers ---------------------------------------------------------------------


class ProviderError(ElixirChainError):
    """A provider call failed.

    Attributes:
        provider: the provider's name ("gemini", "openai", ...).
        status: the HTTP status, when there was one.
        retryable: whether the same request may succeed when sent again later.
        retry_after: the server's wait hint in seconds, or None.
        body: the response body (text, truncated to 2,000 characters), or None.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.body = body[:2000] if body is not None else None
        if retryable is not None:
            self.retryable = retryable

    def __reduce__(self) -> Any:  # keeps the keyword attributes when pickled or copied
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class RateLimited(ProviderError):
    """The provider (HTTP 429) or our own gate refused for now; retry after a wait."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """A 5xx answer or a failed connection: the provider may recover."""

    retryable = True


class ProviderTimeout(ProviderError, TimeoutError):
    """No (complete) answer within the request's timeout."""

    retryable = True


class MalformedResponse(ProviderError):
    """The answer could not be decoded (bad JSON, missing fields)."""

    retryable = True


class StreamInterrupted(ProviderError):
    """A streamed answer broke off in the middle.

    Retryable only when nothing had been delivered to the caller yet; the adapter sets
    ``retryable`` accordingly.
    """

    retryable = True


class BadRequest(ProviderError, ValueError):
    """The provider refused the request as invalid (HTTP 400, 404, 413, 422)."""


class AuthenticationError(ProviderError):
    """The key is missing, wrong or lacks permission (HTTP 401, 403)."""


class CircuitOpen(ElixirChainError):
    """The provider's circuit breaker is open: calls fail fast until ``retry_after``."""

    def __init__(self, message: str, *, key: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.key = key
        self.retry_after = retry_after


class Overloaded(ElixirChainError):
    """A bounded queue is full (an agent's pending requests, a gate's waiters).

    Fails fast instead of piling up; the caller may try again later.
    """


# --- tools -------------------------------------------------------------------------


class ToolError(ElixirChainError):
    """A tool call failed; the agent sends it back to the model as an error result."""


class ToolNotFound(ToolError, LookupError):
    """The model (or a caller) asked for a tool that is not registered."""


class InvalidToolArguments(ToolError, ValueError):
    """The arguments do not match the tool's JSON Schema."""


class ToolTimeout(ToolError, TimeoutError):
    """The tool did not finish within its timeout."""


class ToolFailed(ToolError):
    """The tool raised; the message says what it raised."""


# --- agents ------------------------------------------------------------------------


class AgentNotFound(ElixirChainError, LookupError):
    """No agent runs under that name."""


class AgentAlreadyStarted(ElixirChainError, ValueError):
    """An agent with that name is already running."""


class ChatTimeout(ElixirChainError, TimeoutError):
    """The agent did not answer within the ``timeout`` given to ``chat``."""


class TurnFailed(ElixirChainError):
    """The turn could not be completed; ``__cause__`` or the message says why."""
