"""Property tests of the mailbox against a model: a Python list in arrival order.

Every example leaves the test body's mailbox empty, so the examples of one test can share
the test's node and process.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from support_processes import NOTHING, WAIT, drain

from beamlike import ANY, Pid, receive, self_pid, send, sleep, spawn

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

# Messages: terms that compare equal only to themselves (no NaN, no bool/int mixing).
scalars = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)
terms = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.tuples(children, children),
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


def same_terms(a: list[object], b: list[object]) -> bool:
    """Equal, and equal in type too (so that 1 and 1.0 or (1,) and [1] differ)."""
    return repr(a) == repr(b) and a == b


@PROPERTY_SETTINGS
@given(st.lists(terms, max_size=30))
def test_receive_without_patterns_returns_messages_in_send_order(msgs: list[object]) -> None:
    me = self_pid()
    for msg in msgs:
        send(me, msg)

    received = [receive(timeout=0) for _ in msgs]

    assert same_terms(received, msgs)
    assert drain() == []


# -- selective receive against the list model -----------------------------------------

# A pattern is described as data (so that hypothesis can show it) and built from it.
pattern_specs = st.one_of(
    st.just(("any",)),
    st.tuples(st.just("literal"), st.integers(0, 9)),
    st.tuples(st.just("literal"), st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("type"), st.sampled_from([int, str, tuple])),
    st.tuples(st.just("multiple_of"), st.integers(2, 4)),
    st.tuples(st.just("tagged"), st.sampled_from(["a", "b"])),
)
model_messages = st.one_of(
    st.integers(0, 9),
    st.sampled_from(["a", "b", "c"]),
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 9)),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), model_messages),
        st.tuples(st.just("receive"), st.lists(pattern_specs, min_size=1, max_size=3)),
    ),
    max_size=40,
)


def build(spec: tuple) -> object:
    kind = spec[0]
    if kind == "any":
        return ANY
    if kind == "literal":
        return spec[1]
    if kind == "type":
        return spec[1]
    if kind == "multiple_of":
        k = spec[1]
        return lambda m: isinstance(m, int) and m % k == 0
    if kind == "tagged":
        return (spec[1], int)
    raise AssertionError(spec)


def matches(spec: tuple, msg: object) -> bool:
    kind = spec[0]
    if kind == "any":
        return True
    if kind == "literal":
        return type(msg) is type(spec[1]) and msg == spec[1]
    if kind == "type":
        return isinstance(msg, spec[1])
    if kind == "multiple_of":
        return isinstance(msg, int) and msg % spec[1] == 0
    if kind == "tagged":
        return isinstance(msg, tuple) and len(msg) == 2 and msg[0] == spec[1]
    raise AssertionError(spec)


@PROPERTY_SETTINGS
@given(operations)
def test_selective_receive_takes_the_oldest_matching_message_and_keeps_the_rest_in_order(
    ops: list[tuple],
) -> None:
    me = self_pid()
    model: list[object] = []

    for op, arg in ops:
        if op == "send":
            send(me, arg)
            model.append(arg)
            continue
        got = receive(*(build(spec) for spec in arg), timeout=0, default=NOTHING)
        index = next(
            (i for i, msg in enumerate(model) if any(matches(spec, msg) for spec in arg)),
            None,
        )
        expected = NOTHING if index is None else model.pop(index)
        assert same_terms([got], [expected])

    assert same_terms(drain(), model)


# -- several senders ------------------------------------------------------------------


def send_all(dest: Pid, tag: int, count: int, yields: Callable[[int], bool]) -> None:
    for seq in range(count):
        send(dest, (tag, seq))
        if yields(seq):
            sleep(0)


senders = st.lists(
    st.tuples(st.integers(0, 20), st.sets(st.integers(0, 19), max_size=10)),
    min_size=1,
    max_size=6,
)


@PROPERTY_SETTINGS
@given(senders)
def test_messages_from_each_sender_arrive_in_send_order_when_senders_interleave(
    plan: list[tuple[int, set[int]]],
) -> None:
    me = self_pid()
    for tag, (count, yield_after) in enumerate(plan):
        spawn(send_all, me, tag, count, yield_after.__contains__)
    total = sum(count for count, _ in plan)

    received = [receive(timeout=WAIT) for _ in range(total)]

    for tag, (count, _) in enumerate(plan):
        assert [seq for t, seq in received if t == tag] == list(range(count))
    assert drain() == []


@PROPERTY_SETTINGS
@given(senders, st.randoms(use_true_random=False))
def test_selective_receive_by_sender_returns_that_senders_messages_in_order(
    plan: list[tuple[int, set[int]]], rnd
) -> None:
    order = list(range(len(plan)))
    rnd.shuffle(order)  # before any side effect: drawing may end the example
    me = self_pid()
    for tag, (count, yield_after) in enumerate(plan):
        spawn(send_all, me, tag, count, yield_after.__contains__)

    for tag in order:
        count = plan[tag][0]
        got = [receive((tag, ANY), timeout=WAIT) for _ in range(count)]
        assert got == [(tag, seq) for seq in range(count)]
    assert drain() == []
