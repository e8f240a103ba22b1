"""Telemetry: attach/detach/execute/span/list_handlers as Erlang's :telemetry, handlers
per node, a raising handler detached; Metrics counters and latency summaries; health.

Handlers that must prove where they ran send a message to the test's pid.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import beamlike
from beamlike import receive, self_pid, send, spawn
from elixirchain import telemetry
from elixirchain.errors import ConfigError
from elixirchain.metrics import Metrics, health
from elixirchain.resilience import Limits, acquire, gate_for, release, start_gates
from tests.support_resilience import WAIT, forward_to

STOP = ("elixirchain", "provider", "call", "stop")
RETRY = ("elixirchain", "provider", "retry")


def test_an_attached_handler_gets_the_event_its_measurements_and_metadata() -> None:
    telemetry.attach("h", STOP, forward_to(self_pid()))
    telemetry.execute(STOP, {"duration": 0.25}, {"model": "m"})
    assert receive(timeout=WAIT) == ("telemetry", STOP, {"duration": 0.25}, {"model": "m"})
    telemetry.execute(RETRY, {"delay": 1.0})
    assert receive(timeout=0.05, default=None) is None  # only the events it attached to


def test_the_handler_runs_in_the_process_that_executes_the_event() -> None:
    seen: list[Any] = []
    telemetry.attach("where", RETRY, lambda e, m, md: seen.append(self_pid()))
    test = self_pid()

    def emitter() -> None:
        telemetry.execute(RETRY, {"delay": 0.0})
        send(test, ("done", self_pid()))

    spawn(emitter)
    _, emitter_pid = receive(("done", beamlike.ANY), timeout=WAIT)
    assert seen == [emitter_pid]


def test_one_handler_can_attach_to_several_events() -> None:
    telemetry.attach("many", [STOP, RETRY], forward_to(self_pid()))
    telemetry.execute(RETRY, {"delay": 0.5}, {"attempt": 1})
    telemetry.execute(STOP, {"duration": 1.0})
    assert receive(timeout=WAIT)[1] == RETRY
    assert receive(timeout=WAIT)[1] == STOP


def test_attaching_a_taken_handler_id_is_a_value_error() -> None:
    telemetry.attach("dup", STOP, forward_to(self_pid()))
    with pytest.raises(ValueError) as info:
        telemetry.attach("dup", RETRY, forward_to(self_pid()))
    assert str(info.value) == "a telemetry handler with id 'dup' is already attached"


def test_detach_stops_the_handler_and_says_whether_it_was_attached() -> None:
    telemetry.attach("gone", STOP, forward_to(self_pid()))
    assert telemetry.detach("gone") is True
    assert telemetry.detach("gone") is False
    telemetry.execute(STOP, {"duration": 1.0})
    assert receive(timeout=0.05, default=None) is None
    assert telemetry.list_handlers() == []


def test_a_handler_that_raises_is_detached_and_logged_and_the_caller_goes_on(caplog) -> None:
    def broken(event, measurements, metadata) -> None:
        raise RuntimeError("handler bug")

    telemetry.attach("broken", STOP, broken)
    telemetry.attach("good", STOP, forward_to(self_pid()))
    with caplog.at_level(logging.ERROR, logger="elixirchain.telemetry"):
        telemetry.execute(STOP, {"duration": 1.0})
    assert receive(timeout=WAIT)[0] == "telemetry"  # the next handler still ran
    assert [h.id for h in telemetry.list_handlers()] == ["good"]
    [record] = [r for r in caplog.records if r.name == "elixirchain.telemetry"]
    assert record.getMessage() == (
        "telemetry handler 'broken' raised on event "
        "('elixirchain', 'provider', 'call', 'stop') and was detached: "
        "RuntimeError('handler bug')"
    )
    telemetry.execute(STOP, {"duration": 2.0})  # no error, and only "good" runs
    assert receive(timeout=WAIT)[2] == {"duration": 2.0}


def test_each_node_has_its_own_handlers(node) -> None:
    telemetry.attach("mine", STOP, forward_to(self_pid()))
    other = beamlike.Node()
    try:
        with other.as_default():
            assert telemetry.list_handlers() == []
            telemetry.execute(STOP, {"duration": 1.0})
    finally:
        other.stop()
    assert receive(timeout=0.05, default=None) is None
    assert [h.id for h in telemetry.list_handlers()] == ["mine"]
    assert "elixirchain.telemetry" in node.extensions


def test_list_handlers_filters_by_event_prefix() -> None:
    def handler(event, measurements, metadata) -> None:
        return None

    telemetry.attach("calls", [STOP, RETRY], handler)
    telemetry.attach("gate", ("elixirchain", "gate", "wait"), handler)
    assert [(h.id, h.event) for h in telemetry.list_handlers(("elixirchain", "provider"))] == [
        ("calls", STOP),
        ("calls", RETRY),
    ]
    assert [h.id for h in telemetry.list_handlers(("elixirchain",))] == ["calls", "calls", "gate"]
    assert telemetry.list_handlers(("nothing",)) == []


def test_a_span_emits_start_and_stop_with_its_duration_and_added_measurements() -> None:
    prefix = ("app", "work")
    telemetry.attach("span", [(*prefix, "start"), (*prefix, "stop")], forward_to(self_pid()))
    with telemetry.span(prefix, {"job": 7}) as span:
        beamlike.sleep(0.02)
        span.measurements["rows"] = 3
        span.metadata["status"] = "done"
    _, event, measurements, metadata = receive(timeout=WAIT)
    assert event == ("app", "work", "start")
    assert set(measurements) == {"system_time", "monotonic_time"}
    assert metadata == {"job": 7}
    _, event, measurements, metadata = receive(timeout=WAIT)
    assert event == ("app", "work", "stop")
    assert 0.02 <= measurements["duration"] < 1.0
    assert measurements["rows"] == 3
    assert metadata == {"job": 7, "status": "done"}


def test_a_span_whose_body_raises_emits_exception_with_kind_and_reason_and_reraises() -> None:
    prefix = ("app", "work")
    telemetry.attach("span", (*prefix, "exception"), forward_to(self_pid()))
    error = KeyError("missing")
    with pytest.raises(KeyError) as info:
        with telemetry.span(prefix, {"job": 8}):
            raise error
    assert info.value is error
    _, event, measurements, metadata = receive(timeout=WAIT)
    assert event == ("app", "work", "exception")
    assert set(measurements) == {"duration"}
    assert metadata == {"job": 8, "kind": "KeyError", "reason": error}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("h", "provider.call", print),
            "attach expects an event (a non-empty tuple of str) or a non-empty list of "
            "events; got 'provider.call'",
        ),
        (
            ("h", [("a",), ("b", 1)], print),
            "each event must be a non-empty tuple of str, such as "
            "('elixirchain', 'provider', 'call', 'stop'); got ('b', 1)",
        ),
        (("h", ("a",), "print"), "a telemetry handler must be callable; got 'print'"),
        ((7, ("a",), print), "a handler id must be a str; got 7"),
    ],
)
def test_bad_attach_arguments_are_refused_saying_what_was_given(args, message) -> None:
    with pytest.raises(ConfigError) as info:
        telemetry.attach(*args)
    assert str(info.value) == message
    assert telemetry.list_handlers() == []


# -- Metrics ---------------------------------------------------------------------------


def test_metrics_count_events_and_summarise_their_latency() -> None:
    metrics = Metrics([STOP, RETRY])
    for duration in (0.1, 0.2, 0.3, 0.4):
        telemetry.execute(STOP, {"duration": duration, "input_tokens": 10}, {"model": "m"})
    telemetry.execute(RETRY, {"delay": 0.5})
    snapshot = metrics.snapshot()
    assert set(snapshot) == {"elixirchain.provider.call.stop", "elixirchain.provider.retry"}
    stop = snapshot["elixirchain.provider.call.stop"]
    assert stop["count"] == 4
    assert stop["event"] == STOP
    assert stop["tags"] == {}
    assert stop["measurements"]["duration"] == {
        "count": 4,
        "sum": pytest.approx(1.0),
        "min": 0.1,
        "max": 0.4,
        "p50": 0.2,
        "p95": 0.4,
    }
    assert stop["measurements"]["input_tokens"]["sum"] == 40
    assert snapshot["elixirchain.provider.retry"]["count"] == 1


def test_metrics_split_series_by_the_selected_metadata_tags() -> None:
    metrics = Metrics([STOP], tags=("provider", "model"))
    telemetry.execute(STOP, {"duration": 1.0}, {"provider": "gemini", "model": "a", "x": 1})
    telemetry.execute(STOP, {"duration": 2.0}, {"provider": "gemini", "model": "a", "x": 2})
    telemetry.execute(STOP, {"duration": 3.0}, {"provider": "openai", "model": "b"})
    telemetry.execute(STOP, {"duration": 4.0}, {"provider": "openai"})
    snapshot = metrics.snapshot()
    assert {name: s["count"] for name, s in snapshot.items()} == {
        "elixirchain.provider.call.stop{model=a,provider=gemini}": 2,
        "elixirchain.provider.call.stop{model=b,provider=openai}": 1,
        "elixirchain.provider.call.stop{model=None,provider=openai}": 1,
    }
    series = snapshot["elixirchain.provider.call.stop{model=a,provider=gemini}"]
    assert series["tags"] == {"provider": "gemini", "model": "a"}
    assert series["measurements"]["duration"]["sum"] == 3.0


def test_metrics_percentiles_come_from_a_bounded_reservoir_and_totals_stay_exact() -> None:
    metrics = Metrics([STOP], reservoir=50)
    for n in range(1, 1001):
        telemetry.execute(STOP, {"duration": float(n)})
    summary = metrics.snapshot()["elixirchain.provider.call.stop"]["measurements"]["duration"]
    assert summary["count"] == 1000
    assert summary["sum"] == 500500.0
    assert (summary["min"], summary["max"]) == (1.0, 1000.0)
    assert 300.0 <= summary["p50"] <= 700.0
    assert summary["p95"] >= 800.0


def test_detached_metrics_stop_counting() -> None:
    metrics = Metrics(STOP)
    assert metrics.events == (STOP,)
    telemetry.execute(STOP, {"duration": 1.0})
    assert metrics.detach() is True
    telemetry.execute(STOP, {"duration": 1.0})
    assert metrics.snapshot()["elixirchain.provider.call.stop"]["count"] == 1
    assert metrics.detach() is False


# -- health ----------------------------------------------------------------------------


def test_health_reports_each_gate_breaker_queue_in_flight_and_limits() -> None:
    start_gates()
    gate = gate_for("alpha", Limits(max_concurrency=2, failure_threshold=1, reset_timeout=60.0))
    gate_for("beta", Limits(rpm=10))
    permit = acquire(gate)
    report = health()
    assert report["healthy"] is True
    assert list(report["gates"]) == ["alpha", "beta"]
    alpha = report["gates"]["alpha"]
    assert (alpha["breaker"], alpha["in_flight"], alpha["queue_length"]) == ("closed", 1, 0)
    assert alpha["limits"]["max_concurrency"] == 2
    release(permit, "failure")
    report = health(["alpha", "gamma"])
    assert report["healthy"] is False
    assert report["gates"]["alpha"]["breaker"] == "open"
    assert report["gates"]["alpha"]["in_flight"] == 0
    assert report["gates"]["gamma"] == {"key": "gamma", "running": False}


def test_health_without_gates_is_healthy_and_empty() -> None:
    assert health() == {"healthy": True, "gates": {}}
