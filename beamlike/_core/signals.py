"""Exit signals, links, monitors and registered names.

The essay
---------
These are Erlang's rules, as its reference manual states them. When a process exits,
every linked process receives a *link exit signal* carrying the exit reason, and every
monitor of it delivers ``Down(ref, pid, reason)`` as an ordinary message, exactly once.
A process that receives an exit signal:

====================  ==========================  ===================================
reason                not trapping exits          trapping exits
====================  ==========================  ===================================
``"kill"`` (exit/2)   dies with ``"killed"``      dies with ``"killed"``
``"normal"``          ignores it (unless it sent  gets ``Exit(from, "normal")``
                      it to itself: dies normal)
anything else         dies with that reason       gets ``Exit(from, reason)``
====================  ==========================  ===================================

A *link* signal carrying ``"kill"`` (a linked process that exited with reason ``"kill"``)
is an ordinary reason: trappable, and fatal with reason ``"kill"`` otherwise.

What Python forces: a process cannot be stopped between two bytecodes. A killed process
is marked (``pending_exit``) and woken if it is blocked in ``receive``/``sleep``, or has
``ProcessExit`` thrown in from the hub if it is blocked elsewhere (gevent I/O); it then
unwinds (its ``finally`` blocks run) and only when its greenlet has finished are its
links and monitors fired and its name released. If its code swallows ``ProcessExit``,
the exception is raised again at its next blocking point.

Guarantees: Down and Exit messages are appended after every message the exiting process
sent before it exited (per-pair ordering). Each monitor fires once. Names are released
before links and monitors fire, so a restarted process can register the name again.
"""

from __future__ import annotations

import logging
from typing import Any

from greenlet import getcurrent

from beamlike._core.ids import Pid, Ref
from beamlike._core.process import (
    DEAD,
    EXITING,
    RUNNABLE,
    SLEEPING,
    WAITING,
    AdoptedProcess,
    new_mailbox,
    wake,
)
from beamlike.errors import (
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    NoProcError,
    ProcessExit,
)
from beamlike.messages import Down, Exit

_hook_log = logging.getLogger("beamlike.node")

__all__ = [
    "add_link",
    "add_monitor",
    "deliver",
    "exit_signal",
    "raise_pending_exit",
    "register_name",
    "remove_link",
    "remove_monitor",
    "terminate",
    "unregister_name",
]


def deliver(proc: Any, message: Any) -> None:
    """Append ``message`` to ``proc``'s mailbox and wake it if it waits. Never blocks."""
    mailbox = proc.mailbox
    if mailbox is None:
        mailbox = proc.mailbox = new_mailbox()
    mailbox.append(message)
    if proc.state is WAITING:
        wake(proc)


def _is_atom(reason: Any, atom: str) -> bool:
    return reason.__class__ is str and reason == atom


def exit_signal(node: Any, target: Any, sender: Pid | None, reason: Any, *, via_link: bool) -> None:
    """Deliver an exit signal from ``sender`` to the live process ``target``.

    Applies the table of the module docstring. Raises ``ProcessExit`` when the target
    is the caller itself and the signal kills it. Never blocks otherwise.
    """
    state = target.state
    if state is DEAD or state is EXITING:
        return
    if not via_link and _is_atom(reason, "kill"):
        kill(node, target, "killed")
        return
    if target.trap_exit:
        deliver(target, Exit(sender, reason))
        return
    if _is_atom(reason, "normal"):
        if not via_link and sender is not None and sender == target.pid:
            kill(node, target, "normal")
        return
    kill(node, target, reason)


def kill(node: Any, target: Any, reason: Any) -> None:
    """Make ``target`` exit with ``reason`` as soon as it can. Never blocks, except that
    killing the calling process itself raises ``ProcessExit`` right away."""
    if target.pending_exit is not None and not _is_atom(reason, "killed"):
        return  # already dying; only an untrappable kill overrides the first reason
    target.pending_exit = reason
    state = target.state
    if state is WAITING or state is SLEEPING:
        wake(target)
    elif state is RUNNABLE:
        pass  # it sees pending_exit when it runs
    elif target.g is getcurrent():
        raise_pending_exit(target)
    else:  # suspended outside the scheduler (gevent I/O): interrupt it from the hub
        node.loop.run_callback(_interrupt, target)


def _interrupt(target: Any) -> None:
    state = target.state
    if state is DEAD or state is EXITING or target.pending_exit is None:
        return
    if state is WAITING or state is SLEEPING:
        wake(target)
        return
    if state is RUNNABLE:
        return
    g = target.g
    if g is None or g.dead:
        return
    reason = target.pending_exit
    if target.__class__ is AdoptedProcess:
        target.node.terminate(target, reason)
    g.throw(ProcessExit(reason))


def raise_pending_exit(proc: Any) -> None:
    """Raise ``ProcessExit`` for the pending exit of the calling process.

    An adopted process (no run loop of ours around it) is recorded as exited first.
    """
    reason = proc.pending_exit
    if proc.__class__ is AdoptedProcess and proc.state is not DEAD:
        proc.node.terminate(proc, reason)
    raise ProcessExit(reason)


