"""What every supervisor does to its children: the machinery that ``supervisor`` and
``dynamic_supervisor`` share.

- start a child: run its start function in the supervisor and check what it returned
  (``start``, ``start_or_raise``);
- on a child's exit, apply its restart type (``must_restart``), count the restart against
  the restart intensity (``Intensity``) and start it again, retrying later by a
  ``TryAgain`` message to itself when that fails (``restart``);
- shut children down, each as its ``shutdown`` says (``shutdown``);
- write the supervisor reports (``report``) and progress reports (``progress``) on the
  logger ``beamlike.supervisor``;
- the plumbing of the generic servers: their boot argument, their ``init``, their start
  and their client requests.

The two supervisors keep their children in their own way (by id in start order, or by
pid) and call these functions on each child's ``ChildSpec``.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from beamlike import gen_server
from beamlike._core.ids import Pid, Ref
from beamlike._core.node import current_process
from beamlike.errors import BadArgument
from beamlike.gen_server import BadReturn, Ignore, Stop
from beamlike.messages import ANY, Down, Exit, is_shutdown_reason
from beamlike.proc_lib import StartError
from beamlike.process import exit as exit_process
from beamlike.process import monitor, process_flag, receive, self_pid, send, unlink

if TYPE_CHECKING:
    from beamlike.supervisor import ChildSpec

log = logging.getLogger("beamlike.supervisor")

PERMANENT = "permanent"
TRANSIENT = "transient"
TEMPORARY = "temporary"
BRUTAL_KILL = "brutal_kill"
INFINITY = "infinity"
WORKER = "worker"
SUPERVISOR = "supervisor"
RESTARTING = "restarting"

_now = time.monotonic  # the clock of restart intensity (tests replace it)


class ChildStartError(StartError):
    """A child's start function failed (raised, or returned something not a Pid).

    Attributes:
        id: the child's id.
        reason: why (the ``StartError`` reason, or the exception raised).
    """

    def __init__(self, id: Any, reason: Any) -> None:  # noqa: A002
        super().__init__(reason, f"child {id!r} failed to start: {reason!r}")
        self.id = id


# -- starting a child ----------------------------------------------------------------


def start(spec: ChildSpec, extra: tuple[Any, ...] = ()) -> tuple[bool, Any]:
    """Run the child's start function in the supervisor: (True, pid or None) or
    (False, reason)."""
    fn, args, kwargs = spec.start
    try:
        result = fn(*extra, *args, **kwargs)
    except StartError as exc:
        return False, exc.reason
    except Exception as exc:
        return False, exc
    if result is None:
        return True, None
    if result.__class__ is not Pid:
        return False, BadReturn(
            f"the start function {fn!r} of child {spec.id!r}",
            result,
            "the pid of a process linked to the supervisor, or None",
        )
    me = current_process()
    if not (me.links and result in me.links):
        proc = me.node.lookup(result)
        if proc is not None and proc.pending_exit is None:  # alive and not linked
            exit_process(result, "kill")
            return False, BadArgument(
                f"the start function {fn!r} of child {spec.id!r} returned {result!r}, a "
                "process not linked to the supervisor; start children with spawn_link or "
                "a start_link function"
            )
    return True, result


def start_or_raise(sup: Any, spec: ChildSpec, extra: tuple[Any, ...] = ()) -> Pid | None:
    """Start a child asked for by a client: its pid or None; raises ``ChildStartError``."""
    ok, result = start(spec, extra)
    if not ok:
        error = ChildStartError(spec.id, result)
        if isinstance(result, BaseException):
            error.__cause__ = result
        raise error
    progress(sup, "started", spec, result)
    return result  # type: ignore[no-any-return]


# -- restarting a child --------------------------------------------------------------


def must_restart(sup: Any, spec: ChildSpec, pid: Pid, reason: Any) -> bool:
    """Apply the restart type to a child that exited with ``reason``: True when it is
    to be restarted. An exit other than a shutdown of a non-permanent child is
    reported."""
    restart_type = spec.restart
    if restart_type != PERMANENT and is_shutdown_reason(reason):
        return False
    report(sup, "child_terminated", reason, spec, pid)
    return restart_type != TEMPORARY


class Intensity:
    """Restart intensity: timestamps of recent restarts, oldest on the left."""

    __slots__ = ("max_restarts", "max_seconds", "times")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.times: deque[float] = deque()

    def exceeded(self, sup: Any, spec: ChildSpec, pid: Pid | None) -> bool:
        """Record a restart of the child now; True (and reported) if there were more
        than allowed in the period: the supervisor must then shut down.

        O(1) amortised: each timestamp is appended once and trimmed once.
        """
        now = _now()
        times = self.times
        times.append(now)
        threshold = now - self.max_seconds
        while times[0] < threshold:
            times.popleft()
        if len(times) <= self.max_restarts:
            return False
        report(
            sup,
            "shutdown",
            f"reached_max_restart_intensity: more than {self.max_restarts} "
            f"restarts in {self.max_seconds} s",
            spec,
            pid,
        )
        return True


def check_intensity(max_restarts: Any, max_seconds: Any) -> float:
    """Check the intensity flags; return ``max_seconds`` as a float."""
    if max_restarts.__class__ is not int or max_restarts < 0:
        raise BadArgument(f"max_restarts must be an int >= 0; got {max_restarts!r}")
    if (
        not isinstance(max_seconds, (int, float))
        or max_seconds.__class__ is bool
        or not max_seconds > 0
    ):
        raise BadArgument(f"max_seconds must be a number of seconds > 0; got {max_seconds!r}")
    return float(max_seconds)


class TryAgain:
    """Sent to itself to retry a failed restart (OTP's ``try_again_restart``)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"TryAgain({self.key!r})"


def restart(
    sup: Any, spec: ChildSpec, key: Any, pid: Pid | None, extra: tuple[Any, ...] = ()
) -> tuple[bool, Any]:
    """Start a child again: ``(True, pid or None)``, or ``(False, reason)`` when it
    failed, reported, with ``TryAgain(key)`` sent to the supervisor to retry later."""
    ok, result = start(spec, extra)
    if ok:
        progress(sup, "restarted", spec, result)
    else:
        report(sup, "start_error", result, spec, pid)
        send(self_pid(), TryAgain(key))
    return ok, result


# -- shutting children down ----------------------------------------------------------


def is_expected(reason: Any, spec: ChildSpec) -> bool:
    """Is ``reason`` what a child stopped by its supervisor may exit with?"""
    if reason.__class__ is str:
        if reason == "killed" and spec.shutdown == BRUTAL_KILL:
            return True
        if reason == "shutdown" and spec.shutdown != BRUTAL_KILL:
            return True
    return spec.restart != PERMANENT and is_shutdown_reason(reason)


def shutdown(sup: Any, children: Iterable[tuple[Pid, ChildSpec]]) -> None:
    """Stop ``children`` concurrently, each as its ``shutdown`` says (OTP's
    ``shutdown/1``, Elixir's ``terminate_children``); report the ones that exit with an
    unexpected reason. Blocks until all have exited."""
    waiting: dict[Ref, tuple[Pid, ChildSpec]] = {}
    deadlines: list[tuple[float, int, Ref]] = []
    begun = time.monotonic()
    for pid, spec in children:
        ref = monitor(pid)
        unlink(pid)  # from now on its exit comes as the Down only
        exited = receive(Exit(pid, ANY), timeout=0, default=None)
        if exited is not None:  # it had exited already
            receive(Down(ref, ANY, ANY))
            if not is_expected(exited.reason, spec):
                report(sup, "shutdown_error", exited.reason, spec, pid)
            continue
        if spec.shutdown == BRUTAL_KILL:
            exit_process(pid, "kill")
        else:
            exit_process(pid, "shutdown")
            if spec.shutdown != INFINITY:
                assert isinstance(spec.shutdown, float)
                heapq.heappush(deadlines, (begun + spec.shutdown, len(deadlines), ref))
        waiting[ref] = (pid, spec)

    def awaited(message: Any) -> bool:
        return message.__class__ is Down and message.ref in waiting

    while waiting:
        while deadlines and deadlines[0][2] not in waiting:
            heapq.heappop(deadlines)
        timeout = max(0.0, deadlines[0][0] - time.monotonic()) if deadlines else None
        down = receive(awaited, timeout=timeout, default=None)
        if down is None:  # the earliest shutdown times have passed: kill those children
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                ref = heapq.heappop(deadlines)[2]
                if ref in waiting:
                    exit_process(waiting[ref][0], "kill")
            continue
        pid, spec = waiting.pop(down.ref)
        if not is_expected(down.reason, spec):
            report(sup, "shutdown_error", down.reason, spec, pid)


# -- reports -------------------------------------------------------------------------


def name_of(state: Any) -> Any:
    """How reports name the supervisor whose state is ``state``: its name, or its pid."""
    name = getattr(state, "name", None)
    return name if name is not None else self_pid()


def _offender(spec: ChildSpec, pid: Any) -> dict[str, Any]:
    return {
        "pid": pid,
        "id": spec.id,
        "start": spec.start,
        "restart": spec.restart,
        "shutdown": spec.shutdown,
        "type": spec.type,
    }


def report(sup: Any, context: str, reason: Any, spec: ChildSpec, pid: Any) -> None:
    """One supervisor report on ``beamlike.supervisor`` (OTP's SUPERVISOR REPORT)."""
    if not log.isEnabledFor(logging.ERROR):
        return
    args: tuple[Any, ...]
    if context == "child_terminated":
        text, args = "child %r (%r) terminated with reason %r", (spec.id, pid, reason)
    elif context == "start_error":
        text, args = "child %r failed to start: %r", (spec.id, reason)
    elif context == "shutdown_error":
        text = "child %r (%r) exited with reason %r while being shut down"
        args = (spec.id, pid, reason)
    else:  # "shutdown"
        text = "child %r (%r) exited once too often: %s; shutting down"
        args = (spec.id, pid, reason)
    log.error(
        "supervisor %r: " + text,
        sup,
        *args,
        extra={
            "supervisor_report": {
                "supervisor": sup,
                "context": context,
                "reason": reason,
                "offender": _offender(spec, pid),
            }
        },
    )


def progress(sup: Any, context: str, spec: ChildSpec, pid: Any) -> None:
    """A progress report: ``restarted`` at INFO, ``started`` at DEBUG."""
    level = logging.INFO if context == "restarted" else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "supervisor %r: %s child %r as %r",
        sup,
        context,
        spec.id,
        pid,
        extra={
            "supervisor_report": {
                "supervisor": sup,
                "context": context,
                "offender": _offender(spec, pid),
            }
        },
    )


