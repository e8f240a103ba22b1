"""Bad input fails at the call site, with the exception type the contract names.

One table of every call-site error of the core API. `exact` rows require that very
class; the others accept a subclass too (for example BadArgumentType for a timeout
that is not a number, which is a BadArgument). Message wording is checked where the
behaviour lives (test_receive.py, test_names.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import pytest
from support_processes import dead_pid, wait_forever

import beamlike
from beamlike import (
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    BeamlikeError,
    DeadlockError,
    Down,
    Exit,
    NoProcError,
    ProcessExit,
    ReceiveTimeout,
    link,
    make_ref,
    process_flag,
    receive,
    register,
    self_pid,
    send,
    send_after,
    spawn,
)


def register_taken_name() -> None:
    register("taken", spawn(wait_forever))
    register("taken", spawn(wait_forever))


def register_second_name() -> None:
    pid = spawn(wait_forever)
    register("first", pid)
    register("second", pid)


class Case(NamedTuple):
    call: Callable[[], object]
    error: type[BaseException]
    exact: bool = True


CASES = {
    # send: dest must be a Pid, a str name, or a (name, node_name) tuple
    "send-to-int": Case(lambda: send(42, "m"), BadArgumentType),
    "send-to-none": Case(lambda: send(None, "m"), BadArgumentType),
    "send-to-bytes": Case(lambda: send(b"name", "m"), BadArgumentType),
    "send-to-list": Case(lambda: send(["name"], "m"), BadArgumentType),
    "send-to-1-tuple": Case(lambda: send(("name",), "m"), BadArgumentType),
    "send-to-3-tuple": Case(lambda: send(("name", "node", "x"), "m"), BadArgumentType),
    "send-to-ref": Case(lambda: send(make_ref(), "m"), BadArgumentType),
    "send-to-unregistered-name": Case(lambda: send("nobody", "m"), NoProcError),
    # receive: timeout is None or a non-negative number; patterns are valid
    "receive-negative-timeout": Case(lambda: receive(timeout=-1), BadArgument),
    "receive-str-timeout": Case(lambda: receive(timeout="1"), BadArgument, exact=False),
    "receive-set-pattern": Case(lambda: receive({1}, timeout=0), BadArgument, exact=False),
    "receive-generator-pattern": Case(
        lambda: receive((x for x in ()), timeout=0), BadArgument, exact=False
    ),
    "receive-iterator-pattern": Case(
        lambda: receive(iter([1]), timeout=0), BadArgument, exact=False
    ),
    # send_after: the destination is checked like send's, when the timer is set
    "send-after-to-int": Case(lambda: send_after(0, 42, "m"), BadArgumentType),
    "send-after-to-3-tuple": Case(
        lambda: send_after(0, ("name", "node", "x"), "m"), BadArgumentType
    ),
    # link: the pid must be alive unless the caller traps exits
    "link-to-dead-pid": Case(lambda: link(dead_pid()), NoProcError),
    # process_flag: only known flags
    "process-flag-unknown": Case(lambda: process_flag("no_such_flag", True), BadArgument),
    # register
    "register-taken-name": Case(register_taken_name, AlreadyRegisteredError),
    "register-dead-pid": Case(lambda: register("svc", dead_pid()), NoProcError),
    "register-second-name": Case(register_second_name, BadArgument),
    "register-int-name": Case(lambda: register(42, self_pid()), BadArgumentType),
    "register-none-name": Case(lambda: register(None, self_pid()), BadArgumentType),
    "register-bytes-name": Case(lambda: register(b"svc", self_pid()), BadArgumentType),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_raises_the_contracted_exception_at_the_call_site(case: Case) -> None:
    with pytest.raises(case.error) as excinfo:
        case.call()

    if case.exact:
        assert type(excinfo.value) is case.error


def test_bad_input_leaves_the_caller_alive_and_able_to_receive() -> None:
    me = self_pid()
    for case in CASES.values():
        with contextlib.suppress(BeamlikeError):
            case.call()

    send(me, "still here")

    assert beamlike.is_alive(me)
    assert receive(timeout=0) == "still here"


# -- the error hierarchy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (BeamlikeError, (Exception,)),
        (BadArgument, (BeamlikeError, ValueError)),
        (BadArgumentType, (BadArgument, TypeError)),
        (NoProcError, (BeamlikeError,)),
        (AlreadyRegisteredError, (BadArgument,)),
        (ReceiveTimeout, (BeamlikeError, TimeoutError)),
        (DeadlockError, (BeamlikeError,)),
        (ProcessExit, (BaseException,)),
    ],
    ids=lambda x: x.__name__ if isinstance(x, type) else None,
)
def test_errors_have_the_contracted_bases(
    error: type[BaseException], bases: tuple[type, ...]
) -> None:
    assert all(issubclass(error, base) for base in bases)


def test_process_exit_is_not_an_exception_so_except_exception_does_not_catch_it() -> None:
    assert not issubclass(ProcessExit, Exception)


def test_process_exit_carries_its_reason() -> None:
    assert ProcessExit(("shutdown", "bye")).reason == ("shutdown", "bye")


def test_errors_are_also_importable_from_beamlike_errors() -> None:
    from beamlike import errors

    assert errors.BadArgument is BadArgument
    assert errors.ProcessExit is ProcessExit


# -- messages and constants -----------------------------------------------------------


@pytest.mark.parametrize("message_type", [Exit, Down], ids=["Exit", "Down"])
def test_runtime_messages_are_frozen_slotted_dataclasses(message_type: type) -> None:
    fields = [f.name for f in dataclasses.fields(message_type)]
    msg = message_type(*range(len(fields)))

    assert dataclasses.is_dataclass(msg)
    assert hasattr(message_type, "__slots__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(msg, fields[0], "changed")


def test_exit_and_down_have_the_contracted_fields() -> None:
    assert [f.name for f in dataclasses.fields(Exit)] == ["pid", "reason"]
    assert [f.name for f in dataclasses.fields(Down)] == ["ref", "pid", "reason"]


def test_atoms_are_their_erlang_names() -> None:
    assert (
        beamlike.NORMAL,
        beamlike.KILL,
        beamlike.KILLED,
        beamlike.SHUTDOWN,
        beamlike.NOPROC,
        beamlike.NOCONNECTION,
    ) == ("normal", "kill", "killed", "shutdown", "noproc", "noconnection")
