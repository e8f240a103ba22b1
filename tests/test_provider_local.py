"""LocalProvider: the offline, deterministic provider. Exact answers for every rule."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

import beamlike
from beamlike import receive, self_pid, send, spawn
from elixirchain.errors import ConfigError, ProviderTimeout
from elixirchain.messages import (
    Chunk,
    Message,
    Request,
    Response,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
    collect,
)
from elixirchain.providers.local import EMBED_DIMENSIONS, LONG_SENTENCES, LocalProvider

CALCULATOR = ToolSpec(
    "calculator",
    "Evaluates an arithmetic expression.",
    {"type": "object", "properties": {"expression": {"type": "string"}}},
)
WEATHER = ToolSpec("weather", "The weather in a city.", {"type": "object"})
WAIT = 5.0


def request(*messages: Message | str, **fields: Any) -> Request:
    conversation = tuple(Message.user(m) if isinstance(m, str) else m for m in messages)
    return Request(fields.pop("model", "local-1"), conversation, **fields)


def answer(*messages: Message | str, **fields: Any) -> Response:
    return LocalProvider().generate(request(*messages, **fields))


def calculator_turn(expression: str, result: Any, *, is_error: bool = False) -> tuple[Message, ...]:
    return (
        Message.user(f"What is {expression}?"),
        Message.assistant("", [ToolCall("call_1", "calculator", {"expression": expression})]),
        Message.tool([ToolResult("call_1", "calculator", result, is_error)]),
    )


# -- echo and memory ------------------------------------------------------------------


def test_a_plain_message_is_echoed_with_the_provider_named() -> None:
    response = answer("hi")

    assert response.text == "(local provider) You said: hi"
    assert response.finish_reason == "stop"
    assert response.tool_calls == ()
    assert response.model == "local-1"


def test_the_echo_counts_the_earlier_messages_it_remembers() -> None:
    history = (
        Message.user("hello"),
        Message.assistant("(local provider) You said: hello"),
        Message.user("my name is Ada"),
    )

    response = answer(*history, "hi")

    assert response.text == "(local provider, 3 earlier messages) You said: hi"


def test_one_earlier_message_is_counted_in_the_singular() -> None:
    assert answer("hello", "hi").text == "(local provider, 1 earlier message) You said: hi"


def test_the_same_request_always_gets_the_same_answer() -> None:
    provider = LocalProvider()
    same = request("hello", "what did I say?")

    assert provider.generate(same) == provider.generate(same)


def test_the_response_names_the_requested_model_or_the_providers_own() -> None:
    assert answer("hi", model="local-2").model == "local-2"
    assert LocalProvider(model="tiny").generate(request("hi", model="")).model == "tiny"
    assert LocalProvider(model="tiny").default_model == "tiny"


# -- arithmetic and the calculator tool -------------------------------------------------


def test_arithmetic_with_the_calculator_offered_becomes_a_tool_call() -> None:
    response = answer("What is 17 * 23?", tools=(WEATHER, CALCULATOR))

    assert response.text == ""
    assert response.tool_calls == (ToolCall("call_1", "calculator", {"expression": "17 * 23"}),)
    assert response.finish_reason == "tool_calls"


def test_several_expressions_become_parallel_tool_calls_in_one_answer() -> None:
    response = answer("what is 2+2 and 3*3", tools=(CALCULATOR,))

    assert response.tool_calls == (
        ToolCall("call_1", "calculator", {"expression": "2+2"}),
        ToolCall("call_2", "calculator", {"expression": "3*3"}),
    )


def test_x_and_times_sign_are_multiplication_and_parentheses_and_powers_are_kept() -> None:
    response = answer("compute (1 + 2) x 4, 3×5 and 2 ** 10 % 7", tools=(CALCULATOR,))

    assert [call.arguments["expression"] for call in response.tool_calls] == [
        "(1 + 2) * 4",
        "3*5",
        "2 ** 10 % 7",
    ]


def test_call_ids_continue_after_the_calls_already_in_the_conversation() -> None:
    history = calculator_turn("17 * 23", 391)

    response = answer(*history, "and 6 / 3?", tools=(CALCULATOR,))

    assert response.tool_calls == (ToolCall("call_2", "calculator", {"expression": "6 / 3"}),)


def test_a_lone_number_is_not_arithmetic() -> None:
    response = answer("I have 3 apples", tools=(CALCULATOR,))

    assert response.text == "(local provider) You said: I have 3 apples"


def test_arithmetic_without_the_calculator_is_not_computed() -> None:
    response = answer("What is 17 * 23?", tools=(WEATHER,))

    assert response.text == (
        "(local provider) I cannot compute without the calculator tool: 17 * 23"
    )
    assert response.finish_reason == "stop"


def test_a_calculator_result_is_answered_in_words() -> None:
    response = answer(*calculator_turn("17 * 23", 391), tools=(CALCULATOR,))

    assert response.text == "17 * 23 = 391."
    assert response.finish_reason == "stop"


def test_a_failed_tool_is_reported_with_its_message() -> None:
    turn = calculator_turn("1 / 0", "division by zero", is_error=True)

    assert answer(*turn).text == "The tool calculator failed: division by zero."


def test_an_error_given_as_a_mapping_reports_its_error_field() -> None:
    turn = calculator_turn("1 / 0", {"error": "division by zero."}, is_error=True)

    assert answer(*turn).text == "The tool calculator failed: division by zero."


def test_several_results_are_answered_in_order() -> None:
    calls = [
        ToolCall("call_1", "calculator", {"expression": "2+2"}),
        ToolCall("call_2", "weather", {"city": "Oslo"}),
    ]
    history = (
        Message.user("what is 2+2, and the weather?"),
        Message.assistant("", calls),
        Message.tool(
            [
                ToolResult("call_1", "calculator", 4),
                ToolResult("call_2", "weather", {"sky": "clear", "celsius": 3}),
            ]
        ),
    )

    assert answer(*history).text == (
        '2+2 = 4. The tool weather returned {"celsius": 3, "sky": "clear"}.'
    )


def test_a_tool_call_then_its_result_completes_a_calculation() -> None:
    provider = LocalProvider()
    question = Message.user("What is 17 * 23?")
    first = provider.generate(request(question, tools=(CALCULATOR,)))
    (call,) = first.tool_calls
    result = Message.tool([ToolResult(call.id, call.name, 391)])

    second = provider.generate(request(question, first.message, result, tools=(CALCULATOR,)))

    assert second.text == "17 * 23 = 391."


# -- summaries and long texts -----------------------------------------------------------


def test_a_summary_lists_the_first_sentence_of_each_user_message() -> None:
    history = (
        Message.user("The cat sat on the mat. It purred."),
        Message.assistant("(local provider) You said: The cat sat on the mat. It purred."),
        Message.user("Dogs bark! They run"),
        Message.user("no punctuation here"),
    )

    response = answer(*history, "Please summarise our conversation")

    assert response.text == "Summary: The cat sat on the mat. Dogs bark! no punctuation here."


def test_summarize_and_summary_are_understood_too() -> None:
    assert answer("Ships sail.", "summarize").text == "Summary: Ships sail."
    assert answer("Ships sail.", "Give me a SUMMARY").text == "Summary: Ships sail."


def test_the_text_after_a_colon_is_summarised() -> None:
    response = answer("Summarize the following:\nThe sky is blue. Grass is green.\nIt is 3 x 4.")

    assert response.text == "Summary: The sky is blue. It is 3 x 4."


def test_a_summary_with_nothing_to_summarise_says_so() -> None:
    assert answer("summary please").text == "Summary: there is nothing to summarise yet."


def test_a_summary_is_bounded_in_length() -> None:
    history = [f"Sentence number {n} {'padding ' * 12}ends here. More." for n in range(30)]

    text = answer(*history, "summarise").text

    assert len(text) <= 620
    assert text.startswith("Summary: Sentence number 0 padding")
    assert text.endswith("more)")


def test_repeat_n_words_gives_exactly_n_words() -> None:
    text = answer("repeat 12 words").text

    assert text == "The quick brown fox jumps over the lazy dog the quick brown."
    assert len(answer("please repeat 250 words").text.split()) == 250


def test_write_a_long_text_gives_numbered_sentences() -> None:
    text = answer("Write a long story about dragons.").text

    sentences = [f"This is sentence {n} of 20 of a long story about dragons." for n in range(1, 21)]
    assert LONG_SENTENCES == 20
    assert text == " ".join(sentences)


def test_max_tokens_cuts_the_answer_to_that_many_words() -> None:
    response = answer("repeat 100 words", max_tokens=5)

    assert response.text == "The quick brown fox jumps"
    assert response.finish_reason == "max_tokens"
    assert response.usage.output_tokens == 5


# -- usage ---------------------------------------------------------------------------------


def test_usage_counts_words_of_the_system_prompt_messages_and_answer() -> None:
    response = answer("one two three", "four five", system="be brief")

    # 2 system + 3 + 2 message words in; "(local provider, 1 earlier message) You said:
    # four five" is 9 words out.
    assert response.usage == Usage(input_tokens=7, output_tokens=9)


def test_usage_of_a_tool_call_counts_its_name_and_arguments() -> None:
    response = answer("What is 17 * 23?", tools=(CALCULATOR,))

    assert response.usage == Usage(input_tokens=5, output_tokens=4)


# -- streaming -----------------------------------------------------------------------------


def test_streamed_chunks_concatenate_to_the_generated_text() -> None:
    provider = LocalProvider()
    asked = request("hello", "stream this please")

    chunks = list(provider.stream(asked))

    assert [chunk.text for chunk in chunks] == [
        "(local",
        " provider,",
        " 1",
        " earlier",
        " message)",
        " You",
        " said:",
        " stream",
        " this",
        " please",
    ]
    assert collect(chunks, model="local-1") == provider.generate(asked)


def test_usage_and_finish_reason_come_on_the_last_chunk_only() -> None:
    chunks = list(LocalProvider().stream(request("a b c")))

    assert all(c.usage is None and c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage == Usage(input_tokens=3, output_tokens=7)
    assert chunks[-1].finish_reason == "stop"


def test_words_per_chunk_groups_words() -> None:
    chunks = list(LocalProvider(words_per_chunk=3).stream(request("a b c")))

    assert [c.text for c in chunks] == ["(local provider) You", " said: a b", " c"]


def test_a_streamed_tool_call_comes_on_one_chunk() -> None:
    chunks = list(LocalProvider().stream(request("what is 2+2?", tools=(CALCULATOR,))))

    assert chunks == [
        Chunk(
            tool_calls=(ToolCall("call_1", "calculator", {"expression": "2+2"}),),
            usage=Usage(input_tokens=3, output_tokens=2),
            finish_reason="tool_calls",
        )
    ]


def test_streamed_text_keeps_newlines() -> None:
    asked = request("Summarize:\nOne.\nTwo.")

    text = "".join(chunk.text for chunk in LocalProvider().stream(asked))

    assert text == "Summary: One. Two."
    assert text == LocalProvider().generate(asked).text


# -- latency -------------------------------------------------------------------------------


def test_delay_waits_in_the_calling_process_while_others_progress() -> None:
    provider = LocalProvider(delay=0.3)
    main = self_pid()

    def caller() -> None:
        send(main, ("answer", provider.generate(request("hi")).text, time.monotonic()))

    def other() -> None:
        send(main, ("other", time.monotonic()))

    start = time.monotonic()
    spawn(caller)
    spawn(other)
    first = receive(timeout=WAIT)
    second = receive(timeout=WAIT)

    assert first[0] == "other"
    assert second[:2] == ("answer", "(local provider) You said: hi")
    assert second[2] - start >= 0.29
    assert first[1] < second[2]


def test_a_delay_longer_than_the_timeout_raises_provider_timeout_at_the_timeout() -> None:
    start = time.monotonic()

    with pytest.raises(ProviderTimeout) as caught:
        beamlike.run(LocalProvider(delay=30).generate, request("hi", timeout=0.2))

    assert 0.19 <= time.monotonic() - start < 5.0
    assert str(caught.value) == (
        "local provider did not answer within the request's timeout of 0.2 s "
        "(its simulated delay is longer)"
    )
    assert caught.value.retryable is True
    assert caught.value.provider == "local"


def test_chunk_delay_spaces_the_chunks() -> None:
    provider = LocalProvider(chunk_delay=0.05, words_per_chunk=2)
    start = time.monotonic()

    chunks = beamlike.run(lambda: list(provider.stream(request("a b"))))

    assert len(chunks) == 3
    assert time.monotonic() - start >= 0.09


def test_a_stream_outlasting_its_timeout_breaks_off_with_provider_timeout() -> None:
    provider = LocalProvider(chunk_delay=0.2)
    received: list[str] = []

    def consume() -> None:
        for chunk in provider.stream(request("a b c", timeout=0.1)):
            received.append(chunk.text)

    with pytest.raises(ProviderTimeout):
        beamlike.run(consume)

    assert received == ["(local"]


# -- embeddings ----------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors_of_64_floats() -> None:
    provider = LocalProvider()

    first = provider.embed(["The cat sat", "dogs bark"])
    again = LocalProvider().embed(["the CAT sat!"])

    assert EMBED_DIMENSIONS == 64
    assert [len(v) for v in first] == [64, 64]
    assert all(math.isclose(sum(x * x for x in v), 1.0) for v in first)
    assert again[0] == first[0]


def test_texts_sharing_words_are_more_similar_than_texts_that_do_not() -> None:
    cats, kittens, rockets = LocalProvider().embed(
        ["cats like warm milk", "warm milk for cats", "rockets reach orbit"]
    )

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert math.isclose(cosine(cats, kittens), 0.75)  # 3 of 4 words shared
    assert cosine(cats, rockets) == 0.0


def test_a_text_without_words_embeds_as_the_zero_vector() -> None:
    assert LocalProvider().embed(["", "?!"]) == [[0.0] * 64, [0.0] * 64]


def test_embed_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError) as caught:
        LocalProvider().embed("hello")  # type: ignore[arg-type]

    assert (
        str(caught.value) == "LocalProvider.embed expects a list of str; got 'hello' (of type str)"
    )


# -- configuration and speed ---------------------------------------------------------------


def test_bad_options_are_refused_with_what_was_expected() -> None:
    with pytest.raises(ConfigError) as delay:
        LocalProvider(delay=-1)
    with pytest.raises(ConfigError) as words:
        LocalProvider(words_per_chunk=0)
    with pytest.raises(ConfigError) as model:
        LocalProvider(model="")

    assert str(delay.value) == "LocalProvider delay must be a number of seconds >= 0; got -1"
    assert str(words.value) == "LocalProvider words_per_chunk must be an int >= 1; got 0"
    assert str(model.value) == "LocalProvider model must be a non-empty str; got ''"


def test_generate_refuses_what_is_not_a_request() -> None:
    with pytest.raises(TypeError) as caught:
        LocalProvider().generate("hi")  # type: ignore[arg-type]

    assert str(caught.value) == "LocalProvider expects a Request; got 'hi' (of type str)"


def test_the_local_provider_is_keyless_and_named_local() -> None:
    provider = LocalProvider()

    assert provider.name == "local"
    assert provider.key == "local"


def test_generate_without_delay_costs_only_microseconds() -> None:
    provider = LocalProvider()
    asked = request("hello", "How are you today, my friend?", system="Be kind.")
    provider.generate(asked)
    start = time.perf_counter()

    for _ in range(2000):
        provider.generate(asked)

    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 200e-6  # about 5 microseconds measured; generous for a shared machine
