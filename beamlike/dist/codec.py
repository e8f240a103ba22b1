"""The wire codec: terms to bytes and back, for messages between nodes.

=================================================  ==========================================
function                                           what it does
=================================================  ==========================================
``encode(term)``, ``encode_batch(terms)``          bytes, or ``EncodeError``
``decode(data, limits=)``, ``decode_batch(...)``   a term, or ``DecodeError`` (nothing else)
``register(cls, code, to_fields=, from_fields=)``  let an application's class travel
``unregister(cls)``                                forget it again
``Limits``, ``DEFAULT_LIMITS``                     what ``decode`` accepts from a peer
``RemoteError``                                    an exception that crossed the wire
=================================================  ==========================================

Example::

    from beamlike import Pid, Ref
    from beamlike.dist import codec

    pid, ref = Pid("alpha@host", 42, 0, 1), Ref("alpha@host", 7, 1)
    data = codec.encode(("call", pid, ref, {"a": 1}))
    assert codec.decode(data) == ("call", pid, ref, {"a": 1})

The essay
---------
A term is msgpack (the role of Erlang's External Term Format). What msgpack has natively
travels natively: None, bool, ints of 64 bits, float, str, bytes, list (array) and dict
(map, with keys of any hashable term). Everything else is an array whose first element
is a *tag*, an msgpack extension of one byte-code and no payload, followed by the fields::

    (1, "a")                 [T1, 1, "a"]               tuples stay tuples, lists lists
    {1, 2} / frozenset       [T2, 1, 2] / [T3, 1, 2]
    2**70                    [T4, b"\\x40\\x00..."]        big-endian two's complement
    Pid("a@h", 42, 0, 3)     [T5, "a@h", 42, 0, 3]      never its local process pointer
    Ref("a@h", 7, 3)         [T6, "a@h", 7, 3]
    ValueError("bad")        [T7, "ValueError", "bad", "bad"]   name, str(), args
    Exit(pid, reason)        [T16, pid, reason]         and the other runtime messages

Codes below 64 are beamlike's; 64..127 are the application's (``register``). Tags carry
no payload, so decoding is a single pass of msgpack's C unpacker: an ``ext_hook`` turns
a tag into a marker and a ``list_hook`` turns an array headed by a marker into its term.
No payload is ever unpacked again, so nested extensions cannot recurse.

Guarantees of ``decode`` for bytes from an untrusted peer:

- it raises ``DecodeError`` and nothing else (corrupt, truncated, trailing bytes, too
  big, too deep, too many items, unknown or misplaced tags, wrong field counts or types);
- it never imports, never unpickles, never instantiates a class that was not registered:
  an exception arrives as a ``RemoteError`` holding its type's name, never as its type;
- it is bounded: input longer than ``max_bytes`` is refused before parsing; each string,
  binary, array and map is bounded by ``Limits`` and by the input's own length; the total
  of array and map items is counted while parsing and stops it at ``max_items``; nesting
  (lists, dicts, tuples, sets, records) deeper than ``max_depth`` is refused after parsing
  (msgpack itself stops at 1024 levels, so parsing cannot run away before the check).

Non-guarantees: subclasses of the native types travel as their base type (an ``IntEnum``
as its int, a namedtuple as a tuple, an ``OrderedDict`` as a dict; bytearray and
memoryview arrive as bytes); a ``Pid`` or ``Ref`` is not checked against any node; a
record's fields are not type-checked beyond what its class's constructor does. ``encode``
does not apply ``Limits`` (the receiver does) and accepts up to msgpack's 511 levels;
msgpack's own ``ExtType`` and ``Timestamp`` values are packed as they are, and the
receiving ``decode`` refuses them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from operator import attrgetter
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any

import msgpack

from beamlike._core.ids import Pid, Ref
from beamlike.errors import BadArgument, BadArgumentType, BeamlikeError
from beamlike.ets import EtsTransfer
from beamlike.gen_server import Call, Cast, From, System
from beamlike.messages import Down, Exit, NodeDown, NodeUp

__all__ = [
    "APPLICATION_CODES",
    "DEFAULT_LIMITS",
    "DecodeError",
    "EncodeError",
    "Limits",
    "RemoteError",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "register",
    "unregister",
]

_MIB = 1 << 20
APPLICATION_CODES = range(64, 128)
"""Extension codes an application may ``register``; below 64 they are beamlike's."""


