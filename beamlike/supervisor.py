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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from beamlike import gen_server
from beamlike._core.ids import Pid
from beamlike._supervising import (
    BRUTAL_KILL,
    INFINITY,
    PERMANENT,
    RESTARTING,
    SUPERVISOR,
    TEMPORARY,
    TRANSIENT,
    WORKER,
    Boot,
    ChildStartError,
    Failed,
    Intensity,
    TryAgain,
    check_intensity,
    count,
    init_spec,
    log_unexpected,
    must_restart,
    name_of,
    progress,
    report,
    request,
    restart,
    shutdown,
    start,
    start_engine,
    start_or_raise,
    supervisor_child_spec,
)
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.gen_server import From, GenServer, Ignore, NoReply, Ok, Reply, Stop
from beamlike.messages import Exit
from beamlike.proc_lib import StartError

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

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

_RESTARTS = (PERMANENT, TRANSIENT, TEMPORARY)
_TYPES = (WORKER, SUPERVISOR)
_SPEC_KEYS = ("id", "start", "restart", "shutdown", "type", "modules")
_MISSING: Any = object()


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
        where = _Where(self.id)  # formatted only into an error message
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


class _Where:
    """``child spec <id>``, for error messages; formats the id only when shown."""

    __slots__ = ("id",)

    def __init__(self, id: Any) -> None:  # noqa: A002
        self.id = id

    def __str__(self) -> str:
        return f"child spec {self.id!r}"


