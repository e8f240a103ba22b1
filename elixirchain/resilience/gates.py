"""The gates supervisor: one DynamicSupervisor that holds a gate (``gate.Gate``) per
provider key, each registered under a name derived from the key.

==================================================  ======================================
function                                            effect
==================================================  ======================================
``start_gates(name)`` blocks                        start the supervisor, unlinked
``gates_child_spec(name)`` never blocks             the supervisor's child spec, for a tree
``gate_for(key, limits, gates=)`` blocks            the gate's name, starting it if needed
``gate_name(key, gates=)`` never blocks             the gate's registered name
``gate_status(key, gates=)`` blocks                 ``gate.status``, or "not running"
==================================================  ======================================

Guarantees: callers that ask for the same key's gate at once get one gate (the supervisor
starts its children one at a time, and a gate already running is not started twice); a
gate keeps the limits it was started with; a crashed gate is restarted (``permanent``).
"""

from __future__ import annotations

from typing import Any

from beamlike import ChildSpec, DynamicSupervisor, Pid, dynamic_supervisor, gen_server, whereis
from elixirchain.errors import ConfigError
from elixirchain.resilience.gate import Gate, status
from elixirchain.resilience.policy import Limits

__all__ = [
    "DEFAULT_GATES",
    "gate_for",
    "gate_name",
    "gate_status",
    "gates_child_spec",
    "start_gates",
]

DEFAULT_GATES = "elixirchain.gates"


def gate_name(key: str, *, gates: str = DEFAULT_GATES) -> str:
    """The registered name of ``key``'s gate under the supervisor ``gates``:
    ``"elixirchain.gate:<key>"`` (``"elixirchain.gate:<key>@<gates>"`` for another
    supervisor). Never blocks."""
    if gates == DEFAULT_GATES:
        return f"elixirchain.gate:{key}"
    return f"elixirchain.gate:{key}@{gates}"


def _check_gates(gates: Any) -> str:
    if gates.__class__ is not str or not gates:
        raise ConfigError(
            f"gates must be the registered name (a str) of the gate supervisor; got {gates!r}"
        )
    return gates  # type: ignore[no-any-return]


def start_gates(name: str = DEFAULT_GATES) -> Pid:
    """Start the DynamicSupervisor that holds the gates, registered as ``name``, not
    linked to the caller (use ``gates_child_spec`` to run it in a supervision tree).

    Blocks until it is running. Returns its pid; the running one's if ``name`` is
    already started.
    """
    _check_gates(name)
    running = whereis(name)
    if running is not None:
        return running
    try:
        pid = DynamicSupervisor.start(name=name, max_restarts=10, max_seconds=5.0)
    except gen_server.AlreadyStartedError as exc:
        return exc.pid  # type: ignore[no-any-return]
    assert pid is not None
    return pid


def gates_child_spec(name: str = DEFAULT_GATES) -> ChildSpec:
    """The child spec of the gates supervisor, for an application's supervision tree.
    Never blocks."""
    _check_gates(name)
    return ChildSpec(
        id=name,
        start=(DynamicSupervisor.start_link, (), {"name": name, "max_restarts": 10}),
        type="supervisor",
    )


def _start_gate(key: str, limits: Limits, name: str) -> Pid | None:
    """Runs in the gates supervisor, which starts children one at a time: a gate that
    is running already is not started twice."""
    if whereis(name) is not None:
        return None
    return Gate.start_link((key, limits), name=name)


def gate_for(key: str, limits: Limits, *, gates: str = DEFAULT_GATES) -> str:
    """The registered name of ``key``'s gate, starting it under ``gates`` with
    ``limits`` if it is not running. Race-safe: callers at once get one gate. A gate
    that runs already keeps the limits it was started with.

    Blocks until the gate is running. Raises ``ConfigError`` for bad arguments and when
    no supervisor is registered as ``gates`` (see ``start_gates``).
    """
    if key.__class__ is not str or not key:
        raise ConfigError(f"a gate key must be a non-empty str; got {key!r}")
    if not isinstance(limits, Limits):
        raise ConfigError(f"gate_for limits must be a Limits; got {limits!r}")
    _check_gates(gates)
    name = gate_name(key, gates=gates)
    if whereis(name) is not None:
        return name
    if whereis(gates) is None:
        raise ConfigError(
            f"no gate supervisor is registered as {gates!r}: call start_gates({gates!r}) "
            "or put gates_child_spec() in your supervision tree"
        )
    spec = ChildSpec(
        id=name,
        start=(_start_gate, (key, limits, name)),
        restart="permanent",
        modules=(Gate,),
    )
    dynamic_supervisor.start_child(gates, spec)
    return name


def gate_status(key: str, *, gates: str = DEFAULT_GATES) -> dict[str, Any]:
    """``status`` of ``key``'s gate, or ``{"key": key, "running": False}`` when it is
    not running. Blocks until the gate answers."""
    name = gate_name(key, gates=_check_gates(gates))
    if whereis(name) is None:
        return {"key": key, "running": False}
    try:
        return status(name)
    except gen_server.CallError:  # it stopped meanwhile
        return {"key": key, "running": False}