class EncodeError(BadArgumentType):
    """A term cannot travel to another node (a function, a socket, an unregistered class)."""


class DecodeError(BeamlikeError):
    """Bytes from another node are not a valid term, or exceed the ``Limits``."""


class RemoteError(BeamlikeError):
    """An exception raised on another node, as it arrived: its type is never imported.

    Two ``RemoteError`` are equal when their ``type_name`` and ``args`` are equal (the
    message is derived from the args, and is not compared).

    Attributes:
        type_name: the original type, ``"module.QualName"`` (builtins without module).
        message: ``str()`` of the original exception.
        args: its arguments; those that could not travel are replaced by their repr.
    """

    def __init__(self, type_name: str, message: str, args: tuple[Any, ...] = ()) -> None:
        super().__init__(*args)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name

    def __repr__(self) -> str:
        return f"RemoteError({self.type_name!r}, {self.message!r}, {self.args!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not RemoteError:
            return NotImplemented
        return self.type_name == other.type_name and self.args == other.args  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.type_name)

    def __reduce__(self) -> Any:
        return (RemoteError, (self.type_name, self.message, self.args))


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What ``decode`` accepts from a peer; every field is a maximum.

    Attributes:
        max_bytes: length of one frame, refused before parsing.
        max_depth: nesting of lists, dicts, tuples, sets and records.
        max_items: array and map items in one frame, all containers together.
        max_str: bytes of one string (UTF-8).
        max_bin: bytes of one binary.
    """

    max_bytes: int = 64 * _MIB
    max_depth: int = 64
    max_items: int = 1_000_000
    max_str: int = 64 * _MIB
    max_bin: int = 64 * _MIB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value.__class__ is not int or value < 0:
                raise BadArgument(f"Limits.{field.name} must be an int >= 0; got {value!r}")


DEFAULT_LIMITS = Limits()


# --- the registry ------------------------------------------------------------------------


class _Tag:
    """What a tag decodes to; the array it heads is handed to ``build``."""

    __slots__ = ("name", "build")

    def __init__(self, name: str, build: Callable[[list[Any]], Any]) -> None:
        self.name = name
        self.build = build


_encoders: dict[type, Callable[[Any], list[Any]]] = {}  # what the packer's hook calls
_tags: dict[int, _Tag] = {}  # by extension code
_codes: dict[type, int] = {}  # the code of each registered class
_fields: dict[type, Callable[[Any], Iterable[Any]]] = {}  # records that hold terms
_SEQUENCES = frozenset({list, tuple, set, frozenset})
# Classes whose instances hold terms: the depth check looks inside them.
_compound: set[type] = {list, tuple, set, frozenset, dict}
# Never registrable: msgpack encodes them itself, or they have builtin tags.
_NATIVE = frozenset(
    {type(None), bool, int, float, str, bytes, bytearray, memoryview, list, dict, tuple}
    | {set, frozenset, msgpack.ExtType, msgpack.Timestamp}
)


def _add(
    cls: type | None,
    code: int,
    encode_fields: Callable[[Any], list[Any]] | None,
    build: Callable[[list[Any]], Any],
    fields: Callable[[Any], Iterable[Any]] | None,
) -> None:
    _tags[code] = _Tag(cls.__qualname__ if cls is not None else "big int", build)
    if cls is not None and encode_fields is not None:
        _encoders[cls] = encode_fields
        _codes[cls] = code
        if fields is not None:
            _fields[cls] = fields
            _compound.add(cls)


def _record(
    cls: type,
    code: int,
    to_fields: Callable[[Any], Iterable[Any]],
    from_fields: Callable[..., Any],
    nfields: int | None,
) -> None:
    tag = msgpack.ExtType(code, b"")
    name = cls.__qualname__

    def encode_fields(obj: Any) -> list[Any]:
        return [tag, *to_fields(obj)]

    def build(lst: list[Any]) -> Any:
        del lst[0]
        if nfields is not None and len(lst) != nfields:
            raise DecodeError(f"{name} has {nfields} fields; the frame has {len(lst)}")
        try:
            return from_fields(*lst)
        except Exception as exc:
            raise DecodeError(f"cannot rebuild {name} from its fields: {exc}") from exc

    _add(cls, code, encode_fields, build, to_fields)


def _getter(names: tuple[str, ...]) -> Callable[[Any], Iterable[Any]]:
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return attrgetter(*names)


def register(
    cls: type,
    code: int,
    *,
    to_fields: Callable[[Any], Iterable[Any]] | None = None,
    from_fields: Callable[..., Any] | None = None,
) -> None:
    """Let instances of ``cls`` (exactly that class) travel, under extension ``code``.

    Every node must register the same class under the same code. ``to_fields(obj)``
    returns the field values, each a term that can travel; ``from_fields(*fields)``
    rebuilds the object on the receiving node (an exception it raises becomes a
    ``DecodeError``). For a dataclass both default to its fields in order and its
    constructor; any other class must pass both. Never blocks.

    Raises:
        BadArgument: ``code`` is not in 64..127 (below 64 is beamlike's), the code or the
            class is already registered, or the class cannot have defaults.
    """
    if not isinstance(cls, type):
        raise BadArgumentType(f"register expects a class; got {cls!r}")
    if code.__class__ is not int:
        raise BadArgumentType(f"register expects an int code in 64..127; got {code!r}")
    if code not in APPLICATION_CODES:
        raise BadArgument(
            f"extension code {code} is not an application code: applications use 64..127, "
            f"codes below 64 are beamlike's"
        )
    if code in _tags:
        raise BadArgument(f"extension code {code} is already registered to {_tags[code].name}")
    if cls in _NATIVE or cls in _encoders:
        raise BadArgument(f"{cls.__qualname__} is already encoded (natively or registered)")
    nfields: int | None = None
    if dataclasses.is_dataclass(cls):
        fields = dataclasses.fields(cls)
        if to_fields is None or from_fields is None:
            if any(not f.init or f.kw_only for f in fields):
                raise BadArgument(
                    f"dataclass {cls.__qualname__} has init=False or keyword-only fields: "
                    f"pass to_fields= and from_fields="
                )
        if to_fields is None:
            to_fields = _getter(tuple(f.name for f in fields))
        if from_fields is None:
            from_fields = cls
            nfields = len(fields)
    elif to_fields is None or from_fields is None:
        raise BadArgument(
            f"{cls.__qualname__} is not a dataclass: pass both to_fields= and from_fields="
        )
    _record(cls, code, to_fields, from_fields, nfields)


def unregister(cls: type) -> None:
    """Forget a class that ``register`` registered. Never blocks.

    Raises:
        BadArgument: ``cls`` was not registered by an application.
    """
    code = _codes.get(cls, -1)
    if code not in APPLICATION_CODES:
        raise BadArgument(f"{getattr(cls, '__qualname__', repr(cls))} is not a registered class")
    del _codes[cls], _encoders[cls], _tags[code], _fields[cls]
    _compound.discard(cls)


# --- encoding ----------------------------------------------------------------------------

_INT64_MIN = -(1 << 63)
_UINT64_MAX = (1 << 64) - 1
_ALLOWED = (
    "None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, Pid, Ref, "
    "exceptions, beamlike's messages and classes registered with "
    "beamlike.dist.codec.register()"
)


def _safe_repr(obj: Any, limit: int = 80) -> str:
    try:
        text = repr(obj)
    except Exception:
        text = f"<{obj.__class__.__qualname__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(cls: type) -> str:
    """``"module.QualName"`` of a class (builtins without module), as a ``RemoteError``
    names the type of an exception. Never blocks."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _cannot(obj: Any) -> EncodeError:
    cls = obj.__class__
    what = type_name(cls)
    hint = ""
    if isinstance(obj, FunctionType | BuiltinFunctionType | MethodType):
        hint = " (code never travels: send data, and name an importable function to run)"
    elif dataclasses.is_dataclass(obj):
        hint = f" (register it: beamlike.dist.codec.register({cls.__qualname__}, code))"
    return EncodeError(
        f"cannot encode {what} {_safe_repr(obj)}{hint}; terms that travel are {_ALLOWED}"
    )


def _big_int(value: int) -> list[Any]:
    return [_BIG_INT_TAG, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)]


