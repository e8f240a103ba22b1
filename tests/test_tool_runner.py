"""run_calls: parallel, bounded, linked tool tasks whose failures become error results."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gevent import monkey

import beamlike
from beamlike import ANY, Down, ProcessExit, exit, is_alive, monitor, receive, self_pid, send, spawn
from elixirchain.errors import ConfigError
from elixirchain.messages import ToolCall, ToolResult
from elixirchain.tools import Tool, ToolBox, ToolContext, ToolTypeError, run_calls, tool

_thread_ident = monkey.get_original("_thread", "get_ident")


# --- tools at module level (offload="process" pickles them by reference) -------------


@tool(offload="process")
def worker_pid(tag: str) -> dict[str, Any]:
    """Where it runs."""
    return {"tag": tag, "pid": os.getpid()}


@tool(offload="thread")
def thread_ident() -> int:
    """Which OS thread runs it."""
    return _thread_ident()


@tool(offload="process")
def spin_forever(marker: str) -> None:
    """Note the worker's pid, then compute for ever."""
    with open(marker, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


class Spinner(Tool):
    """A CPU-bound tool class run in a worker process."""

    name = "spinner"
    parameters = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    offload = "process"

    def execute(self, args: dict[str, Any], context: ToolContext) -> Any:
        return {"sum": sum(range(args["n"])), "call": context.call_id}


# --- helpers ------------------------------------------------------------------------


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(call_id, name, arguments)


def in_process(fn: Callable[[], Any]) -> Any:
    return beamlike.run(fn)


def os_process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def napper() -> Tool:
    @tool
    def nap(seconds: float, label: str = "") -> str:
        """Sleep, then answer the label."""
        beamlike.sleep(seconds)
        return label

    return nap


# --- results ------------------------------------------------------------------------


def test_three_slow_tools_run_in_parallel() -> None:
    box = ToolBox([napper()])
    calls = [call(str(i), "nap", seconds=0.2, label=f"n{i}") for i in range(3)]

    def main() -> tuple[float, tuple[ToolResult, ...]]:
        started = time.monotonic()
        results = run_calls(calls, box, ToolContext())
        return time.monotonic() - started, results

    elapsed, results = in_process(main)
    assert [r.content for r in results] == ["n0", "n1", "n2"]
    assert elapsed < 0.5  # sequentially it would take 0.6 s


def test_results_come_in_the_order_of_the_calls_and_on_result_as_they_arrive() -> None:
    box = ToolBox([napper()])
    calls = [
        call("slow", "nap", seconds=0.15, label="slow"),
        call("fast", "nap", seconds=0.0, label="fast"),
        call("missing", "nope"),
    ]
    seen: list[str] = []

    def main() -> tuple[ToolResult, ...]:
        return run_calls(calls, box, ToolContext(), on_result=lambda r: seen.append(r.call_id))

    results = in_process(main)
    assert [r.call_id for r in results] == ["slow", "fast", "missing"]
    assert seen == ["missing", "fast", "slow"]


def test_a_result_is_the_return_value_or_its_str_when_not_json() -> None:
    @tool
    def structured() -> dict[str, Any]:
        """A dict."""
        return {"a": [1, 2.5, None, True], "b": "x"}

    @tool
    def odd() -> object:
        """A set."""
        return {3}

    results = in_process(
        lambda: run_calls(
            [call("1", "structured"), call("2", "odd")], ToolBox([structured, odd]), ToolContext()
        )
    )
    assert results == (
        ToolResult("1", "structured", {"a": [1, 2.5, None, True], "b": "x"}),
        ToolResult("2", "odd", "{3}"),
    )


def test_each_call_gets_the_context_with_its_own_call_id() -> None:
    @tool
    def who(context: ToolContext) -> list[str]:
        """Who calls."""
        return [context.agent, context.conversation_id, context.turn_id, context.call_id]

    context = ToolContext(agent="a", conversation_id="c", turn_id="t")
    results = in_process(
        lambda: run_calls([call("x1", "who"), call("x2", "who")], ToolBox([who]), context)
    )
    assert [r.content for r in results] == [["a", "c", "t", "x1"], ["a", "c", "t", "x2"]]


def test_an_empty_list_of_calls_gives_no_results() -> None:
    assert in_process(lambda: run_calls([], ToolBox(), ToolContext())) == ()


# --- concurrency --------------------------------------------------------------------


def test_no_more_than_max_concurrency_calls_run_at_once() -> None:
    state = {"now": 0, "peak": 0}

    @tool
    def busy() -> int:
        """Count how many run at once."""
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        beamlike.sleep(0.03)
        state["now"] -= 1
        return 1

    calls = [call(str(i), "busy") for i in range(7)]
    results = in_process(
        lambda: run_calls(calls, ToolBox([busy]), ToolContext(), max_concurrency=2)
    )
    assert [r.content for r in results] == [1] * 7
    assert state["peak"] == 2


# --- failures become error results --------------------------------------------------


def test_an_unknown_tool_is_an_error_result_listing_the_available_ones() -> None:
    results = in_process(
        lambda: run_calls([call("1", "weather")], ToolBox([napper(), "calculator"]), ToolContext())
    )
    assert results == (
        ToolResult(
            "1", "weather", "unknown tool 'weather'; available tools: calculator, nap", True
        ),
    )


def test_invalid_arguments_are_an_error_result_and_the_tool_does_not_run() -> None:
    runs: list[int] = []

    @tool(retries=3)
    def count(n: int) -> int:
        """Count."""
        runs.append(n)
        return n

    results = in_process(
        lambda: run_calls([call("1", "count", n="three", extra=1)], ToolBox([count]), ToolContext())
    )
    assert results == (
        ToolResult(
            "1",
            "count",
            "invalid arguments for tool 'count': argument 'n': expected integer, got 'three' "
            "(str); unexpected argument 'extra'",
            True,
        ),
    )
    assert runs == []


def test_an_exception_is_an_error_result_and_the_caller_lives_on() -> None:
    @tool
    def boom(text: str) -> None:
        """Fail."""
        raise ValueError(f"bad input {text!r}")

    def main() -> tuple[tuple[ToolResult, ...], bool]:
        results = run_calls([call("1", "boom", text="x")], ToolBox([boom]), ToolContext())
        return results, is_alive(self_pid())

    results, alive = in_process(main)
    assert results == (
        ToolResult("1", "boom", "tool 'boom' raised ValueError: bad input 'x'", True),
    )
    assert alive


def test_a_tool_that_exits_its_process_is_an_error_result() -> None:
    @tool
    def quitter() -> None:
        """Exit the task."""
        raise ProcessExit("had enough")

    @tool
    def leaver() -> None:
        """Call sys.exit."""
        raise SystemExit(4)

    results = in_process(
        lambda: run_calls(
            [call("1", "quitter"), call("2", "leaver")], ToolBox([quitter, leaver]), ToolContext()
        )
    )
    assert results == (
        ToolResult(
            "1",
            "quitter",
            "tool 'quitter' exited with reason 'had enough' before returning a result",
            True,
        ),
        ToolResult("2", "leaver", "tool 'leaver' raised SystemExit: 4", True),
    )


# --- timeouts and retries -----------------------------------------------------------


def test_a_timeout_kills_the_task_and_is_an_error_result() -> None:
    pids: list[beamlike.Pid] = []

    @tool
    def hang() -> None:
        """Never answer."""
        pids.append(self_pid())
        beamlike.sleep(30)

    def main() -> tuple[tuple[ToolResult, ...], bool]:
        results = run_calls([call("1", "hang")], ToolBox([hang]), ToolContext(), timeout=0.1)
        return results, is_alive(pids[0])

    started = time.monotonic()
    results, alive = in_process(main)
    assert results == (ToolResult("1", "hang", "tool 'hang' timed out after 0.1 s", True),)
    assert not alive  # dead by the time run_calls returned
    assert time.monotonic() - started < 2.0


def test_the_tool_timeout_overrides_the_runner_timeout() -> None:
    @tool(timeout=0.05)
    def quick_limit() -> None:
        """Too slow for its own limit."""
        beamlike.sleep(5)

    results = in_process(
        lambda: run_calls(
            [call("1", "quick_limit")], ToolBox([quick_limit]), ToolContext(), timeout=10
        )
    )
    assert results[0].content == "tool 'quick_limit' timed out after 0.05 s"


def test_retries_after_exceptions_until_one_succeeds() -> None:
    attempts: list[int] = []

    @tool
    def flaky() -> str:
        """Fails twice."""
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    results = in_process(
        lambda: run_calls([call("1", "flaky")], ToolBox([flaky]), ToolContext(), retries=2)
    )
    assert results == (ToolResult("1", "flaky", "ok"),)
    assert len(attempts) == 3


def test_retries_are_bounded_and_the_last_error_says_how_many_attempts() -> None:
    attempts: list[int] = []

    @tool(retries=1)
    def broken() -> None:
        """Always fails."""
        attempts.append(1)
        raise RuntimeError("still broken")

    results = in_process(
        lambda: run_calls([call("1", "broken")], ToolBox([broken]), ToolContext(), retries=5)
    )
    assert (
        results[0].content == "tool 'broken' raised RuntimeError: still broken (after 2 attempts)"
    )
    assert len(attempts) == 2  # the tool's own retries win over the runner's


def test_no_retry_by_default() -> None:
    attempts: list[int] = []

    @tool
    def once() -> None:
        """Fails."""
        attempts.append(1)
        raise RuntimeError("no")

    in_process(lambda: run_calls([call("1", "once")], ToolBox([once]), ToolContext()))
    assert len(attempts) == 1


def test_a_timed_out_attempt_is_retried() -> None:
    attempts: list[int] = []

    @tool
    def slow_then_fast() -> str:
        """Slow the first time."""
        attempts.append(1)
        if len(attempts) == 1:
            beamlike.sleep(30)
        return "second time lucky"

    results = in_process(
        lambda: run_calls(
            [call("1", "slow_then_fast")],
            ToolBox([slow_then_fast]),
            ToolContext(),
            timeout=0.1,
            retries=1,
        )
    )
    assert results == (ToolResult("1", "slow_then_fast", "second time lucky"),)
    assert len(attempts) == 2


# --- completed calls and the caller's death -----------------------------------------


def test_completed_calls_are_not_run_again() -> None:
    runs: list[str] = []

    @tool
    def record(label: str) -> str:
        """Record."""
        runs.append(label)
        return label

    journal = {"1": ToolResult("1", "record", "from the journal")}
    seen: list[ToolResult] = []
    results = in_process(
        lambda: run_calls(
            [call("1", "record", label="a"), call("2", "record", label="b")],
            ToolBox([record]),
            ToolContext(),
            completed=journal,
            on_result=seen.append,
        )
    )
    assert results == (
        ToolResult("1", "record", "from the journal"),
        ToolResult("2", "record", "b"),
    )
    assert runs == ["b"]
    assert seen == [ToolResult("2", "record", "b")]


def test_killing_the_caller_kills_its_running_tool_tasks() -> None:
    @tool
    def linger(context: ToolContext) -> None:
        """Report, then wait for ever."""
        send(context.metadata["owner"], ("started", self_pid()))
        beamlike.sleep(30)

    def main() -> list[Any]:
        context = ToolContext(metadata={"owner": self_pid()})
        calls = [call("1", "linger"), call("2", "linger")]
        caller = spawn(run_calls, calls, ToolBox([linger]), context)
        tasks = [receive(("started", ANY), timeout=2)[1] for _ in calls]
        refs = [monitor(pid) for pid in tasks]
        exit(caller, "kill")
        return [receive(Down(ref, ANY, ANY), timeout=2).reason for ref in refs]

    assert in_process(main) == ["killed", "killed"]


def test_a_caller_that_traps_exits_gets_no_exit_messages_from_finished_tasks() -> None:
    pids: list[beamlike.Pid] = []

    @tool
    def mark() -> int:
        """Note the task."""
        pids.append(self_pid())
        return 1

    def main() -> Any:
        beamlike.process_flag("trap_exit", True)
        run_calls([call("1", "mark")], ToolBox([mark]), ToolContext())
        ref = monitor(pids[0])  # its Down comes after any exit signal of the task
        receive(Down(ref, ANY, ANY), timeout=2)
        return receive(timeout=0, default="empty")

    assert in_process(main) == "empty"


def test_when_on_result_raises_the_running_calls_are_killed() -> None:
    pids: list[beamlike.Pid] = []

    @tool
    def stay() -> None:
        """Wait."""
        pids.append(self_pid())
        beamlike.sleep(30)

    def explode(result: ToolResult) -> None:
        raise KeyError(result.call_id)

    def main() -> bool:
        box = ToolBox([stay, "calculator"])
        calls = [call("1", "stay"), call("2", "calculator", expression="2")]
        with pytest.raises(KeyError):
            run_calls(calls, box, ToolContext(), on_result=explode)
        return is_alive(pids[0])

    assert in_process(main) is False


# --- offloaded tools ----------------------------------------------------------------


def test_a_process_offloaded_tool_runs_in_a_worker_process() -> None:
    results = in_process(
        lambda: run_calls(
            [call("1", "worker_pid", tag="t"), call("2", "spinner", n=10)],
            ToolBox([worker_pid, Spinner]),
            ToolContext(),
        )
    )
    assert results[0].content["tag"] == "t"
    assert results[0].content["pid"] != os.getpid()
    assert results[1] == ToolResult("2", "spinner", {"sum": 45, "call": "2"})


def test_a_timed_out_process_offloaded_tool_has_its_worker_killed(tmp_path: Path) -> None:
    marker = tmp_path / "pid"

    def main() -> tuple[ToolResult, ...]:
        box = ToolBox([spin_forever, worker_pid])
        # Warm up: a worker with this module imported, which the next call reuses.
        run_calls([call("0", "worker_pid", tag="warm")], box, ToolContext())
        calls = [call("1", "spin_forever", marker=str(marker))]
        results = run_calls(calls, box, ToolContext(), timeout=0.5)
        worker = int(marker.read_text())
        deadline = time.monotonic() + 5
        while not os_process_gone(worker):
            assert time.monotonic() < deadline, f"worker {worker} still alive"
            beamlike.sleep(0.01)
        return results

    assert in_process(main) == (
        ToolResult("1", "spin_forever", "tool 'spin_forever' timed out after 0.5 s", True),
    )


def test_a_thread_offloaded_tool_runs_in_another_os_thread() -> None:
    results = in_process(
        lambda: run_calls([call("1", "thread_ident")], ToolBox([thread_ident]), ToolContext())
    )
    assert results[0].content != _thread_ident()


def test_a_process_offloaded_tool_that_cannot_be_pickled_is_an_error_result() -> None:
    @tool(offload="process")
    def local() -> int:
        """Defined in a function: not importable by a worker."""
        return 1

    results = in_process(lambda: run_calls([call("1", "local")], ToolBox([local]), ToolContext()))
    assert results[0].is_error
    assert results[0].content.startswith(
        "tool 'local' raised BadArgument: run_in_process needs a picklable module-level function"
    )


# --- bad input ----------------------------------------------------------------------


def test_bad_options_are_refused_at_the_call() -> None:
    box = ToolBox()
    with pytest.raises(
        ConfigError, match=r"^run_calls max_concurrency must be an int >= 1; got 0$"
    ):
        run_calls([], box, ToolContext(), max_concurrency=0)
    with pytest.raises(
        ConfigError, match=r"^run_calls timeout must be None or seconds > 0; got -1$"
    ):
        run_calls([], box, ToolContext(), timeout=-1)
    with pytest.raises(ConfigError, match=r"^run_calls retries must be None or an int >= 0"):
        run_calls([], box, ToolContext(), retries=-2)
    with pytest.raises(ToolTypeError, match=r"^run_calls expects ToolCalls; got 'x' \(str\)$"):
        run_calls(["x"], box, ToolContext())  # type: ignore[list-item]
    with pytest.raises(ToolTypeError, match=r"^run_calls expects a ToolContext; got None"):
        run_calls([], box, None)  # type: ignore[arg-type]
