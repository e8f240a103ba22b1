"""Processes and the scheduler that switches between them.

The essay
---------
A process is a greenlet with a mailbox. gevent alone would wake a blocked greenlet by
scheduling a callback in its event loop (the *hub*), which then switches to it: two
switches and a callback per message. beamlike owns the scheduling of its processes
instead, the way the BEAM does:

- each node keeps a *run queue* of processes that are ready to run;
- a process that blocks in ``receive`` (or ``sleep``) switches *directly* to the next
  process of the run queue: one greenlet switch per hand-off, no hub round trip;
- only when the run queue is empty, or after ``SWITCH_BUDGET`` direct hand-offs (so that
  I/O and timers are never starved), does it switch to the hub;
- the hub drains the run queue in a callback (``Node._drain``) that is scheduled when
  the run queue becomes non-empty, so a process made ready from outside any process (a
  timer, an I/O greenlet, the main program) always runs.

Processes can still block on anything gevent offers (sockets, ``gevent.sleep``, locks):
then they are suspended in the hub like any greenlet, and the scheduler leaves them
alone: only a process in state ``WAITING`` (blocked in ``receive``) is ever woken by a
message, and only through the run queue.

Guarantees: a process runs only when it is runnable; a message wakes a waiting process
exactly once; a process that finishes hands over to the next runnable process (by
re-parenting its greenlet) without visiting the hub.

Non-guarantees: no pre-emption. A process that computes without blocking holds the
whole node (and the event loop) until it blocks; the node's watchdog reports it
(see ``watchdog``). Run CPU-bound work off the hub.

Prior art: the BEAM's run queues and reductions budget; gevent's ``Waiter``; Pykka and
Eventlet's actors, which go through the hub for every message.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from greenlet import GreenletExit, getcurrent, greenlet

from beamlike.errors import ProcessExit

if TYPE_CHECKING:
    from beamlike._core.node import Node

__all__ = [
    "RUNNING",
    "RUNNABLE",
    "WAITING",
    "SLEEPING",
    "EXITING",
    "DEAD",
    "SWITCH_BUDGET",
    "AdoptedProcess",
    "Process",
    "block",
    "wake",
]

crash_logger = logging.getLogger("beamlike.crash")

# Process states. A process is RUNNING while it executes *or* while it is suspended
# somewhere the scheduler does not own (gevent I/O); WAITING while blocked in receive
# (a message wakes it); SLEEPING while blocked in sleep (only its timer or an exit signal
# wakes it); RUNNABLE while in the run queue.
RUNNING = "running"
RUNNABLE = "runnable"
WAITING = "waiting"
SLEEPING = "sleeping"
EXITING = "exiting"
DEAD = "dead"

# Direct process-to-process hand-offs allowed before the hub gets a turn.
SWITCH_BUDGET = 200

_FIELDS = (
    "node",  # the Node it runs on
    "pid",  # its Pid
    "mailbox",  # deque of messages, created on the first message
    "state",  # one of the states above
    "links",  # set of Pids, or None
    "monitors",  # {Ref: target Pid} monitors this process holds, or None
    "monitored_by",  # {Ref: watcher Pid} monitors on this process, or None
    "trap_exit",  # bool
    "name",  # registered name, or None
    "pending_exit",  # exit reason once killed by a signal, else None
    "timer",  # TimerEntry of the current receive/sleep timeout, or None
    "timed_out",  # set by that timer
    "start",  # (fn, args, kwargs) until the process starts; then the initial call text
    "g",  # the greenlet to switch to (the process itself, or the adopted greenlet)
)


class Process(greenlet):
    """A process that beamlike started: a greenlet whose parent is the hub."""

    __slots__ = _FIELDS

    def __init__(self, node: Node, start: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> None:
        greenlet.__init__(self, None, node.hub)
        self.node = node
        self.pid = None
        self.mailbox = None
        self.state = RUNNABLE
        self.links = None
        self.monitors = None
        self.monitored_by = None
        self.trap_exit = False
        self.name = None
        self.pending_exit = None
        self.timer = None
        self.timed_out = False
        self.start = start
        self.g = self

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.state}>"

    def run(self, *_handoff: Any) -> None:  # the greenlet body; never call it yourself
        # (a process that exits hands over to the next one by becoming its parent, which
        # passes its return value here when that next one had not started yet)
        node = self.node
        reason: Any = "normal"
        crash: BaseException | None = None
        fn, args, kwargs = self.start
        self.start = _describe_call(fn)
        if self.pending_exit is None:
            try:
                fn(*args, **kwargs)
            except ProcessExit as exc:
                reason = exc.reason
            except GreenletExit:
                reason = "killed"
            except BaseException as exc:  # a crash: the reason is the exception itself
                reason = crash = exc
            del fn, args, kwargs
        if self.pending_exit is not None:
            if crash is not None:
                crash_logger.error(
                    "process %r raised while exiting with reason %r",
                    self.pid,
                    self.pending_exit,
                    exc_info=crash,
                )
                crash = None
            reason = self.pending_exit
        if crash is not None:
            crash_logger.error(
                "process %r (%s) crashed: %r",
                self.pid,
                self.start,
                crash,
                exc_info=crash,
            )
        node.terminate(self, reason)
        self.g = None
        # Hand over to the next runnable process directly: returning from run()
        # switches to the parent, so make that process the parent.
        runq = node.runq
        if runq and node.budget > 0:
            node.budget -= 1
            nxt = runq.popleft()
            nxt.state = RUNNING
            self.parent = nxt.g


class AdoptedProcess:
    """A process record for a greenlet beamlike did not start (the main program, a
    plain gevent greenlet) once it needs a pid. Same fields as ``Process``."""

    __slots__ = (*_FIELDS, "__weakref__")

    def __init__(self, node: Node, g: greenlet) -> None:
        self.node = node
        self.pid = None
        self.mailbox = None
        self.state = RUNNING
        self.links = None
        self.monitors = None
        self.monitored_by = None
        self.trap_exit = False
        self.name = None
        self.pending_exit = None
        self.timer = None
        self.timed_out = False
        self.start = f"adopted greenlet {g!r}"
        self.g = g

    def __repr__(self) -> str:
        return f"<AdoptedProcess {self.pid!r} {self.state}>"


def _describe_call(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}"


def wake(proc: Any) -> None:
    """Make a WAITING or SLEEPING process runnable. Never blocks."""
    proc.state = RUNNABLE
    node = proc.node
    node.runq.append(proc)
    if not node.drain_scheduled:
        node.schedule_drain()


def block(proc: Any) -> None:
    """Suspend the calling process (already marked WAITING or SLEEPING) until woken.

    Switches directly to the next runnable process, or to the hub. Blocks until
    something makes ``proc`` runnable again and the scheduler switches back to it.
    """
    node = proc.node
    runq = node.runq
    # A process that has not started yet is started from the hub, never from here: a
    # greenlet started from another one inherits its Python recursion depth, so a chain
    # of processes each starting the next would end in RecursionError.
    if runq and node.budget > 0 and runq[0].g:
        node.budget -= 1
        nxt = runq.popleft()
        nxt.state = RUNNING
        nxt.g.switch()
    else:
        node.switch_to_hub(proc)


def new_mailbox() -> deque[Any]:
    """An empty mailbox. Never blocks."""
    return deque()


current = getcurrent
