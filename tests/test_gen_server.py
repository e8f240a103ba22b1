"""GenServer: start, call, cast, info, timeouts, continue and terminate, as in OTP.

The test body is a process: it starts servers, calls them, and watches them with
monitors. A server that is meant to die is started with ``start`` (not linked) and
watched with a monitor, or the test body traps exits first, so that its death never
takes the test body with it. Servers report what they do by sending messages to the
test process, whose pid they keep in their state.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

import beamlike
from beamlike import (
    ANY,
    BeamlikeError,
    Down,
    Exit,
    Pid,
    ProcessExit,
    Ref,
    is_alive,
    monitor,
    process_flag,
    process_info,
    receive,
    register,
    self_pid,
    send,
    spawn,
    whereis,
)
from beamlike import gen_server as gs
from beamlike.gen_server import (
    AlreadyStartedError,
    BadReturn,
    CallError,
    CallTimeout,
    From,
    GenServer,
    Ignore,
    NoReply,
    Ok,
    Reply,
    Stop,
    call,
    cast,
    reply,
)
from beamlike.proc_lib import StartError, StartTimeout

WAIT = 2.0
NOTHING = object()
DOCS = Path(__file__).resolve().parents[1] / "docs"


# -- servers --------------------------------------------------------------------------


class Stack(GenServer):
    """Elixir's Stack: pop with a call, push with a cast."""

    def init(self, elements: list[Any]) -> Ok:
        return Ok(list(elements))

    def handle_call(self, request: Any, from_: From, state: list[Any]) -> Any:
        if request == "pop":
            return Reply(state[0], state[1:])
        if request == "peek":
            return Reply(list(state), state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: list[Any]) -> Any:
        if request[0] == "push":
            return NoReply([request[1], *state])
        return super().handle_cast(request, state)


class InitReturns(GenServer):
    """Its init tells the test process its pid, then returns what it was given."""

    def init(self, arg: tuple[Pid, Any]) -> Any:
        parent, result = arg
        send(parent, ("init pid", self_pid()))
        return result


class InitRaises(GenServer):
    """Its init tells the test process its pid, then raises what it was given."""

    def init(self, arg: tuple[Pid, Exception]) -> Ok:
        parent, error = arg
        send(parent, ("init pid", self_pid()))
        raise error


class InitSleeps(GenServer):
    def init(self, seconds: float) -> Ok:
        beamlike.sleep(seconds)
        return Ok(seconds)


class Announcer(GenServer):
    """Its init tells the test process its pid and registered name, then serves."""

    def init(self, parent: Pid) -> Ok:
        me = self_pid()
        send(parent, ("init ran", me, process_info(me).registered_name))
        return Ok(parent)

    def handle_call(self, request: Any, from_: From, parent: Pid) -> Any:
        return Reply(("got", request), parent)

    def handle_cast(self, request: Any, parent: Pid) -> NoReply:
        send(parent, ("cast", request))
        return NoReply(parent)

    def handle_info(self, message: Any, parent: Pid) -> NoReply:
        send(parent, ("info", message))
        return NoReply(parent)


class Probe(GenServer):
    """Does what each request says; reports every terminate to the test process.

    The state is a dict with the test process's pid under "parent".
    """

    def init(self, parent: Pid) -> Ok:
        return Ok({"parent": parent})

    def handle_call(self, request: Any, from_: From, state: dict[str, Any]) -> Any:
        match request:
            case "ping":
                return Reply("pong", state)
            case ("stop", reason):
                return Stop(reason, state)
            case ("stop with state", reason, extra):
                return Stop(reason, {**state, "extra": extra})
            case ("stop replying", reason, value):
                return Stop(reason, state, reply=value)
            case ("raise", error):
                raise error
            case ("return", value):
                return value
            case ("sleep then reply", seconds, value):
                beamlike.sleep(seconds)
                reply(from_, value)
                send(state["parent"], ("replied", value))
                return NoReply(state)
            case "kill myself":
                beamlike.exit(self_pid(), "kill")
            case "call myself":
                try:
                    call(self_pid(), "ping")
                except CallError as exc:
                    return Reply(("refused", exc.reason), state)
            case "trap exits":
                process_flag("trap_exit", True)
                return Reply("ok", state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: dict[str, Any]) -> Any:
        match request:
            case ("raise", error):
                raise error
            case ("return", value):
                return value
            case ("stop", reason):
                return Stop(reason, state)
        return super().handle_cast(request, state)

    def handle_info(self, message: Any, state: dict[str, Any]) -> Any:
        match message:
            case ("raise", error):
                raise error
            case ("return", value):
                return value
            case Exit():
                send(state["parent"], ("handle_info", message))
                return NoReply(state)
        return super().handle_info(message, state)

    def terminate(self, reason: Any, state: dict[str, Any]) -> None:
        send(state["parent"], ("terminate", reason, state))


