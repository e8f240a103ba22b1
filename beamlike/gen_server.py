"""GenServer: a generic server process with explicit state (Erlang's ``gen_server``).

A ``GenServer`` subclass holds the callbacks; the generic part (this module) runs the
receive loop, replies, timeouts, system messages and shutdown. Callbacks take the
state and return it, wrapped in a small result type, so the state is plain data that
can be inspected (``sys.get_state``), replaced, and migrated by hot code upgrade.

=====================================  =============================================
client (blocks?)                       callback (in the server process)
=====================================  =============================================
``start_link(cls, arg)`` (yes)          ``init(arg)`` -> ``Ok(state)`` / ``Ignore()`` /
                                        ``Stop(reason)``
``call(server, request)`` (yes)         ``handle_call(request, from_, state)`` ->
                                        ``Reply(value, state)`` / ``NoReply(state)`` /
                                        ``Stop(reason, state, reply=...)``
``cast(server, request)`` (never)       ``handle_cast(request, state)`` ->
                                        ``NoReply(state)`` / ``Stop(reason, state)``
``send(server, message)`` (never)       ``handle_info(message, state)`` -> same
result with ``continue_=arg``           ``handle_continue(arg, state)`` -> same
``stop(server, reason)`` (yes)          ``terminate(reason, state)``
``code.upgrade(module)`` (yes)          ``code_change(old_vsn, state, extra)`` -> state
=====================================  =============================================

``Reply``, ``NoReply`` and ``Ok`` take ``timeout=`` (seconds): if no message arrives in
that time, ``handle_info("timeout", state)`` runs, as in OTP. They take
``hibernate=True`` instead to hibernate the server until the next message (OTP's
``hibernate``): it gives up its greenlet and stack (``beamlike.hibernate``), keeping its
state, which saves about 6 KB per idle server at the cost of a fresh stack on the next
message.

Example, Elixir's ``Stack``::

    class Stack(GenServer):
        def init(self, elements):
            return Ok(list(elements))

        def handle_call(self, request, from_, state):
            if request == "pop":
                return Reply(state[0], state[1:])
            return super().handle_call(request, from_, state)

        def handle_cast(self, request, state):
            kind, element = request
            return NoReply([element, *state])

    pid = Stack.start_link(["hello"])
    assert call(pid, "pop") == "hello"
    cast(pid, ("push", "world"))
    assert call(pid, "pop") == "world"

When not to use a GenServer: for code organisation alone (a module of functions is
enough), or for state that many processes read concurrently (use ``ets``).
"""

from __future__ import annotations

import logging
from typing import Any

from beamlike import proc_lib
from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import DOWN, check_timeout, flush_down, mark, receive_in, wait_reply
from beamlike._core.node import current_node, current_process
from beamlike._core.patterns import ANY
from beamlike._core.process import WAITING, Hibernate, block
from beamlike._core.remote import record_remote_monitor
from beamlike._core.signals import add_monitor, deliver, raise_pending_exit, remove_monitor
from beamlike.errors import BadArgument, BeamlikeError, NoProcError, ProcessExit, ReceiveTimeout
from beamlike.messages import Down, Exit, is_shutdown_reason
from beamlike.process import monitor, register, remote_target, send, unregister

__all__ = [
    "HIBERNATE",
    "AlreadyStartedError",
    "BadReturn",
    "Call",
    "CallError",
    "CallTimeout",
    "Cast",
    "From",
    "GenServer",
    "Ignore",
    "NoReply",
    "Ok",
    "Reply",
    "Stop",
    "SysError",
    "System",
    "call",
    "cast",
    "reply",
    "start",
    "start_link",
    "stop",
    "whereis",
]

log = logging.getLogger("beamlike.gen_server")
trace_log = logging.getLogger("beamlike.sys")
crash_log = logging.getLogger("beamlike.crash")

_MISSING: Any = object()
DEFAULT_TIMEOUT = 5.0


# -- result types --------------------------------------------------------------------


class _Hibernation:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HIBERNATE"


HIBERNATE: Any = _Hibernation()
"""The ``timeout`` of a result made with ``hibernate=True`` (OTP puts ``hibernate`` in
the timeout's place too)."""