def _travelling(arg: Any) -> Any:
    """An exception's argument if it can travel, else its repr."""
    cls = arg.__class__
    if cls is str or cls is int or cls is float or cls is bool or arg is None:
        return arg
    try:
        encode(arg)
    except EncodeError:
        return _safe_repr(arg, 1000)
    return arg


def _exception(exc: BaseException) -> list[Any]:
    if exc.__class__ is RemoteError:
        remote: RemoteError = exc  # type: ignore[assignment]
        return [_EXCEPTION_TAG, remote.type_name, remote.message, *map(_travelling, remote.args)]
    name = type_name(exc.__class__)
    try:
        message = str(exc)
    except Exception:
        message = _safe_repr(exc)
    try:
        args = tuple(exc.args)
    except Exception:
        args = ()
    return [_EXCEPTION_TAG, name, message, *map(_travelling, args)]


def _default(obj: Any) -> Any:
    """msgpack's hook for what it does not encode itself (with ``strict_types``)."""
    encode_fields = _encoders.get(obj.__class__)
    if encode_fields is not None:
        return encode_fields(obj)
    if isinstance(obj, int):  # beyond 64 bits, or a subclass (IntEnum)
        value = int(obj)
        return value if _INT64_MIN <= value <= _UINT64_MAX else _big_int(value)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, bytes):
        return bytes(obj)
    if isinstance(obj, tuple):
        return [_TUPLE_TAG, *obj]
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, frozenset):
        return [_FROZENSET_TAG, *obj]
    if isinstance(obj, set):
        return [_SET_TAG, *obj]
    if isinstance(obj, BaseException):
        return _exception(obj)
    raise _cannot(obj)


