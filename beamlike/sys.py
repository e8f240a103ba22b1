"""System messages: look inside, suspend and trace a running server (Erlang's ``sys``).

Every function sends a system message that the generic loop of a GenServer (and so of a
Supervisor) answers itself, between two messages, without calling the user's callbacks.

=====================================  ==========================================
function (all block until answered)    effect
=====================================  ==========================================
``get_state(server)``                  the server's current state
``replace_state(server, fn)``          state = fn(state); returns the new state
``suspend(server)``                    handle only system messages from now on
``resume(server)``                     handle all messages again, in order
``trace(server, True/False)``          log each message it gets (logger ``beamlike.sys``)
``get_status(server)``                 a dict: pid, module, vsn, state, suspended...
=====================================  ==========================================

Example::

    pid = Stack.start_link([1, 2])
    assert sys.get_state(pid) == [1, 2]
    sys.replace_state(pid, lambda state: [0, *state])
    sys.suspend(pid)      # messages queue up, untouched
    sys.resume(pid)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from beamlike.errors import BeamlikeError
from beamlike.gen_server import DEFAULT_TIMEOUT, SysError, system_call

__all__ = ["get_state", "get_status", "replace_state", "resume", "suspend", "trace"]


def _checked(answer: Any, what: str) -> Any:
    if answer.__class__ is SysError:
        error = answer.error
        if isinstance(error, BaseException):
            raise error
        raise BeamlikeError(f"{what} failed: {error!r}")
    return answer


def get_state(server: Any, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
    """The state of ``server``. Blocks until it answers (raises ``CallError``)."""
    return system_call(server, ("get_state",), timeout)


def replace_state(
    server: Any, fn: Callable[[Any], Any], timeout: float | None = DEFAULT_TIMEOUT
) -> Any:
    """Replace the state of ``server`` with ``fn(state)``; return the new state.

    If ``fn`` raises, the state is unchanged and the exception is raised here. Blocks.
    """
    if not callable(fn):
        raise BeamlikeError(f"replace_state expects a function of the state; got {fn!r}")
    return _checked(system_call(server, ("replace_state", fn), timeout), "replace_state")


def suspend(server: Any, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Suspend ``server``: it leaves other messages queued until ``resume``. Blocks."""
    system_call(server, ("suspend",), timeout)


def resume(server: Any, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Resume a suspended ``server``. Blocks until it answers."""
    system_call(server, ("resume",), timeout)


def trace(server: Any, flag: bool, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Turn message tracing of ``server`` on or off: each message it receives is logged
    at INFO on logger ``beamlike.sys`` with the state it had. Blocks."""
    system_call(server, ("trace", bool(flag)), timeout)


def get_status(server: Any, timeout: float | None = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """A dict describing ``server``: pid, module, vsn, state, suspended, parent, name.

    Blocks until it answers.
    """
    return system_call(server, ("get_status",), timeout)  # type: ignore[no-any-return]
