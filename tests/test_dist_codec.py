"""The wire codec (beamlike.dist.codec): round trips, exceptions, limits, fuzzing, registry.

Frames that ``encode`` would never make are written by hand with msgpack, as a hostile
peer would. ``same`` compares terms exactly: types as well as values, all the way down.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamlike import BadArgument, BadArgumentType, BeamlikeError, Pid, Ref
from beamlike.dist import codec
from beamlike.dist.codec import (
    DEFAULT_LIMITS,
    DecodeError,
    EncodeError,
    Limits,
    RemoteError,
    decode,
    decode_batch,
    encode,
    encode_batch,
)
from beamlike.ets import EtsTransfer
from beamlike.gen_server import Call, Cast, From, System
from beamlike.messages import Down, Exit, NodeDown, NodeUp

PID = Pid("alpha@host", 42, 0, 3)
REF = Ref("alpha@host", 7, 3)
SLOTTED = (Call, Cast, From, System)
ALLOWED = (
    "terms that travel are None, bool, int, float, str, bytes, list, tuple, dict, set, "
    "frozenset, Pid, Ref, exceptions, beamlike's messages and classes registered with "
    "beamlike.dist.codec.register()"
)


def tag(code: int) -> msgpack.ExtType:
    return msgpack.ExtType(code, b"")


def raw(term: Any) -> bytes:
    """A frame written by hand (tags as ``tag(code)``)."""
    return msgpack.packb(term, use_bin_type=True)


def same(a: Any, b: Any) -> None:
    """Assert that ``a`` and ``b`` are the same term: equal, and of the same types."""
    assert type(a) is type(b), (a, b)
    cls = type(a)
    if cls is list or cls is tuple:
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif cls is dict:
        assert len(a) == len(b)
        keys_of_b = {key: key for key in b}
        for key, value in a.items():
            same(key, keys_of_b[key])
            same(value, b[key])
    elif cls is set or cls is frozenset:
        assert len(a) == len(b)
        items_of_b = {item: item for item in b}
        for item in a:
            same(item, items_of_b[item])
    elif cls is float:
        assert a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    elif cls is Pid:
        assert a == b and b._proc is None
    elif cls in SLOTTED:
        for name in cls.__slots__:
            same(getattr(a, name), getattr(b, name))
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            same(getattr(a, field.name), getattr(b, field.name))
    else:
        assert a == b


def round_trip(term: Any) -> Any:
    back = decode(encode(term))
    same(term, back)
    return back


def rejected(data: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(DecodeError) as info:
        decode(data, limits=limits)
    return str(info.value)


def rejected_batch(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode_batch(data)
    return str(info.value)


# --- strategies ----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
pids = st.builds(
    Pid,
    st.text(max_size=12),
    st.integers(0, 2**64 - 1),
    st.integers(0, 3),
    st.integers(0, 2**32),
)
refs = st.builds(Ref, st.text(max_size=12), st.integers(0, 2**64 - 1), st.integers(0, 2**32))
hashables = st.recursive(
    scalars | pids | refs,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    froms = st.builds(From, pids, refs)
    return (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
        | st.builds(Exit, pids, inner)
        | st.builds(Down, refs, pids, inner)
        | st.builds(NodeUp, st.text(max_size=12))
        | st.builds(NodeDown, st.text(max_size=12), inner)
        | st.builds(Call, froms, inner)
        | st.builds(Cast, inner)
        | st.builds(System, froms, st.lists(inner, max_size=3).map(tuple))
        | st.builds(EtsTransfer, st.text(max_size=8), pids, inner)
    )


terms = st.recursive(scalars | pids | refs, containers, max_leaves=20)


# --- round trips ---------------------------------------------------------------------------


def test_a_small_call_message_round_trips_as_tuple_pid_ref_and_dict() -> None:
    message = ("call", PID, REF, {"a": 1})
    data = encode(message)
    assert len(data) == 48
    back = decode(data)
    same(message, back)


@pytest.mark.parametrize(
    "term",
    [None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0, math.inf]
    + ["", "héllo ✓", b"", b"\x00\xff", [], {}, (), set(), frozenset()],
)
def test_each_native_term_round_trips_with_its_type(term: Any) -> None:
    round_trip(term)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 2**1000, -(2**1000), 10**400])
def test_ints_beyond_64_bits_round_trip(value: int) -> None:
    assert round_trip(value) == value
    assert round_trip([value, (value,)]) == [value, (value,)]


def test_tuples_stay_tuples_and_lists_stay_lists_at_every_level() -> None:
    back = round_trip([(1, [2, (3,)]), [(), []]])
    assert back == [(1, [2, (3,)]), [(), []]]


def test_dicts_keep_tuple_pid_int_and_frozenset_keys() -> None:
    term = {(1, "a"): 1, PID: 2, 3: [REF], frozenset({1}): None, None: {(): ()}}
    round_trip(term)


def test_set_and_frozenset_keep_their_types() -> None:
    assert type(round_trip({1, (2, 3)})) is set
    assert type(round_trip(frozenset({1, (2, 3)}))) is frozenset


def test_a_decoded_pid_equals_the_original_and_has_no_process_pointer() -> None:
    local = Pid("alpha@host", 1, 0, 7)
    local._proc = object()
    back = decode(encode(local))
    assert back == local
    assert (back.node, back.id, back.serial, back.creation) == ("alpha@host", 1, 0, 7)
    assert back._proc is None
    ref = decode(encode(REF))
    assert (ref.node, ref.id, ref.creation) == ("alpha@host", 7, 3)


@pytest.mark.parametrize(
    "message",
    [
        Exit(PID, "normal"),
        Exit(PID, ("shutdown", {"why": [1]})),
        Down(REF, PID, "noproc"),
        Down(REF, ("name", "beta@host"), "noconnection"),
        NodeUp("beta@host"),
        NodeDown("beta@host", "net_tick_timeout"),
        From(PID, REF),
        Call(From(PID, REF), ("get", 1)),
        Cast(("push", [1, 2])),
        System(From(PID, REF), ("get_state",)),
        EtsTransfer("users", PID, {"gift": True}),
    ],
    ids=lambda message: type(message).__name__,
)
def test_each_runtime_message_round_trips(message: Any) -> None:
    round_trip(message)


class Colour(enum.IntEnum):
    RED = 1


class Point2(NamedTuple):
    x: int
    y: int


def test_subclasses_of_native_types_travel_as_their_base_type() -> None:
    same(decode(encode(Colour.RED)), 1)
    same(decode(encode(Point2(1, 2))), (1, 2))
    same(decode(encode(collections.OrderedDict(a=1))), {"a": 1})
    same(decode(encode(bytearray(b"ab"))), b"ab")
    same(decode(encode(memoryview(b"ab"))), b"ab")


@settings(max_examples=200, deadline=None)
@given(terms)
def test_any_supported_term_round_trips_exactly(term: Any) -> None:
    round_trip(term)


@settings(max_examples=25, deadline=None)
@given(st.lists(terms, max_size=4))
def test_a_batch_round_trips_as_a_list_of_terms(batch: list[Any]) -> None:
    same(batch, decode_batch(encode_batch(batch)))
    same(batch, decode_batch(encode_batch(tuple(batch))))


def test_a_batch_is_an_array_header_followed_by_each_term_encoded_alone() -> None:
    ops = [("send", PID, {"a": (1,)}), ("link", PID, PID), 2**70]
    assert encode_batch(ops) == b"\x93" + b"".join(encode(op) for op in ops)


def test_decode_batch_refuses_a_frame_that_is_not_an_array() -> None:
    assert rejected_batch(encode(("a", 1))) == "a batch frame is an array of terms; got tuple"


def test_decode_accepts_bytearray_and_memoryview_and_refuses_other_types() -> None:
    data = encode(("call", PID))
    assert decode(bytearray(data)) == ("call", PID)
    assert decode(memoryview(data)) == ("call", PID)
    assert decode(memoryview(b"xx" + data)[2:]) == ("call", PID)
    assert rejected("not bytes") == "decode expects bytes, bytearray or memoryview; got str"  # type: ignore[arg-type]


# --- exceptions ----------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_exception_travels_as_remote_error_with_name_message_and_args() -> None:
    back = decode(encode(ValueError("bad value", 3)))
    assert type(back) is RemoteError
    assert isinstance(back, BeamlikeError)
    assert back.type_name == "ValueError"
    assert back.message == "('bad value', 3)"
    assert back.args == ("bad value", 3)
    assert str(back) == "ValueError: ('bad value', 3)"
    assert repr(back) == "RemoteError('ValueError', \"('bad value', 3)\", ('bad value', 3))"


def test_an_application_exception_is_named_by_module_and_never_imported() -> None:
    back = decode(encode(Boom("tick")))
    assert back == RemoteError(f"{__name__}.Boom", "tick", ("tick",))
    assert not isinstance(back, Boom)


def test_exception_arguments_that_cannot_travel_become_their_repr() -> None:
    def handler() -> None: ...

    error = RuntimeError("failed", handler, [1, object], {"ok": (1,)})
    back = decode(encode(error))
    assert back.args == ("failed", repr(handler), repr([1, object]), {"ok": (1,)})


def test_a_crashed_process_reason_travels_inside_exit_and_down() -> None:
    back = decode(encode(Down(REF, PID, KeyError("k"))))
    assert back == Down(REF, PID, RemoteError("KeyError", "'k'", ("k",)))
    nested = decode(encode(Exit(PID, RuntimeError(ValueError("inner")))))
    assert nested.reason.args == (RemoteError("ValueError", "inner", ("inner",)),)


def test_remote_errors_are_equal_by_type_name_and_args_and_travel_again_unchanged() -> None:
    error = RemoteError("mod.Boom", "message", (1, "a"))
    assert error == RemoteError("mod.Boom", "another message", (1, "a"))
    assert error != RemoteError("mod.Other", "message", (1, "a"))
    assert error != RemoteError("mod.Boom", "message", (2, "a"))
    assert hash(error) == hash(RemoteError("mod.Boom", "", (1, "a")))
    back = decode(encode(error))
    assert (back.type_name, back.message, back.args) == ("mod.Boom", "message", (1, "a"))


# --- what cannot travel --------------------------------------------------------------------


callback = lambda: 1  # noqa: E731


def test_encoding_a_lambda_says_what_was_given_and_what_can_travel() -> None:
    with pytest.raises(EncodeError) as info:
        encode({"callback": callback})
    assert str(info.value) == (
        f"cannot encode function {callback!r} (code never travels: send data, and name an "
        f"importable function to run); {ALLOWED}"
    )
    assert isinstance(info.value, BadArgumentType)


def test_encoding_a_set_of_plain_objects_is_refused() -> None:
    thing = object()
    with pytest.raises(EncodeError) as info:
        encode({thing})
    assert str(info.value) == f"cannot encode object {thing!r}; {ALLOWED}"


@dataclasses.dataclass(frozen=True)
class Unregistered:
    x: int


def test_an_unregistered_dataclass_is_refused_with_a_hint_to_register_it() -> None:
    with pytest.raises(EncodeError) as info:
        encode([Unregistered(1)])
    assert str(info.value) == (
        f"cannot encode {__name__}.Unregistered Unregistered(x=1) (register it: "
        f"beamlike.dist.codec.register(Unregistered, code)); {ALLOWED}"
    )


def test_a_system_request_holding_a_function_is_refused_at_encode() -> None:
    with pytest.raises(EncodeError, match="^cannot encode function "):
        encode(System(From(PID, REF), ("replace_state", lambda state: state)))


def test_self_containing_and_unencodable_strings_are_refused_and_encode_still_works() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EncodeError, match="nested more than 511 levels, or it contains itself"):
        encode(loop)
    with pytest.raises(EncodeError, match="surrogates not allowed"):
        encode(["ok", "\ud800"])
    assert decode(encode(("after", [1]))) == ("after", [1])


# --- limits --------------------------------------------------------------------------------


def test_a_frame_longer_than_max_bytes_is_refused_before_parsing() -> None:
    data = encode(b"x" * 100)
    assert rejected(data, Limits(max_bytes=50)) == "frame of 102 bytes exceeds max_bytes (50)"
    assert decode(data, limits=Limits(max_bytes=102)) == b"x" * 100


def test_lists_nested_100_levels_are_too_deep_and_64_levels_are_not() -> None:
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    assert rejected(encode(deep)) == "term nested deeper than max_depth (64)"
    ok: Any = 1
    for _ in range(64):
        ok = [ok]
    assert decode(encode(ok)) == ok


def test_depth_counts_tuples_dicts_sets_and_messages_too() -> None:
    deep: Any = "leaf"
    for level in range(40):
        deep = (deep,) if level % 3 == 0 else {level: deep} if level % 3 == 1 else [deep]
    term = Exit(PID, [(deep,)])  # 40 + 3 levels
    assert decode(encode(term), limits=Limits(max_depth=43)) == term
    assert rejected(encode(term), Limits(max_depth=42)) == "term nested deeper than max_depth (42)"


def test_nesting_deeper_than_msgpack_allows_is_a_decode_error() -> None:
    assert rejected(b"\x91" * 5000 + b"\x01").startswith("corrupt frame (")


def test_too_many_items_in_one_frame_are_refused() -> None:
    limits = Limits(max_items=10)
    assert decode(encode([[1] * 4, [1] * 4]), limits=limits) == [[1] * 4, [1] * 4]
    assert rejected(encode([[1] * 6, [1] * 6]), limits) == (
        "frame has more than max_items (10) items"
    )
    assert rejected(encode([{i: i for i in range(6)}] * 2), limits) == (
        "frame has more than max_items (10) items"
    )
    assert rejected(encode([1] * 11), limits) == (
        "corrupt frame (ValueError: 11 exceeds max_array_len(10))"
    )


def test_an_array_header_claiming_more_items_than_the_frame_holds_is_refused() -> None:
    assert rejected(b"\xdd\xff\xff\xff\xff") == (
        "corrupt frame (ValueError: 4294967295 exceeds max_array_len(5))"
    )


def test_strings_and_binaries_longer_than_their_limits_are_refused() -> None:
    assert rejected(encode("x" * 20), Limits(max_str=10)) == (
        "corrupt frame (ValueError: 20 exceeds max_str_len(10))"
    )
    assert rejected(encode(b"x" * 20), Limits(max_bin=10)) == (
        "corrupt frame (ValueError: 20 exceeds max_bin_len(10))"
    )


def test_limits_must_be_non_negative_ints() -> None:
    with pytest.raises(BadArgument, match=r"^Limits.max_depth must be an int >= 0; got -1$"):
        Limits(max_depth=-1)
    assert DEFAULT_LIMITS == Limits(64 << 20, 64, 1_000_000, 64 << 20, 64 << 20)


# --- hostile frames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "corrupt frame (ValueError: Unpack failed: incomplete input)"),
        (b"\x01\x02", "corrupt frame (ExtraData: unpack(b) received extra data.)"),
        (b"\xc1", "corrupt frame (FormatError)"),
        (raw([tag(99), 1]), "unknown extension type 99"),
        (raw([tag(63), 1]), "unknown extension type 63"),
        (b"\x92\xc7\x00\xfb\x01", "unknown extension type -5"),
        (
            raw([msgpack.ExtType(1, b"x"), 1]),
            "corrupt frame (ValueError: 2 exceeds max_ext_len(0))",
        ),
        (raw(tag(1)), "an extension tag is not at the head of an array"),
        (raw([1, tag(1)]), "an extension tag is not at the head of an array"),
        (raw({"k": tag(1)}), "an extension tag is not at the head of an array"),
        (raw([tag(1), tag(1)]), "an extension tag is not at the head of an array"),
        (
            raw([tag(5), "a@h", 1]),
            "malformed Pid: expected node (str), id, serial, creation (ints >= 0)",
        ),
        (
            raw([tag(5), "a@h", -1, 0, 0]),
            "malformed Pid: expected node (str), id, serial, creation (ints >= 0)",
        ),
        (
            raw([tag(5), "a@h", True, 0, 0]),
            "malformed Pid: expected node (str), id, serial, creation (ints >= 0)",
        ),
        (
            raw([tag(6), b"a@h", 1, 0]),
            "malformed Ref: expected node (str), id, creation (ints >= 0)",
        ),
        (raw([tag(4), "12"]), "malformed big int: expected one non-empty binary"),
        (
            raw([tag(7), "ValueError"]),
            "malformed exception: expected type name (str), message (str), args",
        ),
        (raw([tag(16), "pid"]), "Exit has 2 fields; the frame has 1"),
        (raw([tag(21), 1, 2, 3]), "Call has 2 fields; the frame has 3"),
    ],
)
def test_malformed_frames_raise_decode_error_saying_why(data: bytes, message: str) -> None:
    assert rejected(data) == message


def test_a_timestamp_extension_is_refused() -> None:
    assert rejected(b"\xd6\xff\x00\x00\x00\x01") == (
        "corrupt frame (ValueError: 5 exceeds max_ext_len(0))"
    )


def test_unhashable_keys_and_set_items_from_a_peer_are_refused() -> None:
    assert rejected(b"\x81\x91\x01\x02") == "corrupt frame (TypeError: unhashable type: 'list')"
    assert rejected(raw([tag(2), [1]])) == "corrupt frame (TypeError: unhashable type: 'list')"


def test_every_strict_prefix_of_a_frame_is_a_decode_error() -> None:
    data = encode(["call", PID, REF, {"a": (1, 2**70)}, NodeDown("n", KeyError("k"))])
    for end in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:end])


def undecodable_or_term(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_decode_error(data: bytes) -> None:
    undecodable_or_term(data)


@settings(max_examples=200, deadline=None)
@given(
    terms,
    st.lists(
        st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 2**16)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 255),
)
def test_mutated_frames_never_raise_anything_but_decode_error(
    term: Any, edits: list[tuple[str, int]], byte: int
) -> None:
    data = bytearray(encode(term))
    for edit, position in edits:
        at = position % (len(data) + 1)
        if edit == "insert":
            data.insert(at, byte)
        elif at < len(data):
            if edit == "flip":
                data[at] ^= 1 << (position % 8)
            elif edit == "set":
                data[at] = byte
            else:
                del data[at]
    undecodable_or_term(bytes(data))


# --- the registry --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: str = ""


class Money:
    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))


@pytest.fixture
def registered() -> Iterator[None]:
    codec.register(Point, 64)
    codec.register(Money, 127, to_fields=lambda m: (m.cents, m.currency), from_fields=Money)
    try:
        yield
    finally:
        codec.unregister(Point)
        codec.unregister(Money)


def test_a_registered_dataclass_round_trips_inside_other_terms(registered: None) -> None:
    term = {"p": Point(1, 2, "a"), (Point(3, 4),): [Money(150, "EUR")]}
    same(term, decode(encode(term)))
    assert encode(Point(1, 2)) == raw([tag(64), 1, 2, ""])


def test_a_registered_record_counts_for_the_depth_limit(registered: None) -> None:
    term = Point(1, 2, [[["deep"]]])  # type: ignore[arg-type]
    assert decode(encode(term), limits=Limits(max_depth=4)) == term
    assert rejected(encode(term), Limits(max_depth=3)) == "term nested deeper than max_depth (3)"


def test_a_registered_class_with_the_wrong_field_count_is_a_decode_error(
    registered: None,
) -> None:
    assert rejected(raw([tag(64), 1])) == "Point has 3 fields; the frame has 1"
    assert rejected(raw([tag(127), 1])) == (
        "cannot rebuild Money from its fields: Money.__init__() missing 1 required "
        "positional argument: 'currency'"
    )


def test_a_code_unknown_to_the_receiver_is_a_decode_error(registered: None) -> None:
    data = encode(Point(1, 2))
    codec.unregister(Point)
    try:
        assert rejected(data) == "unknown extension type 64"
    finally:
        codec.register(Point, 64)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            63,
            "extension code 63 is not an application code: applications use 64..127, codes below 64 are beamlike's",
        ),
        (
            128,
            "extension code 128 is not an application code: applications use 64..127, codes below 64 are beamlike's",
        ),
        (
            -1,
            "extension code -1 is not an application code: applications use 64..127, codes below 64 are beamlike's",
        ),
    ],
)
def test_codes_outside_64_to_127_are_refused(code: int, message: str) -> None:
    with pytest.raises(BadArgument) as info:
        codec.register(Point, code)
    assert str(info.value) == message


def test_a_code_or_class_registered_twice_is_refused(registered: None) -> None:
    @dataclasses.dataclass
    class Other:
        a: int

    with pytest.raises(BadArgument, match="^extension code 64 is already registered to Point$"):
        codec.register(Other, 64)
    with pytest.raises(BadArgument, match=r"^Point is already encoded \(natively or registered\)$"):
        codec.register(Point, 65)
    with pytest.raises(BadArgument, match=r"^tuple is already encoded \(natively or registered\)$"):
        codec.register(tuple, 65)


def test_registering_needs_an_int_code_and_a_class_and_for_other_classes_both_functions() -> None:
    with pytest.raises(
        BadArgumentType, match="^register expects an int code in 64..127; got True$"
    ):
        codec.register(Point, True)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType, match="^register expects a class; got 3$"):
        codec.register(3, 70)  # type: ignore[arg-type]
    with pytest.raises(
        BadArgument, match="^Money is not a dataclass: pass both to_fields= and from_fields=$"
    ):
        codec.register(Money, 70, to_fields=lambda m: ())
    with pytest.raises(BadArgument, match="^Pid is not a registered class$"):
        codec.unregister(Pid)