def _check_start(where: Any, start: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
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


def _check_shutdown(where: Any, shutdown: Any, type_: str) -> float | str:
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
        return _from_dict(spec, spec)
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


def _from_dict(spec: dict[Any, Any], shown: Any) -> ChildSpec:
    """A ChildSpec from a dict; ``shown`` is what error messages show as the spec."""
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
            self, "max_seconds", check_intensity(self.max_restarts, self.max_seconds)
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

    __slots__ = ("name", "strategy", "intensity", "children", "by_pid")

    def __init__(self, name: Any, spec: SupervisorSpec) -> None:
        self.name = name
        self.strategy = spec.strategy
        self.intensity = Intensity(spec.max_restarts, spec.max_seconds)
        self.children: dict[Any, _Child] = {}  # id -> child, in start order
        self.by_pid: dict[Pid, Any] = {}  # pid -> id of the running children

    def __repr__(self) -> str:
        return f"<supervisor state {self.strategy} {list(self.children.values())!r}>"


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
        return start_engine(gen_server.start_link, _Engine, boot, timeout)

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
        return start_engine(gen_server.start, _Engine, boot, timeout)

    @classmethod
    def _boot(
        cls, arg: Any, strategy: str, max_restarts: int, max_seconds: float, name: Any
    ) -> Boot:
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
        return Boot(cls, arg, name)

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> dict[str, Any]:
        """The spec to run this supervisor under another one: as
        ``GenServer.child_spec``, with ``type="supervisor"``."""
        return supervisor_child_spec(cls, arg, overrides)

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
                return Reply(count((c.spec, c.pid) for c in state.children.values()), state)
            if kind == "start_child":  # the client normalised the spec
                return Reply(self._start_child(state, request[1]), state)
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
            return Reply(Failed(exc), state)
        return Reply(Failed(BadArgument(f"a supervisor does not understand {request!r}")), state)

    def handle_cast(self, request: Any, state: Any) -> NoReply | Stop:
        log_unexpected(state, "cast", request)
        return NoReply(state)

    def handle_info(self, message: Any, state: Any) -> NoReply | Stop:
        cls = message.__class__
        if cls is Exit:
            cid = state.by_pid.pop(message.pid, _MISSING)
            if cid is _MISSING:
                return NoReply(state)  # a child already shut down, or a stranger
            child = state.children[cid]
            child.pid = None
            if self._child_exited(state, child, message.pid, message.reason):
                return Stop("shutdown", state)
            return NoReply(state)
        if cls is TryAgain:
            child = state.children.get(message.key)
            if child is not None and child.restarting and self._restart(state, child, None):
                return Stop("shutdown", state)
            return NoReply(state)
        log_unexpected(state, "message", message)
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
        pid = start_or_raise(name_of(state), spec)
        self._add(state, spec, pid)
        return pid

    def _add(self, state: _State, spec: ChildSpec, pid: Pid | None) -> None:
        """Keep a child that started as ``pid`` (an ignored temporary child is not kept)."""
        if pid is None and spec.restart == TEMPORARY:
            return
        state.children[spec.id] = _Child(spec, pid)
        if pid is not None:
            state.by_pid[pid] = spec.id

    def _restart_child(self, state: _State, cid: Any) -> Pid | None:
        child = self._find(state, cid)
        self._check_stopped(child)
        pid = start_or_raise(name_of(state), child.spec)
        self._set_pid(state, child, pid)
        return pid

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
        shutdown(name_of(state), [(pid, child.spec)])

    def _terminate(self, state: _State, child: _Child) -> None:
        """Stop a child and mark it terminated; a temporary child is forgotten."""
        if child.pid is not None:
            self._stop_child(state, child)
        child.restarting = False
        if child.spec.restart == TEMPORARY:
            state.children.pop(child.spec.id, None)

    def _child_exited(self, state: _State, child: _Child, pid: Pid, reason: Any) -> bool:
        """Apply the restart type; True when the supervisor must shut down."""
        if must_restart(name_of(state), child.spec, pid, reason):
            return self._restart(state, child, pid)
        self._terminate(state, child)
        return False

    def _restart(self, state: _State, child: _Child, old_pid: Pid | None) -> bool:
        """Restart ``child`` (and others, by the strategy); True to shut down."""
        sup = name_of(state)
        if state.intensity.exceeded(sup, child.spec, old_pid):
            self._terminate(state, child)
            return True
        child.restarting = False
        if state.strategy == "one_for_one":
            group = [child.spec.id]
        else:
            ids = list(state.children)
            group = ids if state.strategy == "one_for_all" else ids[ids.index(child.spec.id) :]
            for cid in reversed(group):
                other = state.children[cid]
                if other is not child:
                    self._terminate(state, other)
        for cid in group:
            member = state.children.get(cid)
            if member is None:
                continue  # a temporary child, stopped above and forgotten
            ok, result = restart(sup, member.spec, cid, member.pid)
            if not ok:
                member.restarting = True
                return False
            self._set_pid(state, member, result)
        return False


class _Engine(Supervisor):
    """The GenServer that runs every supervisor: boots from the user's ``init``."""

    def init(self, boot: Boot) -> Ok | Ignore | Stop:  # type: ignore[override]  # the engine's
        spec = init_spec(boot, SupervisorSpec, "SupervisorSpec(children, ...) or Ignore()")
        if not isinstance(spec, SupervisorSpec):
            return spec  # type: ignore[no-any-return]
        state = _State(boot.name, spec)
        sup = name_of(state)
        for child in spec.children:
            ok, result = start(child)
            if not ok:
                report(sup, "start_error", result, child, None)
                self.terminate("shutdown", state)
                return Stop(("shutdown", ("failed_to_start_child", child.id, result)))
            progress(sup, "started", child, result)
            self._add(state, child, result)
        return Ok(state)


# -- client functions ----------------------------------------------------------------


def start_child(sup: Any, spec: Any, *, timeout: float | None = None) -> Pid | None:
    """Start a child with ``spec`` (any form ``child_spec`` accepts) and add it last.

    Blocks until it has started: returns its pid, or None when its start function
    returned None (a temporary child is then not kept). Raises ``AlreadyStartedError``
    / ``AlreadyPresentError`` if its id is taken, ``ChildStartError`` if it failed to
    start, ``BadArgument`` for a bad spec (here, before anything is sent).
    """
    return request(sup, ("start_child", child_spec(spec)), timeout)  # type: ignore[no-any-return]


def terminate_child(sup: Any, id: Any, *, timeout: float | None = None) -> None:  # noqa: A002
    """Stop the child ``id`` (as its ``shutdown`` says); its spec is kept, except for a
    temporary child's. Blocks until it has exited. Raises ``NotFoundError``."""
    request(sup, ("terminate_child", id), timeout)


def restart_child(sup: Any, id: Any, *, timeout: float | None = None) -> Pid | None:  # noqa: A002
    """Start the terminated child ``id`` again; return its pid (None if ignored).

    Blocks until it has started. Raises ``NotFoundError``, ``RunningError``,
    ``RestartingError``, ``ChildStartError``.
    """
    return request(sup, ("restart_child", id), timeout)  # type: ignore[no-any-return]


def delete_child(sup: Any, id: Any, *, timeout: float | None = None) -> None:  # noqa: A002
    """Forget the spec of the terminated child ``id``. Blocks until done. Raises
    ``NotFoundError``, ``RunningError``, ``RestartingError``."""
    request(sup, ("delete_child", id), timeout)


def get_childspec(sup: Any, id: Any, *, timeout: float | None = None) -> ChildSpec:  # noqa: A002
    """The ``ChildSpec`` of child ``id``. Blocks until answered. Raises
    ``NotFoundError``."""
    return request(sup, ("get_childspec", id), timeout)  # type: ignore[no-any-return]


def which_children(sup: Any, *, timeout: float | None = None) -> list[ChildInfo]:
    """A ``ChildInfo(id, pid, type, modules)`` per child, in start order (for a
    DynamicSupervisor: ids are None). Blocks until answered."""
    return request(sup, ("which_children",), timeout)  # type: ignore[no-any-return]


def count_children(sup: Any, *, timeout: float | None = None) -> dict[str, int]:
    """``{"specs": ..., "active": ..., "supervisors": ..., "workers": ...}``: all
    children, the running ones, and how many are of each type. Blocks until
    answered."""
    return request(sup, ("count_children",), timeout)  # type: ignore[no-any-return]


def stop(sup: Any, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop the supervisor: its children are stopped in reverse start order, then it
    exits with ``reason``. Blocks until it has exited (``gen_server.stop``)."""
    gen_server.stop(sup, reason, timeout)
