"""Metrics and health: what telemetry events add up to, and how the gates are doing.

``Metrics`` attaches one telemetry handler to a set of events and keeps, per event and
per combination of selected metadata tags, a counter and a summary of every numeric
measurement (count, sum, min, max, p50, p95). ``health`` asks every gate for its state.

Guarantees:

- Bounded memory per series: percentiles are computed over a reservoir of at most
  ``reservoir`` samples per measurement (Vitter's algorithm R: a uniform sample of all
  the values seen), while count, sum, min and max are exact.
- Recording runs in the emitting process, never blocks and never switches greenlets,
  so the numbers need no lock; ``snapshot`` copies them.
- Tags absent from an event's metadata are recorded as None; tag values are shown with
  ``str``.

Example::

    metrics = Metrics(
        [("elixirchain", "provider", "call", "stop")], tags=("provider", "model")
    )
    ...
    metrics.snapshot()
    # {"elixirchain.provider.call.stop{model=m,provider=gemini}": {
    #     "event": ("elixirchain", "provider", "call", "stop"),
    #     "tags": {"provider": "gemini", "model": "m"}, "count": 3,
    #     "measurements": {"duration": {"count": 3, "sum": ..., "min": ..., ...}}}}
    metrics.detach()
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from beamlike import Pid, dynamic_supervisor, gen_server, whereis
from elixirchain import telemetry
from elixirchain.errors import ConfigError
from elixirchain.resilience.breaker import CLOSED
from elixirchain.resilience.gate import status
from elixirchain.resilience.gates import DEFAULT_GATES, gate_status

__all__ = ["Metrics", "Summary", "health"]


class Summary:
    """Count, sum, min and max of a measurement, and a reservoir for percentiles."""

    __slots__ = ("count", "total", "low", "high", "samples", "size", "rng")

    def __init__(self, size: int, rng: random.Random) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.samples: list[float] = []
        self.size = size
        self.rng = rng

    def add(self, value: float) -> None:
        """Record one value. Never blocks."""
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if len(self.samples) < self.size:
            self.samples.append(value)
        else:
            slot = self.rng.randrange(self.count)
            if slot < self.size:
                self.samples[slot] = value

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the reservoir, nearest rank. Never blocks."""
        return _nearest_rank(sorted(self.samples), q)

    def to_dict(self) -> dict[str, float]:
        ordered = sorted(self.samples)  # once for both percentiles
        return {
            "count": self.count,
            "sum": self.total,
            "min": self.low,
            "max": self.high,
            "p50": _nearest_rank(ordered, 0.5),
            "p95": _nearest_rank(ordered, 0.95),
        }


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class _Series:
    __slots__ = ("event", "tags", "count", "measurements")

    def __init__(self, event: telemetry.Event, tags: dict[str, Any]) -> None:
        self.event = event
        self.tags = tags
        self.count = 0
        self.measurements: dict[str, Summary] = {}


def _series_name(event: telemetry.Event, tags: Mapping[str, Any]) -> str:
    name = ".".join(event)
    if not tags:
        return name
    shown = ",".join(f"{tag}={tags[tag]}" for tag in sorted(tags))
    return f"{name}{{{shown}}}"


class Metrics:
    """Counters and latency summaries of telemetry events, on the caller's node.

    Args:
        events: the events to count: one event (a tuple of str) or several.
        tags: metadata keys that split each event into series (e.g. ``("provider",)``).
        reservoir: samples kept per measurement for the percentiles.
        seed: seeds the reservoir's sampling (for reproducible percentiles).

    Attaches at once (never blocks); ``detach`` stops it.
    """

    def __init__(
        self,
        events: telemetry.Event | Iterable[telemetry.Event],
        *,
        tags: Sequence[str] = (),
        reservoir: int = 1024,
        seed: int | None = 0,
    ) -> None:
        single = isinstance(events, tuple) and all(part.__class__ is str for part in events)
        wanted: list[Any] = [events] if single else list(events)
        if isinstance(tags, str) or not all(tag.__class__ is str for tag in tags):
            raise ConfigError(f"Metrics tags must be a sequence of str; got {tags!r}")
        if reservoir.__class__ is not int or reservoir < 1:
            raise ConfigError(f"Metrics reservoir must be a positive int; got {reservoir!r}")
        self.tags = tuple(tags)
        self.reservoir = reservoir
        self._rng = random.Random(seed)
        self._series: dict[tuple[telemetry.Event, tuple[Any, ...]], _Series] = {}
        self.handler_id = f"elixirchain.metrics.{id(self):x}"  # unique while attached
        telemetry.attach(self.handler_id, wanted, self._record)
        self.events: tuple[telemetry.Event, ...] = tuple(dict.fromkeys(wanted))

    def _record(
        self, event: telemetry.Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        values = tuple(metadata.get(tag) for tag in self.tags)
        series = self._series.get((event, values))
        if series is None:
            tags = {tag: value for tag, value in zip(self.tags, values, strict=True)}
            series = self._series[(event, values)] = _Series(event, tags)
        series.count += 1
        for name, value in measurements.items():
            if value.__class__ is bool or not isinstance(value, (int, float)):
                continue
            summary = series.measurements.get(name)
            if summary is None:
                summary = series.measurements[name] = Summary(self.reservoir, self._rng)
            summary.add(float(value))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The numbers so far, one entry per series, keyed ``"a.b.c{tag=value,...}"``:
        ``{"event", "tags", "count", "measurements": {name: {"count", "sum", "min",
        "max", "p50", "p95"}}}``. Never blocks."""
        result: dict[str, dict[str, Any]] = {}
        for series in self._series.values():
            result[_series_name(series.event, {k: str(v) for k, v in series.tags.items()})] = {
                "event": series.event,
                "tags": dict(series.tags),
                "count": series.count,
                "measurements": {
                    name: summary.to_dict() for name, summary in series.measurements.items()
                },
            }
        return result

    def reset(self) -> None:
        """Forget the numbers so far (stays attached). Never blocks."""
        self._series.clear()

    def detach(self) -> bool:
        """Stop counting. Returns False if it was detached already. Never blocks."""
        return telemetry.detach(self.handler_id)

    def __repr__(self) -> str:
        return f"<Metrics {self.handler_id} {len(self._series)} series>"


def health(keys: Iterable[str] | None = None, *, gates: str = DEFAULT_GATES) -> dict[str, Any]:
    """The state of the gates: for each provider key (``keys``, or every gate running
    under the supervisor ``gates``), its ``gate_status``: breaker state, queue length,
    permits in flight, limits; ``{"running": False}`` for a key without a gate.

    Returns ``{"healthy": bool, "gates": {key: status}}``: healthy when every gate
    asked about is running with a closed circuit. Blocks until every gate answered.
    """
    if gates.__class__ is not str or not gates:
        raise ConfigError(f"health gates must be the name of the gate supervisor; got {gates!r}")
    statuses: dict[str, dict[str, Any]] = {}
    if keys is not None:
        if isinstance(keys, str):
            raise ConfigError(f"health keys must be an iterable of keys, not a str; got {keys!r}")
        for key in keys:
            statuses[key] = gate_status(key, gates=gates)
    elif whereis(gates) is not None:
        for child in dynamic_supervisor.which_children(gates):
            if not isinstance(child.pid, Pid):  # being restarted
                continue
            try:
                answer = status(child.pid)
            except gen_server.CallError:  # it stopped meanwhile
                continue
            statuses[answer["key"]] = answer
    healthy = all(s.get("running") and s.get("breaker") == CLOSED for s in statuses.values())
    return {"healthy": healthy, "gates": dict(sorted(statuses.items()))}
