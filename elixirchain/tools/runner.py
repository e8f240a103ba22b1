"""Running the tool calls a model asked for: in parallel, bounded, as linked tasks.

Guarantees of ``run_calls``:

- every call gets exactly one ``ToolResult``, in the order of the calls; a failure of any
  kind (unknown tool, invalid arguments, an exception, a timeout, a task that died)
  becomes an error result (``is_error=True``) whose text tells the model what went
  wrong. Nothing a tool does crashes the caller (an agent);
- each call runs in its own beamlike task, linked to the caller: killing the caller
  kills its running tool calls;
- at most ``max_concurrency`` calls run at once; each has its own timeout (the tool's,
  else the runner's), after which its task is killed (``task.shutdown(...,
  "brutal_kill")``, which returns only once it has exited);
- arguments are checked against the tool's schema before it runs; invalid ones are not
  run and not retried. Exceptions and timeouts are retried up to ``retries`` times;
- calls whose id is in ``completed`` are not run again (an agent restarted mid-turn
  passes the results it had journaled);
- ``on_result`` is called in the caller for each new result as soon as it is known.

A tool with ``offload="thread"`` or ``"process"`` runs its ``execute`` through
``beamlike.offload`` from its task: the task (and so the timeout and the kill) still
governs it, but the computation does not hold the event loop.

Where a call starts and ends (hooks such as telemetry belong there): ``_start`` runs for
each attempt of a call that runs (in the caller, just before its task is spawned);
``_finish`` runs exactly once per call that was not ``completed``, with its final result,
also for calls that never ran (unknown tool, invalid arguments).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from beamlike import (
    ANY,
    Exit,
    Pid,
    ProcessExit,
    Ref,
    offload,
    process_flag,
    receive,
    self_pid,
    send,
    spawn_link,
    task,
    unlink,
)
from elixirchain.errors import ConfigError, InvalidToolArguments
from elixirchain.messages import ToolCall, ToolResult
from elixirchain.tools.base import Tool, ToolContext, ToolTypeError
from elixirchain.tools.schema import validate_arguments

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_TIMEOUT", "run_calls"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENCY = 8


# -- inside the task -----------------------------------------------------------------


def _execute_in_worker(tool: Tool, args: dict[str, Any], context: ToolContext) -> Any:
    """What a worker process runs for a tool with ``offload="process"``."""
    return tool.execute(args, context)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)
    return value


def _attempt(tool: Tool, args: dict[str, Any], context: ToolContext) -> tuple[str, Any]:
    """The body of a tool task: ``("ok", content)``, ``("raised", text)`` or
    ``("exited", reason)``. Never raises for what the tool does."""
    try:
        if tool.offload == "thread":
            value = offload.run_in_thread(tool.execute, args, context)
        elif tool.offload == "process":
            value = offload.run_in_process(_execute_in_worker, tool, args, context)
        else:
            value = tool.execute(args, context)
    except (Exception, SystemExit) as exc:
        text = str(exc)
        return ("raised", f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    except ProcessExit as exc:
        # The tool itself exited; or the task is being killed, and then it still dies
        # with that reason once this returns (a killed process cannot resume).
        return ("exited", exc.reason)
    return ("ok", _jsonable(value))


def _shielded(caller: Pid, tool: Tool, args: dict[str, Any], context: ToolContext) -> Any:
    """The body of a tool task: runs the tool in a child linked to it, and turns the
    child's death (a tool killed with ``"kill"``, from inside or outside) into
    ``("exited", reason)`` instead of letting it take the caller down through the task's
    link. The task traps exits for that; when the caller dies, the task exits with the
    caller's reason, and its link takes the tool down with it."""
    process_flag("trap_exit", True)
    me = self_pid()
    child = spawn_link(_run_child, me, tool, args, context)
    while True:
        message = receive((_RESULT, child, ANY), Exit(ANY, ANY))
        if message.__class__ is tuple:
            return message[2]
        if message.pid == child:
            return ("exited", message.reason)
        if message.pid == caller:
            raise ProcessExit(message.reason)