def log_unexpected(state: Any, what: str, message: Any) -> None:
    """Report a cast or message a supervisor does not understand."""
    log.error("supervisor %r received an unexpected %s: %r", name_of(state), what, message)


# -- the generic servers -------------------------------------------------------------


class Boot:
    """The argument the generic supervisor's own ``init`` gets."""

    __slots__ = ("module", "arg", "name")

    def __init__(self, module: type, arg: Any, name: Any) -> None:
        self.module = module
        self.arg = arg
        self.name = name


def start_engine(
    start_fn: Callable[..., Pid | None], engine: type, boot: Boot, timeout: float | None
) -> Pid | None:
    """Start the generic server ``engine`` with ``gen_server.start_link`` or ``start``
    (``start_fn``). Blocks until it has started; a failed start is raised naming the
    child that failed, if one did."""
    try:
        return start_fn(engine, boot, name=boot.name, timeout=timeout)
    except StartError as exc:
        _explain(exc)


def _explain(exc: StartError) -> NoReturn:
    """Re-raise a supervisor's failed start, naming the child that failed."""
    reason = exc.reason
    if (
        reason.__class__ is tuple
        and len(reason) == 2
        and reason[0] == "shutdown"
        and reason[1].__class__ is tuple
        and len(reason[1]) == 3
        and reason[1][0] == "failed_to_start_child"
    ):
        _, cid, why = reason[1]
        error = StartError(
            reason, f"supervisor did not start: child {cid!r} failed to start: {why!r}"
        )
        raise error from (why if isinstance(why, BaseException) else None)
    raise exc