def _hibernating(timeout: Any, continue_: Any) -> Any:
    if timeout is not None or continue_ is not _MISSING:
        raise BadArgument(
            "hibernate=True cannot be combined with timeout= or continue_= (OTP's result "
            f"has one slot for the three); got timeout={timeout!r}, continue_={continue_!r}"
        )
    return HIBERNATE


class _GoOn:
    """What ``Ok`` and ``NoReply`` share: the state, then how the loop goes on."""

    __slots__ = ("state", "timeout", "continue_")

    def __init__(
        self,
        state: Any,
        *,
        timeout: float | None = None,
        continue_: Any = _MISSING,
        hibernate: bool = False,
    ):
        self.state = state
        self.timeout = _hibernating(timeout, continue_) if hibernate else timeout
        self.continue_ = continue_


class Ok(_GoOn):
    """``init`` succeeded with ``state``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Ok({self.state!r})"


class Reply:
    """Reply ``value`` to the caller and go on with ``state``."""

    __slots__ = ("value", "state", "timeout", "continue_")

    def __init__(
        self,
        value: Any,
        state: Any,
        *,
        timeout: float | None = None,
        continue_: Any = _MISSING,
        hibernate: bool = False,
    ):
        self.value = value
        self.state = state
        self.timeout = _hibernating(timeout, continue_) if hibernate else timeout
        self.continue_ = continue_

    def __repr__(self) -> str:
        return f"Reply({self.value!r}, {self.state!r})"


class NoReply(_GoOn):
    """Go on with ``state`` (for a call: reply later with ``reply(from_, value)``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"NoReply({self.state!r})"


class Stop:
    """Stop the server with ``reason`` (after replying ``reply`` to a call, if given)."""

    __slots__ = ("reason", "state", "reply")

    def __init__(self, reason: Any, state: Any = None, *, reply: Any = _MISSING):
        self.reason = reason
        self.state = state
        self.reply = reply

    def __repr__(self) -> str:
        return f"Stop({self.reason!r})"


class Ignore:
    """``init``: do not start; ``start_link`` returns None (a supervisor skips it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Ignore()"


# -- messages ------------------------------------------------------------------------


class From:
    """Who made a call: pass it to ``reply`` to answer later."""

    __slots__ = ("pid", "tag")

    def __init__(self, pid: Pid, tag: Ref) -> None:
        self.pid = pid
        self.tag = tag

    def __repr__(self) -> str:
        return f"From({self.pid!r}, {self.tag!r})"


class Call:
    """A call request (the ``$gen_call`` message)."""

    __slots__ = ("from_", "request")

    def __init__(self, from_: From, request: Any) -> None:
        self.from_ = from_
        self.request = request

    def __repr__(self) -> str:
        return f"Call({self.from_!r}, {self.request!r})"


class Cast:
    """A cast request (the ``$gen_cast`` message)."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request

    def __repr__(self) -> str:
        return f"Cast({self.request!r})"


class System:
    """A system message (``sys``): get/replace state, suspend, resume, code change,
    trace, terminate. Handled by the generic loop, never by callbacks."""

    __slots__ = ("from_", "request")

    def __init__(self, from_: From, request: tuple[Any, ...]) -> None:
        self.from_ = from_
        self.request = request

    def __repr__(self) -> str:
        return f"System({self.request!r})"


# -- errors --------------------------------------------------------------------------


class AlreadyStartedError(proc_lib.StartError):
    """``name=`` is already registered to a running process (``pid``)."""

    def __init__(self, name: Any, pid: Any) -> None:
        super().__init__(("already_started", pid), f"{name!r} is already started as {pid!r}")
        self.name = name
        self.pid = pid


class CallError(BeamlikeError):
    """A call failed: the server was not there, died, or did not answer in time.

    Attributes:
        reason: ``"noproc"``, ``"timeout"``, ``"calling_self"``, or the server's exit
            reason (Erlang's exit reason of ``gen_server:call``).
        server: the server as the caller named it.
        request: the request.
    """

    def __init__(self, reason: Any, server: Any, request: Any) -> None:
        super().__init__(f"call to {server!r} failed ({reason!r}); request was {request!r}")
        self.reason = reason
        self.server = server
        self.request = request


class CallTimeout(CallError, TimeoutError):
    """The server did not answer within the call's timeout."""


class SysError:
    """The answer of a system request that failed (never a valid state)."""

    __slots__ = ("error",)

    def __init__(self, error: Any) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"SysError({self.error!r})"


class BadReturn(BeamlikeError):
    """A callback returned something that is not one of its result types."""

    def __init__(self, callback: str, value: Any, allowed: str) -> None:
        super().__init__(f"{callback} returned {value!r}; expected {allowed}")
        self.callback = callback
        self.value = value


# -- the behaviour -------------------------------------------------------------------


class GenServer:
    """Base class of servers: override the callbacks you need.

    The defaults: ``init`` keeps ``arg`` as the state; an unexpected call or cast stops
    the server with a ``BeamlikeError`` saying which callback is missing; an unexpected
    message is logged and ignored; ``terminate`` does nothing; ``code_change`` keeps the
    state. ``__vsn__`` is the code version passed to ``code_change``.
    """

    __vsn__: Any = 1

    # callbacks -------------------------------------------------------------------

    def init(self, arg: Any) -> Ok | Ignore | Stop:
        """Called in the new process; return ``Ok(state)``."""
        return Ok(arg)

    def handle_call(self, request: Any, from_: From, state: Any) -> Reply | NoReply | Stop:
        """Answer a call."""
        return Stop(
            BeamlikeError(
                f"{type(self).__name__} got call {request!r} but defines no handle_call for it"
            ),
            state,
        )

    def handle_cast(self, request: Any, state: Any) -> NoReply | Stop:
        """Handle a cast."""
        return Stop(
            BeamlikeError(
                f"{type(self).__name__} got cast {request!r} but defines no handle_cast for it"
            ),
            state,
        )

    def handle_info(self, message: Any, state: Any) -> NoReply | Stop:
        """Handle any other message."""
        log.warning(
            "%s %r received an unexpected message: %r", type(self).__name__, _self(), message
        )
        return NoReply(state)

    def handle_continue(self, arg: Any, state: Any) -> NoReply | Stop:
        """Continue work asked for by ``continue_=arg`` in a result."""
        return Stop(
            BeamlikeError(
                f"{type(self).__name__} asked to continue with {arg!r} but defines no handle_continue"
            ),
            state,
        )

    def terminate(self, reason: Any, state: Any) -> None:
        """Called before the server exits (on ``Stop``, a crash, or its parent's exit
        while it traps exits)."""

    def code_change(self, old_vsn: Any, state: Any, extra: Any) -> Any:
        """Migrate ``state`` to this version of the code; return the new state."""
        return state

    # client API as class methods -------------------------------------------------

    @classmethod
    def start_link(
        cls,
        arg: Any = None,
        *,
        name: Any = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        hibernate_after: float | None = None,
    ) -> Pid | None:
        """Start a server of this class linked to the caller. Blocks; see ``start_link``."""
        return start_link(cls, arg, name=name, timeout=timeout, hibernate_after=hibernate_after)

    @classmethod
    def start(
        cls,
        arg: Any = None,
        *,
        name: Any = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        hibernate_after: float | None = None,
    ) -> Pid | None:
        """Start a server of this class, not linked. Blocks; see ``start``."""
        return start(cls, arg, name=name, timeout=timeout, hibernate_after=hibernate_after)

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> dict[str, Any]:
        """The child spec a supervisor uses to start this server (Elixir's default):
        ``{"id": cls, "start": (cls.start_link, (arg,), {})}`` plus ``overrides``."""
        spec: dict[str, Any] = {"id": cls, "start": (cls.start_link, (arg,), {})}
        spec.update(overrides)
        return spec


def _self() -> Pid:
    return current_process().pid


# -- starting ------------------------------------------------------------------------


def _check_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, GenServer)):
        raise proc_lib.StartError(
            "badarg", f"expected a GenServer subclass; got {cls!r} (of type {type(cls).__name__})"
        )


