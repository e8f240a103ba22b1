"""The Node: all runtime state of one beamlike node.

A node holds its process table, registered names, run queue, timers and watchdog. There
is no other hidden state: a test makes a fresh ``Node`` and everything it spawned dies
with ``node.stop()``. Code running inside a process uses that process's node; code
outside any process uses the *default* node, created lazily (``default_node``).

Several nodes may live in one OS process (they share gevent's hub, each has its own run
queue). A pid of another node is not reachable through local memory: sending to it is
the job of the distribution layer.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gevent
from gevent.exceptions import LoopExit
from greenlet import GreenletExit, getcurrent, greenlet

from beamlike._core import ids, signals
from beamlike._core.ids import Pid, Ref
from beamlike._core.process import (
    DEAD,
    POOL_KEEP,
    POOL_TRIM_AFTER,
    SWITCH_BUDGET,
    WAITING,
    AdoptedProcess,
    Process,
    Worker,
    deadline_passed,
    dispatch,
)
from beamlike._core.timers import Timers
from beamlike._core.watchdog import Watchdog
from beamlike.errors import BeamlikeError, DeadlockError, NoProcError

__all__ = [
    "Node",
    "current_node",
    "default_node",
    "forget_default",
    "reset_default",
    "set_default",
]

_raw_switch = greenlet.switch
_monotonic = time.monotonic

log = logging.getLogger("beamlike.node")

# Process-to-process hand-offs (direct ones included) the hub's drain callback allows
# before it lets the event loop run its other callbacks, timers and I/O again.
DRAIN_BUDGET = 2000
# ... and at most about this long (checked every DRAIN_CHECK_EVERY dispatches), as
# gevent's switch interval: a timer due now fires within a few milliseconds.
DRAIN_SECONDS = 0.005
DRAIN_CHECK_EVERY = 4

_creations = itertools.count(1)
_EV_READ = 1  # the event loop's "readable" for an io watcher


class Node:
    """One beamlike node: its processes, names, run queue, timers and watchdog.

    Args:
        name: the node name, ``"name@host"``; ``"nonode@nohost"`` when not distributed.
        block_threshold: seconds a process may run without yielding before the watchdog
            reports it as blocking the event loop; ``None`` turns the watchdog off.
    """

    def __init__(
        self,
        name: str = "nonode@nohost",
        *,
        block_threshold: float | None = 0.5,
        creation: int | None = None,
    ) -> None:
        if not isinstance(name, str) or "@" not in name:
            raise BeamlikeError(f"node name must be a str of the form 'name@host'; got {name!r}")
        if creation is not None and (creation.__class__ is not int or creation <= 0):
            raise BeamlikeError(f"creation must be a positive int or None; got {creation!r}")
        self.name = name
        # Tells this incarnation's pids from an earlier one's: distributed nodes pass a
        # random value, as a restarted OS process would otherwise reuse the counter's.
        self.creation = creation if creation is not None else next(_creations)
        self.hub = gevent.get_hub()
        self.loop = self.hub.loop
        self.procs: dict[int, Any] = {}
        self.names: dict[str, Any] = {}
        self.runq: deque[Any] = deque()
        self.drain_scheduled = False
        self.budget = SWITCH_BUDGET
        self.timers = Timers(self.loop)
        self.resume_timer = self.loop.timer(0.0)  # resumes a drain that spent its budget
        # Waits whose timeout is not armed yet (Node.defer): armed when the hub next
        # gets control, that is only if the event loop runs while they wait.
        self.deferred: list[Any] = []
        self.timer_refs: dict[Ref, Any] = {}
        self.adopted: dict[greenlet, AdoptedProcess] = {}
        self.pool: list[Worker] = []
        self.trim_scheduled = False  # a timer will end parked workers beyond POOL_KEEP
        self.exit_hooks: dict[Pid, list[Callable[[Pid, Any], None]]] = {}
        # Active reply aliases (OTP's alias monitors): call reference -> caller. A reply
        # to a reference no longer here (the call timed out) is dropped.
        self.aliases: dict[Ref, Any] = {}
        # The distribution layer (see _core.remote.Distribution), when distributed;
        # and, per other node's name, the local pids with a link or monitor there.
        self.dist: Any = None
        self.remote_index: dict[str, set[Pid]] = {}
        # Running GenServers (pid -> loop state), for code upgrades and sys.
        self.gen_servers: dict[Pid, Any] = {}
        # Per-node state of libraries built on beamlike (as OTP's application env):
        # keyed by the library's dotted name, e.g. "elixirchain.app". Gone with the node.
        self.extensions: dict[str, Any] = {}
        # Called by stop() once the processes are gone (see on_stop), in order.
        self.stop_hooks: list[Callable[[], None]] = []
        self.stopped = False
        self._ids = itertools.count(1)
        self._ensure_hub_started()
        self.watchdog = Watchdog(self, block_threshold) if block_threshold else None

    def __repr__(self) -> str:
        return f"<Node {self.name} creation={self.creation} processes={len(self.procs)}>"

    # -- identities ------------------------------------------------------------------

    def new_pid(self) -> Pid:
        """A fresh pid of this node. Never blocks."""
        return Pid(self.name, next(self._ids), 0, self.creation)

    def make_ref(self) -> Ref:
        """A fresh reference of this node. Never blocks."""
        return Ref(self.name, None, self.creation)

    def lookup(self, pid: Pid) -> Any:
        """The live process of a pid of this node, or None. Never blocks."""
        proc = pid._proc
        if proc is not None:
            return proc
        if pid.node == self.name and pid.creation == self.creation:
            return self.procs.get(pid.id)
        return None

    # -- scheduling ------------------------------------------------------------------

    def _ensure_hub_started(self) -> None:
        # A process greenlet returns into its parent, the hub; the hub must already be
        # running by then (an unstarted hub would be called with the return value).
        if not self.hub and getcurrent() is not self.hub:
            gevent.sleep(0)

    def defer(self, proc: Any) -> None:
        """Arm ``proc``'s pending wait deadline if the event loop runs before the wait
        ends. Never blocks."""
        deferred = self.deferred
        if not deferred:
            # Runs when the hub next gets control: only then can the wait outlast the
            # round of direct hand-offs it is part of. Also keeps the loop awake.
            self.loop.run_callback(self._arm_deferred)
        deferred.append(proc)

    def _arm_deferred(self) -> None:
        deferred = self.deferred
        if not deferred:
            return
        self.deferred = []
        now = time.monotonic()
        for proc in deferred:
            deadline = proc.timer
            if deadline.__class__ is float and proc.state is WAITING:
                proc.timer = self.timers.add(max(0.0, deadline - now), deadline_passed, proc)

    def fd_watcher(self, fd: int) -> Any:
        """A watcher of the event loop for ``fd`` becoming readable, for code that waits
        on a file descriptor (see ``mailbox.suspend``/``resume``): ``start(callback)``
        calls ``callback()`` in the event loop while ``fd`` is readable, until ``stop()``;
        ``close()`` releases it. Never blocks."""
        return self.loop.io(fd, _EV_READ)

    def schedule_drain(self) -> None:
        """Ask the hub to run the run queue soon. Never blocks."""
        self.drain_scheduled = True
        self.loop.run_callback(self._drain)

    def schedule_trim(self) -> None:
        """End the parked workers beyond ``POOL_KEEP`` in ``POOL_TRIM_AFTER`` seconds.

        Never blocks."""
        self.trim_scheduled = True
        self.timers.add(POOL_TRIM_AFTER, Node._trim_pool, self)

    def _trim_pool(self) -> None:
        # A timer callback: runs in the hub.
        self.trim_scheduled = False
        pool = self.pool
        excess = len(pool) - POOL_KEEP
        if excess > 0:
            oldest = pool[:excess]  # parked longest ago: their stacks are the coldest
            del pool[:excess]
            _end_workers(oldest)

    def _drain(self) -> None:
        # Runs in the hub greenlet. Each switch returns here when a process hands
        # control back to the hub (its run queue was empty, or its budget spent).
        # Two bounds keep timers and I/O served while processes stay runnable: a count
        # of hand-offs, and time (processes that do much work per dispatch would
        # otherwise hold the loop for DRAIN_BUDGET times their work).
        runq = self.runq
        rounds = DRAIN_BUDGET
        checks = 0
        until = _monotonic() + DRAIN_SECONDS
        while runq:
            if rounds <= 0:
                # Resume from a zero-delay timer, not a loop callback: gevent runs
                # callbacks added by callbacks in the same pass (checking the time only
                # every 50), so I/O and timers would wait; timers run after the poll.
                self.resume_timer.start(self._drain)
                return
            self.budget = SWITCH_BUDGET
            dispatch(self, runq.popleft())
            # Count the direct hand-offs made since, not just this dispatch.
            rounds -= 1 + SWITCH_BUDGET - self.budget
            checks += 1
            if checks >= DRAIN_CHECK_EVERY:
                checks = 0
                if _monotonic() >= until:
                    rounds = 0
        self.drain_scheduled = False

    def deadlock(self, proc: Any) -> DeadlockError:
        """The error for a main-greenlet process that waits with nothing left to wake it."""
        return DeadlockError(
            f"{proc.pid!r} waits for a message, but no process, timer or I/O is left "
            "that could ever wake it"
        )

    def switch_to_hub(self, proc: Any) -> None:
        """Suspend ``proc`` (marked waiting) and give the hub control until woken.

        Blocks. Translates gevent's "would block forever" into ``DeadlockError``.
        """
        try:
            # greenlet's own switch, not gevent's Hub.switch: same effect for our
            # greenlets (they have no switch_out hook), fewer C frames to save.
            _raw_switch(self.hub)
        except LoopExit:
            raise self.deadlock(proc) from None

    # -- processes -------------------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        link: Any = None,
        monitor: Any = None,
        trap_exit: bool = False,
        name: str | None = None,
    ) -> tuple[Pid, Ref | None]:
        """Create a process and queue it to run. ``link``/``monitor`` name the caller's
        process record to link or monitor from. Never blocks."""
        if self.stopped:
            raise BeamlikeError(f"{self!r} is stopped; it cannot spawn")
        proc = Process(self, (fn, args, kwargs))
        pid = Pid(self.name, next(self._ids), 0, self.creation)
        pid._proc = proc
        proc.pid = pid
        proc.trap_exit = trap_exit
        if name is not None:
            signals.register_name(self, name, proc)  # raises before anything is recorded
        self.procs[pid.id] = proc
        if link is not None:
            signals.add_link(link, proc)
        ref = signals.add_monitor(monitor, proc, pid) if monitor is not None else None
        self.runq.append(proc)
        if not self.drain_scheduled:
            self.schedule_drain()
        if self.watchdog is not None and not self.watchdog.running:
            self.watchdog.start()
        return pid, ref

    def adopt(self, g: greenlet) -> AdoptedProcess:
        """The process record of a greenlet beamlike did not start; made on first use.

        Never blocks (except to start the hub the very first time).
        """
        proc = self.adopted.get(g)
        if proc is not None:
            return proc
        if g is self.hub:
            raise BeamlikeError(
                "this call needs a process, but it runs in gevent's event loop (hub) "
                "greenlet; spawn a process instead"
            )
        if self.stopped:
            raise BeamlikeError(f"{self!r} is stopped")
        self._ensure_hub_started()
        proc = AdoptedProcess(self, g)
        pid = self.new_pid()
        pid._proc = proc
        proc.pid = pid
        self.procs[pid.id] = proc
        self.adopted[g] = proc
        rawlink = getattr(g, "rawlink", None)
        if rawlink is not None:  # a gevent.Greenlet: end its record when it ends
            rawlink(self._adopted_greenlet_ended)
        return proc

    def _forget(self, proc: AdoptedProcess) -> None:
        other_pid: Pid
        for other_pid in proc.links or ():
            other = self.lookup(other_pid)
            if other is not None and other.links:
                other.links.discard(proc.pid)
        proc.links = None
        proc.monitored_by = None
        self.terminate(proc, "killed")

    def _adopted_greenlet_ended(self, g: Any) -> None:
        proc = self.adopted.get(g)
        if proc is not None and proc.state is not DEAD:
            exc = getattr(g, "exception", None)
            self.terminate(proc, exc if exc is not None else "normal")

    def on_exit(self, pid: Pid, hook: Callable[[Pid, Any], None]) -> None:
        """Call ``hook(pid, reason)`` when the live process ``pid`` of this node exits.

        For runtime services (tables, registries) that must clean up after a process,
        as the BEAM does for ETS tables. The hook runs in the exiting process's
        greenlet, after its name was released and before its links and monitors fire;
        it must not block. Raises ``NoProcError`` if ``pid`` is not alive. Never blocks.
        """
        proc = self.lookup(pid)
        if proc is None or proc.state is DEAD:
            raise NoProcError(f"{pid!r} is not alive")
        self.exit_hooks.setdefault(pid, []).append(hook)

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` when this node stops, after its processes have exited.

        For per-node library state that holds OS resources (thread or process pools).
        Hooks run in the order added, in the caller of ``stop``; one that raises is
        logged and the others still run. Never blocks.
        """
        self.stop_hooks.append(hook)

    def terminate(self, proc: Any, reason: Any) -> None:
        """Record that ``proc`` exited with ``reason``: release its name, fire its links
        and monitors, drop its mailbox. Never blocks."""
        signals.terminate(self, proc, reason)
        if proc.__class__ is AdoptedProcess:
            self.adopted.pop(proc.g, None)

    # -- life cycle ------------------------------------------------------------------

    def process_count(self) -> int:
        """Number of live processes (adopted ones included). Never blocks."""
        return len(self.procs)

    def stop(self, *, timeout: float = 5.0) -> None:
        """Kill every process of this node and release its timers and watchdog.

        Blocks until all its processes have exited (at most ``timeout`` seconds; the
        ones still alive then are logged). Must not be called from one of its processes.
        """
        me = getcurrent()
        if me.__class__ is Worker and me.node is self:
            raise BeamlikeError("a node cannot be stopped from one of its own processes")
        if self.stopped:
            return
        self.stopped = True
        if self.dist is not None:
            self.dist.shutdown()  # other nodes first: then links here fire in a known order
        for proc in list(self.adopted.values()):
            # Records of foreign greenlets (the main program) end first and quietly:
            # the exits below must not reach the caller through links.
            self._forget(proc)
        for proc in list(self.procs.values()):
            if proc.state is not DEAD:
                signals.exit_signal(self, proc, None, "kill", via_link=False)
        deadline = time.monotonic() + timeout
        while any(p.__class__ is Process for p in self.procs.values()):
            if time.monotonic() > deadline:
                log.warning("%r: processes still alive after stop: %r", self, list(self.procs))
                break
            gevent.sleep(0.001 if self.runq or self.drain_scheduled else 0.005)
        for proc in list(self.adopted.values()):  # adopted again while stopping
            self._forget(proc)
        hooks, self.stop_hooks = self.stop_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("%r: stop hook %r failed", self, hook)
        self.timers.close()
        self.resume_timer.close()
        self.timer_refs.clear()
        self.deferred = []
        pool, self.pool = self.pool, []
        _end_workers(pool)
        if self.watchdog is not None:
            self.watchdog.stop()

    @contextmanager
    def as_default(self) -> Iterator[Node]:
        """Make this the default node inside the ``with`` block. Never blocks."""
        previous = _state.default
        _state.default = self
        try:
            yield self
        finally:
            _state.default = previous