class TrapsExits(Probe):
    """A Probe that traps exits from its init on, so its parent's exit runs terminate."""

    def init(self, parent: Pid) -> Ok:
        process_flag("trap_exit", True)
        return super().init(parent)


class TerminateRaises(Probe):
    def terminate(self, reason: Any, state: dict[str, Any]) -> None:
        super().terminate(reason, state)
        raise RuntimeError("terminate failed")


class Deferred(GenServer):
    """Answers "double" later: from the message it sends itself, not from handle_call."""

    def handle_call(self, request: Any, from_: From, state: Any) -> Any:
        kind, value = request
        if kind == "double":
            send(self_pid(), ("answer", from_, 2 * value))
            return NoReply(state)
        return super().handle_call(request, from_, state)

    def handle_info(self, message: Any, state: Any) -> NoReply:
        _, from_, value = message
        reply(from_, value)
        return NoReply(state)


class Waiter(GenServer):
    """Holds every "wait" call (and says so) until a cast answers them all, in order."""

    def init(self, parent: Pid) -> Ok:
        return Ok((parent, []))

    def handle_call(self, request: Any, from_: From, state: tuple[Pid, list[From]]) -> Any:
        parent, waiting = state
        send(parent, ("holding", len(waiting) + 1))
        return NoReply((parent, [*waiting, from_]))

    def handle_cast(self, request: Any, state: tuple[Pid, list[From]]) -> NoReply:
        parent, waiting = state
        for n, from_ in enumerate(waiting):
            reply(from_, (request, n))
        return NoReply((parent, []))


class Idle(GenServer):
    """Tells the test process when an idle timeout fires."""

    def init(self, arg: tuple[Pid, float | None]) -> Ok:
        parent, timeout = arg
        return Ok(parent, timeout=timeout)

    def handle_call(self, request: Any, from_: From, parent: Pid) -> Reply:
        kind, timeout = request
        return Reply("armed", parent, timeout=timeout)

    def handle_cast(self, request: Any, parent: Pid) -> NoReply:
        return NoReply(parent)

    def handle_info(self, message: Any, parent: Pid) -> NoReply:
        send(parent, ("handle_info", message))
        return NoReply(parent)


class Warmup(GenServer):
    """Logs every callback; each cast asks to continue with "after <cast>"."""

    def init(self, arg: Any) -> Ok:
        return Ok(["init"], continue_="warm up")

    def handle_continue(self, arg: Any, log: list[str]) -> NoReply:
        return NoReply([*log, f"continue {arg}"])

    def handle_call(self, request: Any, from_: From, log: list[str]) -> Reply:
        return Reply(log, log)

    def handle_cast(self, request: Any, log: list[str]) -> NoReply:
        return NoReply([*log, f"cast {request}"], continue_=f"after {request}")


class DictVia:
    """A via name backed by a dict: the smallest thing ``name=`` accepts besides a str."""

    def __init__(self, table: dict[str, Pid], key: str) -> None:
        self.table = table
        self.key = key

    def register_name(self, pid: Pid) -> bool:
        if self.key in self.table:
            return False
        self.table[self.key] = pid
        return True

    def unregister_name(self) -> None:
        self.table.pop(self.key, None)

    def whereis_name(self) -> Pid | None:
        return self.table.get(self.key)

    def __repr__(self) -> str:
        return f"DictVia({self.key!r})"