def start_link(
    cls: type[GenServer],
    arg: Any = None,
    *,
    name: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    hibernate_after: float | None = None,
) -> Pid | None:
    """Start a server linked to the caller.

    Blocks until ``init`` returned: returns the pid (None when ``init`` returned
    ``Ignore()``); raises ``StartError`` with the reason when ``init`` failed, raised or
    returned ``Stop``, ``AlreadyStartedError`` when ``name`` is taken, ``StartTimeout``
    after ``timeout``. ``name``: a str, or a via name (an object with ``register_name``,
    ``unregister_name`` and ``whereis_name``). ``hibernate_after``: seconds without a
    message after which the server hibernates (OTP's option of that name; None: never
    on its own).
    """
    return _start(proc_lib.start_link, cls, arg, name, timeout, hibernate_after)


def start(
    cls: type[GenServer],
    arg: Any = None,
    *,
    name: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    hibernate_after: float | None = None,
) -> Pid | None:
    """As ``start_link``, without the link. Blocks the same way."""
    return _start(proc_lib.start, cls, arg, name, timeout, hibernate_after)


def _start(
    how: Any, cls: Any, arg: Any, name: Any, timeout: float | None, hibernate_after: Any
) -> Pid | None:
    _check_class(cls)
    _check_name(name)
    args: tuple[Any, ...] = (cls, arg, name)
    if hibernate_after is not None:
        args += (check_timeout(hibernate_after, "hibernate_after"),)
    try:
        return how(_server_main, args, timeout=timeout)  # type: ignore[no-any-return]
    except proc_lib.StartError as exc:
        _raise_already_started(exc, name)
        raise


