"""Tasks: async_/await_, yield_, shutdown, ignore, async_stream, TaskSupervisor.

The test body is a process (the owner of the tasks it starts). Where a crash must travel
through a link, a separate *caller* process owns the task and the test watches it with
a monitor; where the test body itself must survive a linked crash, it traps exits.
Slow tasks sleep with ``beamlike.sleep`` (at most 0.2 s).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from beamlike import (
    ANY,
    BadArgument,
    BadArgumentType,
    Down,
    Exit,
    Pid,
    ProcessExit,
    demonitor,
    dynamic_supervisor,
    exit,
    is_alive,
    monitor,
    process_flag,
    process_info,
    processes,
    receive,
    self_pid,
    send,
    sleep,
    spawn,
    spawn_monitor,
)
from beamlike import task as task_module
from beamlike.dynamic_supervisor import MaxChildrenError
from beamlike.gen_server import From, GenServer, NoReply, Ok, call, reply
from beamlike.supervisor import Supervisor, which_children
from beamlike.task import (
    Task,
    TaskExit,
    TaskSupervisor,
    TaskTimeout,
    async_,
    async_stream,
    await_,
    await_many,
    child_spec,
    ignore,
    shutdown,
    start,
    start_link,
    yield_,
    yield_many,
)

WAIT = 2.0
NOTHING = object()
DOCS = Path(__file__).resolve().parents[1] / "docs"


# -- task functions ------------------------------------------------------------------


def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


def late(value: Any, seconds: float) -> Any:
    sleep(seconds)
    return value


def crash(text: str) -> None:
    raise ValueError(text)


def crash_later(text: str, seconds: float) -> None:
    sleep(seconds)
    raise ValueError(text)


def exit_normal_without_reply() -> None:
    raise ProcessExit("normal")


def trap_and_hang(parent: Pid) -> None:
    process_flag("trap_exit", True)
    send(parent, ("trapping", self_pid()))
    while True:
        receive()


def report(parent: Pid, item: Any) -> Any:
    """A stream task that tells the test when it starts and ends."""
    send(parent, ("start", item, self_pid()))
    sleep(0.02)
    send(parent, ("end", item, self_pid()))
    return item


def late_send(parent: Pid, message: Any, seconds: float) -> None:
    sleep(seconds)
    send(parent, message)


def crash_on_command(parent: Pid) -> None:
    """Reports ("run", pid), then crashes on "crash" or returns on "stop"."""
    send(parent, ("run", self_pid()))
    if receive() == "crash":
        raise ValueError("asked to")


def nap(seconds: float) -> float:
    sleep(seconds)
    return seconds


def drain() -> list[Any]:
    """Every message left in the caller's mailbox."""
    found = []
    while (message := receive(timeout=0, default=NOTHING)) is not NOTHING:
        found.append(message)
    return found


def is_crash(reason: Any, text: str) -> bool:
    return reason.__class__ is ValueError and reason.args == (text,)


# -- async_ and await_ ---------------------------------------------------------------


def test_await_returns_what_the_function_returned() -> None:
    task = async_(add, 2, 3, times=4)
    assert await_(task) == 20


def test_a_task_records_its_pid_monitor_and_owner() -> None:
    task = async_(late, "x", 0.05)
    info = process_info(task.pid)
    assert info is not None
    assert task.owner == self_pid()
    assert info.links == frozenset({self_pid()})
    assert info.monitored_by == frozenset({self_pid()})
    assert await_(task) == "x"


def test_the_reply_is_a_ref_value_message_followed_by_a_normal_down() -> None:
    task = async_(add, 1, 1)
    assert receive((task.ref, ANY), timeout=WAIT) == (task.ref, 2)
    assert receive(Down(task.ref, ANY, ANY), timeout=WAIT) == Down(task.ref, task.pid, "normal")


def test_await_leaves_no_message_behind() -> None:
    task = async_(add, 1, 1)
    assert await_(task) == 2
    watch = monitor(task.pid)  # wait until the task has exited
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert drain() == []  # neither its reply nor the Down of the task's own monitor


def test_a_task_given_a_function_name_runs_it() -> None:
    task = async_("operator:add", 2, 5)
    assert await_(task) == 7


