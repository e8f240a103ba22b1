"""Selective receive: patterns of every kind, timeouts, defaults and invalid input.

Most tests send messages to the test body's own process and read them back with
`timeout=0`: a send to oneself is in the mailbox as soon as `send` returns.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from support_processes import NOTHING, WAIT, drain

from beamlike import (
    ANY,
    BadArgument,
    BeamlikeError,
    DeadlockError,
    Down,
    Exit,
    Pid,
    ReceiveTimeout,
    make_ref,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
)


@dataclass(frozen=True)
class Point:
    x: object
    y: object


@dataclass(frozen=True)
class Point3(Point):
    z: object = 0


def send_self(*msgs: object) -> None:
    me = self_pid()
    for msg in msgs:
        send(me, msg)


def poll(*patterns: object) -> object:
    return receive(*patterns, timeout=0, default=NOTHING)


def send_after_sleeping(dest: Pid, seconds: float, *msgs: object) -> None:
    sleep(seconds)
    for msg in msgs:
        send(dest, msg)


def send_noise(dest: Pid, count: int, gap: float) -> None:
    for i in range(count):
        send(dest, ("noise", i))
        sleep(gap)


# -- order ----------------------------------------------------------------------------


def test_receive_without_patterns_returns_the_oldest_message() -> None:
    send_self("first", "second")

    assert receive() == "first"


def test_receive_removes_the_message_it_returns() -> None:
    send_self("only")

    receive()

    assert drain() == []


def test_selective_receive_leaves_the_skipped_messages_in_arrival_order() -> None:
    send_self("a", "b", "c", "d")

    assert receive("c") == "c"
    assert drain() == ["a", "b", "d"]


def test_receive_with_several_patterns_returns_the_oldest_message_matching_any_of_them() -> None:
    send_self("x", 1, "y")

    assert receive("y", 1) == 1
    assert drain() == ["x", "y"]


# -- patterns -------------------------------------------------------------------------


def test_any_matches_every_message_including_none() -> None:
    send_self(None)

    assert poll(ANY) is None


def test_literal_pattern_matches_an_equal_message() -> None:
    send_self("goodbye", "hello")

    assert poll("hello") == "hello"
    assert drain() == ["goodbye"]


def test_literal_pattern_compares_with_equality() -> None:
    send_self(1.0)

    msg = poll(1)

    assert msg == 1.0
    assert type(msg) is float


def test_none_literal_pattern_matches_only_none() -> None:
    send_self(0, "", None)

    assert poll(None) is None
    assert drain() == [0, ""]


def test_type_pattern_matches_instances_of_the_type() -> None:
    send_self("three", 3)

    assert poll(int) == 3
    assert drain() == ["three"]


def test_type_pattern_matches_instances_of_subclasses() -> None:
    error = KeyError("k")
    send_self("not an error", error)

    assert poll(LookupError) is error


def test_predicate_pattern_matches_when_it_returns_true() -> None:
    send_self(1, 7, 12)

    assert poll(lambda m: m > 5) == 7
    assert drain() == [1, 12]


def test_predicate_pattern_accepts_a_truthy_non_bool_result() -> None:
    send_self(0, "", "x")

    assert poll(lambda m: m) == "x"


def test_callable_object_pattern_is_used_as_a_predicate() -> None:
    class Above:
        def __init__(self, limit: int) -> None:
            self.limit = limit

        def __call__(self, msg: object) -> bool:
            return isinstance(msg, int) and msg > self.limit

    send_self(3, 30)

    assert poll(Above(10)) == 30


def test_tuple_pattern_matches_element_wise() -> None:
    send_self(("ok", "x"), ("error", 3), ("ok", 3))

    assert poll(("ok", int)) == ("ok", 3)


def test_tuple_pattern_does_not_match_a_tuple_of_another_length() -> None:
    send_self(("ok", 3, 4), ("ok",))

    assert poll(("ok", int)) is NOTHING


def test_tuple_pattern_does_not_match_a_list() -> None:
    send_self(["ok", 3])

    assert poll(("ok", int)) is NOTHING


def test_tuple_pattern_does_not_match_a_non_sequence() -> None:
    send_self("ok", 3, None)

    assert poll(("ok", int)) is NOTHING


def test_tuple_of_types_is_an_element_wise_pattern_not_an_isinstance_check() -> None:
    send_self("a", 1, ("a", 1))

    assert poll((str, int)) == ("a", 1)
    assert drain() == ["a", 1]


def test_empty_tuple_pattern_matches_only_the_empty_tuple() -> None:
    send_self([], ("x",), ())

    assert poll(()) == ()
    assert drain() == [[], ("x",)]


def test_list_pattern_matches_element_wise() -> None:
    send_self(["add", 1, "2"], ["add", 1, 2])

    assert poll(["add", int, int]) == ["add", 1, 2]


def test_list_pattern_does_not_match_a_tuple() -> None:
    send_self(("add", 1, 2))

    assert poll(["add", int, int]) is NOTHING


def test_nested_patterns_match_recursively() -> None:
    ref = make_ref()
    other = make_ref()
    send_self(
        ("reply", other, {"status": "ok", "items": [1, 2]}),
        ("reply", ref, {"status": "ok", "items": [1]}),
        ("reply", ref, {"status": "ok", "items": [1, 2], "extra": True}),
    )

    assert poll(("reply", ref, {"status": "ok", "items": [int, ANY]})) == (
        "reply",
        ref,
        {"status": "ok", "items": [1, 2], "extra": True},
    )


def test_dict_pattern_matches_a_dict_containing_at_least_its_keys() -> None:
    send_self({"type": "greet", "name": "ada"})

    assert poll({"type": "greet"}) == {"type": "greet", "name": "ada"}


def test_dict_pattern_values_are_patterns() -> None:
    send_self({"n": "one"}, {"n": 1})

    assert poll({"n": int}) == {"n": 1}


def test_dict_pattern_does_not_match_a_dict_missing_one_of_its_keys() -> None:
    send_self({"name": "ada"})

    assert poll({"type": ANY, "name": "ada"}) is NOTHING


def test_dict_pattern_does_not_match_a_non_dict() -> None:
    send_self([("type", "greet")], "type", Point("type", "greet"))

    assert poll({"type": "greet"}) is NOTHING


def test_empty_dict_pattern_matches_any_dict_and_nothing_else() -> None:
    send_self([], "", {"any": "dict"})

    assert poll({}) == {"any": "dict"}


def test_dataclass_pattern_matches_field_wise() -> None:
    ref, other = make_ref(), make_ref()
    me = self_pid()
    send_self(Down(other, me, "normal"), Down(ref, me, "shutdown"))

    assert poll(Down(ref, ANY, ANY)) == Down(ref, me, "shutdown")
    assert drain() == [Down(other, me, "normal")]


def test_dataclass_pattern_fields_are_patterns() -> None:
    send_self(Point("1", 2), Point(1, 2))

    assert poll(Point(int, ANY)) == Point(1, 2)


def test_dataclass_pattern_does_not_match_another_dataclass_type() -> None:
    me = self_pid()
    send_self(Exit(me, "normal"))

    assert poll(Down(ANY, ANY, ANY)) is NOTHING


def test_dataclass_pattern_does_not_match_an_instance_of_a_subclass() -> None:
    send_self(Point3(1, 2, 3))

    assert poll(Point(ANY, ANY)) is NOTHING


def test_dataclass_class_as_pattern_matches_any_instance() -> None:
    me = self_pid()
    send_self("not a down", Down(make_ref(), me, "normal"))

    assert isinstance(poll(Down), Down)


# -- timeouts and defaults ------------------------------------------------------------


def test_receive_with_timeout_zero_returns_a_message_already_in_the_mailbox() -> None:
    send_self("there")

    assert receive(timeout=0) == "there"


def test_receive_with_timeout_zero_on_an_empty_mailbox_raises_receive_timeout() -> None:
    with pytest.raises(ReceiveTimeout):
        receive(timeout=0)


def test_receive_with_timeout_zero_and_no_match_raises_and_keeps_the_messages() -> None:
    send_self("a", "b")

    with pytest.raises(ReceiveTimeout):
        receive("c", timeout=0)

    assert drain() == ["a", "b"]


def test_receive_timeout_is_a_timeout_error_and_a_beamlike_error() -> None:
    with pytest.raises(ReceiveTimeout) as excinfo:
        receive(timeout=0)

    assert isinstance(excinfo.value, TimeoutError)
    assert isinstance(excinfo.value, BeamlikeError)


def test_receive_returns_the_default_on_timeout_instead_of_raising() -> None:
    assert receive(timeout=0, default="nothing came") == "nothing came"


def test_receive_returns_a_default_of_none_on_timeout() -> None:
    assert receive(timeout=0, default=None) is None


def test_receive_returns_a_message_rather_than_the_default_when_one_matches() -> None:
    send_self("here")

    assert receive(timeout=0, default="nothing came") == "here"


def test_receive_waits_at_least_the_timeout_before_giving_up() -> None:
    start = time.monotonic()

    receive(timeout=0.05, default=None)

    assert time.monotonic() - start >= 0.045


def test_receive_wakes_up_for_a_message_sent_later_by_another_process() -> None:
    spawn(send_after_sleeping, self_pid(), 0.01, "late")

    assert receive(timeout=WAIT) == "late"


def test_receive_keeps_waiting_when_a_non_matching_message_arrives() -> None:
    spawn(send_after_sleeping, self_pid(), 0.01, "noise", "signal")

    assert receive("signal", timeout=WAIT) == "signal"
    assert drain() == ["noise"]


def test_receive_timeout_is_not_restarted_by_non_matching_messages() -> None:
    spawn(send_noise, self_pid(), 100, 0.01)
    start = time.monotonic()

    assert receive("never sent", timeout=0.1, default="gave up") == "gave up"

    assert time.monotonic() - start < 0.5


@pytest.mark.timeout(5)
def test_receive_in_the_main_greenlet_that_nothing_can_wake_raises_deadlock_error() -> None:
    self_pid()

    with pytest.raises(DeadlockError):
        receive()


# -- invalid timeouts and patterns ----------------------------------------------------


@pytest.mark.parametrize("timeout", [-1, -0.001, float("-inf")])
def test_receive_with_a_negative_timeout_raises_bad_argument_naming_it(timeout: float) -> None:
    with pytest.raises(BadArgument, match=re.escape(repr(timeout))):
        receive(timeout=timeout)


@pytest.mark.parametrize("timeout", ["1", [1], b"1"])
def test_receive_with_a_non_number_timeout_raises_bad_argument_naming_it(timeout: object) -> None:
    with pytest.raises(BadArgument, match=re.escape(repr(timeout))):
        receive(timeout=timeout)


def test_receive_with_a_bad_timeout_raises_even_when_a_message_is_waiting() -> None:
    send_self("waiting")

    with pytest.raises(BadArgument):
        receive(timeout=-1)

    assert drain() == ["waiting"]


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [
        ({1, 2}, "{1, 2}"),
        (bytearray(b"ab"), "bytearray(b'ab')"),
        ((x for x in ()), "generator"),
        (iter([1]), "list_iterator"),
        (("ok", {1}), "{1}"),
        (["ok", {1}], "{1}"),
        ({"key": {1}}, "{1}"),
        (Point(1, {2}), "{2}"),
    ],
    ids=[
        "set",
        "bytearray",
        "generator",
        "iterator",
        "set-in-tuple",
        "set-in-list",
        "set-in-dict",
        "set-in-dataclass",
    ],
)
def test_receive_with_an_invalid_pattern_raises_bad_argument_naming_it(
    pattern: object, shown: str
) -> None:
    with pytest.raises(BadArgument, match=re.escape(shown)):
        receive(pattern, timeout=0)


def test_invalid_pattern_is_rejected_even_when_a_message_is_waiting() -> None:
    send_self(1)

    with pytest.raises(BadArgument):
        receive({1}, timeout=0)

    assert drain() == [1]


def test_invalid_pattern_after_a_valid_one_is_rejected() -> None:
    send_self("ok")

    with pytest.raises(BadArgument):
        receive("ok", {1}, timeout=0)