def _raise_already_started(exc: proc_lib.StartError, name: Any) -> None:
    reason = exc.reason
    if reason.__class__ is tuple and len(reason) == 2 and reason[0] == "already_started":
        raise AlreadyStartedError(name, reason[1]) from None


_VIA_CLASSES: set[type] = set()  # classes already seen to have the via methods


def _check_name(name: Any) -> None:
    if name is None or name.__class__ is str or name.__class__ in _VIA_CLASSES:
        return
    methods = ("register_name", "unregister_name", "whereis_name")
    if all(hasattr(name.__class__, m) for m in methods):
        _VIA_CLASSES.add(name.__class__)
        return
    if all(hasattr(name, m) for m in methods):
        return
    raise proc_lib.StartError(
        "badarg",
        "name must be a str or a via name (with register_name, unregister_name and "
        f"whereis_name); got {name!r} (of type {type(name).__name__})",
    )


def _register(name: Any, pid: Pid) -> Pid | None:
    """Register ``name`` for ``pid``; return the holder's pid when it is taken."""
    if name.__class__ is str:
        holder = whereis(name)
        if holder is not None:
            return holder
        register(name, pid)
        return None
    if name.register_name(pid):
        return None
    return name.whereis_name() or pid


def _unregister(name: Any) -> None:
    try:
        if name.__class__ is str:
            unregister(name)
        else:
            name.unregister_name()
    except BeamlikeError:
        pass


class _Server:
    """The state of the generic loop of one server process."""

    __slots__ = (
        "module",
        "state",
        "parent",
        "name",
        "debug",
        "suspended",
        "terminated",
        "hibernate_after",
    )

    def __init__(
        self, module: GenServer, parent: Pid, name: Any, hibernate_after: float | None
    ) -> None:
        self.module = module
        self.state: Any = None
        self.parent = parent
        self.name = name
        self.debug = False
        self.suspended = False
        self.terminated = False
        self.hibernate_after = hibernate_after


def _server_main(
    starter: proc_lib.Starter,
    cls: type[GenServer],
    arg: Any,
    name: Any,
    hibernate_after: float | None = None,
) -> None:
    me = current_process()
    if name is not None:
        holder = _register(name, me.pid)
        if holder is not None:
            starter.fail(("already_started", holder))
    server = _Server(cls(), starter.parent, name, hibernate_after)
    # Found by code upgrades; the runtime drops it when the process exits.
    me.node.gen_servers[me.pid] = server
    try:
        result = server.module.init(arg)
    except Exception as exc:
        crash_log.error("%s %r crashed in init: %r", cls.__qualname__, me.pid, exc, exc_info=exc)
        _unregister_on_failure(server)
        starter.fail(exc)
    if result.__class__ is Ok:
        server.state = result.state
        starter.ack(me.pid)
        _loop(server, me, result.timeout, result.continue_)
        return
    _unregister_on_failure(server)
    if result.__class__ is Ignore:
        starter.ack(None)
        raise ProcessExit("normal")
    if result.__class__ is Stop:
        starter.fail(result.reason)
    starter.fail(BadReturn("init", result, "Ok(state), Ignore() or Stop(reason)"))


def _unregister_on_failure(server: _Server) -> None:
    # Before the starter hears of the failure, so that it may start another at once.
    if server.name is not None:
        _unregister(server.name)


