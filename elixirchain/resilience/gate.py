"""The gate: one GenServer per provider key, shared by every caller of that key.

All agents whose provider uses the same API key (``Provider.key``) go through one gate,
registered as ``gate_name(key)`` (``"elixirchain.gate:<key>"``) under the gates
DynamicSupervisor (``start_gates``, both in ``gates.py``), so the limits hold for the key
as a whole.

==========================================  ===========================================
client                                      effect, in the gate
==========================================  ===========================================
``acquire(gate, tokens, timeout=)`` blocks  a permit: now, after a FIFO wait, or an error
``release(permit, outcome, tokens=)``       the permit is returned; the outcome feeds the
(never blocks)                              breaker; tpm is reconciled with ``tokens``
``status(gate)`` blocks                     breaker state, queue, in flight, limits
==========================================  ===========================================

Guarantees:

- A permit is granted only while ``rpm`` requests and ``tpm`` (estimated) tokens in the
  last ``window`` seconds, and ``max_concurrency`` permits in flight, stay within the
  limits (see ``ratelimit.SlidingWindow`` for the exact rule).
- Callers that cannot have a permit at once wait in one FIFO queue: the first in line is
  served first, and nobody overtakes it. The queue holds at most ``max_waiters``
  callers; one more fails at once with ``Overloaded``. A caller that has waited
  ``min(timeout, max_wait)`` seconds gets ``RateLimited`` (with ``retry_after`` when
  the gate can tell when a window frees up).
- The gate monitors every permit holder and every waiter: a holder that dies returns
  its permit (outcome "cancelled"); a waiter that dies leaves the queue.
- The circuit breaker (``breaker.CircuitBreaker``) opens after ``failure_threshold``
  consecutive retryable failures; while it is open ``acquire`` fails at once with
  ``CircuitOpen(retry_after=seconds left)``, and callers already queued get the same.
  After ``reset_timeout`` exactly one call is let through as the probe.
- The gate never sleeps: it wakes up on beamlike timers (``send_after``). Every wait,
  rejection and breaker change is a telemetry event (``docs/telemetry.md``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from beamlike import (
    Down,
    GenServer,
    NoReply,
    Ok,
    Pid,
    Ref,
    Reply,
    cancel_timer,
    demonitor,
    gen_server,
    make_ref,
    monitor,
    self_pid,
    send_after,
)
from beamlike.gen_server import From
from elixirchain import telemetry
from elixirchain.errors import CircuitOpen, ConfigError, Overloaded, RateLimited
from elixirchain.resilience.breaker import (
    CANCELLED,
    DENY,
    OPEN,
    OUTCOMES,
    PROBE,
    CircuitBreaker,
)
from elixirchain.resilience.policy import Limits
from elixirchain.resilience.ratelimit import Entry, SlidingWindow

__all__ = ["Gate", "Permit", "acquire", "release", "status"]

CONCURRENCY = "concurrency"
RPM = "rpm"
TPM = "tpm"


@dataclass(frozen=True, slots=True)
class Permit:
    """A granted permit: give it back with ``release``. ``probe``: this call is the
    half-open circuit's probe."""

    gate: str | Pid
    id: Ref
    probe: bool = False


# -- the server ------------------------------------------------------------------------


class _Held:
    __slots__ = ("pid", "mref", "tokens", "probe")

    def __init__(self, pid: Pid, mref: Ref, tokens: Entry | None, probe: bool) -> None:
        self.pid = pid
        self.mref = mref
        self.tokens = tokens
        self.probe = probe


class _Waiter:
    __slots__ = ("id", "from_", "mref", "tokens", "since", "timer", "reason", "probe")

    def __init__(
        self, id: Ref, from_: From, mref: Ref, tokens: int, reason: str, probe: bool
    ) -> None:
        self.id = id
        self.from_ = from_
        self.mref = mref
        self.tokens = tokens
        self.since = time.monotonic()
        self.timer: Ref | None = None
        self.reason = reason
        self.probe = probe