def _end_workers(workers: list[Worker]) -> None:
    """End the greenlets of parked workers; each returns to the caller, its new
    parent. Never blocks."""
    here = getcurrent()
    for worker in workers:
        worker.parent = here
        worker.throw(GreenletExit)


class _DefaultState:
    __slots__ = ("default",)

    def __init__(self) -> None:
        self.default: Node | None = None


_state = _DefaultState()


def default_node() -> Node:
    """The default node, created on first use. Never blocks."""
    node = _state.default
    if node is None or node.stopped:
        node = _state.default = Node()
    return node


def set_default(node: Node | None) -> Node | None:
    """Make ``node`` the default node (None: make a new one on next use).

    Returns the previous default. Never blocks.
    """
    if node is not None and not isinstance(node, Node):
        raise BeamlikeError(f"set_default expects a Node or None; got {node!r}")
    previous = _state.default
    _state.default = node
    return previous


def reset_default() -> None:
    """Forget the default node; the next use creates a fresh one. Never blocks."""
    _state.default = None


def forget_default(node: Node) -> None:
    """If ``node`` is the default node, forget it (it was stopped): the next use
    creates a fresh one. Never blocks."""
    if _state.default is node:
        _state.default = None


def current_node() -> Node:
    """The node of the calling process, or the default node outside processes.

    Never blocks.
    """
    g = getcurrent()
    if g.__class__ is Worker:
        return g.node
    return default_node()


def current_process(g: Any = None) -> Any:
    """The process record of the caller, adopting a foreign greenlet if needed.

    Never blocks.
    """
    if g is None:
        g = getcurrent()
    if g.__class__ is Worker:
        return g.proc
    return default_node().adopt(g)


def _local_name() -> str | None:
    g = getcurrent()
    if g.__class__ is Worker:
        return g.node.name
    node = _state.default
    return node.name if node is not None else None


ids._local_name_hook = _local_name