def test_await_of_a_crashed_task_raises_task_exit_with_the_exception() -> None:
    process_flag("trap_exit", True)
    task = async_(crash, "boom")
    with pytest.raises(TaskExit) as caught:
        await_(task)
    assert is_crash(caught.value.reason, "boom")
    assert caught.value.task == task
    exit_message = receive(Exit(task.pid, ANY), timeout=WAIT)
    assert is_crash(exit_message.reason, "boom")


def test_a_crashing_task_takes_its_owner_down_through_the_link() -> None:
    def caller() -> None:
        await_(async_(crash, "boom"))

    pid, ref = spawn_monitor(caller)
    down = receive(Down(ref, ANY, ANY), timeout=WAIT)
    assert down.pid == pid
    assert is_crash(down.reason, "boom")


def test_an_owner_that_dies_takes_its_tasks_down() -> None:
    parent = self_pid()

    def caller() -> None:
        task = async_(late, "never", 5.0)
        send(parent, ("task", task.pid))
        receive("go")
        raise ProcessExit("gone")

    caller_pid = spawn(caller)
    _, task_pid = receive(("task", ANY), timeout=WAIT)
    ref = monitor(task_pid)
    send(caller_pid, "go")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT) == Down(ref, task_pid, "gone")


def test_await_timeout_raises_task_timeout_and_leaves_the_task_running() -> None:
    task = async_(late, "late", 0.1)
    with pytest.raises(TaskTimeout) as caught:
        await_(task, 0.02)
    assert caught.value.reason == "timeout"
    assert caught.value.task == task
    assert isinstance(caught.value, TimeoutError)
    assert is_alive(task.pid)
    watch = monitor(task.pid)
    assert receive(Down(watch, ANY, ANY), timeout=WAIT).reason == "normal"
    assert drain() == []  # its late reply was dropped, and no Down of the task's monitor


def test_a_task_timed_out_in_await_can_be_shut_down() -> None:
    task = async_(late, "late", 0.2)
    with pytest.raises(TaskTimeout):
        await_(task, 0.01)
    assert shutdown(task) is None
    assert not is_alive(task.pid)


def test_only_the_owner_may_await_a_task() -> None:
    parent = self_pid()
    task = async_(late, "x", 0.05)

    def other() -> None:
        try:
            await_(task)
        except BadArgument as exc:
            send(parent, ("refused", str(exc)))

    other_pid = spawn(other)
    _, text = receive(("refused", ANY), timeout=WAIT)
    assert text == (
        f"task {task!r} must be queried from its owner {parent!r} but was queried from "
        f"{other_pid!r}"
    )
    assert await_(task) == "x"


def test_await_refuses_what_is_not_a_task() -> None:
    with pytest.raises(BadArgumentType):
        await_(self_pid())  # type: ignore[arg-type]


def test_await_refuses_a_negative_timeout_before_waiting() -> None:
    task = async_(add, 1, 2)
    with pytest.raises(BadArgument):
        await_(task, -1)
    assert await_(task) == 3


# -- yield_, ignore ------------------------------------------------------------------


def test_yield_returns_none_while_the_task_runs_then_its_value() -> None:
    task = async_(late, "v", 0.05)
    assert yield_(task, 0) is None
    assert yield_(task, WAIT) == ("ok", "v")


def test_yield_returns_exit_with_the_reason_of_a_crashed_task() -> None:
    process_flag("trap_exit", True)
    task = async_(crash, "boom")
    result = yield_(task, WAIT)
    assert result is not None and result[0] == "exit"
    assert is_crash(result[1], "boom")


def test_yield_returns_exit_normal_for_a_task_that_exited_without_replying() -> None:
    task = async_(exit_normal_without_reply)
    assert yield_(task, WAIT) == ("exit", "normal")


def test_ignore_unlinks_the_task_and_drops_its_late_reply() -> None:
    task = async_(late, "v", 0.05)
    assert ignore(task) is None
    info = process_info(task.pid)
    assert info is not None and info.links == frozenset()
    watch = monitor(task.pid)
    assert receive(Down(watch, ANY, ANY), timeout=WAIT).reason == "normal"
    assert drain() == []


def test_ignore_returns_a_reply_that_already_arrived() -> None:
    task = async_(add, 1, 2)
    watch = monitor(task.pid)
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert ignore(task) == ("ok", 3)


# -- await_many, yield_many ----------------------------------------------------------


