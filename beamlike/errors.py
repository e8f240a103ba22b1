"""Exceptions of beamlike: one root, plus the exception that ends a process.

``BeamlikeError`` is the root of every error this package raises at a call site.
``ProcessExit`` is different: it derives from ``BaseException`` because it is not an
error to handle but the way a process ends (Erlang's ``exit/1``). Raising it ends the
calling process with ``reason``; the runtime also raises it inside a process that was
killed by an exit signal, at its next blocking point.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyRegisteredError",
    "BadArgument",
    "BadArgumentType",
    "BeamlikeError",
    "DeadlockError",
    "NoProcError",
    "ProcessExit",
    "ReceiveTimeout",
]


class BeamlikeError(Exception):
    """Root of the errors raised by beamlike at a call site."""


class BadArgument(BeamlikeError, ValueError):
    """A call got a value it cannot accept (Erlang's ``badarg``). The caller's mistake."""


class BadArgumentType(BadArgument, TypeError):
    """A call got an argument of the wrong type. The caller's mistake."""


class NoProcError(BeamlikeError):
    """The process addressed does not exist (Erlang's ``noproc``)."""


class AlreadyRegisteredError(BadArgument):
    """The name is already registered to another process.

    Attributes:
        name: the name that was asked for.
        pid: the pid that holds it.
    """

    def __init__(self, name: str, pid: Any) -> None:
        super().__init__(f"name {name!r} is already registered to {pid!r}")
        self.name = name
        self.pid = pid


class ReceiveTimeout(BeamlikeError, TimeoutError):
    """``receive`` found no matching message within its timeout and had no default."""


class DeadlockError(BeamlikeError):
    """The main greenlet waits for a message that nothing can ever send.

    Raised instead of blocking forever when no process, timer or I/O is left that could
    wake the caller (gevent's ``LoopExit``, translated).
    """


class ProcessExit(BaseException):
    """Ends the calling process with ``reason`` (Erlang's ``exit/1``).

    Raise it yourself to exit with a reason other than ``"normal"``. The runtime raises it
    inside a process killed by an exit signal; do not swallow it: it is raised again at
    every blocking point until the process has ended.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"ProcessExit({self.reason!r})"
