"""Agents end to end against local servers speaking each vendor's wire format: the tool
loop through Gemini (via google-genai), OpenAI-compatible and Anthropic adapters, the
shared gate's retries on a real 429 body, and a fallback provider."""

from __future__ import annotations

import base64

import pytest

import beamlike
import elixirchain as ec
from beamlike import self_pid, send
from elixirchain import app as application
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.gemini_server import (
    FakeGeminiServer,
    function_call,
    json_reply,
    rate_limited_reply,
    response_body,
    text_response,
)
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture(autouse=True)
def stop_app():
    yield
    if application.is_running():
        ec.stop()


@pytest.fixture
def gemini():
    with FakeGeminiServer() as server:
        yield server


def test_a_gemini_agent_runs_two_parallel_tool_calls_and_returns_their_thought_signatures(gemini):
    signature = b"\x01opaque-signature\xff"
    gemini.add(
        "generateContent",
        json_reply(
            response_body(
                [
                    function_call(
                        "calculator", {"expression": "17 * 23"}, id="a", thought_signature=signature
                    ),
                    function_call("calculator", {"expression": "2 ** 10"}, id="b"),
                ]
            )
        ),
    )
    gemini.add("generateContent", json_reply(text_response("391 and 1024")))
    agent = ec.start_agent(
        name="gem",
        llm_provider="gemini",
        tools=["calculator"],
        system_prompt="Use the calculator.",
        provider_options={"api_key": "test-key", "base_url": gemini.base_url},
    )
    assert ec.chat(agent, "What are 17*23 and 2**10?") == "391 and 1024"
    second = gemini.requests[1].wire
    assert second["systemInstruction"]["parts"][0]["text"] == "Use the calculator."
    model_turn = second["contents"][1]
    assert model_turn["role"] == "model"
    # the SDK writes bytes as URL-safe base64, which the API's JSON mapping accepts
    sent = model_turn["parts"][0]["thoughtSignature"]
    assert base64.urlsafe_b64decode(sent) == signature
    responses = [p["functionResponse"] for p in second["contents"][2]["parts"]]
    assert [(r["name"], r["response"]) for r in responses] == [
        ("calculator", {"output": 391}),
        ("calculator", {"output": 1024}),
    ]


def test_a_gemini_429_is_retried_after_the_servers_retry_delay(gemini):
    gemini.add("generateContent", rate_limited_reply(retry_delay="0.2s"))
    gemini.add("generateContent", json_reply(text_response("after the wait")))
    me = self_pid()
    ec.telemetry.attach(
        "retries",
        ("elixirchain", "provider", "retry"),
        lambda event, measurements, metadata: send(me, ("retry", measurements["delay"])),
    )
    agent = ec.start_agent(
        name="patient",
        llm_provider="gemini",
        provider_options={"api_key": "k", "base_url": gemini.base_url},
        retry={"max_attempts": 3, "base_delay": 0.01},
    )
    assert ec.chat(agent, "hi") == "after the wait"
    _, delay = beamlike.receive(("retry", beamlike.ANY), timeout=1)
    assert delay >= 0.2


def test_an_openai_compatible_agent_streams_text_around_a_streamed_tool_call():
    with FakeOpenAIServer() as server:
        server.stream_tool_calls([("call_1", "calculator", ['{"expression"', ': "6*7"}'])])
        server.stream_text(["It ", "is ", "42."])
        agent = ec.start_agent(
            name="oai",
            llm_provider="openai",
            tools=["calculator"],
            provider_options={"base_url": server.base_url},
        )
        assert "".join(ec.chat_stream(agent, "6*7?")) == "It is 42."
        tool_message = server.requests[1].json["messages"][-1]
        assert tool_message == {"role": "tool", "tool_call_id": "call_1", "content": "42"}


def test_an_anthropic_agent_answers_after_a_tool_use():
    with FakeAnthropicServer() as server:
        server.reply_tool_uses([("toolu_1", "calculator", {"expression": "1+1"})])
        server.reply_text("Two.")
        agent = ec.start_agent(
            name="claude",
            llm_provider="anthropic",
            tools=["calculator"],
            provider_options={"base_url": server.url},
        )
        assert ec.chat(agent, "1+1?") == "Two."
        last = server.requests[1].json["messages"][-1]
        assert last["role"] == "user"
        assert last["content"][0]["type"] == "tool_result"
        assert last["content"][0]["tool_use_id"] == "toolu_1"


def test_a_fallback_provider_answers_when_the_primary_keeps_failing():
    with FakeOpenAIServer() as server:
        for _ in range(2):
            server.reply_server_error(503)
        agent = ec.start_agent(
            name="fallback",
            llm_provider="openai",
            provider_options={"base_url": server.url + "/v1"},
            retry={"max_attempts": 2, "base_delay": 0.01},
            fallback_provider="local",
        )
        assert ec.chat(agent, "hello") == "(local provider) You said: hello"


def test_agents_on_one_key_share_one_gate_that_bounds_their_concurrency():
    with FakeOpenAIServer() as server:
        for _ in range(6):
            server.reply_text("ok", delay=0.1)
        limits = {"max_concurrency": 2}
        agents = [
            ec.start_agent(
                name=f"shared-{i}",
                llm_provider="openai",
                provider_options={"base_url": server.base_url, "api_key": "same"},
                limits=limits,
            )
            for i in range(6)
        ]
        results = list(
            beamlike.task.async_stream(agents, lambda a: ec.chat(a, "x"), max_concurrency=6)
        )
        assert results == [("ok", "ok")] * 6
        assert server.max_in_flight == 2