def test_await_many_returns_values_in_the_order_of_the_tasks() -> None:
    tasks = [async_(late, i, 0.05 - 0.01 * i) for i in range(5)]  # the last finishes first
    assert await_many(tasks, WAIT) == [0, 1, 2, 3, 4]
    assert drain() == []


def test_await_many_raises_task_timeout_when_one_is_late() -> None:
    fast, slow = async_(late, "fast", 0.0), async_(late, "slow", 0.2)
    with pytest.raises(TaskTimeout) as caught:
        await_many([fast, slow], 0.05)
    assert caught.value.task == slow


def test_await_many_raises_task_exit_when_one_crashed() -> None:
    process_flag("trap_exit", True)
    ok, bad = async_(late, "ok", 0.05), async_(crash, "boom")
    with pytest.raises(TaskExit) as caught:
        await_many([ok, bad], WAIT)
    assert caught.value.task == bad
    assert is_crash(caught.value.reason, "boom")


def test_yield_many_gives_results_in_order_and_none_for_tasks_still_running() -> None:
    process_flag("trap_exit", True)
    tasks = [async_(late, "a", 0.0), async_(late, "b", 0.2), async_(crash, "c")]
    results = yield_many(tasks, 0.05)
    assert [task for task, _ in results] == tasks
    assert results[0][1] == ("ok", "a")
    assert results[1][1] is None
    assert results[2][1] is not None and results[2][1][0] == "exit"
    assert is_crash(results[2][1][1], "c")
    assert is_alive(tasks[1].pid)
    assert yield_(tasks[1], WAIT) == ("ok", "b")


def test_yield_many_with_kill_task_kills_the_tasks_still_running() -> None:
    fast, slow = async_(late, "fast", 0.0), async_(late, "slow", 0.2)
    results = yield_many([fast, slow], 0.05, on_timeout="kill_task")
    assert results == [(fast, ("ok", "fast")), (slow, None)]
    assert not is_alive(slow.pid)


def test_yield_many_returns_once_limit_tasks_have_a_result() -> None:
    fast, slow = async_(late, "fast", 0.0), async_(late, "slow", 0.2)
    results = yield_many([fast, slow], WAIT, limit=1)
    assert results == [(fast, ("ok", "fast")), (slow, None)]
    assert is_alive(slow.pid)
    assert shutdown(slow, "brutal_kill") is None


# -- shutdown ------------------------------------------------------------------------


def test_shutdown_stops_a_running_task_with_reason_shutdown() -> None:
    task = async_(late, "never", 5.0)
    watch = monitor(task.pid)
    assert shutdown(task) is None
    assert receive(Down(watch, ANY, ANY), timeout=0) == Down(watch, task.pid, "shutdown")
    assert drain() == []


def test_shutdown_returns_the_reply_that_arrived_before() -> None:
    task = async_(add, 20, 22)
    watch = monitor(task.pid)
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert shutdown(task) == ("ok", 42)
    assert drain() == []


def test_shutdown_returns_exit_for_a_task_that_had_crashed() -> None:
    process_flag("trap_exit", True)
    task = async_(crash, "boom")
    watch = monitor(task.pid)
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    result = shutdown(task)
    assert result is not None and result[0] == "exit"
    assert is_crash(result[1], "boom")


def test_shutdown_kills_a_task_that_ignores_it_after_the_timeout() -> None:
    task = async_(trap_and_hang, self_pid())
    receive(("trapping", task.pid), timeout=WAIT)
    assert shutdown(task, 0.05) == ("exit", "killed")
    assert not is_alive(task.pid)


def test_shutdown_brutal_kill_kills_at_once_and_spares_the_owner() -> None:
    task = async_(trap_and_hang, self_pid())
    receive(("trapping", task.pid), timeout=WAIT)
    watch = monitor(task.pid)
    assert shutdown(task, "brutal_kill") is None
    assert receive(Down(watch, ANY, ANY), timeout=0).reason == "killed"
    assert drain() == []  # the owner lives on: the task was unlinked first


def test_shutdown_unlinks_so_a_trapping_owner_gets_no_exit_message() -> None:
    process_flag("trap_exit", True)
    task = async_(late, "never", 5.0)
    assert shutdown(task) is None
    assert drain() == []