# -- the loop ------------------------------------------------------------------------


def _loop(server: _Server, me: Any, timeout: float | None, continue_: Any) -> None:
    module = server.module
    idle = server.hibernate_after  # None: wait for messages without a bound
    result: Any
    try:
        while True:
            if continue_ is not _MISSING:
                result = module.handle_continue(continue_, server.state)
                timeout, continue_ = _noreply(server, me, result, "handle_continue")
                continue
            if server.suspended:  # only system messages, and the parent's exit
                message = receive_in(me, (System, Exit(server.parent, ANY)), None, None)
            elif timeout is None and idle is None:
                mailbox = me.mailbox
                while not mailbox:  # the plain receive of a server, inlined
                    me.state = WAITING
                    block(me)
                    if me.pending_exit is not None:
                        raise_pending_exit(me)
                    mailbox = me.mailbox
                message = mailbox.popleft()
            elif timeout is HIBERNATE:
                mailbox = me.mailbox
                if not mailbox:  # give up the stack until a message comes (hibernate)
                    raise Hibernate(_wake_up, (server,), None)
                message = mailbox.popleft()  # one is there already: no need to sleep
            elif timeout is None:  # hibernate_after: hibernate once idle that long
                message = receive_in(me, (), idle, _IDLE)
                if message is _IDLE:
                    raise Hibernate(_wake_up, (server,), None)
            else:
                message = receive_in(me, (), timeout, _TIMEOUT)
            if server.debug:
                trace_log.info("%r got %r (state %r)", me.pid, message, server.state)
            cls = message.__class__
            if cls is Call:
                result = module.handle_call(message.request, message.from_, server.state)
                rcls = result.__class__
                if rcls is Reply:
                    server.state = result.state
                    reply(message.from_, result.value)
                    timeout, continue_ = result.timeout, result.continue_
                elif rcls is NoReply:
                    server.state = result.state
                    timeout, continue_ = result.timeout, result.continue_
                elif rcls is Stop:
                    if result.reply is not _MISSING:
                        reply(message.from_, result.reply)
                    _stop(server, me, result.reason, result.state)
                else:
                    _stop(
                        server,
                        me,
                        BadReturn("handle_call", result, "Reply, NoReply or Stop"),
                        server.state,
                    )
            elif cls is Cast:
                result = module.handle_cast(message.request, server.state)
                timeout, continue_ = _noreply(server, me, result, "handle_cast")
            elif cls is System:
                timeout, continue_ = _system(server, me, message, timeout)
                module = server.module  # a code change may have replaced it
            elif cls is Exit and message.pid == server.parent and me.trap_exit:
                _stop(server, me, message.reason, server.state)
            elif message is _TIMEOUT:
                result = module.handle_info("timeout", server.state)
                timeout, continue_ = _noreply(server, me, result, "handle_info")
            else:
                result = module.handle_info(message, server.state)
                timeout, continue_ = _noreply(server, me, result, "handle_info")
    except ProcessExit:
        raise
    except Exception as exc:
        # A callback raised: terminate, then crash with that exception as the reason.
        if not server.terminated:
            _terminate(server, exc, server.state)
        raise


_TIMEOUT: Any = object()
_IDLE: Any = object()  # no message within hibernate_after


def _wake_up(server: _Server) -> None:
    """Where a hibernated server goes on when a message arrives: the loop, on a fresh
    stack."""
    _loop(server, current_process(), None, _MISSING)


def _noreply(server: _Server, me: Any, result: Any, callback: str) -> tuple[Any, Any]:
    rcls = result.__class__
    if rcls is NoReply:
        server.state = result.state
        return result.timeout, result.continue_
    if rcls is Stop:
        _stop(server, me, result.reason, result.state)
    _stop(server, me, BadReturn(callback, result, "NoReply or Stop"), server.state)
    raise AssertionError("unreachable")


def _terminate(server: _Server, reason: Any, state: Any) -> None:
    server.state = state
    server.terminated = True  # once, even if terminate raises
    try:
        server.module.terminate(reason, state)
    finally:
        if server.name is not None and server.name.__class__ is not str:
            _unregister(server.name)  # a via name: str names are released by the runtime


