"""Processes: spawn, send, receive, links, monitors, exit signals, names.

The functions of Erlang's ``erlang`` module that deal with processes, with the same
semantics (see ``docs/processes.md`` for where Python forces a difference). Every
function works on the node of the calling process, or on the default node when called
outside any process; code outside processes (the main program, a test body) is given a
pid of its own the first time it needs one.

Example::

    import gevent.monkey; gevent.monkey.patch_all()
    from beamlike import spawn, send, receive, self_pid

    def echo():
        sender, text = receive()
        send(sender, text.upper())

    pid = spawn(echo)
    send(pid, (self_pid(), "hello"))
    assert receive(timeout=1) == "HELLO"
"""

from __future__ import annotations

import importlib
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeGuard, runtime_checkable

from beamlike._core import signals
from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import (
    MISSING,
    flush_down,
    receive_any,
    receive_in,
    receive_matching,
)
from beamlike._core.node import Node, current_node, current_process, default_node
from beamlike._core.process import RUNNABLE, WAITING, Hibernate, Worker, initial_call
from beamlike._core.process import current_greenlet as getcurrent
from beamlike._core.remote import record_remote_link, record_remote_monitor
from beamlike._core.signals import deliver
from beamlike.errors import (
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    NoProcError,
    ProcessExit,
)
from beamlike.messages import NOCONNECTION, NORMAL, Down, Exit

__all__ = [
    "Dest",
    "ProcessInfo",
    "ViaName",
    "demonitor",
    "exit",
    "hibernate",
    "is_alive",
    "link",
    "make_ref",
    "monitor",
    "process_flag",
    "process_info",
    "processes",
    "receive",
    "register",
    "registered",
    "resolve_function",
    "run",
    "self_pid",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "spawn_opt",
    "unlink",
    "unregister",
    "whereis",
]


@runtime_checkable
class ViaName(Protocol):
    """A name resolved by its own registry (Erlang's ``{via, Module, Name}``), such as
    ``Registry.via(registry, key)``: anything with ``whereis_name()``."""

    def whereis_name(self) -> Pid | None: ...


Dest = Pid | str | tuple[str, str] | ViaName

# -- spawning ------------------------------------------------------------------------


def resolve_function(fn: Any) -> Callable[..., Any]:
    """``fn`` itself if callable, or the function a ``"package.module:function"`` string
    names (imported; any import failure becomes ``BadArgument``). Blocks while importing.
    """
    if isinstance(fn, str):
        module_name, sep, attr = fn.partition(":")
        if not sep or not module_name or not attr:
            raise BadArgument(
                f"a function named by a string must be 'package.module:function'; got {fn!r}"
            )
        try:
            target: Any = importlib.import_module(module_name)
        except Exception as exc:  # names may come from other nodes: any failure is theirs
            raise BadArgument(f"cannot import module {module_name!r} for {fn!r}: {exc}") from None
        for part in attr.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise BadArgument(
                    f"{module_name!r} has no attribute {attr!r} (from {fn!r})"
                ) from None
        fn = target
    if not callable(fn):
        raise BadArgumentType(
            f"spawn expects a callable or a 'module:function' string; got {fn!r} "
            f"(of type {type(fn).__name__})"
        )
    return fn