def test_shutdown_refuses_a_bad_timeout() -> None:
    task = async_(add, 1, 1)
    with pytest.raises(BadArgumentType):
        shutdown(task, "soon")
    assert await_(task) == 2


# -- start, start_link, child_spec ---------------------------------------------------


def test_start_runs_a_task_that_is_not_linked() -> None:
    pid = start(send, self_pid(), "hello")
    assert receive("hello", timeout=WAIT) == "hello"
    assert not is_alive(pid)


def test_start_link_links_the_task_to_the_caller() -> None:
    pid = start_link(late, None, 0.05)
    info = process_info(pid)
    assert info is not None and info.links == frozenset({self_pid()})


def test_child_spec_starts_a_temporary_linked_task() -> None:
    spec = child_spec(add, 1, 2, id="adder")
    assert spec == {"id": "adder", "start": (start_link, (add, 1, 2), {}), "restart": "temporary"}


# -- async_stream --------------------------------------------------------------------


def test_async_stream_yields_results_in_input_order() -> None:
    delays = [0.05, 0.04, 0.03, 0.02, 0.01]  # the last one finishes first
    results = list(async_stream(delays, nap, max_concurrency=5))
    assert results == [("ok", d) for d in delays]
    assert drain() == []


def test_async_stream_unordered_yields_results_as_tasks_finish() -> None:
    delays = [0.06, 0.0, 0.03]
    results = list(async_stream(delays, nap, max_concurrency=3, ordered=False))
    assert results == [("ok", 0.0), ("ok", 0.03), ("ok", 0.06)]


def test_async_stream_runs_at_most_max_concurrency_tasks_at_once() -> None:
    parent = self_pid()
    results = list(async_stream(range(6), lambda i: report(parent, i), max_concurrency=2))
    assert results == [("ok", i) for i in range(6)]
    running = peak = 0
    for kind, _, _ in [receive((ANY, ANY, ANY), timeout=0) for _ in range(12)]:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2
    assert drain() == []


def test_async_stream_starts_nothing_until_iterated() -> None:
    parent = self_pid()
    before = len(processes())
    stream = async_stream(range(4), lambda i: report(parent, i), max_concurrency=2)
    assert len(processes()) == before
    assert next(stream) == ("ok", 0)
    stream.close()  # type: ignore[attr-defined]
    starts = [m[1] for m in drain() if m[0] == "start"]
    assert starts == [0, 1]


def test_async_stream_timeout_is_counted_per_task_from_its_start() -> None:
    results = list(async_stream([0.04] * 4, nap, max_concurrency=1, timeout=0.12))
    assert results == [("ok", 0.04)] * 4  # 0.16 s in all


def test_async_stream_timeout_raises_and_kills_the_running_tasks() -> None:
    parent = self_pid()

    def slow(i: int) -> int:
        send(parent, ("started", self_pid()))
        sleep(0.2 if i == 1 else 0.0)
        return i

    stream = async_stream(range(3), slow, max_concurrency=3, timeout=0.05)
    assert next(stream) == ("ok", 0)
    with pytest.raises(TaskTimeout) as caught:
        next(stream)
    assert caught.value.reason == "timeout"
    pids = [receive(("started", ANY), timeout=0)[1] for _ in range(3)]
    assert [is_alive(pid) for pid in pids] == [False, False, False]
    assert drain() == []


def test_async_stream_kill_task_yields_exit_timeout_for_the_late_task() -> None:
    results = list(
        async_stream([0.0, 0.2, 0.0], nap, max_concurrency=3, timeout=0.05, on_timeout="kill_task")
    )
    assert results == [("ok", 0.0), ("exit", "timeout"), ("ok", 0.0)]
    assert drain() == []


def test_async_stream_zip_input_on_exit_pairs_the_item_with_the_reason() -> None:
    results = list(
        async_stream(
            [0.2],
            nap,
            timeout=0.02,
            on_timeout="kill_task",
            zip_input_on_exit=True,
        )
    )
    assert results == [("exit", (0.2, "timeout"))]


def test_a_crashing_stream_task_takes_the_caller_down() -> None:
    def caller() -> None:
        for _ in async_stream(
            ["fine", "boom"], lambda text: crash(text) if text == "boom" else text
        ):
            pass

    _, ref = spawn_monitor(caller)
    assert is_crash(receive(Down(ref, ANY, ANY), timeout=WAIT).reason, "boom")


