"""The Gemini adapter, through the real google-genai SDK, against a local fake server.

Every test drives ``GeminiProvider`` -> google-genai -> HTTP -> ``tests/fakes/
gemini_server.py``, and asserts on what came back and on what the SDK put on the wire.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest

import beamlike
from beamlike import receive, self_pid, send, spawn
from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
    MalformedResponse,
    NetworkForbidden,
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
    ToolSpec,
    Usage,
    collect,
)
from elixirchain.providers.gemini import GeminiProvider
from tests.fakes.gemini_server import (
    FakeGeminiServer,
    Hang,
    StreamReply,
    embeddings_response,
    error_reply,
    function_call,
    json_reply,
    malformed_reply,
    rate_limited_reply,
    response_body,
    text_response,
)

MODEL = "gemini-2.5-flash"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\x00"
# Signatures are opaque bytes: include ones that are not UTF-8 and that base64-encode to
# "+" and "/" (which URL-safe base64 writes differently).
CALL_SIGNATURE = b"\xfb\xff\x00\x01sig-call-1\xfe"
SECOND_SIGNATURE = b"\xfa\xfb\xfc-second"
TEXT_SIGNATURE = b"\x00\xffsig-text\x80"


@pytest.fixture
def server() -> Iterator[FakeGeminiServer]:
    fake = FakeGeminiServer().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def provider(server: FakeGeminiServer) -> Iterator[GeminiProvider]:
    gemini = GeminiProvider(api_key="test-key", base_url=server.base_url)
    try:
        yield gemini
    finally:
        gemini.close()


def ask(text: str = "Hi", **fields: object) -> Request:
    return Request(MODEL, (Message.user(text),), **fields)  # type: ignore[arg-type]


def b64decode(text: str) -> bytes:
    """Decodes base64 in either alphabet, as Google's JSON parser does."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/"))


# --- generate ------------------------------------------------------------------------


def test_generate_returns_the_text_usage_finish_reason_and_model(server, provider):
    server.add("generateContent", json_reply(text_response("Hello there", usage=(12, 3))))

    response = provider.generate(ask())

    assert response.text == "Hello there"
    assert response.tool_calls == ()
    assert response.usage == Usage(12, 3)
    assert response.finish_reason == "stop"
    assert response.model == MODEL


def test_max_tokens_finish_reason_is_lower_cased(server, provider):
    server.add("generateContent", json_reply(text_response("cut", finish_reason="MAX_TOKENS")))

    assert provider.generate(ask()).finish_reason == "max_tokens"


def test_a_blocked_prompt_answers_empty_with_the_block_reason(server, provider):
    body = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4},
        "modelVersion": MODEL,
    }
    server.add("generateContent", json_reply(body))

    response = provider.generate(ask())

    assert (response.text, response.tool_calls) == ("", ())
    assert response.finish_reason == "safety"
    assert response.usage == Usage(4, 0)


def test_thinking_tokens_count_as_output_tokens(server, provider):
    body = response_body([{"text": "ok"}], usage=(7, 2), thoughts_tokens=30)
    server.add("generateContent", json_reply(body))

    assert provider.generate(ask()).usage == Usage(7, 32)


def test_system_instruction_roles_and_settings_go_on_the_wire(server, provider):
    server.add("generateContent", json_reply(text_response("fine")))
    request = Request(
        MODEL,
        (Message.user("Hello"), Message.assistant("Hi, how can I help?"), Message.user("Go")),
        system="You are terse.",
        temperature=0.25,
        max_tokens=64,
        options={"top_p": 0.5, "stop_sequences": ("END",)},
    )

    provider.generate(request)

    [sent] = server.requests
    assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert sent.wire == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Hi, how can I help?"}]},
            {"role": "user", "parts": [{"text": "Go"}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "You are terse."}]},
        "generationConfig": {
            "temperature": 0.25,
            "maxOutputTokens": 64,
            "topP": 0.5,
            "stopSequences": ["END"],
        },
    }


def test_tools_are_declared_with_their_json_schema(server, provider):
    server.add("generateContent", json_reply(text_response("ok")))
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    }
    request = ask(tools=(ToolSpec("get_weather", "Weather for a city.", schema),))

    provider.generate(request)

    assert server.requests[0].wire["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "parametersJsonSchema": schema,
                }
            ]
        }
    ]


def test_two_function_calls_in_one_turn_become_two_tool_calls(server, provider):
    body = response_body(
        [
            function_call(
                "get_weather", {"city": "Paris"}, id="fc-1", thought_signature=CALL_SIGNATURE
            ),
            function_call("get_time", {"zone": "CET"}),
        ]
    )
    server.add("generateContent", json_reply(body))

    response = provider.generate(ask("Weather and time in Paris?"))

    assert response.tool_calls == (
        ToolCall("fc-1", "get_weather", {"city": "Paris"}, CALL_SIGNATURE),
        ToolCall("call_1", "get_time", {"zone": "CET"}, None),
    )
    assert response.text == ""
    assert len(server.requests) == 1  # the SDK ran no function itself