def _stop(server: _Server, me: Any, reason: Any, state: Any) -> None:
    """Run terminate, then exit with ``reason``. Does not return."""
    _terminate(server, reason, state)
    if isinstance(reason, BaseException):
        raise reason  # the runtime logs the crash report, with its traceback
    if not is_shutdown_reason(reason) and reason != "killed":
        crash_log.error(
            "%s %r terminating with reason %r (last state %r)",
            type(server.module).__qualname__,
            me.pid,
            reason,
            state,
        )
    raise ProcessExit(reason)


def _system(server: _Server, me: Any, message: System, timeout: Any) -> tuple[Any, Any]:
    request = message.request
    kind = request[0]
    answer: Any = "ok"
    if kind == "get_state":
        answer = server.state
    elif kind == "replace_state":
        try:
            server.state = request[1](server.state)
        except Exception as exc:
            answer = SysError(exc)
        else:
            answer = server.state
    elif kind == "suspend":
        server.suspended = True
    elif kind == "resume":
        server.suspended = False
    elif kind == "trace":
        server.debug = bool(request[1])
    elif kind == "get_status":
        answer = {
            "pid": me.pid,
            "module": type(server.module),
            "vsn": getattr(type(server.module), "__vsn__", None),
            "state": server.state,
            "suspended": server.suspended,
            "parent": server.parent,
            "name": server.name,
        }
    elif kind == "code_change":
        new_class, extra = request[1], request[2]
        old_vsn = getattr(type(server.module), "__vsn__", None)
        try:
            new_module = new_class()
            new_state = new_module.code_change(old_vsn, server.state, extra)
        except Exception as exc:
            log.error(
                "%r: code_change to %r failed; staying on the old code",
                me.pid,
                new_class,
                exc_info=exc,
            )
            answer = SysError(exc)
        else:
            server.module = new_module
            server.state = new_state
    elif kind == "terminate":
        reply(message.from_, "ok")
        _stop(server, me, request[1], server.state)
    else:
        answer = SysError(BeamlikeError(f"unknown system request {request!r}"))
    reply(message.from_, answer)
    return timeout, _MISSING


# -- client functions ----------------------------------------------------------------


def whereis(server: Any) -> Pid | None:
    """The pid of ``server`` (a pid, a registered name, a via name), or None.

    Never blocks.
    """
    if server.__class__ is Pid:
        return server  # type: ignore[no-any-return]
    node = current_node()
    if server.__class__ is str:
        proc = node.names.get(server)
        return proc.pid if proc is not None else None
    if server.__class__ is tuple and len(server) == 2:
        name, node_name = server
        if node_name == node.name:
            return whereis(name)
        return None
    whereis_name = getattr(server, "whereis_name", None)
    if whereis_name is not None:
        return whereis_name()  # type: ignore[no-any-return]
    raise NoProcError(
        "a server is a Pid, a registered name (str), a (name, node) tuple or a via name; "
        f"got {server!r} (of type {type(server).__name__})"
    )