def test_a_trapping_caller_gets_the_crash_as_an_exit_result() -> None:
    process_flag("trap_exit", True)
    results = list(
        async_stream(["fine", "boom"], lambda text: crash(text) if text == "boom" else text)
    )
    assert results[0] == ("ok", "fine")
    assert results[1][0] == "exit" and is_crash(results[1][1], "boom")
    assert drain() == []  # the links' Exit messages were consumed


def test_breaking_out_of_a_stream_kills_the_running_tasks() -> None:
    parent = self_pid()

    def work(i: int) -> int:
        send(parent, ("started", self_pid()))
        sleep(0.0 if i == 0 else 0.2)
        return i

    for result in async_stream(range(4), work, max_concurrency=3):
        assert result == ("ok", 0)
        break
    pids = [receive(("started", ANY), timeout=0)[1] for _ in range(3)]
    assert [is_alive(pid) for pid in pids] == [False, False, False]
    assert drain() == []


def test_a_failing_item_source_kills_the_running_tasks_and_raises() -> None:
    def items() -> Any:
        yield 0.2
        yield 0.2
        raise KeyError("no more")

    before = set(processes())
    with pytest.raises(KeyError):
        list(async_stream(items(), nap, max_concurrency=3))
    assert set(processes()) == before
    assert drain() == []


def test_killing_the_iterating_process_kills_the_stream_tasks() -> None:
    parent = self_pid()

    def work(i: int) -> int:
        send(parent, ("started", self_pid()))
        sleep(0.2)
        return i

    def caller() -> None:
        list(async_stream(range(2), work, max_concurrency=2))

    caller_pid = spawn(caller)
    watches = [monitor(receive(("started", ANY), timeout=WAIT)[1]) for _ in range(2)]
    exit(caller_pid, "kill")
    assert [receive(Down(ref, ANY, ANY), timeout=WAIT).reason for ref in watches] == [
        "killed",
        "killed",
    ]


def test_a_stream_refuses_to_be_iterated_by_another_process() -> None:
    parent = self_pid()
    stream = async_stream([0.0, 0.0], nap, max_concurrency=1)
    assert next(stream) == ("ok", 0.0)

    def other() -> None:
        try:
            next(stream)
        except BadArgument as exc:
            send(parent, ("refused", str(exc)))

    spawn(other)
    _, text = receive(("refused", ANY), timeout=WAIT)
    assert text == (
        f"an async_stream iterator must be iterated by the process that started it ({parent!r})"
    )


def test_no_reply_alias_outlives_its_task(node: Any) -> None:
    process_flag("trap_exit", True)
    await_(async_(add, 1, 1))
    yield_(async_(crash, "boom"), WAIT)
    timed_out = async_(late, "late", 0.05)
    with pytest.raises(TaskTimeout):
        await_(timed_out, 0.01)
    shutdown(async_(late, "never", 5.0))
    ignored = async_(late, "ignored", 0.01)
    ignore(ignored)
    yield_many([async_(late, "slow", 0.2)], 0.01, on_timeout="kill_task")
    list(async_stream([0.0, 0.2], nap, timeout=0.05, on_timeout="kill_task"))
    sup = TaskSupervisor.start_link()
    await_(TaskSupervisor.async_nolink(sup, add, 1, 1))
    for pid in (timed_out.pid, ignored.pid):  # wait until the late ones have replied
        watch = monitor(pid)
        receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert node.aliases == {}


def test_an_empty_stream_yields_nothing() -> None:
    assert list(async_stream([], nap)) == []


def test_async_stream_rejects_bad_options_at_the_call_site() -> None:
    with pytest.raises(BadArgument):
        async_stream([1], nap, max_concurrency=0)
    with pytest.raises(BadArgument):
        async_stream([1], nap, on_timeout="ignore")
    with pytest.raises(BadArgumentType):
        async_stream([1], nap, ordered="yes")  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType):
        async_stream(5, nap)  # type: ignore[arg-type]
    assert drain() == []


def test_task_values_are_frozen() -> None:
    task = async_(add, 1, 1)
    with pytest.raises(AttributeError):
        task.pid = self_pid()  # type: ignore[misc]
    assert isinstance(task, Task)
    assert await_(task) == 2


# -- TaskSupervisor ------------------------------------------------------------------


