"""Supervisor: a process that starts, watches and restarts other processes (Erlang's
``supervisor``, Elixir's ``Supervisor``).

A supervisor is a GenServer that traps exits. It starts its children in order, links to
each, and when one exits it applies its *restart strategy*; when children crash too
often (more than ``max_restarts`` restarts within ``max_seconds``) it gives up: it stops
all children and exits with ``"shutdown"``, so that its own supervisor takes over.

=======================================  ============================================
client (all block until answered)        effect
=======================================  ============================================
``Supervisor.start_link(children, ...)`` start a supervisor of ``children`` (specs)
``MySup.start_link(arg, name=...)``      start a module-based supervisor: its
                                         ``init(arg)`` returns ``SupervisorSpec`` /
                                         ``Ignore()``
``start_child(sup, spec)``               start and add one more child
``terminate_child(sup, id)``             stop a child, keep its spec
``restart_child(sup, id)``               start a terminated child again
``delete_child(sup, id)``                forget a terminated child's spec
``which_children(sup)``                  ``ChildInfo`` for each child, in start order
``count_children(sup)``                  ``{"specs", "active", "supervisors", "workers"}``
``get_childspec(sup, id)``               the ``ChildSpec`` of a child
``stop(sup)``                            stop the children (reverse order), then it
=======================================  ============================================

A child spec says how to start a child (``start=(fn, args, kwargs)``: ``fn`` runs in
the supervisor, starts a process *linked to it* and returns its pid, or None to be
ignored), when to restart it (``restart``: ``"permanent"``, ``"transient"``,
``"temporary"``) and how to stop it (``shutdown``: seconds, ``"brutal_kill"``,
``"infinity"``). ``child_spec`` accepts the shorter forms: a GenServer subclass,
``(GenServerSubclass, arg)``, or a dict as ``GenServer.child_spec`` returns.

Strategies, when a child must be restarted:

- ``one_for_one``: restart that child only;
- ``one_for_all``: stop all other children (reverse start order), restart all in order;
- ``rest_for_one``: stop the children started after it (reverse order), restart it and
  them in order.

Example::

    class Counter(GenServer):
        def handle_call(self, request, from_, count):
            return Reply(count, count + 1)

    sup = Supervisor.start_link(
        [(Counter, 0), ChildSpec("other", (Counter.start_link, (10,), {"name": "other"}))],
        strategy="one_for_one",
    )
    [first, second] = which_children(sup)
    assert first.id is Counter and gen_server.call(first.pid, "next") == 0

Differences from OTP are listed in ``docs/supervisor.md``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from beamlike import gen_server
from beamlike._core.ids import Pid
from beamlike._core.node import current_process
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.gen_server import (
    BadReturn,
    From,
    GenServer,
    Ignore,
    NoReply,
    Ok,
    Reply,
    Stop,
)
from beamlike.messages import ANY, Down, Exit, is_shutdown_reason
from beamlike.proc_lib import StartError
from beamlike.process import exit as exit_process
from beamlike.process import monitor, process_flag, receive, self_pid, send, unlink

__all__ = [
    "AlreadyPresentError",
    "AlreadyStartedError",
    "ChildInfo",
    "ChildSpec",
    "ChildStartError",
    "NotFoundError",
    "RestartingError",
    "RunningError",
    "Supervisor",
    "SupervisorSpec",
    "child_spec",
    "count_children",
    "delete_child",
    "get_childspec",
    "restart_child",
    "start_child",
    "stop",
    "terminate_child",
    "which_children",
]

log = logging.getLogger("beamlike.supervisor")

PERMANENT = "permanent"
TRANSIENT = "transient"
TEMPORARY = "temporary"
BRUTAL_KILL = "brutal_kill"
INFINITY = "infinity"
WORKER = "worker"
SUPERVISOR = "supervisor"
RESTARTING = "restarting"
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

_RESTARTS = (PERMANENT, TRANSIENT, TEMPORARY)
_TYPES = (WORKER, SUPERVISOR)
_SPEC_KEYS = ("id", "start", "restart", "shutdown", "type", "modules")
_now = time.monotonic  # the clock of restart intensity (tests replace it)


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


# -- errors --------------------------------------------------------------------------


class AlreadyStartedError(BadArgument):
    """``start_child``: a child with this id is running (``pid``)."""

    def __init__(self, id: Any, pid: Any) -> None:  # noqa: A002 - OTP's name
        super().__init__(f"a child with id {id!r} is already started as {pid!r}")
        self.id = id
        self.pid = pid


class AlreadyPresentError(BadArgument):
    """``start_child``: a child with this id exists, not running (delete it first)."""

    def __init__(self, id: Any) -> None:  # noqa: A002
        super().__init__(
            f"a child with id {id!r} is already present (not running); "
            "restart_child or delete_child it first"
        )
        self.id = id


class NotFoundError(BadArgument):
    """No child with this id (or pid, for a DynamicSupervisor)."""

    def __init__(self, id: Any) -> None:  # noqa: A002
        super().__init__(f"the supervisor has no child {id!r}")
        self.id = id


class RunningError(BadArgument):
    """``restart_child``/``delete_child`` of a child that is running."""

    def __init__(self, id: Any, pid: Any = None) -> None:  # noqa: A002
        super().__init__(f"child {id!r} is running ({pid!r}); terminate_child it first")
        self.id = id
        self.pid = pid


class RestartingError(RunningError):
    """``restart_child``/``delete_child`` of a child the supervisor is restarting."""

    def __init__(self, id: Any) -> None:  # noqa: A002
        BadArgument.__init__(
            self, f"child {id!r} is being restarted by the supervisor; try again later"
        )
        self.id = id
        self.pid = None


class ChildStartError(StartError):
    """A child's start function failed (raised, or returned something not a Pid).

    Attributes:
        id: the child's id.
        reason: why (the ``StartError`` reason, or the exception raised).
    """

    def __init__(self, id: Any, reason: Any) -> None:  # noqa: A002
        super().__init__(reason, f"child {id!r} failed to start: {reason!r}")
        self.id = id


# -- child specs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Attributes:
        id: names the child within its supervisor (any hashable value).
        start: ``(fn, args)`` or ``(fn, args, kwargs)``. ``fn(*args, **kwargs)`` runs in
            the supervisor, must start a process linked to it and return its pid, or
            return None (the child is then ignored). Raising (``StartError`` or any
            exception) is a start failure. Stored as ``(fn, args_tuple, kwargs_dict)``.
        restart: ``"permanent"`` (always restarted), ``"transient"`` (restarted after
            an abnormal exit only) or ``"temporary"`` (never; forgotten when it exits).
        shutdown: seconds to wait after ``exit(pid, "shutdown")`` before killing it,
            ``"brutal_kill"`` (kill at once) or ``"infinity"``. None (the default) means
            5.0 for a worker and ``"infinity"`` for a supervisor.
        type: ``"worker"`` or ``"supervisor"``.
        modules: what ``which_children`` reports as the child's code; None means the
            class of a ``cls.start_link`` start function, else the function itself.
    """

    id: Any
    start: tuple[Any, ...]
    restart: str = PERMANENT
    shutdown: float | str | None = None
    type: str = WORKER
    modules: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        where = f"child spec {self.id!r}"
        try:
            hash(self.id)
        except TypeError:
            raise BadArgumentType(
                f"a child id must be hashable; got {self.id!r} (of type {type(self.id).__name__})"
            ) from None
        set_ = object.__setattr__
        set_(self, "start", _check_start(where, self.start))
        if self.restart not in _RESTARTS or self.restart.__class__ is not str:
            raise BadArgument(
                f"{where}: restart must be one of {_one_of(_RESTARTS)}; got {self.restart!r}"
            )
        if self.type not in _TYPES or self.type.__class__ is not str:
            raise BadArgument(f"{where}: type must be one of {_one_of(_TYPES)}; got {self.type!r}")
        set_(self, "shutdown", _check_shutdown(where, self.shutdown, self.type))
        modules = self.modules
        if modules is None:
            fn = self.start[0]
            owner = getattr(fn, "__self__", None)
            modules = (owner if isinstance(owner, type) else fn,)
        elif isinstance(modules, (list, tuple)):
            modules = tuple(modules)
        else:
            raise BadArgumentType(
                f"{where}: modules must be a tuple, a list or None; got {modules!r}"
            )
        set_(self, "modules", modules)


