"""Resilience for provider calls: per-key gates (rate limits, a concurrency limit with a
bounded FIFO wait queue, a circuit breaker), retries with backoff and jitter that honour
the server's wait hints, a fallback provider, and a response cache.

The modules, each one concept:

- ``policy``: ``Limits`` (per provider key) and ``RetryPolicy`` (per call).
- ``ratelimit``: the sliding-window rate limit (pure, with an injectable clock).
- ``breaker``: the circuit-breaker state machine (pure, with an injectable clock).
- ``gate``: the GenServer per provider key (``acquire``, ``release``).
- ``gates``: the DynamicSupervisor that holds them (``start_gates``, ``gate_for``).
- ``retry``: when to retry, and how long to wait.
- ``cache``: ``ResponseCache``.
- ``call``: ``call_provider`` and ``stream_provider``, which put it all together.

Example::

    from elixirchain.resilience import Limits, RetryPolicy, call_provider, start_gates

    start_gates()                                   # once, or gates_child_spec() in a tree
    response = call_provider(
        provider, request,
        limits=Limits(rpm=60, tpm=100_000, max_concurrency=4),
        retry=RetryPolicy(max_attempts=4),
        fallback=backup_provider,
    )

See ``docs/resilience.md``.
"""

from elixirchain.resilience.cache import ResponseCache
from elixirchain.resilience.call import call_provider, stream_provider
from elixirchain.resilience.gate import Permit, acquire, release
from elixirchain.resilience.gates import (
    DEFAULT_GATES,
    gate_for,
    gate_name,
    gate_status,
    gates_child_spec,
    start_gates,
)
from elixirchain.resilience.policy import Limits, RetryPolicy

__all__ = [
    "DEFAULT_GATES",
    "Limits",
    "Permit",
    "ResponseCache",
    "RetryPolicy",
    "acquire",
    "call_provider",
    "gate_for",
    "gate_name",
    "gate_status",
    "gates_child_spec",
    "release",
    "start_gates",
    "stream_provider",
]