def init_spec(boot: Boot, spec_type: type, expected: str) -> Any:
    """The start of the generic server's ``init``: trap exits and run the module's
    ``init(arg)``. Returns its spec (a ``spec_type``), else the ``Ignore()`` or ``Stop``
    for ``init`` to return."""
    process_flag("trap_exit", True)
    spec = boot.module().init(boot.arg)
    if spec.__class__ is Ignore or isinstance(spec, spec_type):
        return spec
    return Stop(BadReturn(f"{boot.module.__name__}.init", spec, expected))


def supervisor_child_spec(cls: Any, arg: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The spec to run the supervisor class ``cls`` under another supervisor: as
    ``GenServer.child_spec``, with ``type="supervisor"``."""
    spec: dict[str, Any] = {"id": cls, "start": (cls.start_link, (arg,), {}), "type": SUPERVISOR}
    spec.update(overrides)
    return spec


class Failed:
    """A call's answer that the client raises."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def request(server: Any, message: tuple[Any, ...], timeout: float | None) -> Any:
    """Call the supervisor ``server``; raise the error it answered with. Blocks."""
    answer = gen_server.call(server, message, timeout)
    if answer.__class__ is Failed:
        raise answer.error
    return answer


def _alive(pid: Any) -> bool:
    if pid is None:
        return False
    proc = current_process().node.lookup(pid)
    return proc is not None and proc.pending_exit is None


def count(children: Iterable[tuple[ChildSpec, Any]]) -> dict[str, int]:
    """Counts of ``(spec, pid)`` pairs, as OTP's ``count_children``."""
    counts = {"specs": 0, "active": 0, "supervisors": 0, "workers": 0}
    for spec, pid in children:
        counts["specs"] += 1
        counts["active"] += _alive(pid)
        counts["supervisors" if spec.type == SUPERVISOR else "workers"] += 1
    return counts