# -- helpers --------------------------------------------------------------------------


def wait_down(ref: Ref) -> Down:
    return receive(Down(ref, ANY, ANY), timeout=WAIT)


TERMINATED = ("terminate", ANY, ANY)


def no_more_terminate() -> bool:
    """True when no further terminate report is queued. Call it after the server's Down:
    whatever the server sent before it exited is in the mailbox by then."""
    return receive(TERMINATED, timeout=0, default=NOTHING) is NOTHING


def wait_until_exited(pid: Pid) -> None:
    """Wait until ``pid`` has exited (it may have already)."""
    wait_down(monitor(pid))


def mailbox_len() -> int:
    return process_info(self_pid()).message_queue_len


def crash_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "beamlike.crash"]


def start_probe(cls: type[Probe] = Probe) -> tuple[Pid, Ref]:
    """A server the test may watch die: not linked, monitored."""
    pid = cls.start(self_pid())
    assert pid is not None
    return pid, monitor(pid)


# -- starting -------------------------------------------------------------------------


def test_start_link_returns_after_init_has_run() -> None:
    pid = Announcer.start_link(self_pid())

    assert receive(timeout=0) == ("init ran", pid, None)


def test_start_link_links_the_server_to_the_caller() -> None:
    pid = Announcer.start_link(self_pid())

    assert process_info(pid).links == frozenset({self_pid()})


def test_start_does_not_link() -> None:
    pid = Announcer.start(self_pid())

    assert process_info(pid).links == frozenset()


def test_the_module_level_start_link_takes_the_class() -> None:
    pid = gs.start_link(Stack, ["a"])

    assert call(pid, "pop") == "a"


def test_init_returning_stop_raises_start_error_with_that_reason() -> None:
    with pytest.raises(StartError) as info:
        InitReturns.start_link((self_pid(), Stop("no_config")))

    assert info.value.reason == "no_config"
    assert call(Stack.start_link([1]), "pop") == 1  # the caller lives on


def test_init_raising_raises_start_error_with_the_exception() -> None:
    error = ValueError("bad config")

    with pytest.raises(StartError) as info:
        InitRaises.start_link((self_pid(), error))

    assert info.value.reason is error


