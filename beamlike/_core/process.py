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

from gevent.exceptions import LoopExit
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
    "POOL_KEEP",
    "POOL_MAX",
    "POOL_TRIM_AFTER",
    "SWITCH_BUDGET",
    "AdoptedProcess",
    "Hibernate",
    "Process",
    "Resume",
    "Worker",
    "block",
    "current_greenlet",
    "deadline_passed",
    "describe_call",
    "dispatch",
    "execute",
    "initial_call",
    "wake",
]

_raw_switch = greenlet.switch

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
    "monitored_by",  # {Ref: (watcher Pid, pid shown in Down)} monitors on it, or None
    "trap_exit",  # bool
    "name",  # registered name, or None
    "pending_exit",  # exit reason once killed by a signal, else None
    "timer",  # TimerEntry of the current receive/sleep timeout, or None
    "timed_out",  # set by that timer
    "start",  # (fn, args, kwargs) until it starts, then its function; Resume if hibernated
    "g",  # the greenlet it runs on: a Worker once started, or the adopted greenlet
)

# Parked workers kept per node for reuse: up to POOL_MAX, so that a burst of that many
# processes at once (hibernated servers waking, tasks) reuses greenlets instead of
# making new ones through the hub; POOL_TRIM_AFTER seconds after the pool first grew
# beyond POOL_KEEP, the excess is ended (a parked worker holds about 6 KB).
POOL_MAX = 4096
POOL_KEEP = 1024
POOL_TRIM_AFTER = 5.0


class Process:
    """The record of a process beamlike started. It runs on a ``Worker`` greenlet,
    bound when it first runs (``g`` is None until then)."""

    __slots__ = _FIELDS

    def __init__(self, node: Node, start: Any) -> None:
        self.node = node
        self.pid: Any = None
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
        self.g: Any = None

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.state}>"


class Hibernate(BaseException):
    """Raised by ``hibernate`` to discard the stack of the calling process; ``execute``
    catches it. A BaseException, so ``except Exception`` handlers let it through."""

    def __init__(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None):
        BaseException.__init__(self)
        self.fn = fn
        self.args_ = args
        self.kwargs = kwargs


