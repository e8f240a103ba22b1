"""Tasks: run one function in its own process and collect its result (Elixir's ``Task``).

A task is a process meant to compute one value. ``async_`` starts it linked to and
monitored by the caller (its *owner*); the task sends its result to the owner as
``(task.ref, value)`` and exits; ``await_`` picks that message out of the mailbox.

======================================================  =======  ===========================
function                                                blocks?  what it does
======================================================  =======  ===========================
``async_(fn, *args, **kwargs) -> Task``                 never    start a linked, monitored task
``await_(task, timeout=5.0)``                           yes      its value; ``TaskExit`` /
                                                                 ``TaskTimeout``
``await_many(tasks, timeout=5.0) -> list``              yes      all values, in order
``yield_(task, timeout=5.0)``                           yes      ``("ok", v)``, ``("exit", r)``
                                                                 or None (still running)
``yield_many(tasks, timeout=5.0) -> [(task, res)]``     yes      ``yield_`` for many at once
``shutdown(task, timeout=5.0 | "brutal_kill")``         yes      stop it; a reply that arrived
``ignore(task)``                                        never    let it run, drop its result
``start(fn, ...)``, ``start_link(fn, ...) -> Pid``      never    fire and forget
``child_spec(fn, ...) -> dict``                         never    for a Supervisor (temporary)
``async_stream(items, fn, ...) -> Iterator``            yes [1]  map ``fn`` over ``items`` in
                                                                 at most ``max_concurrency``
                                                                 tasks at once
``TaskSupervisor.start_link(...)`` and friends          yes      tasks under a
                                                                 DynamicSupervisor
======================================================  =======  ===========================

[1] Creating the iterator never blocks and starts nothing; each ``next()`` blocks until
the next result is there.

Example::

    from beamlike import run, sleep
    from beamlike.task import async_, await_, async_stream

    def slow_square(x):
        sleep(0.01)
        return x * x

    def main():
        task = async_(slow_square, 7)           # runs while we do other work
        assert await_(task) == 49
        squares = [value for _, value in async_stream(range(5), slow_square)]
        assert squares == [0, 1, 4, 9, 16]

    run(main)

Tasks are linked to their owner, as in Elixir: a task that crashes takes its owner down
(the owner gets the task's exception as its exit reason), unless the owner traps exits;
an owner that dies takes its tasks down. To keep a crash from reaching the caller, start
the task with ``TaskSupervisor.async_nolink``. Where Python makes us differ from Elixir
(the caller gets an exception instead of exiting), see ``docs/task.md``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from beamlike import dynamic_supervisor
from beamlike._core import signals
from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import check_timeout
from beamlike._core.node import current_process
from beamlike.dynamic_supervisor import DynamicSupervisor
from beamlike.errors import BadArgument, BadArgumentType, BeamlikeError, ProcessExit
from beamlike.messages import ANY, Down, Exit
from beamlike.process import (
    demonitor,
    exit,
    link,
    monitor,
    receive,
    resolve_function,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_opt,
    unlink,
)
from beamlike.supervisor import ChildSpec

__all__ = [
    "BRUTAL_KILL",
    "DEFAULT_TIMEOUT",
    "Task",
    "TaskExit",
    "TaskSupervisor",
    "TaskTimeout",
    "async_",
    "async_stream",
    "await_",
    "await_many",
    "child_spec",
    "ignore",
    "shutdown",
    "start",
    "start_link",
    "yield_",
    "yield_many",
]

DEFAULT_TIMEOUT = 5.0
BRUTAL_KILL = "brutal_kill"

_NOTHING: Any = object()


# -- the task and its errors ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """A running (or finished) task, as returned by ``async_``.

    Attributes:
        pid: the task process.
        ref: the owner's monitor on it; the reply arrives as ``(ref, value)`` and a
            crash as ``Down(ref, pid, reason)``, so a GenServer that started a task can
            match both in ``handle_info``.
        owner: the process that started it: the only one that may await it.
    """

    pid: Pid
    ref: Ref
    owner: Pid


class TaskExit(BeamlikeError):
    """A task exited without replying (Elixir exits the caller with ``{reason, {Task,
    :await, ...}}``; we raise).

    Attributes:
        reason: the task's exit reason (the exception it crashed with, ``"killed"``,
            ...), or ``"timeout"`` for ``TaskTimeout``.
        task: the task concerned, or None.
    """

    def __init__(self, reason: Any, task: Task | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.task = task


class TaskTimeout(TaskExit, TimeoutError):
    """A task did not reply in time. ``reason`` is ``"timeout"``."""


def _check_task(task: Any, me: Pid, what: str) -> Task:
    if task.__class__ is not Task:
        raise BadArgumentType(
            f"{what} expects a Task (from async_); got {task!r} (of type {type(task).__name__})"
        )
    if task.owner != me:
        raise BadArgument(
            f"task {task!r} must be queried from its owner {task.owner!r} but was queried "
            f"from {me!r}"
        )
    return task  # type: ignore[no-any-return]


def _check_tasks(tasks: Any, me: Pid, what: str) -> list[Task]:
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):
        raise BadArgumentType(f"{what} expects a list of Tasks; got {tasks!r}")
    return [_check_task(task, me, what) for task in tasks]


def _drop_reply(task: Task) -> None:
    """Stop watching ``task``: no reply nor Down for it will reach the mailbox.

    The monitor is removed (a Down already queued is flushed) and the reply alias
    deactivated, so a reply the task sends later is dropped. Never blocks.
    """
    current_process().node.aliases.pop(task.ref, None)
    demonitor(task.ref, flush=True)


def _take_reply(task: Task) -> tuple[bool, Any]:
    """A reply of ``task`` already in the mailbox: ``(True, value)``, else
    ``(False, None)``. Never blocks."""
    message = receive((task.ref, ANY), timeout=0, default=_NOTHING)
    if message is _NOTHING:
        return False, None
    return True, message[1]


# -- starting ------------------------------------------------------------------------


def _reply(owner: Pid, ref: Ref, value: Any) -> None:
    """Send a task's result to its owner, unless the owner stopped waiting for it."""
    if current_process().node.aliases.pop(ref, None) is not None:
        send(owner, (ref, value))