_RESULT = "elixirchain.tool_result"


def _run_child(shield: Pid, tool: Tool, args: dict[str, Any], context: ToolContext) -> None:
    send(shield, (_RESULT, self_pid(), _attempt(tool, args, context)))


# -- in the caller -------------------------------------------------------------------


class _Job:
    """One call to run: its tool, checked arguments, limits, attempts and task."""

    __slots__ = (
        "index",
        "call",
        "tool",
        "args",
        "timeout",
        "attempts",
        "retries",
        "task",
        "deadline",
    )

    def __init__(
        self,
        index: int,
        call: ToolCall,
        tool: Tool,
        args: dict[str, Any],
        timeout: float | None,
        retries: int,
    ) -> None:
        self.index = index
        self.call = call
        self.tool = tool
        self.args = args
        self.timeout = timeout
        self.retries = retries
        self.attempts = 0
        self.task: task.Task | None = None
        self.deadline: float | None = None


def _error(call: ToolCall, text: str) -> ToolResult:
    return ToolResult(call.id, call.name, text, is_error=True)


def _check_options(
    calls: Any, context: Any, timeout: Any, retries: Any, max_concurrency: Any
) -> None:
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
        raise ToolTypeError(f"run_calls expects a sequence of ToolCalls; got {calls!r}")
    for call in calls:
        if not isinstance(call, ToolCall):
            raise ToolTypeError(
                f"run_calls expects ToolCalls; got {call!r} ({type(call).__name__})"
            )
    if not isinstance(context, ToolContext):
        raise ToolTypeError(
            f"run_calls expects a ToolContext; got {context!r} ({type(context).__name__})"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ConfigError(f"run_calls timeout must be None or seconds > 0; got {timeout!r}")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
    ):
        raise ConfigError(f"run_calls retries must be None or an int >= 0; got {retries!r}")
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ConfigError(f"run_calls max_concurrency must be an int >= 1; got {max_concurrency!r}")


def _prepare(
    index: int,
    call: ToolCall,
    tools: Mapping[str, Tool],
    timeout: float | None,
    retries: int | None,
) -> _Job | ToolResult:
    """A job for the call, or the error result when it cannot run."""
    if call.name not in tools:
        names = ", ".join(sorted(tools))
        known = f"available tools: {names}" if names else "no tools are available"
        return _error(call, f"unknown tool {call.name!r}; {known}")
    chosen = tools[call.name]
    if not isinstance(chosen, Tool):
        raise ToolTypeError(
            f"run_calls tools must map names to Tools; {call.name!r} maps to {chosen!r}"
        )
    try:
        args = validate_arguments(chosen.parameters, call.arguments)
    except InvalidToolArguments as exc:
        return _error(call, f"invalid arguments for tool {call.name!r}: {exc}")
    seconds = chosen.timeout if chosen.timeout is not None else timeout
    extra = chosen.retries if chosen.retries else (retries or 0)
    return _Job(index, call, chosen, args, None if seconds is None else float(seconds), extra)


def _start(job: _Job, context: ToolContext) -> None:
    """A call (attempt) starts: in a task linked to and monitored by the caller."""
    job.attempts += 1
    job.task = task.async_(_shielded, self_pid(), job.tool, job.args, context)
    job.deadline = None if job.timeout is None else time.monotonic() + job.timeout


def _forget_task(done: task.Task) -> None:
    """Drop the link to a task that replied or died, and the ``Exit`` it may already
    have sent a caller that traps exits (so an agent's mailbox does not fill with them;
    the result says what happened)."""
    unlink(done.pid)
    receive(Exit(done.pid, ANY), timeout=0, default=None)