def call(server: Any, request: Any, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
    """Send ``request`` to ``server`` and wait for its reply.

    Blocks until the reply arrives, the server exits, or ``timeout`` seconds pass.
    Raises ``CallError`` with reason ``"noproc"`` (no such server), the server's exit
    reason (it died), ``"calling_self"``, or ``CallTimeout`` (a late reply is then
    dropped, never delivered to the caller).
    """
    me = current_process()
    node = me.node
    remote = remote_target(node, server)
    if remote is not None:
        return _remote_call(me, remote, server, request, timeout)
    pid = server if server.__class__ is Pid else whereis(server)
    if pid is None:
        raise CallError("noproc", server, request)
    if pid.node != node.name and node.dist is not None:
        return _remote_call(me, pid, server, request, timeout)  # a via name, elsewhere
    # The same steps as system_call's, written out here: a helper's frame would cost
    # the hot path some 2 % of a call.
    target = pid._proc or node.lookup(pid)
    if target is None:
        raise CallError("noproc", server, request)
    if target is me:
        raise CallError("calling_self", server, request)
    mailbox = me.mailbox
    position = len(mailbox) if mailbox else 0
    ref = add_monitor(me, target, pid)
    node.aliases[ref] = me
    deliver(target, Call(From(me.pid, ref), request))
    return _await_reply(me, position, ref, timeout, server, request)


def _await_reply(
    me: Any, position: int, ref: Ref, timeout: float | None, server: Any, request: Any
) -> Any:
    """Wait for the reply to the call tagged ``ref`` (a monitor of the server and a
    reply alias of ``me``); then drop the alias and the monitor. Blocks; see ``call``."""
    aliases = me.node.aliases
    try:
        kind, value = wait_reply(me, position, ref, timeout)
    except ReceiveTimeout:
        aliases.pop(ref, None)
        remove_monitor(me, ref)
        flush_down(me, position, ref)
        raise CallTimeout("timeout", server, request) from None
    except BaseException:
        aliases.pop(ref, None)
        remove_monitor(me, ref)
        raise
    if kind is DOWN:
        aliases.pop(ref, None)
        raise CallError(value, server, request)
    del aliases[ref]
    if not remove_monitor(me, ref):  # it fired: the server died after replying
        flush_down(me, position, ref)
    return value


def reply(from_: From, value: Any) -> None:
    """Answer the call ``from_`` with ``value`` (for replies deferred with ``NoReply``).

    A reply to a call that already timed out is dropped. Never blocks.
    """
    caller = from_.pid._proc
    if caller is not None:
        if from_.tag in caller.node.aliases:
            deliver(caller, (from_.tag, value))
        return
    node = current_node()
    caller = node.lookup(from_.pid)
    if caller is not None:
        if from_.tag in node.aliases:
            deliver(caller, (from_.tag, value))
    elif from_.pid.node != node.name and node.dist is not None:
        node.dist.reply(from_.pid, from_.tag, value)  # its node drops it if too late


def _remote_call(me: Any, target: Any, server: Any, request: Any, timeout: float | None) -> Any:
    """A call to a server of another node: monitor it, send, wait, as for a local one."""
    node = me.node
    if node.dist is None:
        raise CallError("noconnection", server, request)
    mailbox = me.mailbox
    position = len(mailbox) if mailbox else 0
    ref = node.make_ref()
    record_remote_monitor(me, target, ref)
    node.dist.monitor(me.pid, target, ref)
    node.aliases[ref] = me
    node.dist.send(me.pid, target, Call(From(me.pid, ref), request))
    return _await_reply(me, position, ref, timeout, server, request)


def cast(server: Any, request: Any) -> None:
    """Send ``request`` to ``server`` without waiting. Never blocks; never fails (a cast
    to a server that does not exist is dropped, as in OTP)."""
    node = current_node()
    remote = remote_target(node, server)
    if remote is not None:
        send(remote, Cast(request))  # through the distribution layer, if any
        return
    try:
        pid = whereis(server)
    except NoProcError:
        return
    if pid is not None:
        send(pid, Cast(request))


def system_call(
    server: Any, request: tuple[Any, ...], timeout: float | None = DEFAULT_TIMEOUT
) -> Any:
    """Send a system request to ``server`` (of this node) and wait for the answer.

    Blocks; raises as ``call`` does.
    """
    me = current_process()
    pid = whereis(server)
    if pid is None:
        raise CallError("noproc", server, request)
    target = pid._proc or me.node.lookup(pid)
    if target is None:
        raise CallError("noproc", server, request)
    if target is me:
        raise CallError("calling_self", server, request)
    position = mark(me)
    ref = add_monitor(me, target, pid)
    me.node.aliases[ref] = me
    deliver(target, System(From(me.pid, ref), request))
    return _await_reply(me, position, ref, timeout, server, request)


def stop(server: Any, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop ``server`` with ``reason``: its ``terminate`` runs, then it exits.

    Blocks until it has exited. Raises ``CallError`` with ``"noproc"`` if it is not
    running, ``CallTimeout`` after ``timeout``.
    """
    me = current_process()
    pid = whereis(server)
    if pid is None:
        raise CallError("noproc", server, ("terminate", reason))
    position = mark(me)
    ref = monitor(pid)
    try:
        system_call(pid, ("terminate", reason), timeout)
    except CallError as exc:
        if exc.reason != reason and not (is_shutdown_reason(reason) and exc.reason == "noproc"):
            raise
    down = receive_in(me, (Down(ref, ANY, ANY),), timeout, None, position)
    if down is None:
        raise CallTimeout("timeout", server, ("terminate", reason))
    if down.reason != reason:
        raise CallError(down.reason, server, ("terminate", reason))