def spawn(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Pid:
    """Start a process running ``fn(*args, **kwargs)``; return its pid.

    Never blocks: the new process runs when the caller next blocks.
    """
    fn = resolve_function(fn)
    g = getcurrent()
    node = g.node if g.__class__ is Worker else default_node()
    return node.spawn(fn, args, kwargs)[0]


def spawn_link(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Pid:
    """Start a process linked to the caller (the link exists before it runs).

    Never blocks.
    """
    fn = resolve_function(fn)
    me = current_process()
    return me.node.spawn(fn, args, kwargs, link=me)[0]


def spawn_monitor(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> tuple[Pid, Ref]:
    """Start a process monitored by the caller; return ``(pid, monitor_ref)``.

    Never blocks.
    """
    fn = resolve_function(fn)
    me = current_process()
    pid, ref = me.node.spawn(fn, args, kwargs, monitor=me)
    assert ref is not None
    return pid, ref


def spawn_opt(
    fn: Callable[..., Any] | str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    link: bool = False,
    monitor: bool = False,
    trap_exit: bool = False,
    name: str | None = None,
) -> Any:
    """Start a process with options; return its pid, or ``(pid, ref)`` with ``monitor``.

    ``link`` and ``monitor`` are set up, ``trap_exit`` set and ``name`` registered
    before the process runs. A taken ``name`` raises ``AlreadyRegisteredError`` and
    starts nothing. Never blocks.
    """
    fn = resolve_function(fn)
    if not isinstance(args, (tuple, list)):
        raise BadArgumentType(f"spawn_opt args must be a tuple or list; got {args!r}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise BadArgumentType(f"spawn_opt kwargs must be a dict or None; got {kwargs!r}")
    for flag, value in (("link", link), ("monitor", monitor), ("trap_exit", trap_exit)):
        if value.__class__ is not bool:
            raise BadArgumentType(f"spawn_opt {flag}= must be a bool; got {value!r}")
    me = current_process() if (link or monitor) else None
    node = me.node if me is not None else current_node()
    pid, ref = node.spawn(
        fn,
        tuple(args),
        dict(kwargs or {}),
        link=me if link else None,
        monitor=me if monitor else None,
        trap_exit=trap_exit,
        name=name,
    )
    return (pid, ref) if monitor else pid


def self_pid() -> Pid:
    """The pid of the calling process. Never blocks."""
    g = getcurrent()
    if g.__class__ is Worker:
        return g.proc.pid
    return current_process(g).pid


def hibernate(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> NoReturn:
    """Discard the calling process's stack and wait for a message (Erlang's
    ``erlang:hibernate/3``). Does not return.

    When a message arrives (at once if one is already queued), the process runs
    ``fn(*args, **kwargs)`` on a fresh stack; when that returns, the process exits with
    ``"normal"``. Its pid, mailbox, links, monitors, name and ``trap_exit`` are kept. An
    idle hibernated process holds no greenlet: about 6 KB less than one blocked in
    ``receive``. Waking it costs about what a ``receive`` wake-up costs.

    Python cannot drop a stack without unwinding it: ``hibernate`` raises an exception
    that only the runtime catches (a ``BaseException``, so ``except Exception`` lets it
    through), and ``finally`` blocks and context managers on the way out run.

    Raises:
        BadArgument: the caller is not a process beamlike started (the main program,
            a plain greenlet): its stack is not the runtime's to discard.
    """
    fn = resolve_function(fn)
    if getcurrent().__class__ is not Worker:
        raise BadArgument(
            "hibernate needs a process started by beamlike (spawn, start_link, ...); "
            f"the caller is {getcurrent()!r}"
        )
    raise Hibernate(fn, args, kwargs or None)


def run(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` as a process of the default node and return what it returns.

    Blocks until that process exits. Re-raises the exception it crashed with; raises
    ``ProcessExit(reason)`` if it exited with another non-normal reason.
    """
    fn = resolve_function(fn)
    box: list[Any] = []

    def main() -> None:
        box.append(fn(*args, **kwargs))

    main.__qualname__ = getattr(fn, "__qualname__", "run")
    main.__module__ = getattr(fn, "__module__", None) or main.__module__
    me = current_process()
    _, ref = me.node.spawn(main, (), {}, monitor=me)
    assert ref is not None
    down = receive_matching(me, lambda m: m.__class__ is Down and m.ref == ref, None, MISSING)
    reason = down.reason
    if reason.__class__ is str and reason == NORMAL:
        return box[0] if box else None  # None also when it did raise ProcessExit("normal")
    if isinstance(reason, BaseException):
        raise reason
    raise ProcessExit(reason)


# -- messages ------------------------------------------------------------------------


def send(dest: Dest, message: Any) -> Any:
    """Send ``message`` to a pid, a registered name, ``(name, node_name)``, or a *via*
    name (any object with a ``whereis_name()`` method, such as a Registry key).

    Returns ``message``. Never blocks. A message to a dead pid is dropped (as in
    Erlang); a name that is not registered raises ``NoProcError``.
    """
    if dest.__class__ is Pid:
        proc = dest._proc  # type: ignore[union-attr]
        if proc is not None:
            mailbox = proc.mailbox
            if mailbox is None:
                mailbox = proc.mailbox = deque()
            mailbox.append(message)
            if proc.state is WAITING:
                proc.state = RUNNABLE
                node = proc.node
                node.runq.append(proc)
                if not node.drain_scheduled:
                    node.schedule_drain()
            return message
        return _send_slow(current_node(), dest, message)
    return _send_slow(current_node(), dest, message)


def _send_slow(node: Node, dest: Any, message: Any) -> Any:
    if dest.__class__ is Pid:
        proc = node.lookup(dest)
        if proc is not None:
            deliver(proc, message)
        elif dest.node != node.name and node.dist is not None:
            node.dist.send(_sender(), dest, message)
        # else: a dead local pid, or another node's pid while not distributed: dropped
        return message
    if dest.__class__ is str:
        proc = node.names.get(dest)
        if proc is None:
            raise NoProcError(f"cannot send to {dest!r}: no process is registered under that name")
        deliver(proc, message)
        return message
    if _is_name_at_node(dest):
        name, node_name = dest
        if node_name == node.name:
            proc = node.names.get(name)
            if proc is not None:  # an unknown name here is dropped silently, as in Erlang
                deliver(proc, message)
        elif node.dist is not None:
            node.dist.send(_sender(), dest, message)
        return message  # not distributed: another node cannot be reached, dropped
    whereis_name = getattr(dest, "whereis_name", None)
    if whereis_name is not None:  # a via name (Registry), as Erlang's {via, Module, Name}
        pid = whereis_name()
        if pid is None:
            raise NoProcError(f"cannot send to {dest!r}: no process is registered under that name")
        return _send_slow(node, pid, message)
    raise BadArgumentType(
        "send expects a Pid, a registered name (str) or a (name, node) tuple; "
        f"got {dest!r} (of type {type(dest).__name__})"
    )


def _sender() -> Pid | None:
    g = getcurrent()
    return g.proc.pid if g.__class__ is Worker else None


def receive(*patterns: Any, timeout: float | None = None, default: Any = MISSING) -> Any:
    """Take the first message, in arrival order, that matches any of ``patterns``.

    With no patterns, any message matches. Blocks until one arrives or ``timeout``
    seconds pass (``None``: for ever; ``0``: just look). On timeout, returns ``default``
    if given, else raises ``ReceiveTimeout``. Patterns are described in
    ``beamlike._core.patterns`` and ``docs/processes.md``.
    """
    g = getcurrent()
    proc = g.proc if g.__class__ is Worker else current_process(g)
    if not patterns and timeout is None:  # the plain receive: any message
        mailbox = proc.mailbox
        if mailbox and proc.pending_exit is None:
            return mailbox.popleft()
        return receive_any(proc)
    return receive_in(proc, patterns, timeout, default)


# -- links, monitors, exit signals ---------------------------------------------------


def _check_pid(pid: Any, what: str) -> Pid:
    if pid.__class__ is not Pid:
        raise BadArgumentType(f"{what} expects a Pid; got {pid!r} (of type {type(pid).__name__})")
    return pid  # type: ignore[no-any-return]


def link(pid: Pid) -> bool:
    """Link the caller and ``pid`` in both directions. Never blocks.

    Linking a dead process delivers ``Exit(pid, "noproc")`` to a caller that traps exits
    and raises ``NoProcError`` otherwise.
    """
    _check_pid(pid, "link")
    me = current_process()
    if pid == me.pid:
        return True
    node = me.node
    other = node.lookup(pid)
    if other is None and pid.node != node.name:  # a process of another node
        if node.dist is None:  # not reachable: Erlang's noconnection exit signal
            signals.exit_signal(node, me, pid, NOCONNECTION, via_link=True)
            return True
        record_remote_link(me, pid)
        node.dist.link(me.pid, pid)
        return True
    if other is None:
        if me.trap_exit:
            deliver(me, Exit(pid, "noproc"))
            return True
        raise NoProcError(f"cannot link to {pid!r}: no such process")
    signals.add_link(me, other)
    return True


def unlink(pid: Pid) -> bool:
    """Remove the link between the caller and ``pid``, if any. Never blocks."""
    _check_pid(pid, "unlink")
    me = current_process()
    signals.remove_link(me, pid)
    return True


def monitor(target: Dest) -> Ref:
    """Monitor a process (by pid, name or ``(name, node)``); return the monitor ref.

    Exactly one ``Down(ref, pid, reason)`` arrives when it exits, at once with reason
    ``"noproc"`` if it does not exist. Never blocks.
    """
    me = current_process()
    node = me.node
    shown: Any
    remote = remote_target(node, target)
    if remote is not None:
        ref = node.make_ref()
        if node.dist is None:  # another node, not reachable
            deliver(me, Down(ref, remote, NOCONNECTION))
            return ref
        record_remote_monitor(me, remote, ref)
        node.dist.monitor(me.pid, remote, ref)
        return ref
    if target.__class__ is Pid:
        proc = node.lookup(target)
        shown = target
    elif target.__class__ is str:
        proc = node.names.get(target)
        shown = proc.pid if proc is not None else target
    elif _is_name_at_node(target):
        proc = node.names.get(target[0]) if target[1] == node.name else None
        shown = proc.pid if proc is not None else target
    elif getattr(target, "whereis_name", None) is not None:  # a via name
        pid = target.whereis_name()  # type: ignore[union-attr]
        proc = node.lookup(pid) if pid is not None else None
        shown = pid if proc is not None else target
    else:
        raise BadArgumentType(
            "monitor expects a Pid, a registered name (str) or a (name, node) tuple; "
            f"got {target!r} (of type {type(target).__name__})"
        )
    if proc is None:
        ref = node.make_ref()
        deliver(me, Down(ref, shown, "noproc"))
        return ref
    return signals.add_monitor(me, proc, shown)


def remote_target(node: Node, target: Any) -> Any:
    """The target as a pid or (name, node) of another node, or None if local."""
    if target.__class__ is Pid:
        return target if target.node != node.name else None
    if _is_name_at_node(target) and target[1] != node.name:
        return target
    return None


def _is_name_at_node(dest: Any) -> TypeGuard[tuple[str, str]]:
    """Whether ``dest`` is a ``(name, node_name)`` tuple of two str. Never blocks."""
    return (
        dest.__class__ is tuple
        and len(dest) == 2
        and dest[0].__class__ is str
        and dest[1].__class__ is str
    )


def demonitor(ref: Ref, *, flush: bool = False) -> bool:
    """Turn off the monitor ``ref``: no Down for it arrives after this returns.

    With ``flush=True`` a Down for it already in the mailbox is removed too. Returns
    True. Never blocks.
    """
    if ref.__class__ is not Ref:
        raise BadArgumentType(
            f"demonitor expects a Ref; got {ref!r} (of type {type(ref).__name__})"
        )
    me = current_process()
    signals.remove_monitor(me, ref)
    if flush:
        flush_down(me, 0, ref)
    return True


def exit(pid: Pid, reason: Any) -> bool:  # noqa: A001 - Erlang's name
    """Send an exit signal with ``reason`` to ``pid``. Never blocks.

    ``"kill"`` kills it unconditionally (reason ``"killed"``); a process that traps exits
    gets ``Exit(caller, reason)``; ``"normal"`` is ignored unless ``pid`` is the caller.
    Killing the caller itself raises ``ProcessExit`` at once.
    """
    _check_pid(pid, "exit")
    me = current_process()
    node = me.node
    target = node.lookup(pid)
    if target is not None:
        signals.exit_signal(node, target, me.pid, reason, via_link=False)
    elif pid.node != node.name and node.dist is not None:
        node.dist.exit(me.pid, pid, reason)
    return True


def process_flag(flag: str, value: Any) -> Any:
    """Set a flag of the calling process; return its previous value. Never blocks.

    Only ``"trap_exit"`` (a bool) is supported.
    """
    if flag != "trap_exit":
        raise BadArgument(f"unknown process flag {flag!r}; supported flags: 'trap_exit'")
    if value.__class__ is not bool:
        raise BadArgumentType(f"process_flag('trap_exit', value) expects a bool; got {value!r}")
    me = current_process()
    old = me.trap_exit
    me.trap_exit = value
    return old


# -- names ---------------------------------------------------------------------------


def register(name: str, pid: Pid) -> bool:
    """Register ``name`` for the live local process ``pid``. Never blocks.

    Errors: ``AlreadyRegisteredError`` (name taken), ``NoProcError`` (pid not alive),
    ``BadArgument`` (pid already has a name), ``BadArgumentType`` (not a str / Pid).
    """
    _check_pid(pid, "register")
    node = current_node()
    if name.__class__ is not str:
        raise BadArgumentType(f"a registered name must be a str; got {name!r}")
    proc = node.lookup(pid)
    if proc is None:
        holder = node.names.get(name)
        if holder is not None:
            raise AlreadyRegisteredError(name, holder.pid)
        raise NoProcError(f"cannot register {name!r}: {pid!r} is not alive")
    signals.register_name(node, name, proc)
    return True


def unregister(name: str) -> bool:
    """Remove the registered ``name``. Raises ``BadArgument`` if it is not registered.

    Never blocks.
    """
    signals.unregister_name(current_node(), name)
    return True


def whereis(name: str) -> Pid | None:
    """The pid registered under ``name``, or None. Never blocks."""
    if name.__class__ is not str:
        raise BadArgumentType(f"whereis expects a str name; got {name!r}")
    proc = current_node().names.get(name)
    return proc.pid if proc is not None else None


def registered() -> list[str]:
    """All registered names of the node. Never blocks."""
    return list(current_node().names)


# -- introspection -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What ``process_info`` reports about a live process."""

    pid: Pid
    status: str
    message_queue_len: int
    messages: tuple[Any, ...]
    links: frozenset[Pid]
    monitors: frozenset[Pid]
    monitored_by: frozenset[Pid]
    trap_exit: bool
    registered_name: str | None
    memory: int
    initial_call: str


def _local_proc(pid: Any, what: str) -> Any:
    _check_pid(pid, what)
    node = current_node()
    if pid.node != node.name:
        raise BadArgument(
            f"{what} answers only for pids of the local node {node.name!r}; got {pid!r}"
        )
    return node.lookup(pid)


def is_alive(pid: Pid) -> bool:
    """Whether the local process ``pid`` is alive. Never blocks."""
    proc = _local_proc(pid, "is_alive")
    return proc is not None and proc.pending_exit is None


_STATUS = {
    "running": "running",
    "runnable": "runnable",
    "waiting": "waiting",
    "sleeping": "waiting",
}


def process_info(pid: Pid) -> ProcessInfo | None:
    """A snapshot of the local process ``pid``, or None if it is not alive.

    ``memory`` is an estimate in bytes: the process record, its saved greenlet stack
    (none while hibernated) and its mailbox. Never blocks.
    """
    proc = _local_proc(pid, "process_info")
    if proc is None:
        return None
    mailbox = tuple(proc.mailbox or ())
    status = "exiting" if proc.pending_exit is not None else _STATUS.get(proc.state, proc.state)
    if proc.g is getcurrent():
        status = "running"
    elif proc.state == "running":
        status = "suspended"  # blocked outside the scheduler (gevent I/O)
    g = proc.g  # None while hibernated or not started: no stack of its own
    memory = sys.getsizeof(proc) + (g._stack_saved if g is not None else 0)
    if proc.mailbox is not None:
        memory += sys.getsizeof(proc.mailbox) + sum(sys.getsizeof(m) for m in mailbox)
    return ProcessInfo(
        pid=proc.pid,
        status=status,
        message_queue_len=len(mailbox),
        messages=mailbox,
        links=frozenset(proc.links or ()),
        monitors=frozenset(proc.monitors.values()) if proc.monitors else frozenset(),
        monitored_by=frozenset(w for w, _ in proc.monitored_by.values())
        if proc.monitored_by
        else frozenset(),
        trap_exit=proc.trap_exit,
        registered_name=proc.name,
        memory=memory,
        initial_call=initial_call(proc),
    )


def processes() -> list[Pid]:
    """Pids of all live processes of the node (adopted ones included). Never blocks."""
    me = current_process()  # the caller is a process too, as in Erlang
    return [proc.pid for proc in list(me.node.procs.values())]


def make_ref() -> Ref:
    """A new unique reference. Never blocks."""
    return current_node().make_ref()
