"""Selective receive, and the other ways a process waits: ``sleep``, ``suspend``.

The essay
---------
A mailbox is a deque of messages in arrival order. ``receive(*patterns)`` returns the
*first* message, in arrival order, that matches any of the patterns, and removes it; the
messages it skipped stay where they were, in order. This is Erlang's receive, and the
properties users rely on follow from it:

- messages from one sender are received in the order sent (per-pair ordering);
- a receive for a specific reply never reorders or loses unrelated messages;
- a process can wait for one kind of message while others queue up.

Cost: a receive that matches the first message is O(1). One that must skip k unmatched
messages costs k matcher calls, run in C (``operator.indexOf(map(matcher, ...), True)``).
While it waits, a receive remembers how far it has scanned (Erlang's *save pointer*), so
each new message is examined once, not the whole mailbox again.

Timeouts: ``timeout=None`` waits forever, ``0`` polls, a positive number waits at most
that many seconds. The deadline is one entry in the node's timer heap.
"""

from __future__ import annotations

import operator
import time
from itertools import islice
from typing import Any

from gevent.exceptions import LoopExit

from beamlike._core.ids import Ref
from beamlike._core.patterns import ANY, Compiled, compile_patterns
from beamlike._core.process import (
    RUNNING,
    SLEEPING,
    SWITCH_BUDGET,
    WAITING,
    block,
    deadline_passed,
    dispatch,
    wake,
)
from beamlike._core.signals import raise_pending_exit
from beamlike.errors import BadArgument, BadArgumentType, ReceiveTimeout
from beamlike.messages import Down

__all__ = [
    "MISSING",
    "check_timeout",
    "mark",
    "receive_any",
    "receive_in",
    "receive_matching",
    "resume",
    "sleep_in",
    "suspend",
    "wait_reply",
]

MISSING: Any = object()
_monotonic = time.monotonic
_index_of = operator.indexOf


def check_timeout(timeout: Any, what: str = "timeout") -> float | None:
    """Validate a timeout: None, or a non-negative number of seconds."""
    if timeout is None:
        return None
    if timeout.__class__ is bool or not isinstance(timeout, (int, float)):
        raise BadArgumentType(
            f"{what} must be None or a number of seconds; got {timeout!r} "
            f"(of type {type(timeout).__name__})"
        )
    if timeout < 0 or timeout != timeout:
        raise BadArgument(f"{what} must be >= 0 seconds (or None for ever); got {timeout!r}")
    return float(timeout)


def _defer_deadline(proc: Any, node: Any, timeout: float) -> None:
    """Give the current wait of ``proc`` a deadline, armed only if the event loop runs
    while it waits (``Node.defer``): a call answered within one round of direct
    hand-offs never touches the timer wheel. (``wait_reply`` inlines it and
    ``_end_wait``: keep the three in step.)"""
    proc.timed_out = False
    proc.timer = _monotonic() + timeout
    node.defer(proc)


def _end_wait(proc: Any, node: Any) -> None:
    """Drop the deadline of the wait that ends, armed or not."""
    entry = proc.timer
    if entry is not None:
        if entry.__class__ is not float and entry.active:
            node.timers.discard(entry)
        proc.timer = None
    if proc.state is WAITING:
        proc.state = RUNNING


def _find(compiled: Compiled, mailbox: Any, start: int) -> int:
    """Index of the first message at or after ``start`` that matches, or -1."""
    size = len(mailbox)
    if start and size - start < start:
        # Few messages past the save pointer: index them from the right end, which a
        # deque reaches in O(1), instead of iterating past the first ``start`` ones.
        matcher = compiled.matcher
        for index in range(start - size, 0):
            if matcher(mailbox[index]):
                return size + index
        return -1
    best = -1
    for is_probe, scanner in compiled.probes:
        stop = best if best >= 0 else None
        items: Any = islice(mailbox, start, stop) if start or stop is not None else mailbox
        if not is_probe:
            items = map(scanner, items)
            scanner = True
        try:
            best = start + _index_of(items, scanner)
        except ValueError:
            pass
    return best