class Resume:
    """What a hibernated process runs when a message wakes it: ``fn(*args, **kwargs)``
    on a fresh stack. ``initial`` keeps the function it was started with."""

    __slots__ = ("fn", "args", "kwargs", "initial")

    def __init__(self, fn: Any, args: tuple[Any, ...], kwargs: Any, initial: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.initial = initial


class Worker(greenlet):
    """A greenlet that runs processes, one after another.

    Creating, starting and tearing down a greenlet costs more than running a short
    process, so a worker whose process has exited runs the next process of the run
    queue that has not started yet, in the same greenlet, or parks itself in the node's
    pool to be handed a new process later.
    """

    __slots__ = ("proc", "node")

    def __init__(self, node: Node) -> None:
        # The body is a plain function, not a method: a bound method as the greenlet's
        # entry costs about 150 more bytes of saved C stack per idle process.
        greenlet.__init__(self, worker_main, node.hub)
        self.node = node
        self.proc: Any = None


def worker_main(*_handoff: Any) -> None:
    """The body of every Worker greenlet; never call it yourself.

    (A process that exits may hand over to the next one by becoming its parent, which
    passes its return value here when that next one had not started yet.)
    """
    self: Any = getcurrent()
    node = self.node
    runq = node.runq
    pool = node.pool
    while True:
        if execute(self, self.proc):
            return  # GreenletExit: the greenlet itself is being torn down
        self.proc = None
        # Run the next process right here if it has not started yet.
        if runq and node.budget > 0:
            nxt = runq[0]
            if nxt.g is None:
                node.budget -= 1
                runq.popleft()
                nxt.state = RUNNING
                nxt.g = self
                self.proc = nxt
                continue
        if len(pool) >= POOL_KEEP:
            if len(pool) >= POOL_MAX:
                break
            if not node.trim_scheduled:
                node.schedule_trim()
        pool.append(self)
        try:
            if runq and node.budget > 0 and runq[0].g:
                node.budget -= 1
                nxt = runq.popleft()
                nxt.state = RUNNING
                nxt.g.switch()
            else:
                _raw_switch(node.hub)
        except GreenletExit:  # the node stops, or the interpreter tears greenlets down
            return
        # Resumed by a dispatcher that bound a process to this worker.
        if self.proc is None:  # resumed by something else: leave the pool
            if self in pool:
                pool.remove(self)
            return
    # Pool full: end this greenlet, handing over to the next runnable process
    # directly (returning from the body switches to the parent).
    if runq and node.budget > 0:
        nxt = runq[0]
        if nxt.g is not None:
            node.budget -= 1
            runq.popleft()
            nxt.state = RUNNING
            self.parent = nxt.g


def execute(worker: Worker, proc: Any) -> bool:
    """Run one process to its end on ``worker`` and record its exit. Blocks.

    Returns True when the worker greenlet itself got ``GreenletExit`` (it is being torn
    down, e.g. at interpreter exit) and must end instead of running more processes.
    """
    node = worker.node
    reason: Any = "normal"
    crash: BaseException | None = None
    torn_down = False
    start = proc.start
    if start.__class__ is Resume:  # woken from hibernation
        fn, args, kwargs = start.fn, start.args, start.kwargs
        proc.start = start.initial
    else:
        fn, args, kwargs = start
        proc.start = fn  # keep only the function (see initial_call); let args go with it
    del start
    if proc.pending_exit is None:
        try:
            # Plain calls for small arities: CPython 3.11 runs f(*args) in a new C-level
            # eval frame, which every parked process would then keep (~400 bytes).
            if kwargs:
                fn(*args, **kwargs)
            else:
                arity = len(args)
                if arity == 0:
                    fn()
                elif arity == 1:
                    fn(args[0])
                elif arity == 2:
                    fn(args[0], args[1])
                elif arity == 3:
                    fn(args[0], args[1], args[2])
                elif arity == 4:
                    fn(args[0], args[1], args[2], args[3])
                elif arity == 5:
                    fn(args[0], args[1], args[2], args[3], args[4])
                else:
                    fn(*args)
        except ProcessExit as exc:
            reason = exc.reason
        except Hibernate as exc:
            if proc.pending_exit is None:
                del fn, args, kwargs
                _hibernated(proc, Resume(exc.fn, exc.args_, exc.kwargs, proc.start))
                return False
        except GreenletExit:
            reason = "killed"
            torn_down = True
        except BaseException as exc:  # a crash: the reason is the exception itself
            reason = crash = exc
        del fn, args, kwargs
    if proc.pending_exit is not None:
        if crash is not None:
            crash_logger.error(
                "process %r raised while exiting with reason %r",
                proc.pid,
                proc.pending_exit,
                exc_info=crash,
            )
            crash = None
        reason = proc.pending_exit
    if crash is not None:
        if crash_logger.isEnabledFor(logging.ERROR):
            crash_logger.error(
                "process %r (%s) crashed: %r",
                proc.pid,
                initial_call(proc),
                crash,
                exc_info=crash,
            )
        crash = None
    node.terminate(proc, reason)
    proc.g = None
    return torn_down


def _hibernated(proc: Any, resume: Resume) -> None:
    """``proc`` gave up its stack (``hibernate``): it keeps no greenlet, and the next
    message runs ``resume`` on a worker, as if the process were starting. Never blocks.
    """
    proc.start = resume
    proc.g = None
    mailbox = proc.mailbox
    if mailbox:
        wake(proc)  # a message is already there: run again at once
    else:
        proc.mailbox = None  # an empty deque is ~600 bytes; deliver makes a new one
        proc.state = WAITING


class AdoptedProcess(Process):
    """A process record for a greenlet beamlike did not start (the main program, a
    plain gevent greenlet) once it needs a pid. Runtime code tells it apart by its
    exact class (``proc.__class__ is AdoptedProcess``)."""

    __slots__ = ()

    def __init__(self, node: Node, g: greenlet) -> None:
        Process.__init__(self, node, f"adopted greenlet {g!r}")
        self.state = RUNNING
        self.g = g

    def __repr__(self) -> str:
        return f"<AdoptedProcess {self.pid!r} {self.state}>"


def initial_call(proc: Any) -> str:
    """``module.function`` a process was started with (or what an adopted one is).

    Never blocks.
    """
    start = proc.start
    if start.__class__ is str:
        return start  # type: ignore[no-any-return]
    if start.__class__ is tuple:
        start = start[0]
    elif start.__class__ is Resume:
        start = start.initial
    return describe_call(start)


def describe_call(fn: Any) -> str:
    """``module.qualname`` of a function, for reports and error messages. Never blocks."""
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


def deadline_passed(proc: Any) -> None:
    """Timer callback: the deadline of ``proc``'s current receive or sleep has passed.

    Sets ``timed_out`` and wakes the process if it waits. Never blocks."""
    proc.timer = None
    proc.timed_out = True
    state = proc.state
    if state is WAITING or state is SLEEPING:
        wake(proc)


def block(proc: Any) -> None:
    """Suspend the calling process (already marked WAITING or SLEEPING) until woken.

    Switches directly to the next runnable process, or to the hub. Blocks until
    something makes ``proc`` runnable again and the scheduler switches back to it.
    """
    node = proc.node
    runq = node.runq
    if runq and node.budget > 0:
        nxt = runq.popleft()
        g = nxt.g
        if g is None and node.pool:
            # Not started yet: bind a parked worker (already running, so switching
            # to it does not deepen the Python recursion depth, unlike starting a
            # new greenlet from here would).
            g = nxt.g = node.pool.pop()
            g.proc = nxt
        if g is not None:
            node.budget -= 1
            nxt.state = RUNNING
            try:
                g.switch()
            except LoopExit:  # only the hub's parent (the main greenlet) gets this
                raise node.deadlock(proc) from None
            return
        runq.appendleft(nxt)  # not started yet and no parked worker: the hub starts it
    node.switch_to_hub(proc)


def dispatch(node: Node, proc: Any) -> None:
    """From the hub: run ``proc`` (just taken off the run queue) until it hands control
    back. Binds a worker to a process that has not started. Blocks."""
    g = proc.g
    if g is None:
        pool = node.pool
        g = pool.pop() if pool else Worker(node)
        g.proc = proc
        proc.g = g
    proc.state = RUNNING
    g.switch()


def new_mailbox() -> deque[Any]:
    """An empty mailbox. Never blocks."""
    return deque()


current_greenlet = getcurrent
