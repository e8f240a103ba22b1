"""FunctionProvider and ScriptedProvider: the test doubles answer exactly what they are given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elixirchain.errors import ElixirChainError, RateLimited
from elixirchain.messages import (
    Chunk,
    Message,
    Request,
    Response,
    ToolCall,
    Usage,
    collect,
)
from elixirchain.providers.function import FunctionProvider, ScriptedProvider, ScriptExhausted

CALL = ToolCall("call_1", "calculator", {"expression": "17 * 23"})
OTHER_CALL = ToolCall("call_2", "weather", {"city": "Oslo"})


def request(text: str = "hi", model: str = "m") -> Request:
    return Request(model, (Message.user(text),))


# -- FunctionProvider -------------------------------------------------------------------


def test_a_str_answer_becomes_an_assistant_message() -> None:
    provider = FunctionProvider(lambda r: "hello " + r.messages[-1].content)

    response = provider.generate(request("Ada"))

    assert response == Response(Message.assistant("hello Ada"), Usage(), "stop", "m")


def test_a_message_answer_becomes_its_response_with_the_right_finish_reason() -> None:
    asks = FunctionProvider(lambda r: Message.assistant("", [CALL]))
    says = FunctionProvider(lambda r: Message.assistant("done"))

    assert asks.generate(request()) == Response(
        Message.assistant("", [CALL]), Usage(), "tool_calls", "m"
    )
    assert says.generate(request()).finish_reason == "stop"


def test_a_response_answer_is_returned_as_it_is() -> None:
    given = Response(Message.assistant("x"), Usage(3, 1), "max_tokens", "other")

    assert FunctionProvider(lambda r: given).generate(request()) is given


def test_what_fn_raises_reaches_the_caller() -> None:
    def fail(request: Request) -> str:
        raise RateLimited("slow down", provider="function", retry_after=2.0)

    with pytest.raises(RateLimited) as caught:
        FunctionProvider(fail).generate(request())

    assert caught.value.retry_after == 2.0


def test_function_provider_records_every_request_in_order() -> None:
    provider = FunctionProvider(lambda r: "ok")
    first, second = request("one"), request("two")

    provider.generate(first)
    list(provider.stream(second))

    assert provider.requests == [first, second]


def test_a_wrong_answer_type_is_refused_with_what_was_expected() -> None:
    provider = FunctionProvider(lambda r: 42)  # type: ignore[arg-type, return-value]

    with pytest.raises(TypeError) as caught:
        provider.generate(request())

    assert str(caught.value) == (
        "FunctionProvider fn's answer must be a Response, a Message or a str; got 42 (of type int)"
    )


def test_a_user_message_answer_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        FunctionProvider(lambda r: Message.user("me?")).generate(request())

    assert (
        str(caught.value)
        == "FunctionProvider fn's answer must be an assistant Message; got role 'user'"
    )


def test_stream_without_stream_fn_yields_the_answer_as_one_chunk() -> None:
    provider = FunctionProvider(lambda r: Response(Message.assistant("whole"), Usage(2, 1)))

    chunks = list(provider.stream(request()))

    assert chunks == [Chunk(text="whole", usage=Usage(2, 1), finish_reason="stop")]


def test_stream_fn_items_may_be_str_deltas_or_chunks() -> None:
    def stream_fn(request: Request) -> Iterator[Chunk | str]:
        yield "Hel"
        yield "lo"
        yield Chunk(tool_calls=(CALL,), usage=Usage(1, 2), finish_reason="tool_calls")

    provider = FunctionProvider(lambda r: "unused", stream_fn=stream_fn)

    chunks = list(provider.stream(request()))

    assert chunks[:2] == [Chunk(text="Hel"), Chunk(text="lo")]
    assert collect(chunks) == Response(
        Message.assistant("Hello", [CALL]), Usage(1, 2), "tool_calls"
    )
    assert provider.requests == [request()]


def test_a_stream_fn_may_break_off_half_way() -> None:
    def stream_fn(request: Request) -> Iterator[str]:
        yield "partial"
        raise ConnectionError("gone")

    stream = FunctionProvider(lambda r: "", stream_fn=stream_fn).stream(request())

    assert next(stream) == Chunk(text="partial")
    with pytest.raises(ConnectionError):
        next(stream)


def test_a_stream_fn_yielding_something_else_is_refused() -> None:
    provider = FunctionProvider(lambda r: "", stream_fn=lambda r: [3])  # type: ignore[list-item]

    with pytest.raises(TypeError) as caught:
        list(provider.stream(request()))

    assert (
        str(caught.value)
        == "FunctionProvider stream_fn must yield Chunk or str items; got 3 (of type int)"
    )


def test_function_provider_refuses_a_fn_that_is_not_callable() -> None:
    with pytest.raises(TypeError) as caught:
        FunctionProvider("hello")  # type: ignore[arg-type]

    assert str(caught.value) == (
        "FunctionProvider expects a callable fn(request) -> Response | Message | str; "
        "got 'hello' (of type str)"
    )


def test_the_key_defaults_to_the_name_and_may_be_shared_by_two_doubles() -> None:
    alone = FunctionProvider(lambda r: "", name="primary")
    one = FunctionProvider(lambda r: "", key="openai:shared")
    two = ScriptedProvider([], key="openai:shared")

    assert (alone.name, alone.key) == ("primary", "primary")
    assert FunctionProvider(lambda r: "").key == "function"
    assert one.key == two.key == "openai:shared"


# -- ScriptedProvider -------------------------------------------------------------------


def test_each_call_takes_the_next_item_of_every_kind() -> None:
    given = Response(Message.assistant("as is"), Usage(1, 2), "stop", "x")
    script = [
        given,
        Message.assistant("a message"),
        "a str",
        [CALL, OTHER_CALL],
        CALL,
        lambda r: "computed from " + r.messages[-1].content,
    ]
    provider = ScriptedProvider(script)

    answers = [provider.generate(request(f"call {n}")) for n in range(6)]

    assert answers[0] is given
    assert answers[1] == Response(Message.assistant("a message"), model="m")
    assert answers[2] == Response(Message.assistant("a str"), model="m")
    assert answers[3] == Response(
        Message.assistant("", [CALL, OTHER_CALL]), finish_reason="tool_calls", model="m"
    )
    assert answers[4].tool_calls == (CALL,)
    assert answers[4].finish_reason == "tool_calls"
    assert answers[5].text == "computed from call 5"
    assert provider.calls == 6


def test_exception_items_are_raised_and_the_script_goes_on() -> None:
    error = RateLimited("busy", provider="scripted", retry_after=1.0)
    provider = ScriptedProvider([error, TimeoutError, "recovered"])

    with pytest.raises(RateLimited) as first:
        provider.generate(request())
    with pytest.raises(TimeoutError):
        provider.generate(request())

    assert first.value is error
    assert provider.generate(request()).text == "recovered"


def test_a_callable_item_may_return_any_item_kind() -> None:
    provider = ScriptedProvider([lambda r: [CALL], lambda r: ValueError("from a callable")])

    assert provider.generate(request()).tool_calls == (CALL,)
    with pytest.raises(ValueError, match="from a callable"):
        provider.generate(request())


def test_a_used_up_script_raises_script_exhausted_naming_the_calls() -> None:
    provider = ScriptedProvider(["a", "b", "c"])
    for _ in range(3):
        provider.generate(request())

    with pytest.raises(ScriptExhausted) as caught:
        provider.generate(request())

    assert str(caught.value) == "ScriptedProvider 'scripted' ran out of answers after 3 calls"
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value, ElixirChainError)


def test_the_exhaustion_message_names_the_provider_and_one_call_in_the_singular() -> None:
    provider = ScriptedProvider(["only"], name="planner")
    provider.generate(request())

    with pytest.raises(ScriptExhausted) as caught:
        provider.generate(request())

    assert str(caught.value) == "ScriptedProvider 'planner' ran out of answers after 1 call"


def test_scripted_provider_records_every_request_also_those_that_raised() -> None:
    provider = ScriptedProvider([KeyError("x"), "ok"])
    asked = [request("one"), request("two"), request("three")]

    with pytest.raises(KeyError):
        provider.generate(asked[0])
    provider.generate(asked[1])
    with pytest.raises(ScriptExhausted):
        provider.generate(asked[2])

    assert provider.requests == asked


def test_a_generator_script_is_taken_lazily() -> None:
    def answers() -> Iterator[str]:
        for n in range(2):
            yield f"answer {n}"

    provider = ScriptedProvider(answers())

    assert [provider.generate(request()).text for _ in range(2)] == ["answer 0", "answer 1"]
    with pytest.raises(ScriptExhausted):
        provider.generate(request())


def test_streaming_splits_text_into_chunks_of_chunk_size_characters() -> None:
    usage = Usage(4, 3)
    provider = ScriptedProvider([Response(Message.assistant("Hello world"), usage)], chunk_size=4)

    chunks = list(provider.stream(request()))

    assert chunks == [
        Chunk(text="Hell"),
        Chunk(text="o wo"),
        Chunk(text="rld", usage=usage, finish_reason="stop"),
    ]


def test_streaming_without_chunk_size_gives_one_chunk() -> None:
    chunks = list(ScriptedProvider(["Hello world"]).stream(request()))

    assert chunks == [Chunk(text="Hello world", usage=Usage(), finish_reason="stop")]


def test_streamed_tool_calls_come_on_the_last_chunk() -> None:
    chunks = list(ScriptedProvider([[CALL]], chunk_size=2).stream(request()))

    assert chunks == [Chunk(tool_calls=(CALL,), usage=Usage(), finish_reason="tool_calls")]


def test_a_streamed_exception_item_is_raised_before_any_chunk() -> None:
    stream = ScriptedProvider([RateLimited("busy")], chunk_size=2).stream(request())

    with pytest.raises(RateLimited):
        next(stream)


def test_collecting_the_stream_gives_the_generated_response() -> None:
    script = ["The quick brown fox", "The quick brown fox"]
    provider = ScriptedProvider(script, chunk_size=3)

    assert provider.collect(request()) == provider.generate(request())


def test_a_bad_script_item_is_refused_when_the_provider_is_made() -> None:
    with pytest.raises(TypeError) as caught:
        ScriptedProvider(["fine", 42])

    assert str(caught.value) == (
        "ScriptedProvider script item 1 must be a Response, a Message, a str, a ToolCall, "
        "a list of ToolCall, an exception or a callable; got 42 (of type int)"
    )


def test_a_list_of_anything_but_tool_calls_is_refused() -> None:
    with pytest.raises(TypeError, match="script item 0 .* got an empty list"):
        ScriptedProvider([[]])
    with pytest.raises(
        TypeError, match=r"script item 0 .* got a list with items other than ToolCall: \['a'\]"
    ):
        ScriptedProvider([["a"]])


def test_a_callable_returning_a_bad_item_is_refused_when_called() -> None:
    provider = ScriptedProvider([lambda r: None])

    with pytest.raises(TypeError) as caught:
        provider.generate(request())

    assert str(caught.value).endswith(
        "; the callable at script item 0 returned None (of type NoneType)"
    )


def test_a_script_that_is_not_iterable_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        ScriptedProvider("hello")

    assert str(caught.value).startswith("ScriptedProvider expects an iterable of answers")
    assert str(caught.value).endswith("got 'hello' (of type str)")


def test_a_bad_chunk_size_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        ScriptedProvider([], chunk_size=0)

    assert str(caught.value) == "ScriptedProvider chunk_size must be an int >= 1 or None; got 0"


def test_scripted_provider_refuses_what_is_not_a_request() -> None:
    with pytest.raises(TypeError) as caught:
        ScriptedProvider(["x"]).generate("hi")  # type: ignore[arg-type]

    assert str(caught.value) == "ScriptedProvider expects a Request; got 'hi' (of type str)"
