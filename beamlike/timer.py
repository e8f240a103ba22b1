"""Timers: ``send_after``, ``cancel_timer``, ``sleep``.

Erlang's ``erlang:send_after/3``, ``erlang:cancel_timer/1`` and ``timer:sleep/1``. A timer
belongs to the node; its message is sent from the event loop when it fires. A name as
destination is looked up when the timer fires (a name that is not registered then drops
the message, as in Erlang).
"""

from __future__ import annotations

from typing import Any

from beamlike._core.ids import Pid, Ref
from beamlike._core.mailbox import check_timeout, sleep_in
from beamlike._core.node import current_node, current_process
from beamlike._core.process import Worker
from beamlike._core.process import current_greenlet as getcurrent
from beamlike.errors import BadArgumentType, NoProcError
from beamlike.process import _is_name_at_node, _send_slow

__all__ = ["cancel_timer", "read_timer", "send_after", "sleep"]


def send_after(delay: float, dest: Pid | str | tuple[str, str], message: Any) -> Ref:
    """Send ``message`` to ``dest`` after ``delay`` seconds; return the timer's ref.

    Never blocks.
    """
    seconds = check_timeout(delay, "send_after delay")
    if seconds is None:
        raise BadArgumentType("send_after delay must be a number of seconds; got None")
    if not (
        dest.__class__ is Pid
        or dest.__class__ is str
        or _is_name_at_node(dest)
        or hasattr(dest, "whereis_name")
    ):
        raise BadArgumentType(
            "send_after expects a Pid, a registered name (str) or a (name, node) tuple; "
            f"got {dest!r} (of type {type(dest).__name__})"
        )
    node = current_node()
    ref = node.make_ref()

    def fire(_: Any) -> None:
        node.timer_refs.pop(ref, None)
        try:
            # The hub runs this: resolve names on the timer's own node, not the default.
            _send_slow(node, dest, message)
        except NoProcError:
            pass  # a name no longer registered: dropped, as erlang:send_after does

    node.timer_refs[ref] = node.timers.add(seconds, fire, None)
    return ref


def cancel_timer(ref: Ref) -> float | bool:
    """Cancel a ``send_after`` timer. Returns the seconds that were left, or False when
    it already fired, was cancelled, or is unknown. Never blocks."""
    if ref.__class__ is not Ref:
        raise BadArgumentType(f"cancel_timer expects a Ref; got {ref!r}")
    node = current_node()
    entry = node.timer_refs.pop(ref, None)
    if entry is None:
        return False
    return node.timers.cancel(entry)


def read_timer(ref: Ref) -> float | bool:
    """Seconds left on a ``send_after`` timer, or False. Never blocks."""
    import time

    if ref.__class__ is not Ref:
        raise BadArgumentType(f"read_timer expects a Ref; got {ref!r}")
    entry = current_node().timer_refs.get(ref)
    if entry is None or not entry.active:
        return False
    return max(0.0, entry.deadline - time.monotonic())


def sleep(seconds: float) -> None:
    """Suspend the calling process for ``seconds``. Blocks; other processes run.

    Messages do not wake it; an exit signal that kills it does.
    """
    g = getcurrent()
    proc = g.proc if g.__class__ is Worker else current_process(g)
    sleep_in(proc, seconds)