class _State:
    __slots__ = (
        "key",
        "limits",
        "rpm",
        "tpm",
        "breaker",
        "held",
        "queue",
        "waiting",
        "monitors",
        "wake_at",
    )

    def __init__(self, key: str, limits: Limits) -> None:
        self.key = key
        self.limits = limits
        self.rpm = SlidingWindow(limits.rpm, limits.window) if limits.rpm else None
        self.tpm = SlidingWindow(limits.tpm, limits.window) if limits.tpm else None
        self.breaker = CircuitBreaker(
            limits.failure_threshold, limits.reset_timeout, on_change=self._breaker_changed
        )
        self.held: dict[Ref, _Held] = {}
        self.queue: deque[_Waiter] = deque()
        self.waiting: dict[Ref, _Waiter] = {}
        self.monitors: dict[Ref, Ref] = {}  # monitor ref -> permit id
        self.wake_at: float | None = None

    def _breaker_changed(self, from_state: str, to_state: str) -> None:
        telemetry.execute(
            ("elixirchain", "breaker", "state_change"),
            {"failures": self.breaker.failures},
            {"key": self.key, "from": from_state, "to": to_state},
        )
        if to_state == OPEN:
            send_after(self.limits.reset_timeout, self_pid(), ("breaker_poll",))

    def __repr__(self) -> str:
        return (
            f"<gate {self.key!r} {self.breaker.state} in_flight={len(self.held)} "
            f"queued={len(self.queue)}>"
        )


class Gate(GenServer):
    """The gate of one provider key. Started by ``gate_for``; see the module docstring."""

    def init(self, arg: tuple[str, Limits]) -> Ok:  # type: ignore[override]
        key, limits = arg
        return Ok(_State(key, limits))

    def handle_call(self, request: Any, from_: From, state: _State) -> Reply | NoReply:  # type: ignore[override]
        if request.__class__ is tuple and request[0] == "acquire":
            _, permit_id, tokens, wait = request
            answer = _acquire(state, from_, permit_id, tokens, wait)
            return NoReply(state) if answer is None else Reply(answer, state)
        if request == "status":
            return Reply(_status(state), state)
        return super().handle_call(request, from_, state)  # type: ignore[return-value]

    def handle_cast(self, request: Any, state: _State) -> NoReply:  # type: ignore[override]
        if request.__class__ is tuple and request[0] == "release":
            _, permit_id, outcome, tokens = request
            _release(state, permit_id, outcome, tokens)
            _serve(state)
            return NoReply(state)
        return super().handle_cast(request, state)  # type: ignore[return-value]

    def handle_info(self, message: Any, state: _State) -> NoReply:  # type: ignore[override]
        if message.__class__ is Down:
            permit_id = state.monitors.pop(message.ref, None)
            if permit_id is not None:
                held = state.held.pop(permit_id, None)
                if held is not None:
                    _forget(state, held, CANCELLED, None)
                else:
                    waiter = state.waiting.get(permit_id)
                    if waiter is not None:
                        _dequeue(state, waiter)
                _serve(state)
            return NoReply(state)
        if message == ("wake",):
            state.wake_at = None
            _serve(state)
            return NoReply(state)
        if message == ("breaker_poll",):
            state.breaker.poll()
            return NoReply(state)
        if message.__class__ is tuple and message[0] == "expire":
            waiter = state.waiting.get(message[1])
            if waiter is not None:
                _expire(state, waiter)
                _serve(state)
            return NoReply(state)
        return super().handle_info(message, state)  # type: ignore[return-value]


def _emit_rejected(state: _State, reason: str) -> None:
    telemetry.execute(
        ("elixirchain", "gate", "rejected"),
        {"queue_length": len(state.queue)},
        {"key": state.key, "reason": reason},
    )


def _circuit_open(state: _State) -> CircuitOpen:
    breaker = state.breaker
    if breaker.state == OPEN:
        left = breaker.retry_after()
        return CircuitOpen(
            f"the circuit for {state.key!r} is open after {breaker.failure_threshold} "
            f"consecutive failures; calls fail fast for {left:.3g} s more",
            key=state.key,
            retry_after=left,
        )
    return CircuitOpen(
        f"the circuit for {state.key!r} is half-open and its probe call is in flight; "
        "calls fail fast until the probe succeeds",
        key=state.key,
        retry_after=None,
    )