def _named(body: Callable[..., Any], fn: Any) -> Callable[..., Any]:
    """``body`` under ``fn``'s name, so ``process_info`` and crash reports show it."""
    body.__qualname__ = getattr(fn, "__qualname__", body.__qualname__)
    body.__module__ = getattr(fn, "__module__", None) or body.__module__
    return body


def _activate(me: Any, pid: Pid, ref: Ref) -> None:
    """Make ``ref`` a reply alias of ``me`` for the life of the task ``pid``."""
    node = me.node
    node.aliases[ref] = me
    node.on_exit(pid, lambda _pid, _reason: node.aliases.pop(ref, None))


class _Slot:
    """Where a task started by ``async_`` finds its reply tag (set before it runs)."""

    __slots__ = ("owner", "ref")

    def __init__(self, owner: Pid) -> None:
        self.owner = owner
        self.ref: Any = None


def async_(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Task:
    """Start ``fn(*args, **kwargs)`` in a task linked to and monitored by the caller.

    The result is sent to the caller as ``(task.ref, value)``; collect it with
    ``await_``, ``yield_`` or ``shutdown``. A crash of the task reaches the caller
    through the link (it dies with the same reason unless it traps exits). Never blocks.
    """
    fn = resolve_function(fn)
    me = current_process()
    slot = _Slot(me.pid)

    def body() -> None:
        value = fn(*args, **kwargs)
        _reply(slot.owner, slot.ref, value)

    pid, ref = spawn_opt(_named(body, fn), link=True, monitor=True)
    slot.ref = ref  # before the task runs: spawning never blocks
    _activate(me, pid, ref)
    return Task(pid, ref, me.pid)


def start(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Pid:
    """Start ``fn(*args, **kwargs)`` as a task nobody waits for; return its pid.

    For side effects only: nothing is sent back and it is not linked. Prefer
    ``TaskSupervisor.start_child``, which lets a supervisor shut it down. Never blocks.
    """
    return spawn(fn, *args, **kwargs)


def start_link(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Pid:
    """As ``start``, linked to the caller (for a task under a supervisor). Never blocks."""
    return spawn_link(fn, *args, **kwargs)


def child_spec(fn: Callable[..., Any] | str, *args: Any, **overrides: Any) -> dict[str, Any]:
    """A child spec running ``fn(*args)`` under a supervisor: ``{"id": "task", "start":
    (start_link, (fn, *args), {}), "restart": "temporary"}`` updated with ``overrides``.

    Never blocks.
    """
    spec: dict[str, Any] = {
        "id": "task",
        "start": (start_link, (fn, *args), {}),
        "restart": "temporary",
    }
    spec.update(overrides)
    return spec


# -- waiting for one task ------------------------------------------------------------


def await_(task: Task, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
    """Wait for the task's value and return it.

    Blocks until the reply arrives, the task exits, or ``timeout`` seconds pass
    (``None``: for ever). Raises ``TaskExit`` (with the task's exit reason) when it
    exited without replying, ``TaskTimeout`` on timeout: the task then goes on running,
    still linked, but is no longer watched: its reply is dropped, and ``shutdown(task)``
    stops it. Only the owner may await (else ``BadArgument``). Await a task once; to
    look more than once, use ``yield_``.
    """
    _check_task(task, self_pid(), "await_")
    check_timeout(timeout)
    message = receive((task.ref, ANY), Down(task.ref, ANY, ANY), timeout=timeout, default=_NOTHING)
    if message is _NOTHING:
        _drop_reply(task)
        raise TaskTimeout(
            "timeout", task, f"task {task.pid!r} did not reply within {timeout} s (await_)"
        )
    current_process().node.aliases.pop(task.ref, None)
    if message.__class__ is Down:
        raise TaskExit(
            message.reason,
            task,
            f"task {task.pid!r} exited with reason {message.reason!r} before replying (await_)",
        )
    demonitor(task.ref, flush=True)
    return message[1]


def yield_(task: Task, timeout: float | None = DEFAULT_TIMEOUT) -> tuple[str, Any] | None:
    """Wait for the task's result for at most ``timeout`` seconds.

    Returns ``("ok", value)``, ``("exit", reason)`` when the task exited without
    replying, or None when it is still running (it stays watched: ``yield_`` again, or
    ``shutdown`` it). Blocks until one of these. Only the owner may call it.
    """
    _check_task(task, self_pid(), "yield_")
    check_timeout(timeout)
    message = receive((task.ref, ANY), Down(task.ref, ANY, ANY), timeout=timeout, default=_NOTHING)
    if message is _NOTHING:
        return None
    current_process().node.aliases.pop(task.ref, None)
    if message.__class__ is Down:
        return ("exit", message.reason)
    demonitor(task.ref, flush=True)
    return ("ok", message[1])


def ignore(task: Task) -> tuple[str, Any] | None:
    """Stop watching the task and let it run on, unlinked; its result is dropped.

    Returns ``("ok", value)`` or ``("exit", reason)`` if the task had already finished,
    else None. Never blocks. Only the owner may call it.
    """
    _check_task(task, self_pid(), "ignore")
    message = receive((task.ref, ANY), Down(task.ref, ANY, ANY), timeout=0, default=_NOTHING)
    if message.__class__ is Down:
        current_process().node.aliases.pop(task.ref, None)
        return ("exit", message.reason)
    unlink(task.pid)
    _drop_reply(task)
    if message is _NOTHING:
        return None
    return ("ok", message[1])


def shutdown(task: Task, timeout: float | str | None = DEFAULT_TIMEOUT) -> tuple[str, Any] | None:
    """Unlink the task and stop it; return its result if it had one.

    Sends it exit signal ``"shutdown"`` and waits up to ``timeout`` seconds for it to
    exit, then kills it; ``timeout="brutal_kill"`` kills it at once. Returns
    ``("ok", value)`` if its reply arrived before it died, ``("exit", reason)`` if it
    died of something else (a crash, or ``"killed"`` when it had to be killed after
    the timeout), else None. Blocks until the task has exited. After this the task can
    no longer be awaited.
    """
    _check_task(task, self_pid(), "shutdown")
    brutal = timeout == BRUTAL_KILL
    wait = None if brutal else check_timeout(timeout, "shutdown timeout")
    how = "brutal_kill" if brutal else "shutdown"
    watch = monitor(task.pid)
    unlink(task.pid)
    exit(task.pid, "kill" if brutal else "shutdown")
    down = receive(Down(watch, ANY, ANY), timeout=wait, default=_NOTHING)
    if down is _NOTHING:
        exit(task.pid, "kill")
        how = "timeout_kill"
        down = receive(Down(watch, ANY, ANY))
    reason = down.reason
    if reason == "noproc":  # it was gone before we looked: its own Down tells why
        own = receive(Down(task.ref, ANY, ANY), timeout=0, default=_NOTHING)
        _drop_reply(task)
        got, value = _take_reply(task)
        if got:
            return ("ok", value)
        if own is _NOTHING:
            return ("exit", "noproc")
        return None if _expected(own.reason, how) else ("exit", own.reason)
    _drop_reply(task)
    got, value = _take_reply(task)
    if got:
        return ("ok", value)
    return None if _expected(reason, how) else ("exit", reason)


def _expected(reason: Any, how: str) -> bool:
    """Whether ``reason`` is the exit ``shutdown`` itself caused (then: no result)."""
    if how == "brutal_kill":
        return reason.__class__ is str and reason == "killed"
    return reason.__class__ is str and reason == "shutdown"


# -- waiting for many tasks ----------------------------------------------------------


def _ref_in(refs: dict[Ref, Any]) -> Callable[[Any], bool]:
    def is_ours(value: Any) -> bool:
        return value.__class__ is Ref and value in refs

    return is_ours


def _down_of(is_ours: Callable[[Any], bool]) -> Any:
    """The pattern of a ``Down`` whose ref ``is_ours`` accepts."""
    return Down(is_ours, ANY, ANY)  # type: ignore[arg-type]


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def await_many(tasks: Iterable[Task], timeout: float | None = DEFAULT_TIMEOUT) -> list[Any]:
    """Wait for the values of all ``tasks``; return them in the order of ``tasks``.

    Blocks until every task replied, one exited without replying (``TaskExit``), or
    ``timeout`` seconds (for all of them together) pass (``TaskTimeout``). On an error
    the tasks still running are no longer watched and go on running, as after
    ``await_``. Only the owner may call it.
    """
    me = self_pid()
    checked = _check_tasks(tasks, me, "await_many")
    seconds = check_timeout(timeout)
    deadline = None if seconds is None else time.monotonic() + seconds
    pending = {task.ref: task for task in checked}
    values: dict[Ref, Any] = {}
    is_ours = _ref_in(pending)
    aliases = current_process().node.aliases
    while pending:
        message = receive(
            (is_ours, ANY),
            _down_of(is_ours),
            timeout=_remaining(deadline),
            default=_NOTHING,
        )
        if message is _NOTHING:
            first = next(iter(pending.values()))
            for task in list(pending.values()):
                _drop_reply(task)
            raise TaskTimeout(
                "timeout",
                first,
                f"{len(pending)} of {len(checked)} tasks did not reply within {timeout} s "
                f"(await_many), the first being {first.pid!r}",
            )
        if message.__class__ is Down:
            task = pending.pop(message.ref)
            aliases.pop(task.ref, None)
            for other in list(pending.values()):
                _drop_reply(other)
            raise TaskExit(
                message.reason,
                task,
                f"task {task.pid!r} exited with reason {message.reason!r} before replying "
                "(await_many)",
            )
        task = pending.pop(message[0])
        aliases.pop(task.ref, None)
        demonitor(task.ref, flush=True)
        values[task.ref] = message[1]
    return [values[task.ref] for task in checked]


_ON_YIELD_TIMEOUT = ("nothing", "ignore", "kill_task")


def yield_many(
    tasks: Iterable[Task],
    timeout: float | None = DEFAULT_TIMEOUT,
    *,
    limit: int | None = None,
    on_timeout: str = "nothing",
) -> list[tuple[Task, tuple[str, Any] | None]]:
    """``yield_`` for many tasks within one ``timeout`` (for all of them together).

    Returns ``[(task, result), ...]`` in the order of ``tasks``, each result as for
    ``yield_`` (None: still running). Returns early once ``limit`` tasks have a result.
    ``on_timeout`` says what happens to tasks still running at the timeout:
    ``"nothing"`` (they stay watched), ``"ignore"`` (``ignore(task)``) or
    ``"kill_task"`` (``shutdown(task, "brutal_kill")``). Blocks until then. Only the
    owner may call it.
    """
    me = self_pid()
    checked = _check_tasks(tasks, me, "yield_many")
    seconds = check_timeout(timeout)
    if on_timeout not in _ON_YIELD_TIMEOUT:
        raise BadArgument(
            f"yield_many on_timeout must be one of {_ON_YIELD_TIMEOUT}; got {on_timeout!r}"
        )
    pending = {task.ref: task for task in checked}
    if limit is None:
        limit = len(pending)
    elif limit.__class__ is not int or limit < 1:
        raise BadArgument(f"yield_many limit must be a positive int or None; got {limit!r}")
    deadline = None if seconds is None else time.monotonic() + seconds
    results: dict[Ref, tuple[str, Any] | None] = {}
    is_ours = _ref_in(pending)
    aliases = current_process().node.aliases
    timed_out = False
    while pending and len(results) < limit:
        message = receive(
            (is_ours, ANY),
            _down_of(is_ours),
            timeout=_remaining(deadline),
            default=_NOTHING,
        )
        if message is _NOTHING:
            timed_out = True
            break
        if message.__class__ is Down:
            task = pending.pop(message.ref)
            aliases.pop(task.ref, None)
            results[task.ref] = ("exit", message.reason)
        else:
            task = pending.pop(message[0])
            aliases.pop(task.ref, None)
            demonitor(task.ref, flush=True)
            results[task.ref] = ("ok", message[1])
    if timed_out and on_timeout != "nothing":
        for task in pending.values():
            if on_timeout == "kill_task":
                results[task.ref] = shutdown(task, BRUTAL_KILL)
            else:
                results[task.ref] = ignore(task)
    return [(task, results.get(task.ref)) for task in checked]


# -- streams -------------------------------------------------------------------------


_ON_STREAM_TIMEOUT = ("exit", "kill_task")


class _Running:
    """One task of a stream."""

    __slots__ = ("position", "item", "task", "replied", "value", "timed_out")

    def __init__(self, position: int, item: Any, task: Task) -> None:
        self.position = position
        self.item = item
        self.task = task
        self.replied = False
        self.value: Any = None
        self.timed_out = False


def async_stream(
    items: Iterable[Any],
    fn: Callable[[Any], Any] | str,
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_timeout: str = "exit",
    zip_input_on_exit: bool = False,
) -> Iterator[tuple[str, Any]]:
    """Map ``fn`` over ``items``, each call in its own task; iterate over the results.

    Lazy: nothing starts until the first ``next()``, and at most ``max_concurrency``
    tasks (default ``os.cpu_count()``, Elixir's schedulers online) run at once. Each
    result is ``("ok", value)``, or ``("exit", reason)`` for a task that exited
    without replying: ``("exit", (item, reason))`` with ``zip_input_on_exit``. With
    ``ordered`` results come in the order of ``items``, else as tasks finish.

    ``timeout`` is per task, counted from its start (``None``: no limit); it is checked
    while the stream is iterated. ``on_timeout="exit"`` kills the running tasks and
    raises ``TaskTimeout`` in the caller; ``"kill_task"`` kills the late task and
    yields ``("exit", "timeout")`` for it.

    The tasks are linked to the iterating process, as in Elixir: a crashing task takes
    it down unless it traps exits (then the crash is yielded as ``("exit", reason)``).
    Closing the iterator (``break`` out of a ``for`` loop, ``close()``,
    ``contextlib.closing``) kills the tasks still running and waits for them to exit.
    Creating the iterator never blocks; each ``next()`` blocks until a result is there.
    Iterate it from one process only.
    """
    return _stream(
        items,
        resolve_function(fn),
        "async_stream",
        async_,
        max_concurrency,
        ordered,
        timeout,
        on_timeout,
        zip_input_on_exit,
    )


def _stream(
    items: Iterable[Any],
    fn: Callable[[Any], Any],
    what: str,
    launch: Callable[[Callable[[Any], Any], Any], Task],
    max_concurrency: int | None,
    ordered: bool,
    timeout: float | None,
    on_timeout: str,
    zip_input_on_exit: bool,
) -> Iterator[tuple[str, Any]]:
    """Validate the options at the call site; return the lazy iterator."""
    if max_concurrency is None:
        max_concurrency = os.cpu_count() or 2
    elif max_concurrency.__class__ is not int or max_concurrency < 1:
        raise BadArgument(
            f"{what} max_concurrency must be a positive int or None; got {max_concurrency!r}"
        )
    for flag, value in (("ordered", ordered), ("zip_input_on_exit", zip_input_on_exit)):
        if value.__class__ is not bool:
            raise BadArgumentType(f"{what} {flag}= must be a bool; got {value!r}")
    seconds = check_timeout(timeout, f"{what} timeout")
    if on_timeout not in _ON_STREAM_TIMEOUT:
        raise BadArgument(
            f"{what} on_timeout must be one of {_ON_STREAM_TIMEOUT}; got {on_timeout!r}"
        )
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise BadArgumentType(f"{what} expects an iterable of items; got {items!r}")
    return _run_stream(
        items, fn, what, launch, max_concurrency, ordered, seconds, on_timeout, zip_input_on_exit
    )


def _run_stream(
    items: Iterable[Any],
    fn: Callable[[Any], Any],
    what: str,
    launch: Callable[[Callable[[Any], Any], Any], Task],
    max_concurrency: int,
    ordered: bool,
    timeout: float | None,
    on_timeout: str,
    zip_input_on_exit: bool,
) -> Iterator[tuple[str, Any]]:
    me = current_process()
    owner = me.pid
    source = iter(items)
    running: dict[Ref, _Running] = {}
    finished: dict[int, tuple[str, Any]] = {}  # ordered: results waiting for their turn
    # Deadlines of the running tasks, soonest first: all tasks get the same timeout, so
    # start order is deadline order. An entry whose task has replied, timed out or
    # ended is dropped when it reaches the front (each is added and dropped once, not
    # a scan per message).
    deadlines: deque[tuple[float, Ref]] = deque()
    started = delivered = 0
    exhausted = False
    is_ours = _ref_in(running)
    aliases = me.node.aliases
    try:
        while True:
            if ordered:
                while delivered in finished:
                    result = finished.pop(delivered)
                    delivered += 1
                    yield result
                    _check_iterator(owner, what)
            while not exhausted and len(running) < max_concurrency:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                task = launch(fn, item)
                running[task.ref] = _Running(started, item, task)
                if timeout is not None:
                    deadlines.append((time.monotonic() + timeout, task.ref))
                started += 1
            if not running:
                return  # exhausted, and (ordered) every result delivered
            while deadlines and not _waits(running.get(deadlines[0][1])):
                deadlines.popleft()
            wait = max(0.0, deadlines[0][0] - time.monotonic()) if deadlines else None
            message = receive((is_ours, ANY), _down_of(is_ours), timeout=wait, default=_NOTHING)
            if message is _NOTHING:
                now = time.monotonic()
                while deadlines and deadlines[0][0] <= now:
                    entry = running.get(deadlines.popleft()[1])
                    if not _waits(entry):
                        continue
                    if on_timeout == "exit":
                        raise TaskTimeout(
                            "timeout",
                            entry.task,
                            f"{what}: the task for item {entry.item!r} ({entry.task.pid!r}) did "
                            f"not reply within {timeout} s; the stream's tasks were killed",
                        )
                    entry.timed_out = True
                    _kill(me, entry.task)
                continue
            if message.__class__ is not Down:
                entry = running[message[0]]
                entry.replied = True
                entry.value = message[1]
                continue
            entry = running.pop(message.ref)
            aliases.pop(message.ref, None)
            receive(Exit(entry.task.pid, ANY), timeout=0, default=None)  # the link's, if trapping
            if entry.replied:
                result = ("ok", entry.value)
            else:
                reason = "timeout" if entry.timed_out else message.reason
                result = ("exit", (entry.item, reason) if zip_input_on_exit else reason)
            if ordered:
                finished[entry.position] = result
            else:
                delivered += 1
                yield result
                _check_iterator(owner, what)
    finally:
        _close_stream(me, running)


def _waits(entry: _Running | None) -> TypeGuard[_Running]:
    """Whether a stream's task still waits for its reply (its deadline still counts)."""
    return entry is not None and not (entry.replied or entry.timed_out)


def _check_iterator(owner: Pid, what: str) -> None:
    if self_pid() != owner:
        raise BadArgument(
            f"an {what} iterator must be iterated by the process that started it ({owner!r})"
        )


def _kill(owner_proc: Any, task: Task) -> None:
    """Unlink ``task`` from its owner (from any process) and kill it. Never blocks."""
    signals.remove_link(owner_proc, task.pid)
    exit(task.pid, "kill")


def _close_stream(me: Any, running: dict[Ref, _Running]) -> None:
    """Kill the stream's running tasks; in their owner, also wait for them to exit and
    flush their messages. Blocks (in the owner)."""
    if not running:
        return
    for entry in running.values():
        if not entry.timed_out:
            _kill(me, entry.task)
    if current_process() is not me or me.pending_exit is not None:
        for ref in running:
            me.node.aliases.pop(ref, None)
        return  # closed from elsewhere, or the owner is dying: do not block
    for ref, entry in list(running.items()):
        receive(Down(ref, ANY, ANY))
        me.node.aliases.pop(ref, None)
        receive((ref, ANY), timeout=0, default=None)
        receive(Exit(entry.task.pid, ANY), timeout=0, default=None)
    running.clear()


# -- TaskSupervisor ------------------------------------------------------------------


class _Go:
    """The owner's go-ahead to a supervised task: the tag to reply with."""

    __slots__ = ("ref",)

    def __init__(self, ref: Ref) -> None:
        self.ref = ref


# How long a supervised task waits for its owner's go-ahead (Elixir's 5 s).
_GO_TIMEOUT = 5.0


def _start_replying(owner: Pid, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Pid:
    """A child's start function, run in the supervisor: start a task linked to it that
    waits for its owner's go-ahead, runs ``fn`` and replies."""

    def body() -> None:
        watch = monitor(owner)
        go = receive(_Go, Down(watch, ANY, ANY), timeout=_GO_TIMEOUT, default=_NOTHING)
        if go is _NOTHING:
            raise ProcessExit("timeout")
        if go.__class__ is Down:
            raise ProcessExit(("shutdown", go.reason))  # the owner died before asking
        demonitor(watch, flush=True)
        value = fn(*args, **kwargs)
        _reply(owner, go.ref, value)

    return spawn_link(_named(body, fn))


def _start_plain(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Pid:
    """A child's start function for ``start_child``: run ``fn``, reply to nobody."""
    return spawn_link(fn, *args, **kwargs)


def _supervised(sup: Any, fn: Any, args: tuple[Any, ...], kwargs: Any, linked: bool) -> Task:
    fn = resolve_function(fn)
    me = current_process()
    spec = ChildSpec(
        "task",
        (_start_replying, (me.pid, fn, args, kwargs), {}),
        restart="temporary",
        shutdown=DEFAULT_TIMEOUT,
    )
    pid = dynamic_supervisor.start_child(sup, spec)
    assert pid is not None
    if linked:
        link(pid)
    ref = monitor(pid)
    if me.node.lookup(pid) is not None:
        _activate(me, pid, ref)
    send(pid, _Go(ref))
    return Task(pid, ref, me.pid)


def _launcher(sup: Any, *, linked: bool) -> Callable[[Callable[[Any], Any], Any], Task]:
    """How a stream under ``sup`` starts the task for one item."""

    def launch(fn: Callable[[Any], Any], item: Any) -> Task:
        return _supervised(sup, fn, (item,), {}, linked)

    return launch


class TaskSupervisor:
    """Tasks under a supervisor (Elixir's ``Task.Supervisor``).

    A task supervisor is a ``DynamicSupervisor`` whose children are tasks, temporary by
    default: a crashed task is not restarted. Its pid (or name) is what the functions
    below take as ``sup``; ``dynamic_supervisor.which_children``, ``count_children``,
    ``terminate_child`` and ``stop`` work on it too. When it stops, its tasks get
    ``exit(pid, "shutdown")`` and are killed after 5 s.

    ==============================================  =======  ======================================
    function                                        blocks?  what it does
    ==============================================  =======  ======================================
    ``start_link(*, name, max_children)``           yes      start one, linked to the caller
    ``child_spec(**options) -> dict``               never    start one under a Supervisor
    ``async_(sup, fn, *args, **kwargs) -> Task``    yes      a task linked to the caller
    ``async_nolink(sup, fn, ...) -> Task``          yes      a task not linked: a crash comes
                                                             back as ``TaskExit`` / ``("exit", r)``
    ``start_child(sup, fn, ...) -> Pid``            yes      fire and forget
    ``children(sup) -> [Pid]``                      yes      the running tasks
    ``terminate_child(sup, pid)``                   yes      stop one
    ``async_stream(sup, items, fn, ...)``           [1]      ``async_stream`` under ``sup``
    ``async_stream_nolink(sup, items, fn, ...)``    [1]      ... not linked to the caller
    ==============================================  =======  ======================================

    "Blocks" here means: until the supervisor has started (or stopped) the task, which
    is a call to it, not until the task finishes. [1] as ``async_stream``.

    Example::

        sup = TaskSupervisor.start_link()
        task = TaskSupervisor.async_nolink(sup, int, "not a number")
        try:
            await_(task)
        except TaskExit as exc:        # the crash did not take us down
            assert isinstance(exc.reason, ValueError)
    """

    @staticmethod
    def start_link(
        *,
        name: Any = None,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> Pid:
        """Start a task supervisor linked to the caller; return its pid.

        ``max_children`` bounds how many tasks run under it at once (then starting one
        raises ``MaxChildrenError``). Blocks until it is running.
        """
        pid = DynamicSupervisor.start_link(
            name=name,
            max_children=max_children,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
        )
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(**options: Any) -> dict[str, Any]:
        """A child spec that starts a task supervisor under a Supervisor; ``options`` go
        to ``start_link`` (``id`` is taken from ``name`` when given). Never blocks."""
        return {
            "id": options.get("name", "TaskSupervisor"),
            "start": (TaskSupervisor.start_link, (), options),
            "type": "supervisor",
        }

    @staticmethod
    def async_(sup: Any, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Task:
        """Start ``fn(*args, **kwargs)`` as a task under ``sup``, linked to and monitored
        by the caller, as ``task.async_`` does: await it with ``await_``, and a crash
        takes the caller down (unless it traps exits).

        Blocks until the supervisor started the task. Raises ``MaxChildrenError`` when
        the supervisor is full.
        """
        return _supervised(sup, fn, args, kwargs, True)

    @staticmethod
    def async_nolink(sup: Any, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Task:
        """As ``async_``, without the link: a crash of the task does not reach the
        caller except as the result of ``await_`` (``TaskExit``), ``yield_`` or
        ``shutdown`` (``("exit", reason)``), or as ``Down(task.ref, pid, reason)``.
        The caller exiting does not stop the task.

        Blocks until the supervisor started the task.
        """
        return _supervised(sup, fn, args, kwargs, False)

    @staticmethod
    def start_child(
        sup: Any,
        fn: Callable[..., Any] | str,
        *args: Any,
        restart: str = "temporary",
        shutdown: float | str = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> Pid:
        """Start ``fn(*args, **kwargs)`` under ``sup``, replying to nobody; return its
        pid. ``restart`` (``"temporary"``, ``"transient"``, ``"permanent"``) and
        ``shutdown`` (seconds or ``"brutal_kill"``) are the child's, so ``fn`` cannot
        take keywords of those names.

        Blocks until the supervisor started it.
        """
        spec = ChildSpec(
            "task",
            (_start_plain, (resolve_function(fn), args, kwargs), {}),
            restart=restart,
            shutdown=shutdown,
        )
        pid = dynamic_supervisor.start_child(sup, spec)
        assert pid is not None
        return pid

    @staticmethod
    def children(sup: Any) -> list[Pid]:
        """The pids of the tasks running under ``sup``. Blocks until it answered."""
        return [
            info.pid for info in dynamic_supervisor.which_children(sup) if info.pid.__class__ is Pid
        ]

    @staticmethod
    def terminate_child(sup: Any, pid: Pid) -> None:
        """Stop the task ``pid`` (``"shutdown"``, killed after its shutdown time).

        Blocks until it has exited. Raises ``NotFoundError`` if it is not a child.
        """
        dynamic_supervisor.terminate_child(sup, pid)

    @staticmethod
    def async_stream(
        sup: Any,
        items: Iterable[Any],
        fn: Callable[[Any], Any] | str,
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_timeout: str = "exit",
        zip_input_on_exit: bool = False,
    ) -> Iterator[tuple[str, Any]]:
        """``task.async_stream`` with each task started under ``sup``, linked to the
        caller. See ``async_stream`` for the options and when it blocks."""
        return _stream(
            items,
            resolve_function(fn),
            "TaskSupervisor.async_stream",
            _launcher(sup, linked=True),
            max_concurrency,
            ordered,
            timeout,
            on_timeout,
            zip_input_on_exit,
        )

    @staticmethod
    def async_stream_nolink(
        sup: Any,
        items: Iterable[Any],
        fn: Callable[[Any], Any] | str,
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_timeout: str = "exit",
        zip_input_on_exit: bool = False,
    ) -> Iterator[tuple[str, Any]]:
        """As ``TaskSupervisor.async_stream``, the tasks not linked to the caller: a
        crash is yielded as ``("exit", reason)`` and never takes the caller down."""
        return _stream(
            items,
            resolve_function(fn),
            "TaskSupervisor.async_stream_nolink",
            _launcher(sup, linked=False),
            max_concurrency,
            ordered,
            timeout,
            on_timeout,
            zip_input_on_exit,
        )
