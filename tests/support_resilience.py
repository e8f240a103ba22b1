"""Helpers shared by the resilience and telemetry tests.

- ``listen`` forwards telemetry events to the test process as
  ``("telemetry", event, measurements, metadata)``; ``next_event`` and ``no_event``
  receive them.
- ``FakeClock`` drives the pure state machines (rate window, circuit breaker) by hand.
"""

from __future__ import annotations

from typing import Any

from beamlike import ANY, Pid, receive, self_pid, send
from elixirchain import telemetry
from elixirchain.telemetry import HandlerFunction

WAIT = 2.0


def forward_to(pid: Pid) -> HandlerFunction:
    """A telemetry handler that sends each event to ``pid``."""

    def handler(event, measurements, metadata) -> None:
        send(pid, ("telemetry", event, dict(measurements), dict(metadata)))

    return handler


def listen(*events: tuple[str, ...]) -> None:
    """Forward ``events`` to the test as ("telemetry", event, measurements, metadata)."""
    telemetry.attach(f"test-{events}", list(events), forward_to(self_pid()))


def next_event(event: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    _, _, measurements, metadata = receive(("telemetry", event, ANY, ANY), timeout=WAIT)
    return measurements, metadata


def no_event(event: tuple[str, ...]) -> bool:
    return receive(("telemetry", event, ANY, ANY), timeout=0, default=None) is None


class FakeClock:
    """A clock that stands still until ``advance``d."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