def test_async_nolink_crash_comes_back_from_await_and_spares_the_caller() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_nolink(sup, crash, "boom")
    with pytest.raises(TaskExit) as caught:
        await_(task)
    assert is_crash(caught.value.reason, "boom")
    assert drain() == []  # no exit signal reached the (non-trapping) test process


def test_async_nolink_crash_comes_back_from_yield_as_exit() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_nolink(sup, crash_later, "boom", 0.01)
    result = yield_(task, WAIT)
    assert result is not None and result[0] == "exit"
    assert is_crash(result[1], "boom")


def test_async_nolink_returns_the_value_to_await() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_nolink(sup, add, 2, 3, times=2)
    info = process_info(task.pid)
    assert info is not None and info.links == frozenset({sup})
    assert await_(task) == 10


def test_supervised_async_is_linked_to_the_caller_and_the_supervisor() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_(sup, late, "v", 0.05)
    info = process_info(task.pid)
    assert info is not None and info.links == frozenset({sup, self_pid()})
    assert await_(task) == "v"


def test_a_crashing_supervised_async_task_takes_the_caller_down() -> None:
    sup = TaskSupervisor.start_link()

    def caller() -> None:
        await_(TaskSupervisor.async_(sup, crash, "boom"))

    _, ref = spawn_monitor(caller)
    assert is_crash(receive(Down(ref, ANY, ANY), timeout=WAIT).reason, "boom")
    assert TaskSupervisor.children(sup) == []


def test_an_async_nolink_task_outlives_its_owner() -> None:
    parent = self_pid()
    sup = TaskSupervisor.start_link()

    def caller() -> None:
        TaskSupervisor.async_nolink(sup, late_send, parent, "done", 0.02)
        raise ProcessExit("gone")

    _, ref = spawn_monitor(caller)
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "gone"
    assert receive("done", timeout=WAIT) == "done"


def test_children_lists_the_running_tasks() -> None:
    sup = TaskSupervisor.start_link()
    first = TaskSupervisor.async_nolink(sup, late, 1, 0.05)
    second = TaskSupervisor.async_nolink(sup, late, 2, 0.05)
    assert TaskSupervisor.children(sup) == [first.pid, second.pid]
    assert await_many([first, second], WAIT) == [1, 2]
    for pid in (first.pid, second.pid):
        watch = monitor(pid)
        receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert TaskSupervisor.children(sup) == []


def test_start_child_runs_a_task_that_replies_to_nobody() -> None:
    sup = TaskSupervisor.start_link()
    pid = TaskSupervisor.start_child(sup, send, self_pid(), "hello")
    assert receive("hello", timeout=WAIT) == "hello"
    watch = monitor(pid)
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert drain() == []


def test_a_transient_child_is_restarted_after_a_crash_only() -> None:
    sup = TaskSupervisor.start_link()
    TaskSupervisor.start_child(sup, crash_on_command, self_pid(), restart="transient")
    _, first = receive(("run", ANY), timeout=WAIT)
    send(first, "crash")
    _, second = receive(("run", ANY), timeout=WAIT)
    assert second != first
    assert TaskSupervisor.children(sup) == [second]
    watch = monitor(second)
    send(second, "stop")
    assert receive(Down(watch, ANY, ANY), timeout=WAIT).reason == "normal"
    assert TaskSupervisor.children(sup) == []


def test_tasks_are_temporary_by_default() -> None:
    sup = TaskSupervisor.start_link()
    TaskSupervisor.start_child(sup, crash_on_command, self_pid())
    _, pid = receive(("run", ANY), timeout=WAIT)
    watch = monitor(pid)
    send(pid, "crash")
    receive(Down(watch, ANY, ANY), timeout=WAIT)
    assert TaskSupervisor.children(sup) == []  # a restarted one would be listed


def test_max_children_refuses_one_task_too_many() -> None:
    sup = TaskSupervisor.start_link(max_children=1)
    running = TaskSupervisor.async_nolink(sup, late, "v", 0.05)
    with pytest.raises(MaxChildrenError):
        TaskSupervisor.async_nolink(sup, late, "w", 0.05)
    assert await_(running) == "v"


def test_terminate_child_shuts_a_task_down() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_nolink(sup, late, "never", 5.0)
    TaskSupervisor.terminate_child(sup, task.pid)
    assert yield_(task, 0) == ("exit", "shutdown")
    assert TaskSupervisor.children(sup) == []


