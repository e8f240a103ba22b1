"""One resilient provider call: cache, gate, retries, fallback, telemetry.

``call_provider`` and ``stream_provider`` are what agents use instead of calling a
provider directly. In order:

1. **Cache** (``cache=``): a hit answers without any provider call (the rule of what is
   cached is in ``cache.py``). A miss is stored once the primary provider answered;
   answers of the fallback are not cached.
2. **Gate**: unless ``gates`` is None or no process is registered under that name, a
   permit is acquired from the gate of ``provider.key`` (started with ``limits``, or
   ``Limits()`` when None, if it is not running), for ``provider.estimate_tokens``
   tokens, and released after the call with the outcome and the real token usage.
3. **Retries** (``retry=``, ``RetryPolicy()`` when None): a retryable error is retried
   after ``retry.retry_delay`` seconds (exponential backoff with jitter, or the server's
   ``retry_after`` when longer; a hint above ``max_retry_after`` gives up at once). A
   non-retryable error (``BadRequest``, ``AuthenticationError``) is raised at once, and
   so are the gate's ``CircuitOpen`` and ``Overloaded``.
4. **Fallback** (``fallback=``): when the primary has failed with a retryable error after
   all its attempts, or its gate refused (``CircuitOpen``, ``Overloaded``), the fallback
   provider is tried once, through its own gate and with its own retries. If it fails
   too, the *primary's* error is raised, with the fallback's error as its
   ``__context__`` and a note naming it. A non-retryable error of the primary does not
   fall back: the request itself is at fault. The fallback gets the request with its
   own ``default_model`` when it is another vendor (``fallback.name !=
   provider.name``) and has one. A fallback gate that is not running is started with
   ``Limits()``; start it yourself with ``gate_for`` to give it limits.

Streaming holds the permit while the stream is consumed; it retries (and falls back)
only if the failure came before the first chunk was yielded, and closing the iterator
early releases the permit and closes the provider's stream.

Telemetry (``docs/telemetry.md``): ``provider.call.start/stop/exception`` per attempt,
``provider.retry``, ``provider.fallback``, ``cache.hit/miss``; the caller's ``metadata``
is added to each of them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import beamlike
from elixirchain import telemetry
from elixirchain.errors import CircuitOpen, ConfigError, Overloaded, ProviderError
from elixirchain.messages import Chunk, Request, Response, Usage, collect
from elixirchain.providers.base import Provider
from elixirchain.resilience.breaker import CANCELLED, ERROR, FAILURE, SUCCESS
from elixirchain.resilience.cache import ResponseCache
from elixirchain.resilience.gate import Permit, acquire, release
from elixirchain.resilience.gates import DEFAULT_GATES, gate_for
from elixirchain.resilience.policy import Limits, RetryPolicy
from elixirchain.resilience.retry import is_retryable, retry_delay

__all__ = ["call_provider", "stream_provider"]

_NO_LIMITS = Limits()
_DEFAULT_RETRY = RetryPolicy()  # frozen: one shared instance, not one per call
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_CALL_START = ("elixirchain", "provider", "call", "start")
_CALL_STOP = ("elixirchain", "provider", "call", "stop")
_CALL_EXCEPTION = ("elixirchain", "provider", "call", "exception")
_RETRY = ("elixirchain", "provider", "retry")
_FALLBACK = ("elixirchain", "provider", "fallback")


# -- arguments ------------------------------------------------------------------------


def _check(
    what: str,
    provider: Any,
    request: Any,
    limits: Any,
    retry: Any,
    fallback: Any,
    cache: Any,
    gates: Any,
    metadata: Any,
) -> None:
    def refuse(name: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{what} {name} must be {expected}; got {value!r}")

    if not isinstance(provider, Provider):
        raise refuse("provider", "a Provider", provider)
    if not isinstance(request, Request):
        raise refuse("request", "a Request", request)
    if limits is not None and not isinstance(limits, Limits):
        raise refuse("limits", "a Limits or None", limits)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise refuse("retry", "a RetryPolicy or None", retry)
    if fallback is not None and not isinstance(fallback, Provider):
        raise refuse("fallback", "a Provider or None", fallback)
    if cache is not None and not isinstance(cache, ResponseCache):
        raise refuse("cache", "a ResponseCache or None", cache)
    if gates is not None and (gates.__class__ is not str or not gates):
        raise refuse("gates", "the name (a str) of the gate supervisor, or None", gates)
    if not isinstance(metadata, Mapping):
        raise refuse("metadata", "a Mapping", metadata)


def _falls_back(error: BaseException) -> bool:
    return isinstance(error, (CircuitOpen, Overloaded)) or is_retryable(error)


def _describe(provider: Provider, request: Request) -> dict[str, Any]:
    return {"provider": provider.name, "key": provider.key, "model": request.model}


# -- one provider: gate, attempts, retries ----------------------------------------------


class _Attempts:
    """The calls to one provider for one request: its gate, its token estimate, the
    retry policy, and the telemetry metadata."""

    __slots__ = ("provider", "request", "gate", "tokens", "policy", "base", "attempt")

    def __init__(
        self,
        provider: Provider,
        request: Request,
        limits: Limits | None,
        policy: RetryPolicy,
        gates: str | None,
        metadata: Mapping[str, Any],
    ) -> None:
        self.provider = provider
        self.request = request
        self.policy = policy
        self.gate: str | None = None
        if gates is not None and beamlike.whereis(gates) is not None:
            self.gate = gate_for(provider.key, limits or _NO_LIMITS, gates=gates)
        # The estimate walks the whole conversation: only when a token limit may apply
        # (limits None: the gate may have been started by another caller with one).
        needs_tokens = self.gate is not None and (limits is None or limits.tpm is not None)
        self.tokens = provider.estimate_tokens(request) if needs_tokens else 0
        self.base = {**metadata, **_describe(provider, request)}
        self.attempt = 0

    def meta(self) -> dict[str, Any]:
        return {**self.base, "attempt": self.attempt}

    def _start(self) -> tuple[dict[str, Any], float]:
        """The attempt's metadata and start time; emits ``provider.call.start``."""
        meta = self.meta()
        started = time.monotonic()
        telemetry.execute(_CALL_START, {"system_time": time.time()}, meta)
        return meta, started

    def acquire(self) -> Permit | None:
        """Blocks until the gate grants a permit (None without a gate)."""
        if self.gate is None:
            return None
        return acquire(self.gate, self.tokens)

    def backoff_or_raise(self, error: BaseException) -> None:
        """After ``error`` ended this attempt: raise it, or wait before the next one.

        Blocks for the delay."""
        delay = retry_delay(self.policy, error, self.attempt)
        if delay is None:
            raise error
        telemetry.execute(_RETRY, {"delay": delay}, {**self.meta(), "error": error})
        beamlike.sleep(delay)

    def generate(self) -> Response:
        """Blocks until an attempt succeeds; raises the last error otherwise."""
        while True:
            self.attempt += 1
            try:
                return self._generate_once()
            except Exception as error:
                self.backoff_or_raise(error)

    def _generate_once(self) -> Response:
        permit = self.acquire()
        meta, started = self._start()
        try:
            response = self.provider.generate(self.request)
        except BaseException as error:
            _release(permit, _outcome(error))
            _exception_event(meta, started, error)
            raise
        usage = response.usage
        _release(permit, SUCCESS, usage.total_tokens or None)
        _stop_event(meta, started, usage)
        return response

    def stream(self) -> Generator[Chunk, None, None]:
        """Yields the chunks of the first attempt that gets one through; retries only
        before the first chunk. Blocks per chunk."""
        while True:
            self.attempt += 1
            try:
                permit = self.acquire()
            except Exception as error:
                self.backoff_or_raise(error)
                continue
            meta, started = self._start()
            chunks: Iterator[Chunk] | None = None
            delivered = False
            usage = None
            outcome = CANCELLED
            failure: BaseException | None = None
            try:
                chunks = self.provider.stream(self.request)
                for chunk in chunks:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    delivered = True
                    yield chunk
            except GeneratorExit:  # the consumer closed the stream early
                telemetry.execute(
                    _CALL_STOP,
                    {"duration": time.monotonic() - started},
                    {**meta, "cancelled": True},
                )
                raise
            except BaseException as error:
                outcome = _outcome(error)
                _exception_event(meta, started, error)
                if delivered or not isinstance(error, Exception):
                    raise
                failure = error
            else:
                outcome = SUCCESS
                _stop_event(meta, started, usage)
                return
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
                tokens = None
                if outcome == SUCCESS and usage is not None and usage.total_tokens:
                    tokens = usage.total_tokens
                _release(permit, outcome, tokens)
            assert failure is not None
            self.backoff_or_raise(failure)


