"""DynamicSupervisor: a supervisor that starts with no children and has them added on
demand (Elixir's ``DynamicSupervisor``, OTP's ``simple_one_for_one``).

Children are identified by pid (their specs' ids are ignored); every child is restarted
on its own (strategy ``one_for_one``) by the same rules as a Supervisor's:
``"permanent"`` always, ``"transient"`` after an abnormal exit, ``"temporary"`` never,
and more than ``max_restarts`` restarts within ``max_seconds`` make it stop all
children and exit with ``"shutdown"``.

==============================================  ======================================
client (all block until answered)               effect
==============================================  ======================================
``DynamicSupervisor.start_link(*, ...)``        start one (flags as keywords)
``MyDynSup.start_link(arg, name=...)``          module-based: ``init(arg)`` returns
                                                ``DynamicSupervisorSpec`` / ``Ignore()``
``start_child(sup, spec) -> Pid | None``        start a child (``MaxChildrenError``)
``terminate_child(sup, pid)``                   stop a child and forget it
``which_children(sup)``                         ``ChildInfo(None, pid, type, modules)``
``count_children(sup)``                         ``{"specs", "active", "supervisors",
                                                "workers"}``
``stop(sup)``                                   stop all children at once, then it
==============================================  ======================================

``extra_arguments`` are put before each child's own start arguments:
``fn(*extra_arguments, *args, **kwargs)``. ``max_children`` bounds how many children
(running or being restarted) it holds.

Example::

    sup = DynamicSupervisor.start_link(max_children=100, name="workers")
    pid = start_child("workers", (Counter, 0))        # Counter.start_link(0)
    assert count_children("workers")["active"] == 1
    terminate_child("workers", pid)

When it stops, all its children are shut down *concurrently*, as Elixir does: each gets
``exit(pid, "shutdown")`` (or ``"kill"`` for ``"brutal_kill"``) at once, and each is
killed when its own ``shutdown`` time has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beamlike import gen_server
from beamlike._core.ids import Pid
from beamlike._supervising import (
    RESTARTING,
    Boot,
    Failed,
    Intensity,
    TryAgain,
    check_intensity,
    count,
    init_spec,
    log_unexpected,
    must_restart,
    name_of,
    request,
    restart,
    shutdown,
    start_engine,
    start_or_raise,
    supervisor_child_spec,
)
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.gen_server import From, GenServer, Ignore, NoReply, Ok, Reply, Stop
from beamlike.messages import Exit
from beamlike.proc_lib import StartError
from beamlike.supervisor import ChildInfo, ChildSpec, NotFoundError, child_spec

__all__ = [
    "DynamicSupervisor",
    "DynamicSupervisorSpec",
    "MaxChildrenError",
    "count_children",
    "start_child",
    "stop",
    "terminate_child",
    "which_children",
]


class MaxChildrenError(BadArgument):
    """``start_child``: the supervisor already has ``max_children`` children."""

    def __init__(self, max_children: int) -> None:
        super().__init__(f"the supervisor already has its max_children ({max_children}) children")
        self.max_children = max_children


@dataclass(frozen=True, slots=True)
class DynamicSupervisorSpec(Ok):
    """What a DynamicSupervisor's ``init`` returns: its flags (an ``Ok`` subclass only so
    that ``init`` overrides type-check against ``GenServer.init``).

    ``strategy`` must be ``"one_for_one"`` (the only strategy, as in Elixir);
    ``max_children`` None means no limit. Raises ``BadArgument`` for bad flags.
    """

    strategy: str = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0
    max_children: int | None = None
    extra_arguments: Sequence[Any] = ()

    def __post_init__(self) -> None:
        if self.strategy != "one_for_one" or self.strategy.__class__ is not str:
            raise BadArgument(
                f"a DynamicSupervisor's strategy must be 'one_for_one'; got {self.strategy!r}"
            )
        object.__setattr__(
            self, "max_seconds", check_intensity(self.max_restarts, self.max_seconds)
        )
        limit = self.max_children
        if limit is not None and (limit.__class__ is not int or limit < 0):
            raise BadArgument(f"max_children must be None or an int >= 0; got {limit!r}")
        if not isinstance(self.extra_arguments, (tuple, list)):
            raise BadArgumentType(
                f"extra_arguments must be a tuple or a list; got {self.extra_arguments!r}"
            )
        object.__setattr__(self, "extra_arguments", tuple(self.extra_arguments))


class _Child:
    __slots__ = ("spec", "restarting")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.restarting = False

    def __repr__(self) -> str:
        return f"_Child({'restarting ' if self.restarting else ''}{self.spec.start[0]!r})"


class _State:
    """Flags and children: pid -> child, in start order (a restarted child moves to the
    end; a child being restarted stays under its old pid)."""

    __slots__ = ("name", "intensity", "max_children", "extra", "children")

    def __init__(self, name: Any, spec: DynamicSupervisorSpec) -> None:
        self.name = name
        self.intensity = Intensity(spec.max_restarts, spec.max_seconds)
        self.max_children = spec.max_children
        self.extra: tuple[Any, ...] = tuple(spec.extra_arguments)
        self.children: dict[Pid, _Child] = {}

    def __repr__(self) -> str:
        return f"<dynamic supervisor state {len(self.children)} children>"


_DEFAULT_FLAGS = ("one_for_one", 3, 5.0, None, ())


class DynamicSupervisor(GenServer):
    """Base class of dynamic supervisors; ``DynamicSupervisor.start_link(...)`` starts
    one directly.

    A module-based one subclasses it and overrides ``init(arg)`` only, returning
    ``DynamicSupervisorSpec(...)`` or ``Ignore()``.
    """

    def init(self, arg: Any) -> DynamicSupervisorSpec | Ignore:
        """Return the flags. The default returns ``arg`` when it is a
        ``DynamicSupervisorSpec`` (what ``DynamicSupervisor.start_link(...)`` passes)."""
        if isinstance(arg, DynamicSupervisorSpec):
            return arg
        raise BadArgument(
            f"{type(self).__name__} must override init(arg) to return "
            f"DynamicSupervisorSpec(...) or Ignore(); got arg {arg!r}"
        )

    @classmethod
    def start_link(  # type: ignore[override]
        cls,
        arg: Any = None,
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        max_children: int | None = None,
        extra_arguments: Sequence[Any] = (),
        name: Any = None,
        timeout: float | None = None,
    ) -> Pid | None:
        """Start a dynamic supervisor linked to the caller, with no children.

        ``DynamicSupervisor.start_link(strategy=..., max_restarts=..., max_seconds=...,
        max_children=..., extra_arguments=..., name=...)`` takes its flags as keywords
        (or ``arg`` may be a ``DynamicSupervisorSpec``); ``MyDynSup.start_link(arg,
        name=...)`` gets them from ``MyDynSup().init(arg)``. Blocks until it is running:
        returns its pid (None if ``init`` returned ``Ignore()``). Raises ``BadArgument``
        for bad flags, ``StartError`` if ``init`` failed.
        """
        boot = cls._boot(
            arg, (strategy, max_restarts, max_seconds, max_children, extra_arguments), name
        )
        return start_engine(gen_server.start_link, _Engine, boot, timeout)

    @classmethod
    def start(  # type: ignore[override]
        cls,
        arg: Any = None,
        *,
        strategy: str = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        max_children: int | None = None,
        extra_arguments: Sequence[Any] = (),
        name: Any = None,
        timeout: float | None = None,
    ) -> Pid | None:
        """As ``start_link``, without a link to the caller. Blocks the same way."""
        boot = cls._boot(
            arg, (strategy, max_restarts, max_seconds, max_children, extra_arguments), name
        )
        return start_engine(gen_server.start, _Engine, boot, timeout)

    @classmethod
    def _boot(cls, arg: Any, flags: tuple[Any, ...], name: Any) -> Boot:
        if cls is DynamicSupervisor:
            if arg is None:
                strategy, max_restarts, max_seconds, max_children, extra = flags
                arg = DynamicSupervisorSpec(
                    strategy=strategy,
                    max_restarts=max_restarts,
                    max_seconds=max_seconds,
                    max_children=max_children,
                    extra_arguments=extra,
                )
            elif not isinstance(arg, DynamicSupervisorSpec):
                raise BadArgument(
                    "DynamicSupervisor.start_link takes its flags as keywords (or a "
                    f"DynamicSupervisorSpec); got {arg!r}"
                )
        elif flags != _DEFAULT_FLAGS:
            raise BadArgument(
                f"{cls.__name__} is a module-based dynamic supervisor: its init returns the "
                "flags; the flag keywords are for DynamicSupervisor.start_link(...)"
            )
        return Boot(cls, arg, name)

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> dict[str, Any]:
        """The spec to run this supervisor under another one (``type="supervisor"``)."""
        return supervisor_child_spec(cls, arg, overrides)

    # -- generic callbacks (run in the supervisor) -------------------------------------

    def handle_call(self, request: Any, from_: From, state: Any) -> Reply | NoReply | Stop:
        kind = request[0] if request.__class__ is tuple and request else request
        try:
            if kind == "start_child":  # the client normalised the spec
                return Reply(self._start_child(state, request[1]), state)
            if kind == "terminate_child":
                pid = request[1]
                child = state.children.get(pid) if pid.__class__ is Pid else None
                if child is None:
                    raise NotFoundError(pid)
                del state.children[pid]
                if not child.restarting:
                    shutdown(name_of(state), [(pid, child.spec)])
                return Reply(None, state)
            if kind == "which_children":
                return Reply(
                    [
                        ChildInfo(
                            None,
                            RESTARTING if child.restarting else pid,
                            child.spec.type,
                            child.spec.modules or (),
                        )
                        for pid, child in state.children.items()
                    ],
                    state,
                )
            if kind == "count_children":
                return Reply(
                    count(
                        (child.spec, None if child.restarting else pid)
                        for pid, child in state.children.items()
                    ),
                    state,
                )
        except (BadArgument, StartError) as exc:  # the caller's mistake, or its child's
            return Reply(Failed(exc), state)
        return Reply(
            Failed(BadArgument(f"a DynamicSupervisor does not understand {request!r}")), state
        )

    def handle_cast(self, request: Any, state: Any) -> NoReply | Stop:
        log_unexpected(state, "cast", request)
        return NoReply(state)

    def handle_info(self, message: Any, state: Any) -> NoReply | Stop:
        cls = message.__class__
        if cls is Exit:
            child = state.children.get(message.pid)
            if child is None or child.restarting:
                return NoReply(state)
            if self._child_exited(state, message.pid, child, message.reason):
                return Stop("shutdown", state)
            return NoReply(state)
        if cls is TryAgain:
            child = state.children.get(message.key)
            if child is not None and child.restarting and self._restart(state, message.key, child):
                return Stop("shutdown", state)
            return NoReply(state)
        log_unexpected(state, "message", message)
        return NoReply(state)

    def terminate(self, reason: Any, state: Any) -> None:
        """Stop all children concurrently, each as its ``shutdown`` says."""
        if not isinstance(state, _State):
            return
        running = [(pid, c.spec) for pid, c in state.children.items() if not c.restarting]
        state.children.clear()
        shutdown(name_of(state), running)

    # -- internals ----------------------------------------------------------------------

    def _start_child(self, state: _State, spec: ChildSpec) -> Pid | None:
        limit = state.max_children
        if limit is not None and len(state.children) >= limit:
            raise MaxChildrenError(limit)
        pid = start_or_raise(name_of(state), spec, state.extra)
        if pid is not None:
            state.children[pid] = _Child(spec)
        return pid

    def _child_exited(self, state: _State, pid: Pid, child: _Child, reason: Any) -> bool:
        if must_restart(name_of(state), child.spec, pid, reason):
            return self._restart(state, pid, child)
        del state.children[pid]
        return False

    def _restart(self, state: _State, old_pid: Pid, child: _Child) -> bool:
        """Restart the child known as ``old_pid``; True when the supervisor must shut
        down."""
        sup = name_of(state)
        if state.intensity.exceeded(sup, child.spec, old_pid):
            del state.children[old_pid]
            return True
        ok, result = restart(sup, child.spec, old_pid, old_pid, state.extra)
        if not ok:
            child.restarting = True
            return False
        del state.children[old_pid]
        child.restarting = False
        if result is not None:
            state.children[result] = child
        return False


class _Engine(DynamicSupervisor):
    """The GenServer that runs every dynamic supervisor."""

    def init(self, boot: Boot) -> Ok | Ignore | Stop:  # type: ignore[override]  # the engine's
        spec = init_spec(boot, DynamicSupervisorSpec, "DynamicSupervisorSpec(...) or Ignore()")
        if not isinstance(spec, DynamicSupervisorSpec):
            return spec  # type: ignore[no-any-return]
        return Ok(_State(boot.name, spec))


def _dynamic_spec(spec: Any) -> ChildSpec:
    """``child_spec``, with the id optional (a dynamic child's id is not used)."""
    if isinstance(spec, dict) and "id" not in spec:
        spec = {"id": None, **spec}
    return child_spec(spec)


# -- client functions ----------------------------------------------------------------


def start_child(sup: Any, spec: Any, *, timeout: float | None = None) -> Pid | None:
    """Start a child with ``spec`` (any form ``supervisor.child_spec`` accepts; a dict
    may leave out ``id``).

    Blocks until it has started: returns its pid, or None when its start function
    returned None (it is then not kept). Raises ``MaxChildrenError`` when the supervisor
    is full, ``ChildStartError`` if the child failed to start, ``BadArgument`` for a bad
    spec (here, before anything is sent).
    """
    return request(sup, ("start_child", _dynamic_spec(spec)), timeout)  # type: ignore[no-any-return]


def terminate_child(sup: Any, pid: Pid, *, timeout: float | None = None) -> None:
    """Stop the child ``pid`` (as its ``shutdown`` says) and forget it.

    Blocks until it has exited. Raises ``NotFoundError`` if it is not a child.
    """
    if pid.__class__ is not Pid:
        raise BadArgumentType(
            f"a DynamicSupervisor's children are identified by pid; got {pid!r} "
            f"(of type {type(pid).__name__})"
        )
    request(sup, ("terminate_child", pid), timeout)


def which_children(sup: Any, *, timeout: float | None = None) -> list[ChildInfo]:
    """A ``ChildInfo(None, pid, type, modules)`` per child (pid ``"restarting"`` while
    a failed restart is retried). Blocks until answered."""
    return request(sup, ("which_children",), timeout)  # type: ignore[no-any-return]


def count_children(sup: Any, *, timeout: float | None = None) -> dict[str, int]:
    """``{"specs": ..., "active": ..., "supervisors": ..., "workers": ...}``. Blocks
    until answered."""
    return request(sup, ("count_children",), timeout)  # type: ignore[no-any-return]


def stop(sup: Any, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop the supervisor: its children are stopped concurrently, then it exits with
    ``reason``. Blocks until it has exited (``gen_server.stop``)."""
    gen_server.stop(sup, reason, timeout)
