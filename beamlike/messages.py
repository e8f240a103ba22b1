"""Messages the runtime delivers, and the exit reasons it uses.

Exit reasons are plain ``str`` constants (Erlang atoms), a ``("shutdown", term)`` tuple,
or the exception that crashed a process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beamlike._core.ids import Pid, Ref
from beamlike._core.patterns import ANY

__all__ = [
    "ANY",
    "KILL",
    "KILLED",
    "NOCONNECTION",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "Down",
    "Exit",
    "NodeDown",
    "NodeUp",
    "is_shutdown_reason",
]

NORMAL = "normal"
KILL = "kill"
KILLED = "killed"
SHUTDOWN = "shutdown"
NOPROC = "noproc"
NOCONNECTION = "noconnection"


@dataclass(frozen=True, slots=True)
class Exit:
    """An exit signal turned into a message, for a process that traps exits.

    Erlang's ``{'EXIT', Pid, Reason}``.
    """

    pid: Pid | Any
    reason: Any


@dataclass(frozen=True, slots=True)
class Down:
    """A monitored process exited (or did not exist: reason ``"noproc"``).

    Erlang's ``{'DOWN', Ref, process, Pid, Reason}``. ``pid`` is the name for a monitor
    made on a name that was not registered.
    """

    ref: Ref
    pid: Pid | Any
    reason: Any


@dataclass(frozen=True, slots=True)
class NodeUp:
    """A node connected (``monitor_nodes``). Erlang's ``{nodeup, Node}``."""

    node: str


@dataclass(frozen=True, slots=True)
class NodeDown:
    """A node is no longer connected (``monitor_node``/``monitor_nodes``), with why.

    Erlang's ``{nodedown, Node}``; ``reason`` is e.g. ``"connection_closed"``,
    ``"net_tick_timeout"``, ``"disconnect"``.
    """

    node: str
    reason: Any = "connection_closed"


def is_shutdown_reason(reason: Any) -> bool:
    """Tell whether ``reason`` is a clean exit: normal, shutdown or ("shutdown", term).

    Never blocks.
    """
    if type(reason) is str:
        return reason in (NORMAL, SHUTDOWN)
    return type(reason) is tuple and len(reason) == 2 and reason[0] == SHUTDOWN
