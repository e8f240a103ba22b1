"""Hot code upgrade of running GenServers, through importlib (Erlang's code server and
``sys:change_code``).

``upgrade(module)`` reloads a module and moves every running GenServer whose class is
defined in it to the new class, without stopping it:

1. each such server is suspended (``sys.suspend``): it stops between two messages, and
   messages that arrive meanwhile queue up in its mailbox;
2. the module is reloaded with ``importlib.reload``;
3. each server runs ``NewClass().code_change(old_vsn, state, extra)`` (``old_vsn`` is
   the old class's ``__vsn__``) and continues on the new class with the returned state;
   if ``code_change`` raises, that server stays on the old code with its old state and
   the error is reported;
4. each server is resumed, with its mailbox, links, monitors and name intact.

If the reload itself fails (a syntax error), every server is resumed on the old code
and the error is raised.

Example::

    report = code.upgrade("myapp.counter", extra={"step": 2})
    assert all(item.ok for item in report)

Difference from OTP: Python has no "old and current" versions of a module side by side.
Processes that are not GenServers keep running the function objects they already hold;
new calls through the module reach the new code.
"""

from __future__ import annotations

import importlib
import logging
import types
from dataclasses import dataclass
from typing import Any

from beamlike._core.ids import Pid
from beamlike._core.node import current_node
from beamlike.errors import BeamlikeError
from beamlike.gen_server import CallError, From, SysError, System, system_call
from beamlike.process import send

__all__ = ["UpgradeResult", "servers_of", "upgrade"]

log = logging.getLogger("beamlike.code")


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    """What happened to one server during an upgrade."""

    pid: Pid
    class_name: str
    old_vsn: Any
    new_vsn: Any
    ok: bool
    error: BaseException | None = None


def _module(module: types.ModuleType | str) -> types.ModuleType:
    if isinstance(module, types.ModuleType):
        return module
    if isinstance(module, str):
        return importlib.import_module(module)
    raise BeamlikeError(f"upgrade expects a module or a module name; got {module!r}")


def servers_of(module: types.ModuleType | str) -> list[tuple[Pid, type]]:
    """The running GenServers of this node whose class is defined in ``module``.

    Never blocks.
    """
    name = _module(module).__name__
    found = []
    for pid, server in list(current_node().gen_servers.items()):
        cls = type(server.module)
        if cls.__module__ == name:
            found.append((pid, cls))
    return found


def upgrade(
    module: types.ModuleType | str, extra: Any = None, *, timeout: float | None = 5.0
) -> list[UpgradeResult]:
    """Reload ``module`` and move its running GenServers to the new code.

    Blocks until every server has been suspended, migrated and resumed. Returns one
    ``UpgradeResult`` per server. Raises the reload's exception if the module cannot be
    reloaded (the servers then continue on the old code).
    """
    mod = _module(module)
    targets = servers_of(mod)
    suspended = []
    for pid, cls in targets:
        try:
            system_call(pid, ("suspend",), timeout)
        except CallError:
            # It exited, or was too busy to answer in time: then it will handle the
            # suspend request later, so resume it too (as OTP's release handler does).
            _resume_later(pid)
            continue
        suspended.append((pid, cls))
    try:
        new_mod = importlib.reload(mod)
    except BaseException:
        for pid, _ in suspended:
            _resume(pid, timeout)
        raise
    results = []
    for pid, cls in suspended:
        new_cls = _find_class(new_mod, cls)
        old_vsn = getattr(cls, "__vsn__", None)
        if new_cls is None:
            error = BeamlikeError(f"{cls.__qualname__} no longer exists in {new_mod.__name__}")
            results.append(UpgradeResult(pid, cls.__qualname__, old_vsn, None, False, error))
            _resume(pid, timeout)
            continue
        new_vsn = getattr(new_cls, "__vsn__", None)
        try:
            answer = system_call(pid, ("code_change", new_cls, extra), timeout)
        except CallError as exc:
            results.append(UpgradeResult(pid, cls.__qualname__, old_vsn, new_vsn, False, exc))
            continue
        if answer.__class__ is SysError:
            results.append(
                UpgradeResult(pid, cls.__qualname__, old_vsn, new_vsn, False, answer.error)
            )
        else:
            results.append(UpgradeResult(pid, cls.__qualname__, old_vsn, new_vsn, True))
        _resume(pid, timeout)
    for result in results:
        if not result.ok:
            log.error("upgrade of %r (%s) failed: %r", result.pid, result.class_name, result.error)
    return results


def _find_class(module: types.ModuleType, old: type) -> type | None:
    target: Any = module
    for part in old.__qualname__.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    # reload() re-runs the source in the *same* module namespace: a class the new source
    # no longer defines is still there, as the old object. That counts as gone.
    return target if isinstance(target, type) and target is not old else None


def _resume_later(pid: Pid) -> None:
    """Queue a resume request behind a suspend request the server has not handled."""
    me = current_node().make_ref()
    send(pid, System(From(pid, me), ("resume",)))  # its answer goes nowhere: no alias


def _resume(pid: Pid, timeout: float | None) -> None:
    try:
        system_call(pid, ("resume",), timeout)
    except CallError:
        pass
