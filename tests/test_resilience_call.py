"""call_provider and stream_provider: retries (counted), the server's wait hint, what is
never retried, max_attempts, the fallback, the cache, the gate, telemetry, and streams
that retry only before their first chunk.

``Scripted`` is the provider double: each call takes the next step of its script (a
Response, an exception to raise, or for ``stream`` a list of chunks and exceptions).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from elixirchain.errors import (
    BadRequest,
    CircuitOpen,
    ConfigError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from elixirchain.messages import Chunk, Message, Request, Response, Usage
from elixirchain.providers.base import Provider
from elixirchain.resilience import (
    Limits,
    ResponseCache,
    RetryPolicy,
    acquire,
    call_provider,
    gate_for,
    gate_status,
    release,
    start_gates,
    stream_provider,
)
from tests.support_resilience import listen, next_event, no_event

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0)
RETRY = ("elixirchain", "provider", "retry")
FALLBACK = ("elixirchain", "provider", "fallback")
CALL_START = ("elixirchain", "provider", "call", "start")
CALL_STOP = ("elixirchain", "provider", "call", "stop")
CALL_EXCEPTION = ("elixirchain", "provider", "call", "exception")
CACHE_HIT = ("elixirchain", "cache", "hit")
CACHE_MISS = ("elixirchain", "cache", "miss")


class Scripted(Provider):
    """A provider that follows a script, one step per call, and records the calls."""

    def __init__(
        self, script: list[Any], *, name: str = "scripted", default_model: str = "s-1"
    ) -> None:
        self.script = list(script)
        self.name = name
        self.default_model = default_model
        self.calls: list[tuple[float, Request]] = []
        self.closed = 0  # streams closed (finished or not)

    def api_key_for_gate(self) -> str | None:
        return f"secret-of-{self.name}"

    def _step(self, request: Request) -> Any:
        self.calls.append((time.monotonic(), request))
        assert self.script, f"{self.name}: the script has no step for call {len(self.calls)}"
        return self.script.pop(0)

    def generate(self, request: Request) -> Response:
        step = self._step(request)
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]

    def stream(self, request: Request) -> Iterator[Chunk]:
        step = self._step(request)
        try:
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Response):
                yield Chunk(text=step.text, usage=step.usage, finish_reason="stop")
                return
            for item in step:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed += 1


def answer(text: str = "ok", usage: Usage | None = None) -> Response:
    return Response(Message.assistant(text), usage or Usage(12, 30), "stop", "s-1")


def request(text: str = "hello", **fields: Any) -> Request:
    return Request(model="s-1", messages=(Message.user(text),), **fields)


# -- retries ----------------------------------------------------------------------------


def test_retryable_errors_are_retried_until_an_attempt_succeeds() -> None:
    listen(RETRY)
    ok = answer()
    provider = Scripted([ProviderUnavailable("503"), ProviderTimeout("slow"), ok])
    assert call_provider(provider, request(), retry=FAST, gates=None) is ok
    assert len(provider.calls) == 3
    first, second = next_event(RETRY), next_event(RETRY)
    assert (first[0], first[1]["attempt"], type(first[1]["error"])) == (
        {"delay": 0.01},
        1,
        ProviderUnavailable,
    )
    assert (second[0], second[1]["attempt"], type(second[1]["error"])) == (
        {"delay": 0.02},
        2,
        ProviderTimeout,
    )
    assert no_event(RETRY)


def test_a_retry_after_hint_makes_the_next_attempt_wait_at_least_that_long() -> None:
    listen(RETRY)
    provider = Scripted([RateLimited("429", retry_after=0.3), answer()])
    call_provider(provider, request(), retry=FAST, gates=None)
    (first, _), (second, _) = provider.calls
    assert 0.3 <= second - first < 1.5
    assert next_event(RETRY)[0] == {"delay": 0.3}


def test_a_hint_above_max_retry_after_gives_up_at_once_with_that_error() -> None:
    error = RateLimited("429", retry_after=5.0)
    provider = Scripted([error, answer()])
    policy = RetryPolicy(base_delay=0.01, max_retry_after=1.0)
    with pytest.raises(RateLimited) as info:
        call_provider(provider, request(), retry=policy, gates=None)
    assert info.value is error
    assert len(provider.calls) == 1


def test_a_bad_request_is_raised_at_once_without_a_retry() -> None:
    listen(RETRY)
    error = BadRequest("400: no such model")
    provider = Scripted([error, answer()])
    with pytest.raises(BadRequest) as info:
        call_provider(provider, request(), retry=FAST, gates=None)
    assert info.value is error
    assert len(provider.calls) == 1
    assert no_event(RETRY)


def test_it_gives_up_after_max_attempts_with_the_last_error() -> None:
    errors = [ProviderUnavailable(f"503 #{n}") for n in range(1, 4)]
    provider = Scripted([*errors, answer()])
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, jitter=0.0)
    with pytest.raises(ProviderUnavailable) as info:
        call_provider(provider, request(), retry=policy, gates=None)
    assert info.value is errors[2]
    assert len(provider.calls) == 3


# -- fallback ---------------------------------------------------------------------------


def test_after_the_primary_retries_are_exhausted_the_fallback_answers() -> None:
    listen(FALLBACK)
    primary = Scripted([ProviderUnavailable("503"), ProviderUnavailable("503")])
    ok = answer("from backup")
    backup = Scripted([ok], name="backup", default_model="b-1")
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    result = call_provider(
        primary, request(), retry=policy, fallback=backup, gates=None, metadata={"agent": "a1"}
    )
    assert result is ok
    assert len(primary.calls) == 2
    assert backup.calls[0][1].model == "b-1"  # another vendor: its own default model
    _, metadata = next_event(FALLBACK)
    assert metadata["provider"] == "scripted"
    assert metadata["fallback"] == "backup"
    assert metadata["agent"] == "a1"
    assert isinstance(metadata["error"], ProviderUnavailable)


def test_when_the_fallback_fails_too_the_primary_error_is_raised_with_the_fallback_error_as_context() -> (
    None
):
    primary_error = ProviderUnavailable("primary down")
    backup_error = ProviderTimeout("backup slow")
    primary = Scripted([primary_error])
    backup = Scripted([backup_error], name="backup")
    with pytest.raises(ProviderUnavailable) as info:
        call_provider(
            primary, request(), retry=RetryPolicy(max_attempts=1), fallback=backup, gates=None
        )
    assert info.value is primary_error
    assert info.value.__context__ is backup_error
    assert info.value.__notes__ == [
        "the fallback provider 'backup' failed too: ProviderTimeout('backup slow')"
    ]


def test_a_bad_request_does_not_fall_back() -> None:
    primary = Scripted([BadRequest("400")])
    backup = Scripted([answer()], name="backup")
    with pytest.raises(BadRequest):
        call_provider(primary, request(), fallback=backup, gates=None)
    assert backup.calls == []


# -- the gate ---------------------------------------------------------------------------


def test_calls_go_through_the_key_gate_which_reconciles_the_real_token_usage() -> None:
    start_gates()
    provider = Scripted([answer(usage=Usage(12, 30))])
    call_provider(provider, request(), limits=Limits(rpm=10, tpm=10_000))
    status = gate_status(provider.key)
    assert (status["rpm_used"], status["tpm_used"], status["in_flight"]) == (1, 42, 0)


def test_without_a_gate_supervisor_calls_go_straight_to_the_provider() -> None:
    provider = Scripted([answer()])
    call_provider(provider, request(), limits=Limits(rpm=1))
    assert gate_status(provider.key) == {"key": provider.key, "running": False}


def test_a_gate_that_grants_no_permit_in_max_wait_is_retried_like_a_429() -> None:
    start_gates()
    provider = Scripted([])
    limits = Limits(max_concurrency=1, max_wait=0.03)
    hog = acquire(gate_for(provider.key, limits), 0)
    listen(RETRY)
    with pytest.raises(RateLimited) as info:
        call_provider(
            provider, request(), limits=limits, retry=RetryPolicy(max_attempts=2, base_delay=0.01)
        )
    assert str(info.value).startswith(f"no permit from the gate for {provider.key!r} within ")
    assert next_event(RETRY)[1]["attempt"] == 1
    assert provider.calls == []
    release(hog, "cancelled")


def test_an_open_circuit_fails_fast_without_calling_the_provider_or_retrying() -> None:
    start_gates()
    provider = Scripted([ProviderUnavailable("503"), answer()])
    limits = Limits(failure_threshold=1, reset_timeout=30.0)
    with pytest.raises(ProviderUnavailable):
        call_provider(provider, request(), limits=limits, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(CircuitOpen):
        call_provider(provider, request(), limits=limits, retry=FAST)
    assert len(provider.calls) == 1


def test_an_open_circuit_falls_back_when_there_is_a_fallback() -> None:
    start_gates()
    primary = Scripted([ProviderUnavailable("503")])
    ok = answer("backup")
    backup = Scripted([ok], name="backup")
    limits = Limits(failure_threshold=1)
    with pytest.raises(ProviderUnavailable):
        call_provider(primary, request(), limits=limits, retry=RetryPolicy(max_attempts=1))
    assert call_provider(primary, request(), limits=limits, fallback=backup) is ok
    assert len(primary.calls) == 1
    assert gate_status(backup.key)["running"] is True  # the fallback has its own gate


# -- the cache --------------------------------------------------------------------------


def test_a_cache_hit_answers_without_a_second_provider_call() -> None:
    listen(CACHE_HIT, CACHE_MISS)
    cache = ResponseCache()
    ok = answer()
    provider = Scripted([ok])
    assert call_provider(provider, request(temperature=0.0), cache=cache, gates=None) is ok
    assert call_provider(provider, request(temperature=0.0), cache=cache, gates=None) is ok
    assert len(provider.calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)
    assert next_event(CACHE_MISS)[1]["key"] == provider.key
    next_event(CACHE_HIT)


def test_requests_that_differ_or_ask_for_sampling_are_not_answered_from_the_cache() -> None:
    cache = ResponseCache()
    provider = Scripted([answer("1"), answer("2"), answer("3"), answer("4")])
    call_provider(provider, request("a"), cache=cache, gates=None)
    assert call_provider(provider, request("b"), cache=cache, gates=None).text == "2"
    call_provider(provider, request("a", temperature=0.7), cache=cache, gates=None)
    call_provider(provider, request("a", temperature=0.7), cache=cache, gates=None)
    assert len(provider.calls) == 4
    assert len(cache) == 2


def test_the_cache_key_is_stable_and_covers_what_shapes_the_answer() -> None:
    provider = Scripted([])
    cache = ResponseCache()
    key = cache.key(provider, request("a", options={"top_k": 3}))
    assert key == cache.key(provider, request("a", options={"top_k": 3}))
    keys = {
        key,
        cache.key(provider, request("a", options={"top_k": 4})),
        cache.key(provider, request("a", system="be brief", options={"top_k": 3})),
        cache.key(Scripted([], name="other"), request("a", options={"top_k": 3})),
    }
    assert len(keys) == 4


def test_the_cache_evicts_the_least_recently_used_and_expires_after_its_ttl() -> None:
    now = [0.0]
    cache = ResponseCache(max_entries=2, ttl=10.0, clock=lambda: now[0])
    cache.put("a", answer("a"))
    cache.put("b", answer("b"))
    assert cache.get("a") is not None
    cache.put("c", answer("c"))  # evicts b, the least recently used
    assert cache.get("b") is None
    now[0] = 10.5
    assert cache.get("a") is None
    assert len(cache) == 1


# -- telemetry --------------------------------------------------------------------------


def test_each_attempt_emits_call_events_with_tokens_and_the_caller_metadata() -> None:
    listen(CALL_START, CALL_STOP, CALL_EXCEPTION)
    provider = Scripted([ProviderUnavailable("503"), answer(usage=Usage(5, 7))])
    call_provider(provider, request(), retry=FAST, gates=None, metadata={"agent": "a1"})
    base = {"agent": "a1", "provider": "scripted", "key": provider.key, "model": "s-1"}
    assert next_event(CALL_START)[1] == {**base, "attempt": 1}
    measurements, metadata = next_event(CALL_EXCEPTION)
    assert set(measurements) == {"duration"}
    assert (metadata["kind"], metadata["attempt"]) == ("ProviderUnavailable", 1)
    assert next_event(CALL_START)[1] == {**base, "attempt": 2}
    measurements, metadata = next_event(CALL_STOP)
    assert (measurements["input_tokens"], measurements["output_tokens"]) == (5, 7)
    assert measurements["duration"] >= 0.0
    assert metadata == {**base, "attempt": 2}


# -- streaming --------------------------------------------------------------------------


def test_a_stream_that_fails_before_its_first_chunk_is_retried() -> None:
    provider = Scripted([ProviderUnavailable("503"), [Chunk("a"), Chunk("b", usage=Usage(1, 2))]])
    chunks = list(stream_provider(provider, request(), retry=FAST, gates=None))
    assert [c.text for c in chunks] == ["a", "b"]
    assert len(provider.calls) == 2


def test_a_stream_that_fails_after_its_first_chunk_raises_without_a_retry() -> None:
    error = ProviderUnavailable("503 in the middle")
    provider = Scripted([[Chunk("a"), error], [Chunk("never")]])
    stream = stream_provider(provider, request(), retry=FAST, fallback=Scripted([]), gates=None)
    assert next(stream).text == "a"
    with pytest.raises(ProviderUnavailable) as info:
        next(stream)
    assert info.value is error
    assert len(provider.calls) == 1


def test_closing_a_stream_early_releases_the_permit_and_closes_the_provider_stream() -> None:
    start_gates()
    provider = Scripted([[Chunk("a"), Chunk("b"), Chunk("c")]])
    stream = stream_provider(provider, request(), limits=Limits(max_concurrency=1))
    assert next(stream).text == "a"
    assert gate_status(provider.key)["in_flight"] == 1
    stream.close()  # type: ignore[attr-defined]
    assert gate_status(provider.key)["in_flight"] == 0
    assert provider.closed == 1


class Eager(Scripted):
    """A provider whose ``stream`` fails when called, not when iterated."""

    def stream(self, request: Request) -> Iterator[Chunk]:
        step = self._step(request)
        if isinstance(step, BaseException):
            raise step
        return iter(step)


def test_a_stream_that_fails_when_opened_releases_its_permit_and_is_retried() -> None:
    start_gates()
    provider = Eager([ProviderUnavailable("503"), [Chunk("x")]])
    stream = stream_provider(provider, request(), limits=Limits(max_concurrency=1), retry=FAST)
    assert [c.text for c in stream] == ["x"]
    assert len(provider.calls) == 2
    assert gate_status(provider.key)["in_flight"] == 0


def test_a_stream_falls_back_when_the_primary_fails_before_its_first_chunk() -> None:
    primary = Scripted([ProviderUnavailable("503")])
    backup = Scripted([[Chunk("from backup")]], name="backup")
    stream = stream_provider(
        primary, request(), retry=RetryPolicy(max_attempts=1), fallback=backup, gates=None
    )
    assert [c.text for c in stream] == ["from backup"]


def test_a_streamed_answer_is_cached_and_a_hit_comes_back_as_one_chunk() -> None:
    cache = ResponseCache()
    provider = Scripted([[Chunk("a"), Chunk("b", usage=Usage(1, 2), finish_reason="stop")]])
    assert [c.text for c in stream_provider(provider, request(), cache=cache, gates=None)] == [
        "a",
        "b",
    ]
    [chunk] = list(stream_provider(provider, request(), cache=cache, gates=None))
    assert (chunk.text, chunk.usage, chunk.finish_reason) == ("ab", Usage(1, 2), "stop")
    assert len(provider.calls) == 1


# -- bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"provider": "gemini"}, "call_provider provider must be a Provider; got 'gemini'"),
        ({"request": "hi"}, "call_provider request must be a Request; got 'hi'"),
        ({"limits": {"rpm": 1}}, "call_provider limits must be a Limits or None; got {'rpm': 1}"),
        ({"retry": 3}, "call_provider retry must be a RetryPolicy or None; got 3"),
        (
            {"gates": ""},
            "call_provider gates must be the name (a str) of the gate supervisor, or None; got ''",
        ),
        ({"metadata": None}, "call_provider metadata must be a Mapping; got None"),
    ],
)
def test_bad_arguments_are_refused_at_the_call_saying_what_was_given(arguments, message) -> None:
    provider = Scripted([])
    given: dict[str, Any] = {"provider": provider, "request": request(), **arguments}
    with pytest.raises(ConfigError) as info:
        call_provider(given.pop("provider"), given.pop("request"), **given)
    assert str(info.value) == message
    with pytest.raises(ConfigError):
        stream_provider(Scripted([]), "hi")  # type: ignore[arg-type]
    assert provider.calls == []