def receive_any(proc: Any) -> Any:
    """Wait for any message and take it: the plain ``receive()``. Blocks."""
    node = proc.node
    runq = node.runq
    try:
        while True:
            if proc.pending_exit is not None:
                raise_pending_exit(proc)
            mailbox = proc.mailbox
            if mailbox:
                return mailbox.popleft()
            proc.state = WAITING
            # block(proc), inlined for the most common wait of all
            if runq and node.budget > 0:
                nxt = runq.popleft()
                g = nxt.g
                if g is None and node.pool:
                    g = nxt.g = node.pool.pop()
                    g.proc = nxt
                if g is not None:
                    node.budget -= 1
                    nxt.state = RUNNING
                    try:
                        g.switch()
                    except LoopExit:  # only the main greenlet (the hub's parent) gets this
                        raise node.deadlock(proc) from None
                    continue
                runq.appendleft(nxt)  # not started yet: the hub starts it
            node.switch_to_hub(proc)
    finally:
        if proc.state is WAITING:  # the wait raised (DeadlockError in the main greenlet)
            proc.state = RUNNING


def mark(proc: Any) -> int:
    """A mailbox position: messages that arrive from now on are at or after it.

    Valid while the caller removes no message before it. Never blocks.
    """
    mailbox = proc.mailbox
    return len(mailbox) if mailbox else 0


def receive_in(
    proc: Any, patterns: tuple[Any, ...], timeout: Any, default: Any, start: int = 0
) -> Any:
    """Receive for the calling process ``proc``. Blocks; see ``beamlike.receive``.

    ``start`` is a ``mark``: messages before it are not looked at (OTP's receive
    optimisation for replies tagged with a reference made after the mark).
    """
    if proc.pending_exit is not None:
        raise_pending_exit(proc)
    if timeout is not None:
        timeout = check_timeout(timeout)
    if not patterns or (len(patterns) == 1 and patterns[0] is ANY):
        matcher = None
    else:
        matcher = compile_patterns(patterns)
        mailbox = proc.mailbox
        if mailbox and not start and matcher.matcher(mailbox[0]):
            return mailbox.popleft()  # the first message matches: no scan to set up
    return _receive(proc, matcher, timeout, default, start, patterns)


def receive_matching(
    proc: Any, matcher: Any, timeout: float | None, default: Any, start: int = 0
) -> Any:
    """Receive the first message (from the mark ``start``) for which ``matcher(message)``
    is true: for runtime code that waits for one reference, without compiling (and
    caching) patterns that hold a fresh reference. Blocks."""
    if proc.pending_exit is not None:
        raise_pending_exit(proc)
    compiled = Compiled(((False, matcher),), matcher)
    return _receive(proc, compiled, timeout, default, start, (matcher,))


def _receive(
    proc: Any,
    matcher: Compiled | None,
    timeout: float | None,
    default: Any,
    start: int,
    patterns: tuple[Any, ...],
) -> Any:
    node = proc.node
    deferred = False
    try:
        while True:
            mailbox = proc.mailbox
            if mailbox and len(mailbox) > start:
                if matcher is None:
                    if start:
                        message = mailbox[start]
                        del mailbox[start]
                        return message
                    return mailbox.popleft()
                index = _find(matcher, mailbox, start)
                if index >= 0:
                    if index == 0:
                        return mailbox.popleft()
                    message = mailbox[index]
                    del mailbox[index]
                    return message
                start = len(mailbox)
            if timeout is not None:
                if not deferred:
                    if timeout == 0:
                        break
                    _defer_deadline(proc, node, timeout)
                    deferred = True
                elif proc.timed_out:
                    break
            proc.state = WAITING
            block(proc)
            if proc.pending_exit is not None:
                raise_pending_exit(proc)
    finally:
        _end_wait(proc, node)
    if default is not MISSING:
        return default
    raise ReceiveTimeout(
        f"no message matching {_show(patterns)} arrived within {timeout} s in {proc.pid!r}"
    )


def _show(patterns: tuple[Any, ...]) -> str:
    if not patterns:
        return "any pattern"
    text = ", ".join(repr(p) for p in patterns)
    return text if len(text) <= 200 else text[:197] + "..."