def _blocked(state: _State, tokens: int) -> tuple[str, float | None] | None:
    """Why a call of ``tokens`` cannot have a permit now, and for how long (None: until
    a permit is released), or None when it can."""
    limit = state.limits.max_concurrency
    if limit is not None and len(state.held) >= limit:
        return CONCURRENCY, None
    if state.rpm is not None:
        wait = state.rpm.wait_time(1)
        if wait > 0:
            return RPM, wait
    if state.tpm is not None:
        wait = state.tpm.wait_time(tokens)
        if wait > 0:
            return TPM, wait
    return None


def _grant(state: _State, permit_id: Ref, pid: Pid, mref: Ref, tokens: int, probe: bool) -> None:
    if state.rpm is not None:
        state.rpm.add(1)
    entry = state.tpm.add(tokens) if state.tpm is not None else None
    state.held[permit_id] = _Held(pid, mref, entry, probe)
    state.monitors[mref] = permit_id


def _acquire(
    state: _State, from_: From, permit_id: Ref, tokens: int, wait: float | None
) -> tuple[str, Any] | None:
    """Answer an acquire now (``("ok", probe)`` / ``("error", exc)``) or queue it (None)."""
    admission = state.breaker.admit()
    if admission == DENY:
        _emit_rejected(state, "circuit_open")
        return ("error", _circuit_open(state))
    probe = admission == PROBE
    blocked = _blocked(state, tokens)
    if blocked is None and not state.queue:
        _grant(state, permit_id, from_.pid, monitor(from_.pid), tokens, probe)
        return ("ok", probe)
    limits = state.limits
    if len(state.queue) >= limits.max_waiters:
        if probe:
            state.breaker.record(CANCELLED, probe=True)
        _emit_rejected(state, "queue_full")
        return (
            "error",
            Overloaded(
                f"the gate for {state.key!r} has {len(state.queue)} callers waiting "
                f"already (max_waiters={limits.max_waiters})"
            ),
        )
    # Free for this call, but others are in line first: it waits for what they wait for.
    reason = state.queue[0].reason if blocked is None else blocked[0]
    waiter = _Waiter(permit_id, from_, monitor(from_.pid), tokens, reason, probe)
    patience = limits.max_wait if wait is None else min(wait, limits.max_wait)
    waiter.timer = send_after(patience, self_pid(), ("expire", permit_id))
    state.queue.append(waiter)
    state.waiting[permit_id] = waiter
    state.monitors[waiter.mref] = permit_id
    _serve(state)
    return None


def _serve(state: _State) -> None:
    """Grant permits to the waiters at the head of the queue while the limits allow;
    arm a wake-up timer for when a rate window frees up."""
    queue = state.queue
    if queue and state.breaker.poll() == OPEN:
        error = _circuit_open(state)
        while queue:
            waiter = queue[0]
            _dequeue(state, waiter)
            _emit_rejected(state, "circuit_open")
            gen_server.reply(waiter.from_, ("error", error))
        return
    while queue:
        head = queue[0]
        blocked = _blocked(state, head.tokens)
        if blocked is not None:
            wait = blocked[1]
            if wait is not None:
                _arm_wake(state, wait)
            return
        _dequeue(state, head, keep_monitor=True)
        _grant(state, head.id, head.from_.pid, head.mref, head.tokens, head.probe)
        telemetry.execute(
            ("elixirchain", "gate", "wait"),
            {"duration": time.monotonic() - head.since},
            {"key": state.key, "reason": head.reason},
        )
        gen_server.reply(head.from_, ("ok", head.probe))


def _arm_wake(state: _State, wait: float) -> None:
    due = time.monotonic() + wait
    if state.wake_at is not None and state.wake_at <= due:
        return  # an earlier wake-up is armed; it re-arms as needed
    state.wake_at = due
    send_after(wait + 0.001, self_pid(), ("wake",))