def _check_start(where: str, start: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    if start.__class__ is not tuple or len(start) not in (2, 3):
        raise BadArgument(
            f"{where}: start must be a tuple (fn, args) or (fn, args, kwargs); got {start!r}"
        )
    fn, args = start[0], start[1]
    kwargs = start[2] if len(start) == 3 else {}
    if not callable(fn):
        raise BadArgumentType(f"{where}: the start function must be callable; got {fn!r}")
    if not isinstance(args, (tuple, list)):
        raise BadArgumentType(f"{where}: start args must be a tuple or a list; got {args!r}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise BadArgumentType(f"{where}: start kwargs must be a dict; got {kwargs!r}")
    return fn, tuple(args), dict(kwargs)


def _check_shutdown(where: str, shutdown: Any, type_: str) -> float | str:
    if shutdown is None:
        return INFINITY if type_ == SUPERVISOR else 5.0
    if shutdown.__class__ is str and shutdown in (BRUTAL_KILL, INFINITY):
        return shutdown  # type: ignore[no-any-return]
    if (
        isinstance(shutdown, (int, float))
        and shutdown.__class__ is not bool
        and shutdown >= 0  # NaN fails this too
    ):
        return float(shutdown)
    raise BadArgument(
        f"{where}: shutdown must be a number of seconds >= 0, 'brutal_kill' or 'infinity'; "
        f"got {shutdown!r}"
    )


_ACCEPTED = (
    "a ChildSpec, a dict with keys 'id' and 'start' (and optionally 'restart', "
    "'shutdown', 'type', 'modules'), a GenServer subclass, or a (GenServer subclass, arg) "
    "tuple"
)


def child_spec(spec: Any, **overrides: Any) -> ChildSpec:
    """Normalise ``spec`` to a ``ChildSpec``, then apply ``overrides`` (field=value).

    Accepts a ``ChildSpec``; a dict with keys ``id``, ``start`` and optionally
    ``restart``, ``shutdown``, ``type``, ``modules`` (what ``GenServer.child_spec``
    returns); a GenServer subclass (``cls.child_spec(None)``); or a tuple
    ``(GenServerSubclass, arg)`` (``cls.child_spec(arg)``). Raises ``BadArgument``
    saying what is wrong. Never blocks.
    """
    normalised = _normalise(spec)
    if overrides:
        unknown = sorted(set(overrides) - set(_SPEC_KEYS))
        if unknown:
            raise BadArgument(
                f"unknown child spec field(s) {unknown}; the fields are {', '.join(_SPEC_KEYS)}"
            )
        normalised = replace(normalised, **overrides)
    return normalised


def _normalise(spec: Any) -> ChildSpec:
    if isinstance(spec, ChildSpec):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec, repr(spec))
    if isinstance(spec, type) and issubclass(spec, GenServer):
        return _from_module(spec, None)
    if (
        spec.__class__ is tuple
        and len(spec) == 2
        and isinstance(spec[0], type)
        and issubclass(spec[0], GenServer)
    ):
        return _from_module(spec[0], spec[1])
    raise BadArgument(
        f"a child spec must be {_ACCEPTED}; got {spec!r} (of type {type(spec).__name__})"
    )


def _from_dict(spec: dict[Any, Any], shown: str) -> ChildSpec:
    unknown = [key for key in spec if key not in _SPEC_KEYS]
    if unknown:
        raise BadArgument(
            f"child spec {shown} has unknown key(s) {unknown}; the keys are {', '.join(_SPEC_KEYS)}"
        )
    missing = [key for key in ("id", "start") if key not in spec]
    if missing:
        raise BadArgument(f"child spec {shown} lacks the key(s) {missing}")
    return ChildSpec(**spec)


def _from_module(cls: type[GenServer], arg: Any) -> ChildSpec:
    produced = cls.child_spec(arg)
    if isinstance(produced, ChildSpec):
        return produced
    shown = f"{cls.__name__}.child_spec({arg!r})"
    if isinstance(produced, dict):
        return _from_dict(produced, shown)
    raise BadArgument(f"{shown} returned {produced!r}; expected a dict or a ChildSpec")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One line of ``which_children``.

    ``pid`` is the child's pid, None when it is not running, or ``"restarting"`` while
    the supervisor retries a failed restart. ``id`` is None for DynamicSupervisor
    children.
    """

    id: Any
    pid: Pid | str | None
    type: str
    modules: tuple[Any, ...]


# -- supervisor flags ----------------------------------------------------------------


def _check_intensity(max_restarts: Any, max_seconds: Any) -> float:
    if max_restarts.__class__ is not int or max_restarts < 0:
        raise BadArgument(f"max_restarts must be an int >= 0; got {max_restarts!r}")
    if (
        not isinstance(max_seconds, (int, float))
        or max_seconds.__class__ is bool
        or not max_seconds > 0
    ):
        raise BadArgument(f"max_seconds must be a number of seconds > 0; got {max_seconds!r}")
    return float(max_seconds)


@dataclass(frozen=True, slots=True)
class SupervisorSpec(Ok):
    """What a supervisor's ``init`` returns: its children and flags.

    ``children`` may hold any form ``child_spec`` accepts; they are normalised to a
    tuple of ``ChildSpec`` (ids must be unique). Raises ``BadArgument`` for bad flags.

    It subclasses ``Ok`` only so that ``init`` overrides type-check against
    ``GenServer.init``; it is not a GenServer ``Ok`` (it has no ``state``).
    """

    children: Sequence[Any] = ()
    strategy: str = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.strategy.__class__ is not str or self.strategy not in STRATEGIES:
            raise BadArgument(
                f"strategy must be one of {_one_of(STRATEGIES)}; got {self.strategy!r}"
            )
        object.__setattr__(
            self, "max_seconds", _check_intensity(self.max_restarts, self.max_seconds)
        )
        if isinstance(self.children, (str, bytes, dict)) or not isinstance(
            self.children, (list, tuple)
        ):
            raise BadArgumentType(f"children must be a list of child specs; got {self.children!r}")
        specs = tuple(child_spec(child) for child in self.children)
        seen: set[Any] = set()
        for spec in specs:
            if spec.id in seen:
                raise BadArgument(f"duplicate child id {spec.id!r} in the supervisor's children")
            seen.add(spec.id)
        object.__setattr__(self, "children", specs)


# -- shared machinery (also used by dynamic_supervisor) ------------------------------


class _Intensity:
    """Restart intensity: timestamps of recent restarts, oldest on the left."""

    __slots__ = ("max_restarts", "max_seconds", "times")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.times: deque[float] = deque()

    def add(self) -> bool:
        """Record a restart now; True if there were more than allowed in the period.

        O(1) amortised: each timestamp is appended once and trimmed once.
        """
        now = _now()
        times = self.times
        times.append(now)
        threshold = now - self.max_seconds
        while times[0] < threshold:
            times.popleft()
        return len(times) > self.max_restarts


class _Failed:
    """A call's answer that the client raises."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _TryAgain:
    """Sent to itself to retry a failed restart (OTP's ``try_again_restart``)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"_TryAgain({self.key!r})"


_OK: Any = object()


def _start(spec: ChildSpec, extra: tuple[Any, ...] = ()) -> tuple[bool, Any]:
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


def _is_expected(reason: Any, spec: ChildSpec) -> bool:
    """Is ``reason`` what a child stopped by its supervisor may exit with?"""
    if reason.__class__ is str:
        if reason == "killed" and spec.shutdown == BRUTAL_KILL:
            return True
        if reason == "shutdown" and spec.shutdown != BRUTAL_KILL:
            return True
    return spec.restart != PERMANENT and is_shutdown_reason(reason)


def _shutdown(pid: Pid, spec: ChildSpec) -> Any:
    """Stop the child ``pid`` as ``spec.shutdown`` says; return ``_OK`` or the unexpected
    exit reason. Blocks until it has exited (OTP's ``shutdown/1``)."""
    ref = monitor(pid)
    down_pattern = Down(ref, ANY, ANY)
    if spec.shutdown == BRUTAL_KILL:
        exit_process(pid, "kill")
        down = receive(down_pattern)
    else:
        exit_process(pid, "shutdown")
        timeout = spec.shutdown if isinstance(spec.shutdown, float) else None  # infinity
        down = receive(down_pattern, timeout=timeout, default=None)
        if down is None:
            exit_process(pid, "kill")
            down = receive(down_pattern)
    # The link delivered Exit(pid, reason) before the Down: take it out of the mailbox.
    unlink(pid)
    exited = receive(Exit(pid, ANY), timeout=0, default=None)
    reason = exited.reason if exited is not None else down.reason
    return _OK if _is_expected(reason, spec) else reason


def _offender(spec: ChildSpec, pid: Any) -> dict[str, Any]:
    return {
        "pid": pid,
        "id": spec.id,
        "start": spec.start,
        "restart": spec.restart,
        "shutdown": spec.shutdown,
        "type": spec.type,
    }


def _report(sup: Any, context: str, reason: Any, spec: ChildSpec, pid: Any) -> None:
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


def _progress(sup: Any, context: str, spec: ChildSpec, pid: Any) -> None:
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


def _request(server: Any, request: tuple[Any, ...], timeout: float | None) -> Any:
    answer = gen_server.call(server, request, timeout)
    if answer.__class__ is _Failed:
        raise answer.error
    return answer


# -- the supervisor server -----------------------------------------------------------


class _Child:
    __slots__ = ("spec", "pid", "restarting")

    def __init__(self, spec: ChildSpec, pid: Pid | None) -> None:
        self.spec = spec
        self.pid = pid
        self.restarting = False

    def __repr__(self) -> str:
        shown = RESTARTING if self.restarting else self.pid
        return f"_Child({self.spec.id!r}, {shown!r})"


class _State:
    """A supervisor's state: its flags and its children in start order."""

    __slots__ = ("name", "strategy", "intensity", "children", "by_pid", "module", "arg")

    def __init__(self, name: Any, spec: SupervisorSpec, module: Any, arg: Any) -> None:
        self.name = name
        self.strategy = spec.strategy
        self.intensity = _Intensity(spec.max_restarts, spec.max_seconds)
        self.children: dict[Any, _Child] = {}  # id -> child, in start order
        self.by_pid: dict[Pid, Any] = {}  # pid -> id of the running children
        self.module = module
        self.arg = arg

    def __repr__(self) -> str:
        return f"<supervisor state {self.strategy} {list(self.children.values())!r}>"


class _Boot:
    """The argument the generic supervisor's own ``init`` gets."""

    __slots__ = ("module", "arg", "name")

    def __init__(self, module: type[Supervisor], arg: Any, name: Any) -> None:
        self.module = module
        self.arg = arg
        self.name = name


class Supervisor(GenServer):
    """Base class of supervisors; ``Supervisor.start_link(children, ...)`` starts one
    directly.

    A module-based supervisor subclasses it and overrides ``init(arg)`` only, returning
    ``SupervisorSpec(children, strategy=..., max_restarts=..., max_seconds=...)`` or
    ``Ignore()``. The other GenServer callbacks belong to the generic supervisor.
    """

    def init(self, arg: Any) -> SupervisorSpec | Ignore:
        """Return the children and flags. The default returns ``arg`` when it is a
        ``SupervisorSpec`` (what ``Supervisor.start_link(children, ...)`` passes)."""
        if isinstance(arg, SupervisorSpec):
            return arg
        raise BadArgument(
            f"{type(self).__name__} must override init(arg) to return "
            f"SupervisorSpec(children, ...) or Ignore(); got arg {arg!r}"
        )

    # -- starting ---------------------------------------------------------------------

    @classmethod
    def start_link(  # type: ignore[override]
        cls,
        arg: Any = None,
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: Any = None,
        timeout: float | None = None,
    ) -> Pid | None:
        """Start a supervisor linked to the caller.

        ``Supervisor.start_link(children, strategy=..., max_restarts=...,
        max_seconds=..., name=...)`` supervises ``children`` (a list of child specs in
        any form ``child_spec`` accepts). ``MySup.start_link(arg, name=...)`` runs
        ``MySup().init(arg)`` for the children and flags.

        Blocks until every child has started: returns the supervisor's pid (None if
        ``init`` returned ``Ignore()``). If a child fails to start, the ones already
        started are stopped in reverse order and ``StartError`` is raised with reason
        ``("shutdown", ("failed_to_start_child", id, reason))``. Bad specs or flags
        raise ``BadArgument`` here; a taken ``name`` raises
        ``gen_server.AlreadyStartedError``.
        """
        boot = cls._boot(arg, strategy, max_restarts, max_seconds, name)
        try:
            return gen_server.start_link(_Engine, boot, name=name, timeout=timeout)
        except StartError as exc:
            _explain(exc)

    @classmethod
    def start(  # type: ignore[override]
        cls,
        arg: Any = None,
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: Any = None,
        timeout: float | None = None,
    ) -> Pid | None:
        """As ``start_link``, without a link to the caller. Blocks the same way."""
        boot = cls._boot(arg, strategy, max_restarts, max_seconds, name)
        try:
            return gen_server.start(_Engine, boot, name=name, timeout=timeout)
        except StartError as exc:
            _explain(exc)

    @classmethod
    def _boot(
        cls, arg: Any, strategy: str, max_restarts: int, max_seconds: float, name: Any
    ) -> _Boot:
        flags_given = (strategy, max_restarts, max_seconds) != ("one_for_one", 3, 5.0)
        if cls is Supervisor and isinstance(arg, SupervisorSpec) and flags_given:
            raise BadArgument(
                "give the flags either in the SupervisorSpec or as keywords, not both"
            )
        if cls is Supervisor:
            if not isinstance(arg, SupervisorSpec):
                arg = SupervisorSpec(
                    [] if arg is None else arg,
                    strategy=strategy,
                    max_restarts=max_restarts,
                    max_seconds=max_seconds,
                )
        elif flags_given:
            raise BadArgument(
                f"{cls.__name__} is a module-based supervisor: its init returns the flags; "
                "strategy=, max_restarts= and max_seconds= are for "
                "Supervisor.start_link(children, ...)"
            )
        return _Boot(cls, arg, name)

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> dict[str, Any]:
        """The spec to run this supervisor under another one: as
        ``GenServer.child_spec``, with ``type="supervisor"``."""
        spec: dict[str, Any] = {
            "id": cls,
            "start": (cls.start_link, (arg,), {}),
            "type": SUPERVISOR,
        }
        spec.update(overrides)
        return spec

    # -- generic callbacks (run in the supervisor) -------------------------------------

    def handle_call(self, request: Any, from_: From, state: Any) -> Reply | NoReply | Stop:
        kind = request[0] if request.__class__ is tuple and request else request
        try:
            if kind == "which_children":
                return Reply(
                    [
                        ChildInfo(
                            cid,
                            RESTARTING if child.restarting else child.pid,
                            child.spec.type,
                            child.spec.modules or (),
                        )
                        for cid, child in state.children.items()
                    ],
                    state,
                )
            if kind == "count_children":
                return Reply(_count((c.spec, c.pid) for c in state.children.values()), state)
            if kind == "start_child":
                return Reply(self._start_child(state, child_spec(request[1])), state)
            if kind == "terminate_child":
                child = self._find(state, request[1])
                self._terminate(state, child)
                return Reply(None, state)
            if kind == "restart_child":
                return Reply(self._restart_child(state, request[1]), state)
            if kind == "delete_child":
                child = self._find(state, request[1])
                self._check_stopped(child)
                del state.children[child.spec.id]
                return Reply(None, state)
            if kind == "get_childspec":
                return Reply(self._find(state, request[1]).spec, state)
        except (BadArgument, StartError) as exc:  # the caller's mistake, or its child's
            return Reply(_Failed(exc), state)
        return Reply(_Failed(BadArgument(f"a supervisor does not understand {request!r}")), state)

    def handle_cast(self, request: Any, state: Any) -> NoReply | Stop:
        log.error("supervisor %r received an unexpected cast: %r", _name(state), request)
        return NoReply(state)

    def handle_info(self, message: Any, state: Any) -> NoReply | Stop:
        cls = message.__class__
        if cls is Exit:
            cid = state.by_pid.pop(message.pid, _OK)
            if cid is _OK:
                return NoReply(state)  # a child already shut down, or a stranger
            child = state.children[cid]
            child.pid = None
            if self._child_exited(state, child, message.pid, message.reason):
                return Stop("shutdown", state)
            return NoReply(state)
        if cls is _TryAgain:
            child = state.children.get(message.key)
            if child is not None and child.restarting and self._restart(state, child, None):
                return Stop("shutdown", state)
            return NoReply(state)
        log.error("supervisor %r received an unexpected message: %r", _name(state), message)
        return NoReply(state)

    def terminate(self, reason: Any, state: Any) -> None:
        """Stop all children in reverse start order, each as its ``shutdown`` says."""
        if not isinstance(state, _State):
            return
        for child in reversed(list(state.children.values())):
            if child.pid is not None:
                self._stop_child(state, child)

    # -- internals ----------------------------------------------------------------------

    def _find(self, state: _State, cid: Any) -> _Child:
        try:
            child = state.children.get(cid)
        except TypeError:  # unhashable
            child = None
        if child is None:
            raise NotFoundError(cid)
        return child

    def _check_stopped(self, child: _Child) -> None:
        if child.restarting:
            raise RestartingError(child.spec.id)
        if child.pid is not None:
            raise RunningError(child.spec.id, child.pid)

    def _start_child(self, state: _State, spec: ChildSpec) -> Pid | None:
        existing = state.children.get(spec.id)
        if existing is not None:
            if existing.pid is not None:
                raise AlreadyStartedError(spec.id, existing.pid)
            raise AlreadyPresentError(spec.id)
        ok, result = _start(spec)
        if not ok:
            raise _start_failure(spec, result)
        _progress(_name(state), "started", spec, result)
        if result is None and spec.restart == TEMPORARY:
            return None
        state.children[spec.id] = _Child(spec, result)
        if result is not None:
            state.by_pid[result] = spec.id
        return result  # type: ignore[no-any-return]

    def _restart_child(self, state: _State, cid: Any) -> Pid | None:
        child = self._find(state, cid)
        self._check_stopped(child)
        ok, result = _start(child.spec)
        if not ok:
            raise _start_failure(child.spec, result)
        _progress(_name(state), "started", child.spec, result)
        self._set_pid(state, child, result)
        return result  # type: ignore[no-any-return]

    def _set_pid(self, state: _State, child: _Child, pid: Pid | None) -> None:
        child.pid = pid
        child.restarting = False
        if pid is not None:
            state.by_pid[pid] = child.spec.id

    def _stop_child(self, state: _State, child: _Child) -> None:
        """Shut a running child down (OTP's ``do_terminate``)."""
        pid = child.pid
        assert pid is not None
        state.by_pid.pop(pid, None)
        child.pid = None
        outcome = _shutdown(pid, child.spec)
        if outcome is not _OK:
            _report(_name(state), "shutdown_error", outcome, child.spec, pid)

    def _terminate(self, state: _State, child: _Child) -> None:
        """Stop a child and mark it terminated; a temporary child is forgotten."""
        if child.pid is not None:
            self._stop_child(state, child)
        child.restarting = False
        if child.spec.restart == TEMPORARY:
            state.children.pop(child.spec.id, None)

    def _child_exited(self, state: _State, child: _Child, pid: Pid, reason: Any) -> bool:
        """Apply the restart type; True when the supervisor must shut down."""
        restart = child.spec.restart
        if restart == PERMANENT:
            _report(_name(state), "child_terminated", reason, child.spec, pid)
            return self._restart(state, child, pid)
        if is_shutdown_reason(reason):
            self._terminate(state, child)
            return False
        _report(_name(state), "child_terminated", reason, child.spec, pid)
        if restart == TRANSIENT:
            return self._restart(state, child, pid)
        self._terminate(state, child)
        return False

    def _restart(self, state: _State, child: _Child, old_pid: Pid | None) -> bool:
        """Restart ``child`` (and others, by the strategy); True to shut down."""
        if state.intensity.add():
            intensity = state.intensity
            _report(
                _name(state),
                "shutdown",
                f"reached_max_restart_intensity: more than {intensity.max_restarts} "
                f"restarts in {intensity.max_seconds} s",
                child.spec,
                old_pid,
            )
            self._terminate(state, child)
            return True
        child.restarting = False
        ids = list(state.children)
        if state.strategy == "one_for_one":
            group = [child.spec.id]
        elif state.strategy == "one_for_all":
            group = ids
        else:
            group = ids[ids.index(child.spec.id) :]
        for cid in reversed(group):
            other = state.children[cid]
            if other is not child:
                self._terminate(state, other)
        for cid in group:
            member = state.children.get(cid)
            if member is None:
                continue  # a temporary child, stopped above and forgotten
            ok, result = _start(member.spec)
            if not ok:
                _report(_name(state), "start_error", result, member.spec, member.pid)
                member.restarting = True
                send(self_pid(), _TryAgain(cid))
                return False
            _progress(_name(state), "restarted", member.spec, result)
            self._set_pid(state, member, result)
        return False


class _Engine(Supervisor):
    """The GenServer that runs every supervisor: boots from the user's ``init``."""

    def init(self, boot: _Boot) -> Ok | Ignore | Stop:  # type: ignore[override]  # the engine's
        process_flag("trap_exit", True)
        module = boot.module()
        spec = module.init(boot.arg)
        if spec.__class__ is Ignore:
            return Ignore()
        if not isinstance(spec, SupervisorSpec):
            return Stop(
                BadReturn(
                    f"{boot.module.__name__}.init",
                    spec,
                    "SupervisorSpec(children, ...) or Ignore()",
                )
            )
        state = _State(boot.name, spec, module, boot.arg)
        for child in spec.children:
            ok, result = _start(child)
            if not ok:
                _report(_name(state), "start_error", result, child, None)
                self.terminate("shutdown", state)
                return Stop(("shutdown", ("failed_to_start_child", child.id, result)))
            _progress(_name(state), "started", child, result)
            if result is None and child.restart == TEMPORARY:
                continue
            state.children[child.id] = _Child(child, result)
            if result is not None:
                state.by_pid[result] = child.id
        return Ok(state)


def _start_failure(spec: ChildSpec, reason: Any) -> ChildStartError:
    error = ChildStartError(spec.id, reason)
    if isinstance(reason, BaseException):
        error.__cause__ = reason
    return error


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


def _name(state: Any) -> Any:
    name = getattr(state, "name", None)
    return name if name is not None else self_pid()


def _alive(pid: Any) -> bool:
    if pid is None:
        return False
    proc = current_process().node.lookup(pid)
    return proc is not None and proc.pending_exit is None


def _count(children: Any) -> dict[str, int]:
    """Counts of ``(spec, pid)`` pairs, as OTP's ``count_children``."""
    counts = {"specs": 0, "active": 0, "supervisors": 0, "workers": 0}
    for spec, pid in children:
        counts["specs"] += 1
        counts["active"] += _alive(pid)
        counts["supervisors" if spec.type == SUPERVISOR else "workers"] += 1
    return counts


# -- client functions ----------------------------------------------------------------


def start_child(sup: Any, spec: Any, *, timeout: float | None = None) -> Pid | None:
    """Start a child with ``spec`` (any form ``child_spec`` accepts) and add it last.

    Blocks until it has started: returns its pid, or None when its start function
    returned None (a temporary child is then not kept). Raises ``AlreadyStartedError``
    / ``AlreadyPresentError`` if its id is taken, ``ChildStartError`` if it failed to
    start, ``BadArgument`` for a bad spec (here, before anything is sent).
    """
    return _request(sup, ("start_child", child_spec(spec)), timeout)  # type: ignore[no-any-return]


def terminate_child(sup: Any, id: Any, *, timeout: float | None = None) -> None:  # noqa: A002
    """Stop the child ``id`` (as its ``shutdown`` says); its spec is kept, except for a
    temporary child's. Blocks until it has exited. Raises ``NotFoundError``."""
    _request(sup, ("terminate_child", id), timeout)


def restart_child(sup: Any, id: Any, *, timeout: float | None = None) -> Pid | None:  # noqa: A002
    """Start the terminated child ``id`` again; return its pid (None if ignored).

    Blocks until it has started. Raises ``NotFoundError``, ``RunningError``,
    ``RestartingError``, ``ChildStartError``.
    """
    return _request(sup, ("restart_child", id), timeout)  # type: ignore[no-any-return]


def delete_child(sup: Any, id: Any, *, timeout: float | None = None) -> None:  # noqa: A002
    """Forget the spec of the terminated child ``id``. Blocks until done. Raises
    ``NotFoundError``, ``RunningError``, ``RestartingError``."""
    _request(sup, ("delete_child", id), timeout)


def get_childspec(sup: Any, id: Any, *, timeout: float | None = None) -> ChildSpec:  # noqa: A002
    """The ``ChildSpec`` of child ``id``. Blocks until answered. Raises
    ``NotFoundError``."""
    return _request(sup, ("get_childspec", id), timeout)  # type: ignore[no-any-return]


def which_children(sup: Any, *, timeout: float | None = None) -> list[ChildInfo]:
    """A ``ChildInfo(id, pid, type, modules)`` per child, in start order (for a
    DynamicSupervisor: ids are None). Blocks until answered."""
    return _request(sup, ("which_children",), timeout)  # type: ignore[no-any-return]


def count_children(sup: Any, *, timeout: float | None = None) -> dict[str, int]:
    """``{"specs": ..., "active": ..., "supervisors": ..., "workers": ...}``: all
    children, the running ones, and how many are of each type. Blocks until
    answered."""
    return _request(sup, ("count_children",), timeout)  # type: ignore[no-any-return]


def stop(sup: Any, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop the supervisor: its children are stopped in reverse start order, then it
    exits with ``reason``. Blocks until it has exited (``gen_server.stop``)."""
    gen_server.stop(sup, reason, timeout)
