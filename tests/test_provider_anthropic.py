"""The Anthropic adapter against a local server speaking the Messages API wire format."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

import beamlike
from beamlike import ANY, receive, self_pid, send, spawn
from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    MalformedResponse,
    NetworkForbidden,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from elixirchain.messages import (
    Attachment,
    Chunk,
    Message,
    Request,
    ToolCall,
    ToolResult,
    Usage,
    collect,
)
from elixirchain.providers.anthropic import INVALID_JSON_KEY, AnthropicProvider
from tests.fakes.anthropic_server import MODEL, RATE_LIMIT_MESSAGE, FakeAnthropicServer
from tests.fakes.chat import WEATHER, ask
from tests.fakes.http_base import Canned, sse


@pytest.fixture(autouse=True)
def no_anthropic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def provider(server: FakeAnthropicServer) -> Iterator[AnthropicProvider]:
    adapter = AnthropicProvider(api_key="sk-ant-test", base_url=server.url)
    yield adapter
    adapter.close()


# --- answers -----------------------------------------------------------------------


def test_generate_returns_the_text_usage_and_finish_reason(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_text("Hello there!", input_tokens=30, output_tokens=4)
    response = provider.generate(ask())
    assert response.text == "Hello there!"
    assert response.tool_calls == ()
    assert response.usage == Usage(30, 4)
    assert response.finish_reason == "stop"
    assert response.model == MODEL


def test_the_request_on_the_wire_is_messages_api_json(server: FakeAnthropicServer) -> None:
    provider = AnthropicProvider(
        api_key="sk-ant-test", base_url=server.url, model="claude-haiku-4-5", max_tokens=512
    )
    server.reply_text("Sunny in both.")
    pdf = Attachment("application/pdf", b"%PDF")
    conversation = (
        Message.user("Weather in Paris and Rome?"),
        Message.user("Also read this.", [pdf]),  # merged with the previous user message
        Message.assistant(
            "Checking.",
            [
                ToolCall("toolu_1", "get_weather", {"city": "Paris"}),
                ToolCall("toolu_2", "get_weather", {"city": "Rome"}),
            ],
        ),
        Message.tool(
            [
                ToolResult("toolu_1", "get_weather", {"sky": "sunny"}),
                ToolResult("toolu_2", "get_weather", "station offline", is_error=True),
            ]
        ),
        Message.user("Summarise."),  # merged after the tool results
    )
    request = Request(
        model="",
        messages=conversation,
        system="Be brief.",
        tools=(WEATHER,),
        temperature=0.3,
    )
    provider.generate(request)
    sent = server.last
    assert sent.method == "POST" and sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "claude-haiku-4-5",
        "max_tokens": 512,
        "system": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris and Rome?"},
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERg==",
                        },
                    },
                    {"type": "text", "text": "Also read this."},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": '{"sky": "sunny"}',
                        "is_error": False,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": "station offline",
                        "is_error": True,
                    },
                    {"type": "text", "text": "Summarise."},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        ],
        "temperature": 0.3,
    }
    provider.close()


def test_tool_results_open_a_merged_user_message(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_text("ok")
    conversation = (
        Message.user("go"),
        Message.assistant("", [ToolCall("toolu_1", "t", {})]),
        Message.user("(the user typed while the tool ran)"),
        Message.tool([ToolResult("toolu_1", "t", "done")]),
    )
    provider.generate(Request(model="m", messages=conversation))
    assert server.last.json["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "done",
                    "is_error": False,
                },
                {"type": "text", "text": "(the user typed while the tool ran)"},
            ],
        },
    ]


def test_an_image_travels_as_a_base64_block_before_the_text(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_text("A dot.")
    image = Attachment("image/png", b"\x89PNG")
    provider.generate(Request(model="m", messages=(Message.user("What is it?", [image]),)))
    assert server.last.json["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="},
                },
                {"type": "text", "text": "What is it?"},
            ],
        }
    ]


def test_an_unsupported_attachment_is_refused_before_sending(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    with pytest.raises(BadRequest) as caught:
        provider.stream(
            Request(model="m", messages=(Message.user("x", [Attachment("video/mp4", b"")]),))
        )
    assert str(caught.value) == (
        "anthropic cannot send an attachment of type 'video/mp4'; supported: image/jpeg, "
        "image/png, image/gif, image/webp, application/pdf, text/plain"
    )
    assert server.requests == []


def test_two_tool_uses_in_one_answer_come_back_as_tool_calls(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_tool_uses(
        [
            ("toolu_a", "get_weather", {"city": "Paris"}),
            ("toolu_b", "get_weather", {"city": "Rome"}),
        ],
        text="Let me check.",
    )
    response = provider.generate(ask(tools=(WEATHER,)))
    assert response.text == "Let me check."
    assert response.tool_calls == (
        ToolCall("toolu_a", "get_weather", {"city": "Paris"}),
        ToolCall("toolu_b", "get_weather", {"city": "Rome"}),
    )
    assert response.finish_reason == "tool_calls"


def test_max_tokens_uses_the_request_budget_first(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_text("ok")
    provider.generate(ask(max_tokens=64))
    assert server.last.json["max_tokens"] == 64


# --- streaming ---------------------------------------------------------------------


def test_stream_yields_text_deltas_in_order_then_usage(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_text(["Hel", "lo", " wor", "ld"], input_tokens=25, output_tokens=15)
    chunks = list(provider.stream(ask()))
    assert chunks == [
        Chunk(text="Hel"),
        Chunk(text="lo"),
        Chunk(text=" wor"),
        Chunk(text="ld"),
        Chunk(usage=Usage(25, 15), finish_reason="stop"),
    ]
    assert server.last.json["stream"] is True
    assert server.last.headers["accept"] == "text/event-stream"


def test_a_streamed_tool_use_is_assembled_from_partial_json(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_tool_uses(
        [
            ("toolu_a", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
            ("toolu_b", "get_weather", ["", '{"city": "Rome"}']),
        ],
        text=["Checking", " both."],
    )
    chunks = list(provider.stream(ask(tools=(WEATHER,))))
    assert chunks == [
        Chunk(text="Checking"),
        Chunk(text=" both."),
        Chunk(tool_calls=(ToolCall("toolu_a", "get_weather", {"city": "Paris"}),)),
        Chunk(tool_calls=(ToolCall("toolu_b", "get_weather", {"city": "Rome"}),)),
        Chunk(usage=Usage(21, 9), finish_reason="tool_calls"),
    ]


def test_a_streamed_tool_use_with_broken_json_keeps_the_text(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_tool_uses([("toolu_a", "get_weather", ['{"city": "Pa'])])
    response = collect(provider.stream(ask(tools=(WEATHER,))))
    assert response.tool_calls == (
        ToolCall("toolu_a", "get_weather", {INVALID_JSON_KEY: '{"city": "Pa'}),
    )


def test_an_overloaded_error_event_raises_provider_unavailable(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_error(["partial "], "overloaded_error", "Overloaded")
    received: list[str] = []
    with pytest.raises(ProviderUnavailable) as caught:
        for chunk in provider.stream(ask()):
            received.append(chunk.text)
    assert received == ["partial "]
    assert str(caught.value) == "anthropic reported overloaded_error (unavailable): Overloaded"
    assert caught.value.retryable is False  # text had been delivered


def test_an_error_event_before_any_text_stays_retryable(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_error([], "rate_limit_error", "Slow down")
    with pytest.raises(RateLimited) as caught:
        list(provider.stream(ask()))
    assert caught.value.retryable is True


def test_a_stream_broken_after_text_raises_a_non_retryable_interruption(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    # message_start, ping, block start, "one ", "two " and then the socket closes
    server.stream_text(["one ", "two ", "three"], break_after=5)
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        for chunk in provider.stream(ask()):
            received.append(chunk.text)
    assert received == ["one ", "two "]
    assert caught.value.retryable is False
    assert str(caught.value).startswith("anthropic event stream broke off: ")


def test_a_stream_that_ends_before_message_stop_is_interrupted(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 1}}}
    server.push(
        Canned(headers={"Content-Type": "text/event-stream"}, events=[sse(start, "message_start")])
    )
    with pytest.raises(StreamInterrupted) as caught:
        list(provider.stream(ask()))
    assert str(caught.value) == "anthropic event stream ended before message_stop"
    assert caught.value.retryable is True


def test_sequential_calls_reuse_one_kept_alive_connection(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.stream_text(["one"])
    server.reply_text("two")
    server.stream_text(["three"])
    assert collect(provider.stream(ask())).text == "one"
    assert provider.generate(ask()).text == "two"
    assert collect(provider.stream(ask())).text == "three"
    assert server.connections == 1


# --- failures ----------------------------------------------------------------------


def test_429_with_a_retry_after_raises_rate_limited_with_the_hint(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_rate_limited(retry_after="30")
    with pytest.raises(RateLimited) as caught:
        provider.generate(ask())
    error = caught.value
    assert error.retry_after == 30.0
    assert error.retryable is True
    assert error.status == 429 and error.provider == "anthropic"
    assert str(error) == (
        f"anthropic answered HTTP 429 Too Many Requests (rate limited): {RATE_LIMIT_MESSAGE}"
    )


def test_529_overloaded_raises_provider_unavailable(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_overloaded()
    with pytest.raises(ProviderUnavailable) as caught:
        list(provider.stream(ask()))
    assert str(caught.value) == "anthropic answered HTTP 529 Overloaded (unavailable): Overloaded"
    assert caught.value.retryable is True


def test_500_raises_provider_unavailable(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_server_error(500)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(ask())
    assert str(caught.value) == (
        "anthropic answered HTTP 500 Internal Server Error (unavailable): Internal server error"
    )


def test_401_raises_authentication_error(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_error(401, "authentication_error", "invalid x-api-key")
    with pytest.raises(AuthenticationError, match="invalid x-api-key"):
        provider.generate(ask())


def test_malformed_json_raises_malformed_response(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.reply_malformed()
    with pytest.raises(MalformedResponse) as caught:
        provider.generate(ask())
    assert str(caught.value).startswith("anthropic sent an answer that is not valid JSON (")


def test_a_hung_server_times_out_within_a_few_seconds(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    server.hang()
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        list(provider.stream(ask(timeout=0.5)))
    assert time.monotonic() - started < 3.0
    assert caught.value.retryable is True


def test_embeddings_are_not_offered(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderError, match="provider 'anthropic' does not offer embeddings"):
        provider.embed(["x"])


# --- keys and the network switch ------------------------------------------------------


def test_a_missing_key_for_a_remote_url_raises_authentication_error() -> None:
    with pytest.raises(AuthenticationError) as caught:
        AnthropicProvider()
    assert str(caught.value) == (
        "anthropic needs an API key for https://api.anthropic.com: pass api_key=... or set "
        "ANTHROPIC_API_KEY"
    )


def test_a_loopback_server_needs_no_key(server: FakeAnthropicServer) -> None:
    provider = AnthropicProvider(base_url=server.url)
    server.reply_text("ok")
    assert provider.generate(ask()).text == "ok"
    assert "x-api-key" not in server.last.headers
    provider.close()


def test_a_forbidden_network_refuses_the_real_api_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(requests.Session, "send", no_connection)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    provider = AnthropicProvider()
    with pytest.raises(NetworkForbidden) as caught:
        provider.generate(ask())
    assert "refused 'https://api.anthropic.com/v1/messages'" in str(caught.value)
    with pytest.raises(NetworkForbidden):
        provider.stream(ask())


# --- concurrency -----------------------------------------------------------------------


def test_two_processes_calling_at_once_both_complete(
    server: FakeAnthropicServer, provider: AnthropicProvider
) -> None:
    # Each stream is held until both requests are in flight (see the OpenAI twin).
    server.stream_text(["first"], peers=2)
    server.stream_text(["second"], peers=2)

    def main() -> list[str]:
        me = self_pid()
        for _ in range(2):
            spawn(lambda: send(me, ("answer", collect(provider.stream(ask())).text)))
        return sorted(receive(("answer", ANY), timeout=10.0)[1] for _ in range(2))

    assert beamlike.run(main) == ["first", "second"]
    assert server.max_in_flight == 2