def test_init_raising_is_logged_once_as_a_crash_report(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.crash")

    with pytest.raises(StartError):
        InitRaises.start((self_pid(), ValueError("bad config")))
    wait_until_exited(receive(("init pid", ANY), timeout=0)[1])

    records = crash_records(caplog)
    assert len(records) == 1
    assert "ValueError: bad config" in logging.Formatter().format(records[0])


@pytest.mark.parametrize(
    "cls, arg",
    [(InitReturns, Stop("no_config")), (InitRaises, ValueError("bad config"))],
    ids=["stop", "raise"],
)
def test_a_failed_init_sends_no_exit_signal_to_the_caller(cls: type, arg: Any) -> None:
    process_flag("trap_exit", True)

    with pytest.raises(StartError):
        cls.start_link((self_pid(), arg))
    wait_until_exited(receive(("init pid", ANY), timeout=0)[1])

    assert mailbox_len() == 0


def test_init_returning_ignore_makes_start_link_return_none() -> None:
    assert InitReturns.start_link((self_pid(), Ignore())) is None


def test_init_returning_something_else_raises_start_error_with_bad_return() -> None:
    with pytest.raises(StartError) as info:
        InitReturns.start_link((self_pid(), "ok"))

    reason = info.value.reason
    assert isinstance(reason, BadReturn)
    assert str(reason) == "init returned 'ok'; expected Ok(state), Ignore() or Stop(reason)"


def test_init_taking_longer_than_the_timeout_raises_start_timeout() -> None:
    with pytest.raises(StartTimeout) as info:
        InitSleeps.start_link(0.3, timeout=0.05)

    assert info.value.reason == "timeout"


def test_start_rejects_a_class_that_is_not_a_gen_server() -> None:
    with pytest.raises(StartError) as info:
        gs.start_link(dict, None)

    assert info.value.reason == "badarg"


def test_name_registers_the_server() -> None:
    pid = Stack.start_link([], name="stack")

    assert whereis("stack") == pid
    cast("stack", ("push", "x"))
    assert call("stack", "pop") == "x"


def test_the_name_is_registered_before_init_runs() -> None:
    pid = Announcer.start_link(self_pid(), name="announcer")

    assert receive(timeout=0) == ("init ran", pid, "announcer")


def test_a_failed_start_releases_the_name() -> None:
    with pytest.raises(StartError):
        InitReturns.start_link((self_pid(), Stop("no_config")), name="config")

    assert whereis("config") is None
    assert Stack.start_link([], name="config") == whereis("config")


def test_a_taken_name_raises_already_started_with_the_pid_that_holds_it() -> None:
    first = Announcer.start_link(self_pid(), name="only")
    receive(("init ran", first, "only"), timeout=WAIT)

    with pytest.raises(AlreadyStartedError) as info:
        Announcer.start_link(self_pid(), name="only")

    assert info.value.pid == first
    assert info.value.name == "only"
    assert info.value.reason == ("already_started", first)
    assert isinstance(info.value, StartError)
    assert receive(("init ran", ANY, ANY), timeout=0, default=None) is None  # no 2nd init
    assert whereis("only") == first


def test_a_name_held_by_a_plain_process_counts_as_taken() -> None:
    holder = spawn(receive)
    register("taken", holder)

    with pytest.raises(AlreadyStartedError) as info:
        Stack.start_link([], name="taken")

    assert info.value.pid == holder


def test_a_via_name_registers_and_reaches_the_server_by_call_cast_and_send() -> None:
    table: dict[str, Pid] = {}
    via = DictVia(table, "announcer")

    pid = Announcer.start_link(self_pid(), name=via)
    receive(("init ran", pid, None), timeout=WAIT)

    assert table == {"announcer": pid}
    assert gs.whereis(via) == pid
    assert call(via, "hello") == ("got", "hello")
    cast(via, "a cast")
    assert receive(("cast", ANY), timeout=WAIT) == ("cast", "a cast")
    send(via, "a message")
    assert receive(("info", ANY), timeout=WAIT) == ("info", "a message")


def test_a_taken_via_name_raises_already_started() -> None:
    table: dict[str, Pid] = {}
    first = Stack.start_link([], name=DictVia(table, "stack"))

    with pytest.raises(AlreadyStartedError) as info:
        Stack.start_link([], name=DictVia(table, "stack"))

    assert info.value.pid == first


def test_a_via_name_is_released_when_the_server_stops() -> None:
    table: dict[str, Pid] = {}
    pid = Stack.start_link([], name=DictVia(table, "stack"))

    gs.stop(pid)

    assert table == {}


def test_a_name_that_is_neither_str_nor_via_is_refused() -> None:
    with pytest.raises(StartError) as info:
        Stack.start_link([], name=42)

    assert info.value.reason == "badarg"


def test_child_spec_starts_the_class_with_its_argument() -> None:
    spec = Stack.child_spec(["x"], restart="temporary")

    assert spec == {"id": Stack, "start": (Stack.start_link, (["x"],), {}), "restart": "temporary"}


# -- call -----------------------------------------------------------------------------


def test_call_returns_the_reply() -> None:
    pid = Stack.start_link(["hello", "world"])

    assert call(pid, "pop") == "hello"
    assert call(pid, "pop") == "world"


def test_call_leaves_the_callers_other_messages_in_order() -> None:
    pid = Stack.start_link(["x"])
    send(self_pid(), "first")
    send(self_pid(), "second")

    call(pid, "pop")

    assert receive(timeout=0) == "first"
    assert receive(timeout=0) == "second"


def test_a_call_leaves_no_monitor_and_no_message_behind() -> None:
    pid = Stack.start_link(["x"])

    call(pid, "pop")

    info = process_info(self_pid())
    assert info.monitors == frozenset()
    assert info.message_queue_len == 0
    assert process_info(pid).monitored_by == frozenset()


def test_no_reply_then_reply_from_a_later_message_answers_the_call() -> None:
    pid = Deferred.start_link()

    assert call(pid, ("double", 21)) == 42


def call_and_report(test: Pid, server: Pid, request: Any) -> None:
    send(test, ("answered", call(server, request, timeout=WAIT)))


def test_a_server_can_hold_calls_and_answer_them_later() -> None:
    pid = Waiter.start_link(self_pid())
    for n in (1, 2):
        spawn(call_and_report, self_pid(), pid, "wait")
        receive(("holding", n), timeout=WAIT)

    cast(pid, "go")

    answers = {receive(("answered", ANY), timeout=WAIT)[1] for _ in range(2)}
    assert answers == {("go", 0), ("go", 1)}


def test_call_to_a_dead_pid_raises_noproc() -> None:
    pid = Stack.start_link([])
    gs.stop(pid)

    with pytest.raises(CallError) as info:
        call(pid, "pop")

    assert info.value.reason == "noproc"
    assert info.value.server == pid
    assert info.value.request == "pop"


def test_call_to_an_unregistered_name_raises_noproc() -> None:
    with pytest.raises(CallError) as info:
        call("nobody", "pop")

    assert info.value.reason == "noproc"
    assert info.value.server == "nobody"
    assert str(info.value) == "call to 'nobody' failed ('noproc'); request was 'pop'"


def test_call_to_a_server_that_crashes_raises_call_error_with_the_exception() -> None:
    pid, ref = start_probe()
    error = ValueError("boom")

    with pytest.raises(CallError) as info:
        call(pid, ("raise", error))

    assert info.value.reason is error
    assert wait_down(ref).reason is error


def test_call_to_a_server_that_crashes_leaves_no_down_behind() -> None:
    pid, ref = start_probe()

    with pytest.raises(CallError):
        call(pid, ("raise", ValueError("boom")))
    wait_down(ref)
    receive(TERMINATED, timeout=WAIT)

    assert mailbox_len() == 0


def test_call_to_a_server_killed_during_the_call_raises_killed() -> None:
    pid, _ = start_probe()

    with pytest.raises(CallError) as info:
        call(pid, "kill myself")

    assert info.value.reason == "killed"


def test_call_timeout_raises_call_timeout() -> None:
    pid, _ = start_probe()

    with pytest.raises(CallTimeout) as info:
        call(pid, ("sleep then reply", 0.2, "late"), timeout=0.05)

    assert info.value.reason == "timeout"
    assert isinstance(info.value, CallError)
    assert isinstance(info.value, TimeoutError)


def test_a_late_reply_never_reaches_the_caller() -> None:
    pid = Probe.start_link(self_pid())

    with pytest.raises(CallTimeout):
        call(pid, ("sleep then reply", 0.2, "late"), timeout=0.05)
    assert receive(("replied", "late"), timeout=WAIT) == ("replied", "late")

    assert mailbox_len() == 0
    assert process_info(self_pid()).monitors == frozenset()


def test_the_server_lives_on_after_a_call_timed_out() -> None:
    pid, _ = start_probe()

    with pytest.raises(CallTimeout):
        call(pid, ("sleep then reply", 0.2, "late"), timeout=0.05)

    assert call(pid, "ping") == "pong"


def test_calling_yourself_raises_calling_self() -> None:
    pid, _ = start_probe()

    assert call(pid, "call myself") == ("refused", "calling_self")


def test_stop_with_reply_answers_the_call_then_stops() -> None:
    pid, ref = start_probe()

    assert call(pid, ("stop replying", "normal", "bye")) == "bye"

    assert wait_down(ref).reason == "normal"
    assert receive(TERMINATED, timeout=0)[1] == "normal"


def test_a_call_answered_just_before_the_server_exits_leaves_no_down_behind() -> None:
    pid, ref = start_probe()

    call(pid, ("stop replying", "normal", "bye"))
    wait_down(ref)
    receive(TERMINATED, timeout=0)

    assert mailbox_len() == 0


def test_stop_without_reply_fails_the_call_with_the_stop_reason() -> None:
    pid, _ = start_probe()

    with pytest.raises(CallError) as info:
        call(pid, ("stop", "normal"))

    assert info.value.reason == "normal"


# -- cast and info --------------------------------------------------------------------


def test_cast_returns_none_without_waiting_and_the_server_handles_it() -> None:
    pid = Stack.start_link([])

    assert cast(pid, ("push", 1)) is None
    assert process_info(pid).message_queue_len == 1  # not handled yet: cast never blocks
    assert call(pid, "peek") == [1]


def test_casts_from_one_client_are_handled_in_order() -> None:
    pid = Stack.start_link([])
    for n in range(5):
        cast(pid, ("push", n))

    assert call(pid, "peek") == [4, 3, 2, 1, 0]


def test_cast_to_a_name_that_is_not_registered_is_dropped() -> None:
    assert cast("nobody", ("push", 1)) is None
    assert cast(DictVia({}, "nobody"), ("push", 1)) is None


def test_plain_messages_go_to_handle_info() -> None:
    pid = Announcer.start_link(self_pid())
    receive(("init ran", ANY, ANY), timeout=WAIT)

    send(pid, {"any": "term"})

    assert receive(timeout=WAIT) == ("info", {"any": "term"})


def test_an_unexpected_message_is_logged_and_ignored(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="beamlike.gen_server")
    pid = Stack.start_link(["x"])

    send(pid, "hello?")

    assert call(pid, "peek") == ["x"]
    records = [r for r in caplog.records if r.name == "beamlike.gen_server"]
    assert [r.getMessage() for r in records] == [
        f"Stack {pid!r} received an unexpected message: 'hello?'"
    ]
    assert records[0].levelno == logging.WARNING


def test_an_unexpected_call_stops_the_server_and_fails_the_call() -> None:
    pid = Stack.start([])
    ref = monitor(pid)

    with pytest.raises(CallError) as info:
        call(pid, "size")

    reason = info.value.reason
    assert isinstance(reason, BeamlikeError)
    assert str(reason) == "Stack got call 'size' but defines no handle_call for it"
    assert wait_down(ref).reason is reason


def test_an_unexpected_cast_stops_the_server() -> None:
    pid = Stack.start([])
    ref = monitor(pid)

    cast(pid, ("shuffle", None))

    reason = wait_down(ref).reason
    assert isinstance(reason, BeamlikeError)
    assert str(reason) == "Stack got cast ('shuffle', None) but defines no handle_cast for it"


# -- timeouts and continue ------------------------------------------------------------


def test_reply_with_timeout_runs_handle_info_timeout_when_nothing_arrives() -> None:
    pid = Idle.start_link((self_pid(), None))

    assert call(pid, ("arm", 0.05)) == "armed"

    assert receive(("handle_info", ANY), timeout=WAIT) == ("handle_info", "timeout")


def test_ok_with_timeout_runs_handle_info_timeout_after_init() -> None:
    Idle.start_link((self_pid(), 0.05))

    assert receive(("handle_info", ANY), timeout=WAIT) == ("handle_info", "timeout")


def test_a_message_that_arrives_in_time_cancels_the_timeout() -> None:
    pid = Idle.start_link((self_pid(), None))
    call(pid, ("arm", 0.2))

    cast(pid, "poke")  # its NoReply has no timeout

    assert receive(("handle_info", ANY), timeout=0.4, default=None) is None


def test_continue_runs_after_init_before_the_first_message() -> None:
    pid = Warmup.start_link()

    assert call(pid, "log") == ["init", "continue warm up"]


def test_continue_runs_before_the_next_message_already_queued() -> None:
    pid = Warmup.start_link()
    cast(pid, "a")
    cast(pid, "b")  # queued before "a" is handled

    assert call(pid, "log") == [
        "init",
        "continue warm up",
        "cast a",
        "continue after a",
        "cast b",
        "continue after b",
    ]


def test_continue_without_handle_continue_stops_the_server() -> None:
    process_flag("trap_exit", True)

    pid = InitReturns.start_link((self_pid(), Ok(0, continue_="load")))

    reason = receive(Exit(pid, ANY), timeout=WAIT).reason
    assert isinstance(reason, BeamlikeError)
    assert str(reason) == "InitReturns asked to continue with 'load' but defines no handle_continue"


# -- terminate ------------------------------------------------------------------------


def test_stop_from_a_callback_runs_terminate_with_the_reason_and_new_state() -> None:
    pid, ref = start_probe()

    with pytest.raises(CallError):
        call(pid, ("stop with state", "done", 7))

    assert wait_down(ref).reason == "done"
    assert receive(TERMINATED, timeout=0) == (
        "terminate",
        "done",
        {"parent": self_pid(), "extra": 7},
    )
    assert no_more_terminate()


def test_stop_from_handle_cast_runs_terminate() -> None:
    pid, ref = start_probe()

    cast(pid, ("stop", ("shutdown", "bye")))

    assert wait_down(ref).reason == ("shutdown", "bye")
    assert receive(TERMINATED, timeout=0)[1] == ("shutdown", "bye")


def test_gen_server_stop_runs_terminate_and_returns_once_the_server_exited() -> None:
    pid = Probe.start(self_pid(), name="probe")  # not linked: "shutdown" would reach us

    assert gs.stop("probe", "shutdown") is None

    assert not is_alive(pid)
    assert whereis("probe") is None
    assert receive(TERMINATED, timeout=0) == (
        "terminate",
        "shutdown",
        {"parent": self_pid()},
    )


def test_gen_server_stop_defaults_to_reason_normal() -> None:
    pid, ref = start_probe()

    gs.stop(pid)

    assert wait_down(ref).reason == "normal"
    assert receive(TERMINATED, timeout=0)[1] == "normal"


def test_gen_server_stop_of_a_server_that_is_not_running_raises_noproc() -> None:
    with pytest.raises(CallError) as info:
        gs.stop("nobody")

    assert info.value.reason == "noproc"


def start_under_a_parent(test: Pid, cls: type[Probe]) -> None:
    """Start ``cls`` linked to this process, tell the test, exit when told to."""
    pid = cls.start_link(test)
    send(test, ("started", pid))
    raise ProcessExit(receive(("exit", ANY))[1])


def start_server_under_a_parent(cls: type[Probe]) -> tuple[Pid, Pid, Ref]:
    parent = spawn(start_under_a_parent, self_pid(), cls)
    _, pid = receive(("started", ANY), timeout=WAIT)
    return parent, pid, monitor(pid)


def test_terminate_runs_when_the_parent_exits_and_the_server_traps_exits() -> None:
    parent, pid, ref = start_server_under_a_parent(TrapsExits)

    send(parent, ("exit", "shutdown"))

    assert wait_down(ref).reason == "shutdown"
    assert receive(TERMINATED, timeout=0)[1] == "shutdown"


def test_terminate_does_not_run_when_the_parent_exits_and_the_server_does_not_trap() -> None:
    parent, pid, ref = start_server_under_a_parent(Probe)

    send(parent, ("exit", "shutdown"))

    assert wait_down(ref).reason == "shutdown"
    assert no_more_terminate()


def link_then_exit(pid: Pid, reason: Any) -> None:
    beamlike.link(pid)
    raise ProcessExit(reason)


def test_an_exit_message_from_a_linked_process_that_is_not_the_parent_goes_to_handle_info() -> None:
    pid = TrapsExits.start(self_pid())

    other = spawn(link_then_exit, pid, "bye")

    assert receive(("handle_info", ANY), timeout=WAIT) == ("handle_info", Exit(other, "bye"))
    assert call(pid, "ping") == "pong"


def test_terminate_does_not_run_when_the_server_is_killed() -> None:
    pid, ref = start_probe(TrapsExits)

    beamlike.exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    assert no_more_terminate()


def test_a_callback_exception_runs_terminate_and_becomes_the_exit_reason() -> None:
    pid, ref = start_probe()
    error = ValueError("boom")

    cast(pid, ("raise", error))

    assert wait_down(ref).reason is error
    assert receive(TERMINATED, timeout=0)[1] is error
    assert no_more_terminate()


def test_a_callback_exception_is_logged_once_as_a_crash_report(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.crash")
    pid, ref = start_probe()

    send(pid, ("raise", ValueError("boom from handle_info")))
    wait_down(ref)

    records = crash_records(caplog)
    assert len(records) == 1
    assert str(pid) in records[0].getMessage()
    assert "ValueError: boom from handle_info" in logging.Formatter().format(records[0])


@pytest.mark.parametrize(
    "reason",
    ["normal", "shutdown", ("shutdown", "bye")],
    ids=["normal", "shutdown", "shutdown-tuple"],
)
def test_stop_with_a_clean_reason_logs_no_crash_report(caplog, reason: Any) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.crash")
    pid, ref = start_probe()

    cast(pid, ("stop", reason))

    assert wait_down(ref).reason == reason
    assert crash_records(caplog) == []


def test_stop_with_another_reason_logs_one_crash_report(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.crash")
    pid, ref = start_probe()

    cast(pid, ("stop", "disk_full"))
    wait_down(ref)

    (record,) = crash_records(caplog)
    assert str(pid) in record.getMessage()
    assert "'disk_full'" in record.getMessage()


def test_stop_with_an_exception_as_reason_logs_one_crash_report(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.crash")
    pid, ref = start_probe()

    cast(pid, ("stop", ValueError("give up")))
    wait_down(ref)

    assert len(crash_records(caplog)) == 1


def test_terminate_runs_once_when_stop_carries_an_exception_as_reason() -> None:
    pid, ref = start_probe()
    error = ValueError("give up")

    cast(pid, ("stop", error))

    assert wait_down(ref).reason is error
    assert receive(TERMINATED, timeout=0)[1] is error
    assert no_more_terminate()


def test_terminate_runs_once_when_terminate_itself_raises() -> None:
    pid, ref = start_probe(TerminateRaises)

    cast(pid, ("stop", "done"))

    reason = wait_down(ref).reason
    assert isinstance(reason, RuntimeError)
    assert str(reason) == "terminate failed"
    assert receive(TERMINATED, timeout=0)[1] == "done"
    assert no_more_terminate()


# -- bad returns ----------------------------------------------------------------------


def test_handle_call_returning_something_else_stops_the_server_with_bad_return() -> None:
    pid, ref = start_probe()

    with pytest.raises(CallError) as info:
        call(pid, ("return", 42))

    reason = info.value.reason
    assert isinstance(reason, BadReturn)
    assert reason.callback == "handle_call"
    assert reason.value == 42
    assert str(reason) == "handle_call returned 42; expected Reply, NoReply or Stop"
    assert wait_down(ref).reason is reason


def test_handle_cast_returning_a_reply_stops_the_server_with_bad_return() -> None:
    pid, ref = start_probe()

    cast(pid, ("return", Reply("x", {})))

    reason = wait_down(ref).reason
    assert isinstance(reason, BadReturn)
    assert str(reason) == "handle_cast returned Reply('x', {}); expected NoReply or Stop"


def test_handle_info_returning_none_stops_the_server_with_bad_return() -> None:
    pid, ref = start_probe()

    send(pid, ("return", None))

    reason = wait_down(ref).reason
    assert isinstance(reason, BadReturn)
    assert str(reason) == "handle_info returned None; expected NoReply or Stop"


def test_a_bad_return_runs_terminate_once_with_the_bad_return() -> None:
    pid, ref = start_probe()

    cast(pid, ("return", "oops"))

    reason = wait_down(ref).reason
    assert receive(TERMINATED, timeout=0)[1] is reason
    assert no_more_terminate()


# -- the documentation's example, and scale -------------------------------------------


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_the_stack_example_of_the_docs_runs() -> None:
    (example, *_) = python_blocks(DOCS / "gen_server.md")

    exec(compile(example, str(DOCS / "gen_server.md"), "exec"), {"__name__": "stack_example"})


def test_a_thousand_servers_each_answer_one_call() -> None:
    pids = [Stack.start_link([n]) for n in range(1000)]

    assert [call(pid, "pop") for pid in pids] == list(range(1000))
    assert len(set(pids)) == 1000