def _outcome(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        return FAILURE if error.retryable else ERROR
    return CANCELLED  # not the provider's answer: nothing learnt about its health


def _release(permit: Permit | None, outcome: str, tokens: int | None = None) -> None:
    if permit is not None:
        release(permit, outcome, tokens=tokens)


def _stop_event(meta: Mapping[str, Any], started: float, usage: Usage | None) -> None:
    telemetry.execute(
        _CALL_STOP,
        {
            "duration": time.monotonic() - started,
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0,
        },
        meta,
    )


def _exception_event(meta: Mapping[str, Any], started: float, error: BaseException) -> None:
    telemetry.execute(
        _CALL_EXCEPTION,
        {"duration": time.monotonic() - started},
        {**meta, "kind": type(error).__name__, "reason": error},
    )


def _fallback_attempts(
    provider: Provider,
    fallback: Provider,
    request: Request,
    error: BaseException,
    policy: RetryPolicy,
    gates: str | None,
    metadata: Mapping[str, Any],
) -> _Attempts:
    """Emits ``provider.fallback`` and returns the fallback's attempts: with its own
    ``default_model`` when it is another vendor and has one, and the default limits."""
    telemetry.execute(
        _FALLBACK,
        {},
        {
            **metadata,
            **_describe(provider, request),
            "fallback": fallback.name,
            "fallback_key": fallback.key,
            "error": error,
        },
    )
    if fallback.name != provider.name and fallback.default_model:
        request = dataclasses.replace(request, model=fallback.default_model)
    return _Attempts(fallback, request, None, policy, gates, metadata)


def _both_failed(primary: BaseException, fallback: Provider, error: BaseException) -> BaseException:
    primary.add_note(f"the fallback provider {fallback.name!r} failed too: {error!r}")
    return primary


def _cache_lookup(
    cache: ResponseCache | None, provider: Provider, request: Request, meta: Mapping[str, Any]
) -> tuple[str | None, Response | None]:
    if cache is None:
        return None, None
    key = cache.key(provider, request)
    if key is None:
        return None, None
    found = cache.get(key)
    event = ("elixirchain", "cache", "hit" if found is not None else "miss")
    telemetry.execute(event, {}, {**meta, **_describe(provider, request)})
    return key, found


# -- the public functions -------------------------------------------------------------


def call_provider(
    provider: Provider,
    request: Request,
    *,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    fallback: Provider | None = None,
    cache: ResponseCache | None = None,
    gates: str | None = DEFAULT_GATES,
    metadata: Mapping[str, Any] = _EMPTY,
) -> Response:
    """Send ``request`` to ``provider`` through the cache, its gate, retries and the
    fallback, as the module docstring describes.

    Blocks until the answer arrived or the call failed for good (gate waits and retry
    delays included). Raises the ``ProviderError`` of the last attempt, ``CircuitOpen``
    or ``Overloaded`` from the gate, and ``ConfigError`` for bad arguments.
    """
    _check("call_provider", provider, request, limits, retry, fallback, cache, gates, metadata)
    policy = retry or _DEFAULT_RETRY
    key, cached = _cache_lookup(cache, provider, request, metadata)
    if cached is not None:
        return cached
    try:
        response = _Attempts(provider, request, limits, policy, gates, metadata).generate()
    except Exception as error:
        if fallback is None or not _falls_back(error):
            raise
        primary_error = error
    else:
        if key is not None and cache is not None:
            cache.put(key, response)
        return response
    try:
        return _fallback_attempts(
            provider, fallback, request, primary_error, policy, gates, metadata
        ).generate()
    except Exception as error:
        raise _both_failed(primary_error, fallback, error)  # noqa: B904 - context is meant


def stream_provider(
    provider: Provider,
    request: Request,
    *,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    fallback: Provider | None = None,
    cache: ResponseCache | None = None,
    gates: str | None = DEFAULT_GATES,
    metadata: Mapping[str, Any] = _EMPTY,
) -> Iterator[Chunk]:
    """As ``call_provider``, streaming: returns an iterator of the answer's chunks.

    Arguments are checked here (``ConfigError``); nothing is sent until the first
    ``next``. Iterating blocks per chunk. The permit is held while the stream is
    consumed; a failure before the first chunk is retried (then falls back), a failure
    after it is raised. Closing the iterator early releases the permit. A cache hit
    yields the cached answer as one chunk.
    """
    _check("stream_provider", provider, request, limits, retry, fallback, cache, gates, metadata)
    return _stream(
        provider, request, limits, retry or _DEFAULT_RETRY, fallback, cache, gates, metadata
    )


def _stream(
    provider: Provider,
    request: Request,
    limits: Limits | None,
    policy: RetryPolicy,
    fallback: Provider | None,
    cache: ResponseCache | None,
    gates: str | None,
    metadata: Mapping[str, Any],
) -> Generator[Chunk, None, None]:
    key, cached = _cache_lookup(cache, provider, request, metadata)
    if cached is not None:
        message = cached.message
        yield Chunk(
            text=message.content,
            tool_calls=message.tool_calls,
            usage=cached.usage,
            finish_reason=cached.finish_reason,
            signature=message.signature,
        )
        return
    kept: list[Chunk] = []  # the chunks, only when they are to be cached
    delivered = False
    primary = _Attempts(provider, request, limits, policy, gates, metadata).stream()
    try:
        for chunk in primary:
            if key is not None:
                kept.append(chunk)
            delivered = True
            yield chunk
    except Exception as error:
        if delivered or fallback is None or not _falls_back(error):
            raise
        primary_error = error
    else:
        if key is not None and cache is not None:
            cache.put(key, collect(kept, model=request.model))
        return
    finally:
        primary.close()
    backup = _fallback_attempts(
        provider, fallback, request, primary_error, policy, gates, metadata
    ).stream()
    delivered = False
    try:
        for chunk in backup:
            delivered = True
            yield chunk
    except Exception as error:
        if delivered:
            raise
        raise _both_failed(primary_error, fallback, error)  # noqa: B904 - context is meant
    finally:
        backup.close()
