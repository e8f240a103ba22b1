"""The OpenAI-compatible adapter against a local server speaking OpenAI's wire format."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import beamlike
from beamlike import ANY, receive, self_pid, send, spawn
from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
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
from elixirchain.providers.openai import INVALID_JSON_KEY, OpenAIProvider
from tests.fakes.chat import WEATHER, ask
from tests.fakes.http_base import Canned, sse
from tests.fakes.openai_server import MODEL, RATE_LIMIT_MESSAGE, FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def provider(server: FakeOpenAIServer) -> Iterator[OpenAIProvider]:
    adapter = OpenAIProvider(api_key="sk-test", base_url=server.base_url)
    yield adapter
    adapter.close()


# --- answers -----------------------------------------------------------------------


def test_generate_returns_the_text_usage_and_finish_reason(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("Hello there!", prompt_tokens=12, completion_tokens=3)
    response = provider.generate(ask())
    assert response.text == "Hello there!"
    assert response.tool_calls == ()
    assert response.usage == Usage(12, 3)
    assert response.finish_reason == "stop"
    assert response.model == MODEL


def test_the_request_on_the_wire_is_chat_completions_json(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(
        api_key="sk-test",
        base_url=server.base_url + "/",
        model="gpt-4o",
        organization="org-42",
        extra_headers={"X-Trace": "abc"},
    )
    server.reply_text("Sunny in both.")
    conversation = (
        Message.user("Weather in Paris and Rome?"),
        Message.assistant(
            "Checking.",
            [
                ToolCall("call_1", "get_weather", {"city": "Paris"}),
                ToolCall("call_2", "get_weather", {"city": "Rome"}),
            ],
        ),
        Message.tool(
            [
                ToolResult("call_1", "get_weather", {"sky": "sunny", "c": 21}),
                ToolResult("call_2", "get_weather", "station offline", is_error=True),
            ]
        ),
        Message.assistant("Paris is sunny; Rome is unknown."),
        Message.user("Thanks"),
    )
    request = Request(
        model="",
        messages=conversation,
        system="Be brief.",
        tools=(WEATHER,),
        temperature=0.2,
        max_tokens=100,
    )
    provider.generate(request)
    sent = server.last
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["openai-organization"] == "org-42"
    assert sent.headers["x-trace"] == "abc"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny", "c": 21}'},
            {"role": "tool", "tool_call_id": "call_2", "content": "Error: station offline"},
            {"role": "assistant", "content": "Paris is sunny; Rome is unknown."},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
        "temperature": 0.2,
        "max_tokens": 100,
    }
    provider.close()


def test_an_assistant_message_with_only_tool_calls_sends_null_content(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("ok")
    call = ToolCall("call_9", "get_weather", {INVALID_JSON_KEY: '{"city": "Pa'})
    request = Request(model="m", messages=(Message.user("x"), Message.assistant("", [call])))
    provider.generate(request)
    assert server.last.json["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Pa'},
            }
        ],
    }


def test_two_tool_calls_in_one_answer_come_back_parsed(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_tool_calls(
        [("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_weather", {"city": "Rome"})]
    )
    response = provider.generate(ask(tools=(WEATHER,)))
    assert response.tool_calls == (
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_weather", {"city": "Rome"}),
    )
    assert response.text == ""
    assert response.finish_reason == "tool_calls"


def test_invalid_json_arguments_are_kept_for_the_tool_layer(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_tool_calls([("call_a", "get_weather", '{"city": "Par')])
    response = provider.generate(ask(tools=(WEATHER,)))
    assert response.tool_calls == (
        ToolCall("call_a", "get_weather", {INVALID_JSON_KEY: '{"city": "Par'}),
    )


def test_max_tokens_finish_is_reported_vendor_neutrally(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("Once upon a", finish_reason="length")
    assert provider.generate(ask()).finish_reason == "max_tokens"


def test_an_image_attachment_travels_as_a_data_url(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("A red dot.")
    image = Attachment("image/png", b"\x89PNG")
    provider.generate(Request(model="m", messages=(Message.user("What is it?", [image]),)))
    assert server.last.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            ],
        }
    ]


def test_an_unsupported_attachment_is_refused_before_sending(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    video = Attachment("video/mp4", b"....")
    with pytest.raises(BadRequest) as caught:
        provider.generate(Request(model="m", messages=(Message.user("hm", [video]),)))
    assert str(caught.value) == (
        "openai cannot send an attachment of type 'video/mp4'; supported: image/*, "
        "application/pdf, audio/wav, audio/mpeg"
    )
    assert server.requests == []


def test_request_options_join_the_body_but_may_not_override_it(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("ok")
    provider.generate(ask(options={"seed": 7, "top_p": 0.5}))
    assert server.last.json["seed"] == 7 and server.last.json["top_p"] == 0.5
    with pytest.raises(ConfigError) as caught:
        provider.generate(ask(options={"model": "other", "messages": []}))
    assert str(caught.value) == (
        "openai request options may not override 'messages', 'model': the adapter sets "
        "them from the Request's own fields"
    )


def test_embed_returns_the_vectors_in_input_order(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_embeddings([[0.1, 0.2], [0.3, 0.4]])
    assert provider.embed(["a", "b"]) == [[0.1, 0.2], [0.3, 0.4]]
    assert server.last.path == "/v1/embeddings"
    assert server.last.json == {"model": "text-embedding-3-small", "input": ["a", "b"]}


# --- streaming ---------------------------------------------------------------------


def test_stream_yields_text_deltas_in_order_then_usage(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_text(["Hel", "lo", " wor", "ld"], prompt_tokens=5, completion_tokens=4)
    chunks = list(provider.stream(ask()))
    assert chunks == [
        Chunk(text="Hel"),
        Chunk(text="lo"),
        Chunk(text=" wor"),
        Chunk(text="ld"),
        Chunk(usage=Usage(5, 4), finish_reason="stop"),
    ]
    assert server.last.json["stream"] is True
    assert server.last.json["stream_options"] == {"include_usage": True}
    assert server.last.headers["accept"] == "text/event-stream"


def test_streamed_tool_calls_are_assembled_from_fragments(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_tool_calls(
        [
            ("call_a", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
            ("call_b", "get_weather", ['{"city"', ': "Rome"}']),
        ]
    )
    response = collect(provider.stream(ask(tools=(WEATHER,))))
    assert response.tool_calls == (
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_weather", {"city": "Rome"}),
    )
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(11, 7)


def test_an_error_object_in_the_stream_raises_by_its_type(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    error = {"error": {"message": "The server is overloaded", "type": "server_error"}}
    server.push(Canned(headers={"Content-Type": "text/event-stream"}, events=[sse(error)]))
    with pytest.raises(ProviderUnavailable) as caught:
        list(provider.stream(ask()))
    assert str(caught.value) == (
        "openai reported server_error (unavailable): The server is overloaded"
    )
    assert caught.value.retryable is True


def test_a_stream_broken_after_text_raises_a_non_retryable_interruption(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_text(["one ", "two ", "three"], break_after=3)  # role, "one ", "two "
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        for chunk in provider.stream(ask()):
            received.append(chunk.text)
    assert received == ["one ", "two "]
    assert caught.value.retryable is False
    assert str(caught.value).startswith("openai event stream broke off: ")


def test_a_stream_broken_before_any_text_is_retryable(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_text(["never sent"], break_after=1)
    with pytest.raises(StreamInterrupted) as caught:
        list(provider.stream(ask()))
    assert caught.value.retryable is True


def test_a_stream_slower_than_its_timeout_stops_at_the_deadline(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_text(["tick"] * 50, event_delay=0.1)  # 5 s in all; each gap short
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        list(provider.stream(ask(timeout=1.0)))
    assert time.monotonic() - started < 3.0
    assert str(caught.value) == "openai did not finish answering within 1 s"
    assert caught.value.retryable is False  # text had been delivered


def test_closing_a_stream_early_closes_the_connection(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.stream_text(["a", "b", "c"])
    stream = provider.stream(ask())
    assert next(stream) == Chunk(text="a")
    stream.close()  # type: ignore[attr-defined]
    server.reply_text("still works")
    assert provider.generate(ask()).text == "still works"


# --- failures ----------------------------------------------------------------------


def test_429_with_a_retry_after_raises_rate_limited_with_the_hint(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_rate_limited(retry_after="20")
    with pytest.raises(RateLimited) as caught:
        provider.generate(ask())
    error = caught.value
    assert error.retry_after == 20.0
    assert error.retryable is True
    assert error.status == 429 and error.provider == "openai"
    assert (
        str(error)
        == f"openai answered HTTP 429 Too Many Requests (rate limited): {RATE_LIMIT_MESSAGE}"
    )


def test_429_retry_after_ms_gives_a_sub_second_hint(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_rate_limited(retry_after="1", retry_after_ms="250")
    with pytest.raises(RateLimited) as caught:
        list(provider.stream(ask()))
    assert caught.value.retry_after == 0.25


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_provider_unavailable(
    server: FakeOpenAIServer, provider: OpenAIProvider, status: int
) -> None:
    server.reply_server_error(status)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(ask())
    assert caught.value.status == status and caught.value.retryable is True
    assert "The server had an error while processing your request." in str(caught.value)


def test_401_raises_authentication_error_with_the_vendor_message(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_error(
        401,
        "Incorrect API key provided: sk-test.",
        type_="invalid_request_error",
        code="invalid_api_key",
    )
    with pytest.raises(AuthenticationError) as caught:
        provider.generate(ask())
    assert str(caught.value) == (
        "openai answered HTTP 401 Unauthorized (authentication failed): "
        "Incorrect API key provided: sk-test."
    )
    assert caught.value.retryable is False


def test_400_raises_bad_request(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.reply_error(400, "Invalid 'messages': empty array.", type_="invalid_request_error")
    with pytest.raises(BadRequest, match="Invalid 'messages': empty array."):
        provider.generate(ask())


def test_malformed_json_raises_malformed_response(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_malformed()
    with pytest.raises(MalformedResponse) as caught:
        provider.generate(ask())
    assert str(caught.value).startswith("openai sent an answer that is not valid JSON (")
    assert caught.value.retryable is True


def test_json_of_the_wrong_shape_raises_malformed_response(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.push(Canned.json({"choices": []}))
    with pytest.raises(
        MalformedResponse, match="openai sent a chat completion of unexpected shape"
    ):
        provider.generate(ask())


def test_a_hung_server_times_out_within_a_few_seconds(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.hang()
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        provider.generate(ask(timeout=0.5))
    assert time.monotonic() - started < 3.0
    assert caught.value.retryable is True
    assert str(caught.value).startswith(
        f"openai did not answer {server.base_url}/chat/completions within 0.5 s"
    )


def test_the_provider_timeout_bounds_requests_that_allow_more(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(api_key="sk-test", base_url=server.base_url, timeout=0.5)
    server.hang()
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        provider.generate(ask(timeout=60.0))
    assert time.monotonic() - started < 3.0
    provider.close()


def test_a_refused_connection_raises_provider_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(ask())
    assert str(caught.value).startswith(
        f"openai could not be reached at http://127.0.0.1:{port}/v1/chat/completions: "
    )


def test_a_redirect_is_not_followed(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.push(Canned(status=307, headers={"Location": "https://elsewhere.example/v1"}))
    with pytest.raises(ProviderError) as caught:
        provider.generate(ask())
    assert str(caught.value) == (
        "openai answered HTTP 307 redirecting to 'https://elsewhere.example/v1'; redirects "
        "are not followed: set base_url to the final address"
    )
    assert len(server.requests) == 1


def test_errors_carry_the_name_the_registry_gave(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    provider.name = "ollama"
    server.reply_server_error(503)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(ask())
    assert str(caught.value).startswith("ollama answered HTTP 503 Service Unavailable")
    assert caught.value.provider == "ollama"


def test_sequential_calls_reuse_one_kept_alive_connection(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.reply_text("one")
    server.stream_text(["two"])
    server.reply_text("three")
    assert provider.generate(ask()).text == "one"
    assert collect(provider.stream(ask())).text == "two"
    assert provider.generate(ask()).text == "three"
    assert server.connections == 1


def test_a_proxy_from_the_environment_is_not_used_for_a_local_server(
    server: FakeOpenAIServer, provider: OpenAIProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there
    server.reply_text("direct")
    assert provider.generate(ask()).text == "direct"


def test_a_netrc_entry_never_replaces_the_api_key(
    server: FakeOpenAIServer,
    provider: OpenAIProvider,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    server.reply_text("ok")
    provider.generate(ask())
    assert server.last.headers["authorization"] == "Bearer sk-test"


def test_proxies_and_the_ca_bundle_come_from_the_environment_for_remote_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from elixirchain.providers._http import _environment_settings

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/company-ca.pem")
    proxies, verify = _environment_settings("https://api.openai.com/v1/chat/completions")
    assert proxies["https"] == "http://proxy.example:3128"
    assert verify == "/etc/company-ca.pem"
    proxies, _ = _environment_settings("https://internal.example/v1/chat/completions")
    assert "https" not in proxies  # NO_PROXY
    proxies, verify = _environment_settings("http://127.0.0.1:8000/v1/chat/completions")
    assert proxies["http"] is None and verify is False  # loopback: direct, no TLS


# --- keys and the network switch ------------------------------------------------------


def test_a_missing_key_for_a_remote_url_raises_authentication_error() -> None:
    with pytest.raises(AuthenticationError) as caught:
        OpenAIProvider(base_url="https://api.example.com/v1")
    assert str(caught.value) == (
        "openai needs an API key for https://api.example.com/v1: pass api_key=... or set "
        "OPENAI_API_KEY (a server on this machine, such as Ollama, vLLM or llama.cpp, "
        "needs none)"
    )


def test_a_local_server_needs_no_key(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(base_url=server.base_url)
    server.reply_text("no key needed")
    assert provider.generate(ask()).text == "no key needed"
    assert "authorization" not in server.last.headers
    provider.close()


def test_the_key_and_base_url_come_from_the_environment(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    provider = OpenAIProvider()
    server.reply_text("ok")
    provider.generate(ask())
    assert server.last.headers["authorization"] == "Bearer sk-env"
    assert provider.key.startswith("openai:")
    provider.close()


def test_a_forbidden_network_refuses_the_real_api_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(requests.Session, "send", no_connection)
    provider = OpenAIProvider(api_key="sk-test")
    assert provider.base_url == "https://api.openai.com/v1"
    message = (
        "real network requests are forbidden (ELIXIRCHAIN_FORBID_NETWORK is set): refused "
        "'https://api.openai.com/v1/chat/completions'; point the provider at a local server "
        "(base_url=...) or unset the variable"
    )
    with pytest.raises(NetworkForbidden) as caught:
        provider.generate(ask())
    assert str(caught.value) == message
    with pytest.raises(NetworkForbidden):
        provider.stream(ask())
    with pytest.raises(NetworkForbidden):
        provider.embed(["x"])


# --- concurrency -----------------------------------------------------------------------


def test_two_processes_calling_at_once_both_complete(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    # Each reply is held until both requests are in flight: calls that blocked the whole
    # runtime would deadlock here (the server answers 500 after 5 s).
    server.reply_text("first", peers=2)
    server.reply_text("second", peers=2)

    def main() -> list[str]:
        me = self_pid()
        for _ in range(2):
            spawn(lambda: send(me, ("answer", provider.generate(ask()).text)))
        return sorted(receive(("answer", ANY), timeout=10.0)[1] for _ in range(2))

    assert beamlike.run(main) == ["first", "second"]
    assert server.max_in_flight == 2


def test_the_benchmark_process_prints_its_port_and_answers_many_at_once() -> None:
    script = ROOT / "tests" / "fakes" / "openai_server.py"
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--delay", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1")

        def main() -> list[str]:
            me = self_pid()
            for _ in range(100):
                spawn(lambda: send(me, ("answer", provider.generate(ask()).text)))
            return [receive(("answer", ANY), timeout=20.0)[1] for _ in range(100)]

        started = time.monotonic()
        answers = beamlike.run(main)
        elapsed = time.monotonic() - started
        assert answers == ["Hello from the fake OpenAI server."] * 100
        assert 0.2 <= elapsed < 8.0  # one after the other would take 20 s
        assert collect(provider.stream(ask())).text == "Hello from the fake OpenAI server."
        provider.close()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