def _new_packer() -> Any:
    return msgpack.Packer(
        default=_default, use_bin_type=True, strict_types=True, datetime=False, autoreset=True
    )


# Packers not in use. encode takes one out, so that a nested encode (an exception's
# arguments, an application's to_fields) or another thread never shares a buffer.
_packers: list[Any] = [_new_packer()]


def encode(term: Any) -> bytes:
    """The bytes of ``term``, for ``decode`` on another node. Never blocks.

    Raises:
        EncodeError: the term holds something that cannot travel, saying what it is and
            what can travel; or it is nested more than 511 levels or contains itself.
    """
    try:
        packer = _packers.pop()
    except IndexError:
        packer = _new_packer()
    try:
        return packer.pack(term)  # type: ignore[no-any-return]
    except EncodeError:
        raise
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise EncodeError(
                f"cannot encode {_safe_repr(term)}: nested more than 511 levels, or it "
                f"contains itself"
            ) from exc
        raise EncodeError(f"cannot encode {_safe_repr(term)}: {exc}") from exc
    except Exception as exc:
        raise EncodeError(f"cannot encode {_safe_repr(term)}: {exc}") from exc
    finally:
        _packers.append(packer)


def encode_batch(terms: Iterable[Any]) -> bytes:
    """One frame carrying several terms (an msgpack array), for ``decode_batch``.

    Never blocks. Raises ``EncodeError`` as ``encode`` does.
    """
    if terms.__class__ is not list:
        try:
            terms = list(terms)
        except TypeError as exc:
            raise EncodeError(f"encode_batch expects an iterable of terms; got {terms!r}") from exc
    return encode(terms)


# --- decoding ----------------------------------------------------------------------------


def _frame_size(data: Any) -> int:
    if data.__class__ is bytes or data.__class__ is bytearray:
        return len(data)
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            raise DecodeError("decode expects a contiguous memoryview")
        return data.nbytes
    if isinstance(data, bytes | bytearray):
        return len(data)
    raise DecodeError(
        f"decode expects bytes, bytearray or memoryview; got {data.__class__.__name__}"
    )