def _dequeue(state: _State, waiter: _Waiter, *, keep_monitor: bool = False) -> None:
    """Take ``waiter`` out of the queue (its monitor too, unless it is granted)."""
    state.queue.remove(waiter)
    del state.waiting[waiter.id]
    if waiter.timer is not None:
        cancel_timer(waiter.timer)
    if not keep_monitor:
        state.monitors.pop(waiter.mref, None)
        demonitor(waiter.mref, flush=True)
        if waiter.probe:
            state.breaker.record(CANCELLED, probe=True)


def _expire(state: _State, waiter: _Waiter) -> None:
    waited = time.monotonic() - waiter.since
    _dequeue(state, waiter)
    blocked = _blocked(state, waiter.tokens)
    retry_after = blocked[1] if blocked is not None else None
    _emit_rejected(state, "timeout")
    error = RateLimited(
        f"no permit from the gate for {state.key!r} within {waited:.3g} s "
        f"(waiting for {waiter.reason})",
        provider=state.key.partition(":")[0],
        retry_after=retry_after,
    )
    gen_server.reply(waiter.from_, ("error", error))


def _forget(state: _State, held: _Held, outcome: str, tokens: int | None) -> None:
    """A permit came back (released, or its holder died)."""
    if tokens is not None and held.tokens is not None and state.tpm is not None:
        state.tpm.adjust(held.tokens, tokens)
    state.breaker.record(outcome, probe=held.probe)


def _release(state: _State, permit_id: Ref, outcome: str, tokens: int | None) -> None:
    held = state.held.pop(permit_id, None)
    if held is not None:
        state.monitors.pop(held.mref, None)
        demonitor(held.mref, flush=True)
        _forget(state, held, outcome, tokens)
        return
    waiter = state.waiting.get(permit_id)  # the caller gave up before it was served
    if waiter is not None:
        _dequeue(state, waiter)


def _status(state: _State) -> dict[str, Any]:
    breaker = state.breaker
    return {
        "key": state.key,
        "running": True,
        "breaker": breaker.poll(),
        "retry_after": breaker.retry_after(),
        "consecutive_failures": breaker.failures,
        "in_flight": len(state.held),
        "queue_length": len(state.queue),
        "rpm_used": state.rpm.used() if state.rpm is not None else None,
        "tpm_used": state.tpm.used() if state.tpm is not None else None,
        "limits": asdict(state.limits),
    }


# -- client functions ------------------------------------------------------------------


def acquire(gate: str | Pid, tokens: int = 0, *, timeout: float | None = None) -> Permit:
    """Ask ``gate`` for a permit for a call of about ``tokens`` tokens.

    Blocks until the permit is granted, for at most ``min(timeout, limits.max_wait)``
    seconds (``timeout`` None: ``max_wait``). The caller must give it back with
    ``release``; if the caller dies first, the gate takes it back.

    Raises:
        CircuitOpen: the key's circuit is open (or half-open with its probe in flight).
        Overloaded: ``max_waiters`` callers are queued already.
        RateLimited: no permit within the wait (``retry_after`` set when known).
        beamlike.gen_server.CallError: the gate is not running or died meanwhile.
    """
    if tokens.__class__ is not int or tokens < 0:
        raise ConfigError(f"acquire tokens must be an int >= 0; got {tokens!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise ConfigError(f"acquire timeout must be None or seconds >= 0; got {timeout!r}")
    permit_id = make_ref()
    kind, value = gen_server.call(gate, ("acquire", permit_id, tokens, timeout), None)
    if kind == "error":
        raise value
    return Permit(gate, permit_id, bool(value))


def release(permit: Permit, outcome: str, *, tokens: int | None = None) -> None:
    """Give ``permit`` back, saying how the call went: ``"success"``, ``"failure"``
    (a retryable error), ``"error"`` (a non-retryable one) or ``"cancelled"``.
    ``tokens``: the call's real usage, to reconcile the tpm window. Never blocks."""
    if outcome not in OUTCOMES:
        raise ConfigError(f"release outcome must be one of {OUTCOMES}; got {outcome!r}")
    gen_server.cast(permit.gate, ("release", permit.id, outcome, tokens))


def status(gate: str | Pid) -> dict[str, Any]:
    """The gate's breaker state, queue length, permits in flight, window usage and
    limits. Blocks until it answers."""
    return gen_server.call(gate, "status")  # type: ignore[no-any-return]