def sleep_in(proc: Any, seconds: Any) -> None:
    """Suspend the calling process for ``seconds``. Blocks; exit signals interrupt it."""
    if proc.pending_exit is not None:
        raise_pending_exit(proc)
    seconds = check_timeout(seconds, "sleep time")
    node = proc.node
    if seconds is None:
        entry = None
    else:
        proc.timed_out = False
        entry = proc.timer = node.timers.add(seconds, deadline_passed, proc)
    try:
        while True:
            suspend(proc)
            if entry is not None and proc.timed_out:
                return
    finally:
        if entry is not None and entry.active:
            node.timers.discard(entry)
        if proc.timer is entry:
            proc.timer = None


def suspend(proc: Any) -> None:
    """Suspend the calling process ``proc`` until ``resume(proc)`` or a timer's
    ``deadline_passed(proc)`` wakes it: for waits on something other than its mailbox
    (messages do not wake it). The caller looks again at what it waits for.

    Blocks. Raises ``ProcessExit`` when an exit signal kills it meanwhile.
    """
    proc.state = SLEEPING
    try:
        block(proc)
        if proc.pending_exit is not None:
            raise_pending_exit(proc)
    finally:
        if proc.state is SLEEPING:
            proc.state = RUNNING


def resume(proc: Any, *, at_once: bool = False) -> None:
    """Let ``proc`` go on if it is suspended (``suspend``); else do nothing.

    It becomes runnable, or with ``at_once`` runs right now until it gives control back,
    as the hub's drain would run it: only from the event loop (an I/O callback), for
    the lowest latency. Never blocks (except for that run).
    """
    if proc.state is SLEEPING:
        if at_once:
            node = proc.node
            node.budget = SWITCH_BUDGET
            dispatch(node, proc)
        else:
            wake(proc)


REPLY = True
DOWN = False


def wait_reply(proc: Any, start: int, ref: Any, timeout: float | None) -> tuple[bool, Any]:
    """Wait for the reply to a call tagged ``ref``: ``(ref, value)`` or the monitor's
    ``Down(ref, ...)``, looking only at messages from the mark ``start`` on.

    Returns ``(REPLY, value)`` or ``(DOWN, reason)``; raises ``ReceiveTimeout``. The
    scan is a plain loop over the new messages, made for the one pattern a call waits
    for, so a caller with 10,000 unrelated queued messages pays nothing for them.
    Blocks.
    """
    if proc.pending_exit is not None:
        raise_pending_exit(proc)
    node = proc.node
    deferred = False
    try:
        while True:
            mailbox = proc.mailbox
            if mailbox:
                size = len(mailbox)
                for index in range(start - size, 0):
                    message = mailbox[index]
                    cls = message.__class__
                    if cls is tuple:
                        if len(message) == 2 and (
                            message[0] is ref or (message[0].__class__ is Ref and message[0] == ref)
                        ):
                            del mailbox[index]
                            return REPLY, message[1]
                    elif cls is Down and message.ref == ref:
                        del mailbox[index]
                        return DOWN, message.reason
                start = size
            if timeout is not None:
                if not deferred:
                    if timeout == 0:
                        break
                    # _defer_deadline and _end_wait, inlined: a call's every wait
                    # comes here, and two more frames cost it some 3 %.
                    proc.timed_out = False
                    proc.timer = _monotonic() + timeout
                    node.defer(proc)
                    deferred = True
                elif proc.timed_out:
                    break
            proc.state = WAITING
            block(proc)
            if proc.pending_exit is not None:
                raise_pending_exit(proc)
    finally:
        entry = proc.timer
        if entry is not None:
            if entry.__class__ is not float and entry.active:
                node.timers.discard(entry)
            proc.timer = None
        if proc.state is WAITING:
            proc.state = RUNNING
    raise ReceiveTimeout(f"no reply for {ref!r} within {timeout} s in {proc.pid!r}")


def flush_down(proc: Any, start: int, ref: Any) -> None:
    """Remove a ``Down`` for ``ref`` that arrived at or after the mark. Never blocks."""
    mailbox = proc.mailbox
    if not mailbox:
        return
    size = len(mailbox)
    for index in range(min(start, size) - size, 0):
        message = mailbox[index]
        if message.__class__ is Down and message.ref == ref:
            del mailbox[index]
            return