def test_thought_signatures_round_trip_byte_for_byte(server, provider):
    first = response_body(
        [
            {
                "text": "Let me check both.",
                "thoughtSignature": base64.b64encode(TEXT_SIGNATURE).decode(),
            },
            function_call("get_weather", {"city": "Paris"}, thought_signature=CALL_SIGNATURE),
            function_call("get_weather", {"city": "Rome"}, thought_signature=SECOND_SIGNATURE),
        ]
    )
    server.add("generateContent", json_reply(first))
    server.add("generateContent", json_reply(text_response("Sunny in both.")))
    question = Message.user("Weather in Paris and Rome?")

    answer = provider.generate(Request(MODEL, (question,)))
    results = Message.tool(
        [
            ToolResult(answer.tool_calls[0].id, "get_weather", {"sky": "sunny"}),
            ToolResult(answer.tool_calls[1].id, "get_weather", {"sky": "sunny"}),
        ]
    )
    provider.generate(Request(MODEL, (question, answer.message, results)))

    assert answer.message.signature == TEXT_SIGNATURE
    assert [c.signature for c in answer.tool_calls] == [CALL_SIGNATURE, SECOND_SIGNATURE]
    model_turn = server.requests[1].wire["contents"][1]
    assert model_turn["role"] == "model"
    text_part, call_part, second_part = model_turn["parts"]
    assert text_part["text"] == "Let me check both."
    assert b64decode(text_part["thoughtSignature"]) == TEXT_SIGNATURE
    assert call_part["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert b64decode(call_part["thoughtSignature"]) == CALL_SIGNATURE
    assert b64decode(second_part["thoughtSignature"]) == SECOND_SIGNATURE


def test_tool_results_are_sent_as_function_responses(server, provider):
    server.add("generateContent", json_reply(text_response("done")))
    calls = (
        ToolCall("fc-7", "lookup", {"q": "x"}),
        ToolCall("call_1", "divide", {"a": 1, "b": 0}),
    )
    results = (
        ToolResult("fc-7", "lookup", {"hits": 3}),
        ToolResult("call_1", "divide", "ZeroDivisionError: division by zero", is_error=True),
    )
    request = Request(
        MODEL, (Message.user("go"), Message.assistant("", calls), Message.tool(results))
    )

    provider.generate(request)

    contents = server.requests[0].wire["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"id": "fc-7", "name": "lookup", "args": {"q": "x"}}},
            {"functionCall": {"name": "divide", "args": {"a": 1, "b": 0}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "fc-7",
                    "name": "lookup",
                    "response": {"output": {"hits": 3}},
                }
            },
            {
                "functionResponse": {
                    "name": "divide",
                    "response": {"error": "ZeroDivisionError: division by zero"},
                }
            },
        ],
    }