def _outcome(job: _Job, reply: tuple[str, Any] | None, timed_out: bool) -> ToolResult | None:
    """The result of an attempt, or None when it is to be retried."""
    name = job.call.name
    tries = f" (after {job.attempts} attempts)" if job.attempts > 1 else ""
    if reply is not None and reply[0] == "ok":
        return ToolResult(job.call.id, name, reply[1])
    if job.attempts <= job.retries:
        return None
    if timed_out:
        return _error(job.call, f"tool {name!r} timed out after {job.timeout} s{tries}")
    if reply is not None and reply[0] == "raised":
        return _error(job.call, f"tool {name!r} raised {reply[1]}{tries}")
    reason = reply[1] if reply is not None else None
    return _error(
        job.call, f"tool {name!r} exited with reason {reason!r} before returning a result{tries}"
    )


def run_calls(
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    context: ToolContext,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    retries: int | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    completed: Mapping[str, ToolResult] | None = None,
    on_result: Callable[[ToolResult], None] | None = None,
) -> tuple[ToolResult, ...]:
    """Run ``calls`` with ``tools`` (name -> Tool, e.g. a ``ToolBox``); return the results.

    Call it inside a beamlike process (the agent). Blocks until every call has a result;
    the results are in the order of ``calls``. Each call runs in a task linked to the
    caller, at most ``max_concurrency`` at once, for at most ``tool.timeout`` (else
    ``timeout``; None: no limit) seconds per attempt, retried ``tool.retries`` (else
    ``retries``, else 0) more times after an exception or a timeout. ``completed`` maps
    call ids to results already known: those calls are not run and their results are
    used as they are. ``on_result(result)`` is called in the caller as each new result
    arrives (not for ``completed`` ones); if it raises, the running calls are killed
    and the exception propagates. Each call's ``ToolContext`` is ``context`` with
    ``call_id`` set to the call's id.
    """
    _check_options(calls, context, timeout, retries, max_concurrency)
    done = completed or {}
    results: list[ToolResult | None] = [None] * len(calls)
    waiting: deque[_Job] = deque()

    def _finish(index: int, result: ToolResult) -> None:
        """A call ends: its result is recorded and reported."""
        results[index] = result
        if on_result is not None:
            on_result(result)

    def _settle(job: _Job, reply: tuple[str, Any] | None, timed_out: bool) -> None:
        """An attempt ended: the call is finished, or queued again to be retried."""
        outcome = _outcome(job, reply, timed_out)
        if outcome is None:
            waiting.appendleft(job)
        else:
            _finish(job.index, outcome)

    for index, call in enumerate(calls):
        if call.id in done:
            results[index] = done[call.id]
            continue
        prepared = _prepare(index, call, tools, timeout, retries)
        if isinstance(prepared, ToolResult):
            _finish(index, prepared)
        else:
            waiting.append(prepared)

    running: dict[Ref, _Job] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max_concurrency:
                job = waiting.popleft()
                _start(job, _with_call_id(context, job.call.id))
                assert job.task is not None
                running[job.task.ref] = job
            deadlines = [j.deadline for j in running.values() if j.deadline is not None]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for started, reply in task.yield_many(
                [j.task for j in running.values() if j.task is not None], timeout=wait, limit=1
            ):
                if reply is None:
                    continue
                job = running.pop(started.ref)
                _forget_task(started)
                if reply[0] == "ok":
                    reply = reply[1]  # the task's own ("ok" | "raised" | "exited", ...)
                _settle(job, reply, timed_out=False)
            now = time.monotonic()
            for ref, job in list(running.items()):
                if job.deadline is None or job.deadline > now or job.task is None:
                    continue
                del running[ref]
                last = task.shutdown(job.task, task.BRUTAL_KILL)  # returns once it is dead
                late = last[1] if last is not None and last[0] == "ok" else None
                if late is not None and late[0] == "ok":
                    _settle(job, late, timed_out=False)
                else:
                    _settle(job, None, timed_out=True)
    except Exception:
        for job in running.values():
            if job.task is not None:
                task.shutdown(job.task, task.BRUTAL_KILL)
        raise
    assert all(result is not None for result in results)
    return tuple(result for result in results if result is not None)


def _with_call_id(context: ToolContext, call_id: str) -> ToolContext:
    return context if context.call_id == call_id else replace(context, call_id=call_id)
