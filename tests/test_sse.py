"""The server-sent events parser (``elixirchain.providers._sse``), Retry-After parsing and
the status mapping (``_http_errors``) and the tool-argument helpers (``_http``)."""

from __future__ import annotations

import email.utils

import pytest

from elixirchain.errors import (
    AuthenticationError,
    BadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from elixirchain.providers._http import INVALID_JSON_KEY, arguments_json, parse_arguments
from elixirchain.providers._http_errors import error_for_status, parse_retry_after, vendor_message
from elixirchain.providers._sse import SseError, SseEvent, iter_sse


def parse(*chunks: bytes) -> list[SseEvent]:
    return list(iter_sse(chunks))


# --- the parser ----------------------------------------------------------------


def test_data_lines_become_one_event_per_blank_line() -> None:
    assert parse(b"data: one\n\ndata: two\n\n") == [SseEvent("one"), SseEvent("two")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse(b"data: first\ndata: second\ndata:third\n\n") == [SseEvent("first\nsecond\nthird")]


def test_event_names_are_kept_and_reset_after_each_event() -> None:
    stream = b"event: message_start\ndata: {}\n\ndata: plain\n\n"
    assert parse(stream) == [SseEvent("{}", "message_start"), SseEvent("plain", "message")]


def test_comments_are_ignored() -> None:
    assert parse(b": keep-alive\n\n:another\ndata: x\n\n") == [SseEvent("x")]


def test_only_one_leading_space_is_stripped_from_a_value() -> None:
    assert parse(b"data:  two spaces\n\n") == [SseEvent(" two spaces")]


def test_crlf_and_lone_cr_end_lines() -> None:
    assert parse(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n") == [
        SseEvent("a"),
        SseEvent("b"),
        SseEvent("c"),
    ]


def test_a_crlf_split_between_two_reads_is_one_line_end() -> None:
    # A spurious blank line between \r and \n would cut the event in two.
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SseEvent("a\nb")]


def test_events_split_at_every_byte_are_reassembled() -> None:
    stream = "event: x\ndata: héllo\ndata: wörld\n\n".encode()
    assert parse(*(stream[i : i + 1] for i in range(len(stream)))) == [
        SseEvent("héllo\nwörld", "x")
    ]


def test_done_marker_is_yielded_and_ends_the_stream() -> None:
    events = parse(b"data: {}\n\ndata: [DONE]\n\ndata: after\n\n")
    assert [e.data for e in events] == ["{}", "[DONE]"]
    assert events[-1].done and not events[0].done


def test_an_unfinished_last_event_is_dropped() -> None:
    assert parse(b"data: complete\n\ndata: cut off") == [SseEvent("complete")]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert parse(b"event: ping\n\ndata: x\n\n") == [SseEvent("x")]


def test_id_and_retry_fields_are_parsed() -> None:
    assert parse(b"id: 7\nretry: 1500\ndata: x\n\nretry: soon\ndata: y\n\n") == [
        SseEvent("x", id="7", retry=1500),
        SseEvent("y", id="7"),
    ]


def test_unknown_fields_and_a_leading_bom_are_ignored() -> None:
    assert parse(b"\xef\xbb\xbfdata: x\nfoo: bar\n\n") == [SseEvent("x")]


def test_event_data_decodes_as_json() -> None:
    assert parse(b'data: {"a": [1, 2]}\n\n')[0].json() == {"a": [1, 2]}


def test_a_line_beyond_the_limit_is_refused() -> None:
    with pytest.raises(SseError, match="longer than 16 bytes"):
        list(iter_sse([b"data: " + b"x" * 40], limit=16))


def test_an_event_beyond_the_limit_is_refused() -> None:
    with pytest.raises(SseError, match="larger than 16 bytes"):
        list(iter_sse([b"data: 0123456789\n" * 3], limit=16))


# --- Retry-After ----------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after({"Retry-After": "20"}) == 20.0


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000.0) == 30.0


def test_retry_after_in_the_past_is_zero() -> None:
    date = email.utils.formatdate(1_000_000, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_100.0) == 0.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "20"}) == 1.5


def test_garbage_retry_after_is_no_hint() -> None:
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-3"}) is None
    assert parse_retry_after({}) is None


# --- status mapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (429, RateLimited, True),
        (500, ProviderUnavailable, True),
        (502, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
        (529, ProviderUnavailable, True),
        (400, BadRequest, False),
        (404, BadRequest, False),
        (413, BadRequest, False),
        (422, BadRequest, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (408, ProviderTimeout, True),
        (409, ProviderError, False),
    ],
)
def test_each_status_maps_to_one_error_class(
    status: int, cls: type[ProviderError], retryable: bool
) -> None:
    error = error_for_status("openai", status, {}, "")
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status == status and error.provider == "openai"


def test_the_message_carries_the_vendor_message_and_the_hint() -> None:
    body = '{"error": {"message": "Slow down", "type": "requests"}}'
    error = error_for_status("openai", 429, {"Retry-After": "7"}, body)
    assert str(error) == "openai answered HTTP 429 Too Many Requests (rate limited): Slow down"
    assert error.retry_after == 7.0
    assert error.body == body


def test_529_is_named_overloaded() -> None:
    body = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    error = error_for_status("anthropic", 529, {}, body)
    assert str(error) == "anthropic answered HTTP 529 Overloaded (unavailable): Overloaded"


def test_insufficient_quota_is_not_worth_retrying() -> None:
    body = '{"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}'
    error = error_for_status("openai", 429, {}, body)
    assert isinstance(error, RateLimited) and error.retryable is False


def test_vendor_message_of_other_shapes() -> None:
    assert vendor_message('{"detail": "Model not found"}') == "Model not found"
    assert vendor_message('{"error": "bad key"}') == "bad key"
    assert vendor_message("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert vendor_message("") == "(empty body)"


# --- tool arguments ---------------------------------------------------------------


def test_tool_arguments_parse_or_keep_the_invalid_text() -> None:
    assert parse_arguments('{"city": "Paris"}') == {"city": "Paris"}
    assert parse_arguments("") == {}
    assert parse_arguments(None) == {}
    assert parse_arguments({"a": 1}) == {"a": 1}
    assert parse_arguments('{"city": "Par') == {INVALID_JSON_KEY: '{"city": "Par'}
    assert parse_arguments("[1, 2]") == {INVALID_JSON_KEY: "[1, 2]"}


def test_invalid_arguments_go_back_to_the_model_as_the_original_text() -> None:
    assert arguments_json({INVALID_JSON_KEY: '{"city": "Par'}) == '{"city": "Par'
    assert arguments_json({"city": "Paris"}) == '{"city": "Paris"}'