def test_image_attachment_is_sent_as_inline_data(server, provider):
    server.add("generateContent", json_reply(text_response("A cat.")))
    message = Message.user("What is this?", [Attachment("image/png", PNG)])

    provider.generate(Request(MODEL, (message,)))

    [text, image] = server.requests[0].wire["contents"][0]["parts"]
    assert text == {"text": "What is this?"}
    assert image["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(image["inlineData"]["data"]) == PNG


# --- stream --------------------------------------------------------------------------


def test_stream_yields_text_chunks_in_order_with_usage_on_the_last(server, provider):
    events = [
        text_response("The ", finish_reason=None, usage=(9, 1)),
        text_response("quick ", finish_reason=None, usage=(9, 2)),
        text_response("fox.", usage=(9, 3)),
    ]
    server.add("streamGenerateContent", StreamReply(events))

    chunks = list(provider.stream(ask()))

    assert chunks == [
        Chunk(text="The "),
        Chunk(text="quick "),
        Chunk(text="fox.", usage=Usage(9, 3), finish_reason="stop"),
    ]
    [sent] = server.requests
    assert sent.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert sent.query == {"alt": "sse"}


def test_stream_yields_a_streamed_function_call_as_a_complete_tool_call(server, provider):
    events = [
        text_response("Checking.", finish_reason=None, usage=None),
        response_body(
            [function_call("get_weather", {"city": "Oslo"}, thought_signature=CALL_SIGNATURE)],
            usage=(20, 8),
        ),
    ]
    server.add("streamGenerateContent", StreamReply(events))

    response = collect(provider.stream(ask()), model=MODEL)

    assert response.text == "Checking."
    assert response.tool_calls == (
        ToolCall("call_0", "get_weather", {"city": "Oslo"}, CALL_SIGNATURE),
    )
    assert response.usage == Usage(20, 8)
    assert response.finish_reason == "stop"


def test_stream_broken_after_the_first_chunk_is_interrupted_and_not_retryable(server, provider):
    events = [text_response("Once ", finish_reason=None), text_response("upon")]
    server.add("streamGenerateContent", StreamReply(events, break_after=1))
    received = []

    with pytest.raises(StreamInterrupted) as caught:
        for chunk in provider.stream(ask()):
            received.append(chunk)

    assert received == [Chunk(text="Once ")]
    assert caught.value.retryable is False
    assert caught.value.provider == "gemini"
    assert str(caught.value).startswith("the gemini stream broke off after 1 chunk(s): ")
    assert len(server.requests) == 1  # the SDK did not reconnect


def test_stream_broken_before_any_chunk_is_interrupted_and_retryable(server, provider):
    server.add("streamGenerateContent", StreamReply([text_response("x")], break_after=0))

    with pytest.raises(StreamInterrupted) as caught:
        list(provider.stream(ask()))

    assert caught.value.retryable is True
    assert len(server.requests) == 1


def test_stream_longer_than_the_request_timeout_is_cut_off_between_events(server, provider):
    events = [text_response(word, finish_reason=None) for word in ("a ", "b ", "c ", "d ")]
    server.add("streamGenerateContent", StreamReply(events, delay=0.3))
    received = []

    with pytest.raises(StreamInterrupted) as caught:
        for chunk in provider.stream(ask(timeout=0.5)):
            received.append(chunk)

    assert 1 <= len(received) < 4
    assert caught.value.retryable is False


def test_closing_a_stream_early_leaves_the_provider_usable(server, provider):
    events = [text_response("first ", finish_reason=None), text_response("second")]
    server.add("streamGenerateContent", StreamReply(events, delay=0.2))
    server.add("generateContent", json_reply(text_response("again")))

    chunks = provider.stream(ask())
    assert next(chunks) == Chunk(text="first ")
    chunks.close()

    assert provider.generate(ask()).text == "again"


def test_stream_refused_with_429_is_rate_limited(server, provider):
    server.add("streamGenerateContent", rate_limited_reply("4s"))

    with pytest.raises(RateLimited) as caught:
        list(provider.stream(ask()))

    assert caught.value.retry_after == 4.0


def test_stream_with_an_undecodable_event_is_malformed(server, provider):
    server.add("streamGenerateContent", StreamReply(['{"candidates": [']))

    with pytest.raises(MalformedResponse):
        list(provider.stream(ask()))


# --- embeddings ----------------------------------------------------------------------


def test_embed_returns_one_vector_per_text_in_order(server, provider):
    server.add("batchEmbedContents", json_reply(embeddings_response([[0.1, 0.2], [0.3, 0.4]])))

    vectors = provider.embed(["first", "second"])

    assert vectors == [[0.1, 0.2], [0.3, 0.4]]
    [sent] = server.requests
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.wire == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"role": "user", "parts": [{"text": "first"}]},
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"role": "user", "parts": [{"text": "second"}]},
            },
        ]
    }


def test_embed_of_no_texts_sends_nothing(server, provider):
    assert provider.embed([]) == []
    assert server.requests == []


def test_embed_refuses_a_bare_string(provider):
    with pytest.raises(ConfigError, match="^embed expects a list of str, got str$"):
        provider.embed("hello")  # type: ignore[arg-type]


# --- errors --------------------------------------------------------------------------


def test_429_with_retry_delay_is_rate_limited_after_the_hint(server, provider):
    server.add("generateContent", rate_limited_reply("17s"))

    with pytest.raises(RateLimited) as caught:
        provider.generate(ask())

    error = caught.value
    assert error.retry_after == 17.0
    assert error.retryable is True
    assert error.status == 429
    assert error.provider == "gemini"
    assert str(error) == (
        "gemini answered 429 RESOURCE_EXHAUSTED: You exceeded your current quota, "
        "please check your plan and billing details."
    )
    assert "RetryInfo" in (error.body or "")
    assert len(server.requests) == 1  # the SDK did not retry


def test_fractional_retry_delay_is_parsed(server, provider):
    server.add("generateContent", rate_limited_reply("1.5s"))

    with pytest.raises(RateLimited) as caught:
        provider.generate(ask())

    assert caught.value.retry_after == 1.5


def test_429_without_retry_info_uses_the_retry_after_header(server, provider):
    server.add("generateContent", rate_limited_reply(None, headers={"Retry-After": "3"}))

    with pytest.raises(RateLimited) as caught:
        provider.generate(ask())

    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("code", [500, 503])