def terminate(node: Any, proc: Any, reason: Any) -> None:
    """Record the exit of ``proc``: names, links, monitors, mailbox. Never blocks."""
    if proc.state is DEAD or proc.state is EXITING:
        return
    proc.state = EXITING
    pid = proc.pid
    if proc.timer is not None:
        if proc.timer.__class__ is not float:  # a float is a deadline not armed yet
            node.timers.discard(proc.timer)
        proc.timer = None
    node.procs.pop(pid.id, None)
    if proc.name is not None:
        if node.names.get(proc.name) is proc:
            del node.names[proc.name]
        proc.name = None
    pid._proc = None
    if node.exit_hooks:
        hooks = node.exit_hooks.pop(pid, None)
        if hooks:
            for hook in hooks:
                try:
                    hook(pid, reason)
                except Exception:  # a broken hook must not stop the exit
                    _hook_log.exception("exit hook %r of %r failed", hook, pid)
    if node.gen_servers:
        node.gen_servers.pop(pid, None)  # the GenServer record code upgrades look for
    dist = node.dist
    held = proc.monitors
    proc.monitors = None
    if held:
        for ref, target_pid in held.items():
            target = node.lookup(target_pid) if target_pid.__class__ is Pid else None
            if target is not None:
                if target.monitored_by:
                    target.monitored_by.pop(ref, None)
            elif dist is not None and _is_remote(node, target_pid):
                dist.demonitor(pid, target_pid, ref)
    links = proc.links
    proc.links = None
    if links:
        for other_pid in links:
            other = node.lookup(other_pid)
            if other is not None:
                if other.links:
                    other.links.discard(pid)
                    exit_signal(node, other, pid, reason, via_link=True)
            elif dist is not None and other_pid.node != node.name:
                dist.link_exit(pid, other_pid, reason)
    watchers = proc.monitored_by
    proc.monitored_by = None
    if watchers:
        for ref, (watcher_pid, shown) in watchers.items():
            watcher = node.lookup(watcher_pid)
            if watcher is not None:
                if watcher.monitors and watcher.monitors.pop(ref, None):
                    deliver(watcher, Down(ref, shown, reason))
            elif dist is not None and watcher_pid.node != node.name:
                dist.down(watcher_pid, ref, shown, reason)
    if node.remote_index:
        for pids in node.remote_index.values():
            pids.discard(pid)
    proc.mailbox = None
    proc.state = DEAD


# -- links ---------------------------------------------------------------------------


def _is_remote(node: Any, target: Any) -> bool:
    """Whether a monitor target (a Pid or a (name, node) tuple) is of another node."""
    if target.__class__ is Pid:
        return target.node != node.name  # type: ignore[no-any-return]
    return target.__class__ is tuple and target[1] != node.name


def add_link(a: Any, b: Any) -> None:
    """Link two live processes (both directions). Never blocks."""
    if a is b:
        return
    if a.links is None:
        a.links = set()
    if b.links is None:
        b.links = set()
    a.links.add(b.pid)
    b.links.add(a.pid)


def remove_link(a: Any, other: Pid) -> None:
    """Remove the link between ``a`` and ``other`` (both directions). Never blocks."""
    if a.links:
        a.links.discard(other)
    proc = other._proc
    if proc is not None:
        if proc.links:
            proc.links.discard(a.pid)
    else:
        node = a.node
        if other.node != node.name and node.dist is not None:
            node.dist.unlink(a.pid, other)


# -- monitors ------------------------------------------------------------------------


def add_monitor(watcher: Any, target: Any, shown: Any) -> Ref:
    """``watcher`` monitors the live process ``target``; Down will carry ``shown`` as
    its pid field. Returns the monitor reference. Never blocks."""
    ref = watcher.node.make_ref()
    if watcher.monitors is None:
        watcher.monitors = {}
    watcher.monitors[ref] = target.pid
    if target.monitored_by is None:
        target.monitored_by = {}
    target.monitored_by[ref] = (watcher.pid, shown)
    return ref


def remove_monitor(watcher: Any, ref: Ref) -> bool:
    """Remove ``watcher``'s monitor ``ref``. Returns whether it was active. Never blocks."""
    held = watcher.monitors
    if not held:
        return False
    target_pid = held.pop(ref, None)
    if target_pid is None:
        return False
    node = watcher.node
    target = node.lookup(target_pid) if target_pid.__class__ is Pid else None
    if target is not None:
        if target.monitored_by:
            target.monitored_by.pop(ref, None)
    elif node.dist is not None and _is_remote(node, target_pid):
        node.dist.demonitor(watcher.pid, target_pid, ref)
    return True


# -- names ---------------------------------------------------------------------------


def register_name(node: Any, name: Any, proc: Any) -> None:
    """Register ``name`` for the live process ``proc``. Never blocks.

    Raises ``BadArgumentType`` for a non-str name, ``AlreadyRegisteredError`` when the
    name is taken, ``BadArgument`` when the process already has a name.
    """
    if name.__class__ is not str:
        raise BadArgumentType(f"a registered name must be a str; got {name!r}")
    if name == "" or name == "undefined":
        raise BadArgument(f"{name!r} cannot be registered")
    holder = node.names.get(name)
    if holder is not None:
        raise AlreadyRegisteredError(name, holder.pid)
    if proc.state is DEAD or proc.state is EXITING:
        raise NoProcError(f"cannot register {name!r}: {proc.pid!r} is not alive")
    if proc.name is not None:
        raise BadArgument(f"{proc.pid!r} is already registered as {proc.name!r}")
    node.names[name] = proc
    proc.name = name


def unregister_name(node: Any, name: Any) -> None:
    """Remove a registered name. Raises ``BadArgument`` when it is not registered."""
    if name.__class__ is not str:
        raise BadArgumentType(f"a registered name must be a str; got {name!r}")
    proc = node.names.pop(name, None)
    if proc is None:
        raise BadArgument(f"{name!r} is not a registered name")
    proc.name = None
