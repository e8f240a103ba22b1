"""sys: look inside a running server, replace its state, suspend, resume and trace it.

System messages are answered by the generic loop between two messages, never by the
user's callbacks, and also while the server is suspended.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from beamlike import (
    ANY,
    BeamlikeError,
    Down,
    Pid,
    ProcessExit,
    Ref,
    monitor,
    process_flag,
    process_info,
    receive,
    self_pid,
    send,
    spawn,
    sys,
)
from beamlike import gen_server as gs
from beamlike.gen_server import CallError, CallTimeout, From, GenServer, NoReply, Ok, Reply

WAIT = 2.0
NOTHING = object()


class Log(GenServer):
    """Appends each cast to its state; ``call(pid, "get")`` returns the state."""

    __vsn__ = "1.0"

    def init(self, items: list[Any]) -> Ok:
        return Ok(list(items))

    def handle_call(self, request: Any, from_: From, state: list[Any]) -> Any:
        if request == "get":
            return Reply(state, state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: list[Any]) -> NoReply:
        return NoReply([*state, request])


class ReportsTerminate(GenServer):
    """Traps exits; its state is the test process, told of terminate."""

    def init(self, test: Pid) -> Ok:
        process_flag("trap_exit", True)
        return Ok(test)

    def terminate(self, reason: Any, test: Pid) -> None:
        send(test, ("terminate", reason))


def wait_down(ref: Ref) -> Down:
    return receive(Down(ref, ANY, ANY), timeout=WAIT)


def mailbox_len() -> int:
    return process_info(self_pid()).message_queue_len


# -- get_state, replace_state ---------------------------------------------------------


def test_get_state_returns_the_state() -> None:
    pid = Log.start_link(["a"])

    assert sys.get_state(pid) == ["a"]


def test_get_state_comes_after_the_messages_sent_before_it() -> None:
    pid = Log.start_link([])
    gs.cast(pid, "a")
    gs.cast(pid, "b")

    assert sys.get_state(pid) == ["a", "b"]


def test_get_state_accepts_a_registered_name() -> None:
    Log.start_link(["a"], name="log")

    assert sys.get_state("log") == ["a"]


def test_get_state_of_a_server_that_is_not_running_raises_noproc() -> None:
    with pytest.raises(CallError) as info:
        sys.get_state("nobody")

    assert info.value.reason == "noproc"


def test_system_messages_never_reach_the_callbacks(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="beamlike.gen_server")
    pid = Log.start_link([])

    sys.get_state(pid)
    sys.get_status(pid)

    assert gs.call(pid, "get") == []
    assert [r for r in caplog.records if r.name == "beamlike.gen_server"] == []


def test_replace_state_returns_the_new_state_and_the_server_goes_on_with_it() -> None:
    pid = Log.start_link(["a"])

    assert sys.replace_state(pid, lambda state: ["z", *state]) == ["z", "a"]

    gs.cast(pid, "b")
    assert gs.call(pid, "get") == ["z", "a", "b"]


def test_replace_state_with_a_function_that_raises_raises_it_and_keeps_the_state() -> None:
    pid = Log.start_link(["a"])
    error = ValueError("no")

    def fail(state: Any) -> Any:
        raise error

    with pytest.raises(ValueError) as info:
        sys.replace_state(pid, fail)

    assert info.value is error
    assert sys.get_state(pid) == ["a"]


def test_replace_state_accepts_any_new_state_even_one_shaped_like_an_error() -> None:
    pid = Log.start_link([])

    assert sys.replace_state(pid, lambda state: ("error", "disk full")) == ("error", "disk full")

    assert sys.get_state(pid) == ("error", "disk full")


def test_replace_state_refuses_something_that_is_not_a_function() -> None:
    pid = Log.start_link(["a"])

    with pytest.raises(BeamlikeError) as info:
        sys.replace_state(pid, ["b"])  # type: ignore[arg-type]

    assert str(info.value) == "replace_state expects a function of the state; got ['b']"
    assert sys.get_state(pid) == ["a"]


# -- suspend, resume ------------------------------------------------------------------


def test_a_call_to_a_suspended_server_times_out() -> None:
    pid = Log.start_link([])

    sys.suspend(pid)

    with pytest.raises(CallTimeout):
        gs.call(pid, "get", timeout=0.05)


def test_a_suspended_server_still_answers_system_messages() -> None:
    pid = Log.start_link(["a"])

    sys.suspend(pid)

    assert sys.get_state(pid) == ["a"]
    assert sys.get_status(pid)["suspended"] is True


def test_messages_sent_to_a_suspended_server_wait_in_order_and_run_after_resume() -> None:
    pid = Log.start_link([])
    sys.suspend(pid)

    for item in ("a", "b", "c"):
        gs.cast(pid, item)

    assert sys.get_state(pid) == []
    assert process_info(pid).message_queue_len == 3
    sys.resume(pid)
    assert gs.call(pid, "get") == ["a", "b", "c"]


def test_a_resumed_server_answers_calls_again() -> None:
    pid = Log.start_link(["a"])
    sys.suspend(pid)

    sys.resume(pid)

    assert gs.call(pid, "get", timeout=WAIT) == ["a"]
    assert sys.get_status(pid)["suspended"] is False


def test_a_call_that_timed_out_while_suspended_is_answered_after_resume_but_dropped() -> None:
    pid = Log.start_link([])
    sys.suspend(pid)
    with pytest.raises(CallTimeout):
        gs.call(pid, "get", timeout=0.05)

    sys.resume(pid)
    gs.call(pid, "get")  # handled after the timed-out one

    assert mailbox_len() == 0


def test_a_suspended_server_can_be_stopped() -> None:
    pid = ReportsTerminate.start(self_pid())
    ref = monitor(pid)
    sys.suspend(pid)

    gs.stop(pid, "shutdown")

    assert wait_down(ref).reason == "shutdown"
    assert receive(("terminate", ANY), timeout=0) == ("terminate", "shutdown")


def start_under_a_parent(test: Pid) -> None:
    """Start a ReportsTerminate linked to this process, tell the test, exit when told."""
    pid = ReportsTerminate.start_link(test)
    send(test, ("started", pid))
    raise ProcessExit(receive(("exit", ANY))[1])


def test_a_suspended_server_still_terminates_when_its_parent_exits() -> None:
    parent = spawn(start_under_a_parent, self_pid())
    _, pid = receive(("started", ANY), timeout=WAIT)
    ref = monitor(pid)
    sys.suspend(pid)

    send(parent, ("exit", "shutdown"))

    assert wait_down(ref).reason == "shutdown"
    assert receive(("terminate", ANY), timeout=0) == ("terminate", "shutdown")


# -- trace, get_status ----------------------------------------------------------------


def trace_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What ``sys.trace`` logged about the server's own messages (system messages aside)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "beamlike.sys" and "System(" not in r.getMessage()
    ]


def test_trace_logs_each_message_the_server_gets_with_its_state(caplog) -> None:
    caplog.set_level(logging.INFO, logger="beamlike.sys")
    pid = Log.start_link([])

    sys.trace(pid, True)
    gs.cast(pid, "a")
    gs.cast(pid, "b")
    sys.get_state(pid)

    assert trace_lines(caplog) == [
        f"{pid!r} got Cast('a') (state [])",
        f"{pid!r} got Cast('b') (state ['a'])",
    ]
    assert {r.levelno for r in caplog.records if r.name == "beamlike.sys"} == {logging.INFO}


def test_trace_off_stops_the_logging(caplog) -> None:
    caplog.set_level(logging.INFO, logger="beamlike.sys")
    pid = Log.start_link([])
    sys.trace(pid, True)
    gs.cast(pid, "a")

    sys.trace(pid, False)
    gs.cast(pid, "b")
    sys.get_state(pid)

    assert trace_lines(caplog) == [f"{pid!r} got Cast('a') (state [])"]


def test_get_status_describes_the_server() -> None:
    pid = Log.start_link(["a"], name="log")

    assert sys.get_status(pid) == {
        "pid": pid,
        "module": Log,
        "vsn": "1.0",
        "state": ["a"],
        "suspended": False,
        "parent": self_pid(),
        "name": "log",
    }


def test_the_example_of_the_docs_runs() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "sys_and_code.md"
    (example, *_) = re.findall(r"```python\n(.*?)```", docs.read_text(), flags=re.DOTALL)

    exec(compile(example, str(docs), "exec"), {"__name__": "sys_example"})