def test_5xx_is_provider_unavailable_and_not_retried_by_the_sdk(server, provider, code):
    server.add("generateContent", error_reply(code, "The model is overloaded."))

    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate(ask())

    assert caught.value.status == code
    assert caught.value.retryable is True
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("code", "expected"),
    [(400, BadRequest), (404, BadRequest), (401, AuthenticationError), (403, AuthenticationError)],
)
def test_4xx_answers_are_not_retryable(server, provider, code, expected):
    server.add("generateContent", error_reply(code, "no"))

    with pytest.raises(expected) as caught:
        provider.generate(ask())

    assert type(caught.value) is expected
    assert caught.value.retryable is False
    assert caught.value.status == code


def test_an_invalid_api_key_is_an_authentication_error(server, provider):
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ]
    server.add(
        "generateContent",
        error_reply(400, "API key not valid. Please pass a valid API key.", details=details),
    )

    with pytest.raises(AuthenticationError, match="API key not valid"):
        provider.generate(ask())


def test_hung_server_times_out_within_the_request_timeout(server, provider):
    server.add("generateContent", Hang())
    started = time.monotonic()

    with pytest.raises(ProviderTimeout) as caught:
        provider.generate(ask(timeout=0.5))

    assert time.monotonic() - started < 5.0
    assert caught.value.retryable is True
    assert str(caught.value) == "gemini did not answer within the timeout of 0.5 s"


def test_hung_stream_times_out_within_the_request_timeout(server, provider):
    server.add("streamGenerateContent", Hang())
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        list(provider.stream(ask(timeout=0.5)))

    assert time.monotonic() - started < 5.0


def test_malformed_json_is_a_malformed_response(server, provider):
    server.add("generateContent", malformed_reply())

    with pytest.raises(MalformedResponse) as caught:
        provider.generate(ask())

    assert caught.value.retryable is True
    assert caught.value.body == '{"candidates": [{"content": '


def test_a_request_without_messages_is_refused_before_sending(server, provider):
    with pytest.raises(BadRequest, match="^a Gemini request needs at least one message, got none$"):
        provider.generate(Request(MODEL, ()))

    assert server.requests == []


def test_connection_refused_is_provider_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gemini = GeminiProvider(api_key="k", base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(
        ProviderUnavailable, match="^could not connect to gemini at http://127.0.0.1:"
    ):
        gemini.generate(ask())


# --- configuration -------------------------------------------------------------------


def test_missing_key_is_an_authentication_error(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)

    with pytest.raises(AuthenticationError, match="^no Gemini API key: pass api_key="):
        GeminiProvider()


def test_key_comes_from_gemini_api_key_before_google_api_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")

    gemini = GeminiProvider()

    assert gemini.api_key_for_gate() == "from-gemini"
    assert gemini.key.startswith("gemini:")
    assert "from-gemini" not in repr(gemini)


def test_forbidden_network_refuses_the_real_service_before_connecting(monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    monkeypatch.setattr(socket, "create_connection", no_connection)
    gemini = GeminiProvider(api_key="k")  # no base_url: the real service

    with pytest.raises(NetworkForbidden, match="generativelanguage.googleapis.com"):
        gemini.generate(ask())
    with pytest.raises(NetworkForbidden):
        list(gemini.stream(ask()))
    with pytest.raises(NetworkForbidden):
        gemini.embed(["x"])


def test_unknown_options_are_refused_with_the_valid_ones(provider):
    with pytest.raises(ConfigError, match="^the Gemini provider got unknown option 'topp'; valid"):
        provider.generate(ask(options={"topp": 0.5}))


def test_sdk_retry_options_are_refused(server):
    with pytest.raises(ConfigError, match="retry_options is refused"):
        GeminiProvider(
            api_key="k", base_url=server.base_url, http_options={"retry_options": {"attempts": 3}}
        )


# --- processes -----------------------------------------------------------------------


def test_calls_from_two_processes_run_concurrently(server, provider):
    server.add("generateContent", json_reply(text_response("one")))
    server.add("generateContent", json_reply(text_response("two")))
    server.hold_replies_until(2)  # neither answer comes before both requests arrived

    def caller(parent: beamlike.Pid, tag: str) -> None:
        send(parent, (tag, provider.generate(ask(tag, timeout=10.0)).text))

    def main() -> set[tuple[str, str]]:
        me = self_pid()
        spawn(caller, me, "a")
        spawn(caller, me, "b")
        return {receive(timeout=10.0), receive(timeout=10.0)}

    texts = beamlike.run(main)

    assert {text for _, text in texts} == {"one", "two"}
    assert sorted(r.wire["contents"][0]["parts"][0]["text"] for r in server.requests) == ["a", "b"]