def test_stopping_the_supervisor_shuts_its_tasks_down() -> None:
    sup = TaskSupervisor.start_link()
    task = TaskSupervisor.async_nolink(sup, late, "never", 5.0)
    dynamic_supervisor.stop(sup)
    assert yield_(task, WAIT) == ("exit", "shutdown")


def test_a_task_supervisor_starts_under_a_supervisor_from_its_child_spec() -> None:
    top = Supervisor.start_link([TaskSupervisor.child_spec(name="tasks")])
    [info] = which_children(top)
    assert info.id == "tasks" and info.type == "supervisor"
    assert await_(TaskSupervisor.async_nolink("tasks", add, 1, 2)) == 3


class Fetcher(GenServer):
    """Starts a task per call and answers the call from handle_info, as Elixir's docs
    recommend for tasks inside a GenServer."""

    def init(self, sup: Any) -> Ok:
        return Ok({"sup": sup, "waiting": {}})

    def handle_call(self, request: Any, from_: From, state: Any) -> NoReply:
        fn, arg = request
        task = TaskSupervisor.async_nolink(state["sup"], fn, arg)
        state["waiting"][task.ref] = from_
        return NoReply(state)

    def handle_info(self, message: Any, state: Any) -> NoReply:
        if message.__class__ is Down:  # a task crashed before replying
            reply(state["waiting"].pop(message.ref), ("crashed", type(message.reason).__name__))
        else:
            ref, value = message
            demonitor(ref, flush=True)
            reply(state["waiting"].pop(ref), ("ok", value))
        return NoReply(state)


def test_a_gen_server_collects_its_tasks_in_handle_info() -> None:
    sup = TaskSupervisor.start_link()
    server = Fetcher.start_link(sup)
    assert call(server, (abs, -42)) == ("ok", 42)
    assert call(server, (crash, "boom")) == ("crashed", "ValueError")
    assert call(server, (abs, -1)) == ("ok", 1)


def test_supervised_async_stream_yields_in_input_order() -> None:
    sup = TaskSupervisor.start_link()
    results = list(TaskSupervisor.async_stream(sup, [0.03, 0.0, 0.01], nap, max_concurrency=3))
    assert results == [("ok", 0.03), ("ok", 0.0), ("ok", 0.01)]
    assert drain() == []


def test_async_stream_nolink_yields_a_crash_without_trapping_exits() -> None:
    sup = TaskSupervisor.start_link()
    results = list(
        TaskSupervisor.async_stream_nolink(
            sup, ["fine", "boom"], lambda text: crash(text) if text == "boom" else text
        )
    )
    assert results[0] == ("ok", "fine")
    assert results[1][0] == "exit" and is_crash(results[1][1], "boom")
    assert drain() == []


def test_closing_a_supervised_stream_kills_its_tasks() -> None:
    sup = TaskSupervisor.start_link()
    stream = TaskSupervisor.async_stream_nolink(
        sup, [0.0, 0.2, 0.2], nap, max_concurrency=3, ordered=False
    )
    assert next(stream) == ("ok", 0.0)
    assert len(TaskSupervisor.children(sup)) == 2
    stream.close()  # type: ignore[attr-defined]
    assert TaskSupervisor.children(sup) == []
    assert drain() == []


# -- the examples ---------------------------------------------------------------------


def test_the_example_of_the_docs_runs() -> None:
    text = (DOCS / "task.md").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert example is not None
    exec(compile(example.group(1), str(DOCS / "task.md"), "exec"), {"__name__": "task_doc"})


def docstring_example(owner: Any) -> str:
    """The indented block after "Example::" in ``owner``'s docstring."""
    lines = inspect.cleandoc(owner.__doc__).split("Example::\n", 1)[1].splitlines()
    block = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_the_example_of_the_module_docstring_runs() -> None:
    code = docstring_example(task_module)
    exec(compile(code, "beamlike.task docstring", "exec"), {"__name__": "task_docstring"})


def test_the_example_of_the_task_supervisor_docstring_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "task_docstring"}
    exec("from beamlike.task import TaskSupervisor, TaskExit, await_", namespace)
    code = docstring_example(TaskSupervisor)
    exec(compile(code, "TaskSupervisor docstring", "exec"), namespace)
