"""Synchronous start of processes (Erlang's ``proc_lib``).

``start_link(fn, args)`` spawns a process linked to the caller and blocks until the new
process says it is ready (``starter.ack(value)``) or that it failed
(``starter.fail(reason)``), so the caller knows the process is initialised when the call
returns. Every behaviour (GenServer, Supervisor) starts through here.

========================  ===========================================================
caller                    new process
========================  ===========================================================
``start_link(fn, args)``  runs ``fn(starter, *args)``
returns ``value``         ``starter.ack(value)``, then goes on running
raises ``StartError``     ``starter.fail(reason)``: unlinks from the caller, exits
raises ``StartError``     crashes or exits before acknowledging
raises ``StartTimeout``   does neither within ``timeout`` (it is then killed)
========================  ===========================================================

Example::

    def worker(starter, greeting):
        starter.ack(greeting.upper())     # ready
        receive()

    assert proc_lib.start_link(worker, ("hello",)) == "HELLO"

Difference from OTP: a failed start does not also send the caller an exit signal
(``fail`` unlinks first, as OTP 26's ``init_fail`` does), and the caller waits with a
monitor, so it never hangs on a process that died without answering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beamlike._core.mailbox import MISSING, flush_down, mark, receive_matching
from beamlike._core.node import current_process
from beamlike._core.signals import remove_monitor
from beamlike.errors import BadArgumentType, BeamlikeError, ProcessExit
from beamlike.messages import Down
from beamlike.process import exit as exit_process
from beamlike.process import resolve_function, send, unlink

__all__ = ["Ack", "StartError", "StartTimeout", "Starter", "start", "start_link"]


class StartError(BeamlikeError):
    """A process did not start: it failed, crashed or exited before acknowledging.

    Attributes:
        reason: the reason it gave to ``fail``, or its exit reason.
    """

    def __init__(self, reason: Any, message: str | None = None) -> None:
        super().__init__(message or f"process failed to start: {reason!r}")
        self.reason = reason


class StartTimeout(StartError, TimeoutError):
    """A process did not acknowledge its start in time (it was killed)."""


class Ack:
    """The message a starting process sends its starter."""

    __slots__ = ("ref", "ok", "value")

    def __init__(self, ref: Any, ok: bool, value: Any) -> None:
        self.ref = ref
        self.ok = ok
        self.value = value


class Starter:
    """Given to a process started by ``start``/``start_link``: how it reports back.

    Attributes:
        parent: the pid of the process that started it (its parent, for a behaviour).
    """

    __slots__ = ("parent", "_ref", "_linked", "done")

    def __init__(self, parent: Any, ref: Any, linked: bool) -> None:
        self.parent = parent
        self._ref = ref
        self._linked = linked
        self.done = False

    def ack(self, value: Any = None) -> None:
        """Tell the starter the process is ready; its ``start`` returns ``value``.

        Never blocks.
        """
        self._answer(True, value)

    def fail(self, reason: Any) -> None:
        """Tell the starter the start failed with ``reason``, then exit with it.

        Unlinks from the starter first, so the starter gets ``StartError`` and not an
        exit signal. Does not return.
        """
        if self._linked:
            unlink(self.parent)
        self._answer(False, reason)
        raise ProcessExit(reason)

    def _answer(self, ok: bool, value: Any) -> None:
        if self.done:
            raise BeamlikeError("this process already answered its starter")
        self.done = True
        send(self.parent, Ack(self._ref, ok, value))


def _start(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
    timeout: float | None,
    link: bool,
) -> Any:
    me = current_process()
    position = mark(me)
    ref = me.node.make_ref()
    starter = Starter(me.pid, ref, link)
    fn = resolve_function(fn)
    if kwargs is not None and kwargs.__class__ is not dict:
        raise BadArgumentType(f"kwargs must be a dict or None; got {kwargs!r}")
    pid, monitor_ref = me.node.spawn(
        fn, (starter, *args), dict(kwargs) if kwargs else {}, link=me if link else None, monitor=me
    )

    def answer(message: Any) -> bool:
        cls = message.__class__
        if cls is Ack:
            return message.ref is ref  # type: ignore[no-any-return]
        return cls is Down and message.ref == monitor_ref  # type: ignore[no-any-return]

    try:
        message = receive_matching(me, answer, timeout, MISSING, position)
    except TimeoutError:
        if link:
            unlink(pid)
        exit_process(pid, "kill")
        remove_monitor(me, monitor_ref)
        flush_down(me, position, monitor_ref)
        raise StartTimeout(
            "timeout", f"{fn!r} did not acknowledge its start within {timeout} s"
        ) from None
    if message.__class__ is Down:
        raise StartError(message.reason, f"process exited before it started: {message.reason!r}")
    if not remove_monitor(me, monitor_ref):  # it fired: the process died after answering
        flush_down(me, position, monitor_ref)
    if not message.ok:
        raise StartError(message.value)
    return message.value


def start_link(
    fn: Callable[..., Any],
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = 5.0,
) -> Any:
    """Spawn ``fn(starter, *args, **kwargs)`` linked to the caller; wait for its answer.

    Blocks until the new process calls ``starter.ack(value)`` (returns ``value``) or
    ``starter.fail(reason)``, or exits (raises ``StartError``), or ``timeout`` passes
    (kills it, raises ``StartTimeout``).
    """
    return _start(fn, tuple(args), kwargs, timeout, True)


def start(
    fn: Callable[..., Any],
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = 5.0,
) -> Any:
    """As ``start_link``, without the link. Blocks the same way."""
    return _start(fn, tuple(args), kwargs, timeout, False)
