"""The gate of a provider key: rate windows, the concurrency limit with its FIFO queue,
Overloaded and max_wait, monitors of holders and waiters, the circuit breaker, telemetry,
and the gates supervisor (one gate per key, however many callers race to start it).

Permit holders and waiters are processes running ``holder``: they report
``("granted", tag, permit)`` or ``("refused", tag, error)`` to the test, then release
when told ``("release", outcome)``. Windows and timeouts are tens of milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import beamlike
from beamlike import ANY, Pid, Supervisor, dynamic_supervisor, receive, self_pid, send, spawn
from beamlike import exit as exit_process
from elixirchain.errors import CircuitOpen, ConfigError, Overloaded, RateLimited
from elixirchain.resilience import (
    DEFAULT_GATES,
    Limits,
    acquire,
    gate_for,
    gate_name,
    gate_status,
    gates_child_spec,
    release,
    start_gates,
)
from tests.support_resilience import WAIT, listen, next_event

GATE_WAIT = ("elixirchain", "gate", "wait")
REJECTED = ("elixirchain", "gate", "rejected")
BREAKER = ("elixirchain", "breaker", "state_change")


@pytest.fixture(autouse=True)
def _gates() -> None:
    start_gates()


def holder(test: Pid, gate: str, tag: str, tokens: int = 0) -> None:
    try:
        permit = acquire(gate, tokens)
    except Exception as error:
        send(test, ("refused", tag, error))
        return
    send(test, ("granted", tag, permit))
    _, outcome = receive(("release", ANY))
    release(permit, outcome)
    receive("exit")


def start_holder(gate: str, tag: str, tokens: int = 0) -> Pid:
    return spawn(holder, self_pid(), gate, tag, tokens)


def granted(tag: str | Any = ANY) -> Any:
    return receive(("granted", tag, ANY), timeout=WAIT)


def eventually(check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        beamlike.sleep(0.005)


def queued(gate: str, n: int) -> Callable[[], bool]:
    return lambda: beamlike.gen_server.call(gate, "status")["queue_length"] == n


# -- rate windows ------------------------------------------------------------------------


def test_the_fourth_call_in_a_3_rpm_window_waits_until_the_first_ages_out() -> None:
    listen(GATE_WAIT)
    gate = gate_for("k", Limits(rpm=3, window=0.3))
    started = time.monotonic()
    permits = [acquire(gate) for _ in range(3)]
    assert time.monotonic() - started < 0.2
    permits.append(acquire(gate))
    waited = time.monotonic() - started
    assert 0.3 <= waited < 1.5
    measurements, metadata = next_event(GATE_WAIT)
    assert metadata == {"key": "k", "reason": "rpm"}
    assert 0.2 <= measurements["duration"] < 1.5


def test_tokens_are_reconciled_with_the_real_usage_on_release() -> None:
    listen(GATE_WAIT)
    gate = gate_for("k", Limits(tpm=100, window=0.3))
    first = acquire(gate, 60)
    assert gate_status("k")["tpm_used"] == 60
    release(first, "success", tokens=10)
    assert gate_status("k")["tpm_used"] == 10
    acquire(gate, 60)  # 10 + 60 fit in 100 only because the estimate was corrected
    started = time.monotonic()
    acquire(gate, 60)
    assert 0.2 <= time.monotonic() - started < 1.5
    _, metadata = next_event(GATE_WAIT)
    assert metadata == {"key": "k", "reason": "tpm"}


# -- concurrency and the queue -----------------------------------------------------------


def test_two_calls_fly_at_once_and_waiters_are_served_first_in_first_out() -> None:
    listen(GATE_WAIT)
    gate = gate_for("k", Limits(max_concurrency=2))
    holders = {tag: start_holder(gate, tag) for tag in "AB"}
    assert {granted()[1], granted()[1]} == {"A", "B"}
    for n, tag in enumerate("CDE", start=1):
        holders[tag] = start_holder(gate, tag)
        eventually(queued(gate, n))
    status = gate_status("k")
    assert (status["in_flight"], status["queue_length"]) == (2, 3)
    for done, served in (("A", "C"), ("B", "D"), ("C", "E")):
        send(holders[done], ("release", "success"))
        assert granted()[1] == served
        _, metadata = next_event(GATE_WAIT)
        assert metadata == {"key": "k", "reason": "concurrency"}
    status = gate_status("k")
    assert (status["in_flight"], status["queue_length"]) == (2, 0)


def test_a_caller_beyond_max_waiters_is_refused_at_once_with_overloaded() -> None:
    listen(REJECTED)
    gate = gate_for("k", Limits(max_concurrency=1, max_waiters=1))
    start_holder(gate, "A")
    granted("A")
    start_holder(gate, "B")
    eventually(queued(gate, 1))
    started = time.monotonic()
    with pytest.raises(Overloaded) as info:
        acquire(gate)
    assert time.monotonic() - started < 0.5
    assert str(info.value) == "the gate for 'k' has 1 callers waiting already (max_waiters=1)"
    measurements, metadata = next_event(REJECTED)
    assert metadata == {"key": "k", "reason": "queue_full"}
    assert measurements == {"queue_length": 1}


def test_a_caller_that_waits_longer_than_max_wait_gets_rate_limited() -> None:
    listen(REJECTED)
    gate = gate_for("k", Limits(max_concurrency=1, max_wait=0.05))
    start_holder(gate, "A")
    granted("A")
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        acquire(gate)
    assert 0.05 <= time.monotonic() - started < 1.0
    assert str(info.value).startswith("no permit from the gate for 'k' within ")
    assert str(info.value).endswith(" s (waiting for concurrency)")
    assert info.value.retry_after is None  # nobody knows when the holder is done
    assert next_event(REJECTED)[1] == {"key": "k", "reason": "timeout"}
    assert gate_status("k")["queue_length"] == 0


def test_a_rate_limited_waiter_is_told_when_the_window_frees_up() -> None:
    gate = gate_for("k", Limits(rpm=1, window=5.0, max_wait=0.05))
    acquire(gate)
    with pytest.raises(RateLimited) as info:
        acquire(gate, timeout=0.02)
    assert str(info.value).endswith(" s (waiting for rpm)")
    assert info.value.retry_after is not None
    assert 4.0 < info.value.retry_after <= 5.0


# -- monitors ----------------------------------------------------------------------------


def test_a_holder_that_dies_gives_its_permit_back_to_the_next_waiter() -> None:
    gate = gate_for("k", Limits(max_concurrency=1))
    a = start_holder(gate, "A")
    granted("A")
    start_holder(gate, "B")
    eventually(queued(gate, 1))
    exit_process(a, "kill")
    assert granted()[1] == "B"
    assert gate_status("k")["in_flight"] == 1


def test_a_waiter_that_dies_leaves_the_queue() -> None:
    gate = gate_for("k", Limits(max_concurrency=1))
    a = start_holder(gate, "A")
    granted("A")
    b = start_holder(gate, "B")
    eventually(queued(gate, 1))
    exit_process(b, "kill")
    eventually(queued(gate, 0))
    send(a, ("release", "success"))
    eventually(lambda: gate_status("k")["in_flight"] == 0)
    acquire(gate, timeout=0)  # free at once: nobody took B's place


# -- the circuit breaker -----------------------------------------------------------------


def fail(gate: str, times: int, outcome: str = "failure") -> None:
    for _ in range(times):
        release(acquire(gate), outcome)


def test_the_circuit_opens_after_n_failures_fails_fast_probes_once_and_closes() -> None:
    listen(BREAKER, REJECTED)
    gate = gate_for("k", Limits(failure_threshold=2, reset_timeout=0.1))
    fail(gate, 2)
    assert next_event(BREAKER)[1] == {"key": "k", "from": "closed", "to": "open"}
    with pytest.raises(CircuitOpen) as info:
        acquire(gate)
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 0.1
    assert info.value.key == "k"
    assert str(info.value).startswith(
        "the circuit for 'k' is open after 2 consecutive failures; calls fail fast for "
    )
    assert next_event(REJECTED)[1] == {"key": "k", "reason": "circuit_open"}
    assert next_event(BREAKER)[1] == {"key": "k", "from": "open", "to": "half_open"}
    probe = acquire(gate)
    assert probe.probe is True
    with pytest.raises(CircuitOpen) as info:
        acquire(gate)
    assert str(info.value) == (
        "the circuit for 'k' is half-open and its probe call is in flight; "
        "calls fail fast until the probe succeeds"
    )
    release(probe, "success")
    assert next_event(BREAKER)[1] == {"key": "k", "from": "half_open", "to": "closed"}
    assert acquire(gate).probe is False


def test_a_failed_probe_opens_the_circuit_again() -> None:
    listen(BREAKER)
    gate = gate_for("k", Limits(failure_threshold=1, reset_timeout=0.05))
    fail(gate, 1)
    next_event(BREAKER)
    assert next_event(BREAKER)[1]["to"] == "half_open"
    probe = acquire(gate)
    release(probe, "failure")
    assert next_event(BREAKER)[1] == {"key": "k", "from": "half_open", "to": "open"}
    with pytest.raises(CircuitOpen):
        acquire(gate)
    assert gate_status("k")["breaker"] == "open"


def test_a_probe_whose_holder_dies_lets_the_next_caller_probe() -> None:
    listen(BREAKER)
    gate = gate_for("k", Limits(failure_threshold=1, reset_timeout=0.05))
    fail(gate, 1)
    next_event(BREAKER)
    next_event(BREAKER)
    a = start_holder(gate, "A")
    assert granted("A")[2].probe is True
    exit_process(a, "kill")
    eventually(lambda: gate_status("k")["in_flight"] == 0)
    assert acquire(gate).probe is True


def test_waiters_are_refused_with_circuit_open_when_the_circuit_opens() -> None:
    gate = gate_for("k", Limits(max_concurrency=1, failure_threshold=1, reset_timeout=5.0))
    a = start_holder(gate, "A")
    granted("A")
    start_holder(gate, "B")
    eventually(queued(gate, 1))
    send(a, ("release", "failure"))
    _, tag, error = receive(("refused", ANY, ANY), timeout=WAIT)
    assert tag == "B"
    assert isinstance(error, CircuitOpen)


def test_non_retryable_errors_do_not_open_the_circuit() -> None:
    gate = gate_for("k", Limits(failure_threshold=2))
    fail(gate, 1)
    fail(gate, 5, "error")
    fail(gate, 1)
    fail(gate, 3, "cancelled")
    status = gate_status("k")
    assert (status["breaker"], status["consecutive_failures"]) == ("closed", 1)


# -- the gates supervisor ----------------------------------------------------------------


def test_twenty_processes_asking_for_the_same_gate_at_once_start_one_gate() -> None:
    test = self_pid()

    def ask() -> None:
        name = gate_for("shared", Limits(rpm=5))
        send(test, ("gate", name, beamlike.whereis(name)))

    for _ in range(20):
        spawn(ask)
    answers = [receive(("gate", ANY, ANY), timeout=WAIT) for _ in range(20)]
    assert {name for _, name, _ in answers} == {"elixirchain.gate:shared"}
    assert len({pid for _, _, pid in answers}) == 1
    assert dynamic_supervisor.count_children(DEFAULT_GATES)["active"] == 1
    assert gate_status("shared")["limits"]["rpm"] == 5


def test_a_running_gate_keeps_the_limits_it_was_started_with() -> None:
    gate_for("k", Limits(rpm=5))
    assert gate_for("k", Limits(rpm=99)) == "elixirchain.gate:k"
    assert gate_status("k")["limits"]["rpm"] == 5


def test_gate_status_reports_the_state_of_the_gate() -> None:
    gate = gate_for("k", Limits(rpm=10, tpm=1000, max_concurrency=3))
    acquire(gate, 100)
    assert gate_status("k") == {
        "key": "k",
        "running": True,
        "breaker": "closed",
        "retry_after": 0.0,
        "consecutive_failures": 0,
        "in_flight": 1,
        "queue_length": 0,
        "rpm_used": 1,
        "tpm_used": 100,
        "limits": {
            "rpm": 10,
            "tpm": 1000,
            "max_concurrency": 3,
            "max_waiters": 1000,
            "max_wait": 30.0,
            "failure_threshold": 5,
            "reset_timeout": 30.0,
            "window": 60.0,
        },
    }
    assert gate_status("nobody") == {"key": "nobody", "running": False}


def test_a_crashed_gate_is_restarted_by_its_supervisor() -> None:
    gate = gate_for("k", Limits())
    first = beamlike.whereis(gate)
    assert first is not None
    ref = beamlike.monitor(first)
    exit_process(first, "kill")
    receive(beamlike.Down(ref, ANY, ANY), timeout=WAIT)
    eventually(lambda: beamlike.whereis(gate) not in (None, first))
    assert gate_for("k", Limits()) == gate
    assert gate_status("k")["running"] is True


def test_start_gates_returns_the_running_supervisor() -> None:
    assert start_gates() == beamlike.whereis(DEFAULT_GATES)


def test_gates_child_spec_runs_the_gates_in_a_supervision_tree() -> None:
    Supervisor.start_link([gates_child_spec("app.gates")])
    name = gate_for("k", Limits(rpm=1), gates="app.gates")
    assert name == gate_name("k", gates="app.gates") == "elixirchain.gate:k@app.gates"
    assert gate_status("k", gates="app.gates")["limits"]["rpm"] == 1
    assert gate_status("k")["running"] is False  # not under the default supervisor


def test_gate_for_without_a_gate_supervisor_says_how_to_start_one() -> None:
    with pytest.raises(ConfigError) as info:
        gate_for("k", Limits(), gates="missing.gates")
    assert str(info.value) == (
        "no gate supervisor is registered as 'missing.gates': call "
        "start_gates('missing.gates') or put gates_child_spec() in your supervision tree"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rpm": 0}, "Limits.rpm must be a positive int or None; got 0"),
        ({"tpm": 1.5}, "Limits.tpm must be a positive int or None; got 1.5"),
        (
            {"max_concurrency": True},
            "Limits.max_concurrency must be a positive int or None; got True",
        ),
        ({"max_waiters": -1}, "Limits.max_waiters must be an int >= 0; got -1"),
        ({"max_wait": 0}, "Limits.max_wait must be a positive number of seconds; got 0"),
        ({"failure_threshold": 0}, "Limits.failure_threshold must be a positive int; got 0"),
        (
            {"reset_timeout": "30"},
            "Limits.reset_timeout must be a positive number of seconds; got '30'",
        ),
        ({"window": -60.0}, "Limits.window must be a positive number of seconds; got -60.0"),
    ],
)
def test_bad_limits_are_refused_saying_what_was_given(fields, message) -> None:
    with pytest.raises(ConfigError) as info:
        Limits(**fields)
    assert str(info.value) == message