def _too_deep(limit: int) -> DecodeError:
    return DecodeError(f"term nested deeper than max_depth ({limit})")


def _check_depth(term: Any, budget: int, limit: int) -> None:
    """Raise if ``term`` (a compound) nests more than ``budget`` more levels."""
    if budget == 0:
        raise _too_deep(limit)
    budget -= 1
    cls = term.__class__
    compound = _compound
    if cls is dict:
        groups: tuple[Iterable[Any], ...] = (term, term.values())
    elif cls in _SEQUENCES:
        groups = (term,)
    elif cls is RemoteError:
        groups = (term.args,)
    else:
        groups = (tuple(_fields[cls](term)),)
    for children in groups:
        if not compound.isdisjoint(map(type, children)):  # most are scalars: skip at C speed
            for child in children:
                if child.__class__ in compound:
                    _check_depth(child, budget, limit)


def decode(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The term that ``encode`` turned into ``data``, bounded by ``limits``. Never blocks.

    Safe on bytes from an untrusted peer: nothing is imported, unpickled or executed
    (except the ``from_fields`` of classes this node registered).

    Raises:
        DecodeError: and nothing else, for anything wrong in ``data``.
    """
    size = len(data) if data.__class__ is bytes else _frame_size(data)
    if size > limits.max_bytes:
        raise DecodeError(f"frame of {size} bytes exceeds max_bytes ({limits.max_bytes})")
    max_items = limits.max_items
    max_depth = limits.max_depth
    tags = _tags
    pending = 0  # tags seen and not yet consumed as the head of an array
    containers = 0  # arrays and maps: a bound on the depth
    items = 0

    def ext_hook(code: int, payload: bytes) -> _Tag:
        nonlocal pending
        tag = tags.get(code)
        if tag is None:
            raise DecodeError(f"unknown extension type {code}")
        pending += 1
        return tag

    # Every array and map takes at least one byte, and every item too: a frame no longer
    # than max_depth and max_items cannot exceed them, and is not counted.
    object_hook: Callable[[dict[Any, Any]], dict[Any, Any]] | None = None
    if size <= max_depth and size <= max_items:

        def list_hook(lst: list[Any]) -> Any:
            nonlocal pending
            if lst and lst[0].__class__ is _Tag:
                pending -= 1
                return lst[0].build(lst)
            return lst

    else:

        def list_hook(lst: list[Any]) -> Any:
            nonlocal pending, containers, items
            containers += 1
            items += len(lst)
            if items > max_items:
                raise DecodeError(f"frame has more than max_items ({max_items}) items")
            if lst and lst[0].__class__ is _Tag:
                pending -= 1
                return lst[0].build(lst)
            return lst

        def object_hook(dct: dict[Any, Any]) -> dict[Any, Any]:
            nonlocal containers, items
            containers += 1
            items += len(dct)
            if items > max_items:
                raise DecodeError(f"frame has more than max_items ({max_items}) items")
            return dct

    try:
        term = msgpack.unpackb(
            data,
            use_list=True,
            raw=False,
            strict_map_key=False,
            ext_hook=ext_hook,
            list_hook=list_hook,
            object_hook=object_hook,
            max_str_len=limits.max_str,  # msgpack reads no string beyond the input
            max_bin_len=limits.max_bin,
            # ... but it allocates an array (map) as long as its header says, at once
            max_array_len=size if size < max_items else max_items,
            max_map_len=size // 2 if size // 2 < max_items else max_items,
            max_ext_len=0,  # tags only
        )
        if pending:
            raise DecodeError("an extension tag is not at the head of an array")
        if containers > max_depth and term.__class__ in _compound:
            _check_depth(term, max_depth, max_depth)
    except DecodeError:
        raise
    except RecursionError as exc:
        raise DecodeError("term nested too deeply to check") from exc
    except MemoryError as exc:
        raise DecodeError(f"not enough memory to decode a frame of {size} bytes") from exc
    except Exception as exc:
        detail = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        raise DecodeError(f"corrupt frame ({detail})") from exc
    return term


def decode_batch(
    data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS
) -> list[Any]:
    """The terms of a frame made by ``encode_batch``. Never blocks.

    Raises:
        DecodeError: as ``decode``, or the frame is not an array of terms.
    """
    terms = decode(data, limits=limits)
    if terms.__class__ is not list:
        raise DecodeError(f"a batch frame is an array of terms; got {terms.__class__.__name__}")
    return terms  # type: ignore[no-any-return]


# --- beamlike's own terms (codes below 64) -----------------------------------------------


def _build_tuple(lst: list[Any]) -> tuple[Any, ...]:
    del lst[0]
    return tuple(lst)


def _build_set(lst: list[Any]) -> set[Any]:
    del lst[0]
    return set(lst)


def _build_frozenset(lst: list[Any]) -> frozenset[Any]:
    del lst[0]
    return frozenset(lst)


def _build_big_int(lst: list[Any]) -> int:
    if len(lst) != 2 or lst[1].__class__ is not bytes or not lst[1]:
        raise DecodeError("malformed big int: expected one non-empty binary")
    return int.from_bytes(lst[1], "big", signed=True)


def _build_pid(lst: list[Any]) -> Pid:
    if len(lst) == 5:
        _, node, id_, serial, creation = lst
        if (
            node.__class__ is str
            and id_.__class__ is int
            and serial.__class__ is int
            and creation.__class__ is int
            and id_ >= 0
            and serial >= 0
            and creation >= 0
        ):
            return Pid(node, id_, serial, creation)
    raise DecodeError("malformed Pid: expected node (str), id, serial, creation (ints >= 0)")


def _build_ref(lst: list[Any]) -> Ref:
    if len(lst) == 4:
        _, node, id_, creation = lst
        if (
            node.__class__ is str
            and id_.__class__ is int
            and creation.__class__ is int
            and id_ >= 0
            and creation >= 0
        ):
            return Ref(node, id_, creation)
    raise DecodeError("malformed Ref: expected node (str), id, creation (ints >= 0)")


def _build_exception(lst: list[Any]) -> RemoteError:
    if len(lst) >= 3 and lst[1].__class__ is str and lst[2].__class__ is str:
        return RemoteError(lst[1], lst[2], tuple(lst[3:]))
    raise DecodeError("malformed exception: expected type name (str), message (str), args")


_TUPLE_TAG = msgpack.ExtType(1, b"")
_SET_TAG = msgpack.ExtType(2, b"")
_FROZENSET_TAG = msgpack.ExtType(3, b"")
_BIG_INT_TAG = msgpack.ExtType(4, b"")
_PID_TAG = msgpack.ExtType(5, b"")
_REF_TAG = msgpack.ExtType(6, b"")
_EXCEPTION_TAG = msgpack.ExtType(7, b"")

_add(None, 1, None, _build_tuple, None)
_add(None, 2, None, _build_set, None)
_add(None, 3, None, _build_frozenset, None)
_add(None, 4, None, _build_big_int, None)
_add(Pid, 5, lambda p: [_PID_TAG, p.node, p.id, p.serial, p.creation], _build_pid, None)
_add(Ref, 6, lambda r: [_REF_TAG, r.node, r.id, r.creation], _build_ref, None)
_add(None, 7, None, _build_exception, None)
_encoders[tuple] = lambda t: [_TUPLE_TAG, *t]
_encoders[set] = lambda s: [_SET_TAG, *s]
_encoders[frozenset] = lambda s: [_FROZENSET_TAG, *s]
_encoders[int] = _big_int  # only ints beyond 64 bits reach the hook
_compound.add(RemoteError)

for _code, _cls, _names in (
    (16, Exit, ("pid", "reason")),
    (17, Down, ("ref", "pid", "reason")),
    (18, NodeUp, ("node",)),
    (19, NodeDown, ("node", "reason")),
    (20, From, ("pid", "tag")),
    (21, Call, ("from_", "request")),
    (22, Cast, ("request",)),
    (23, System, ("from_", "request")),
    (24, EtsTransfer, ("tid", "from_pid", "heir_data")),
):
    _record(_cls, _code, _getter(_names), _cls, len(_names))
