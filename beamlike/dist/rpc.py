"""Remote procedure calls (Erlang's ``erpc``): run a function on another node, get its value.

=====================================================  ======================================
function (blocks?)                                     what it does
=====================================================  ======================================
``call(node, fn, *args, timeout=5.0, **kwargs)`` (yes)  ``fn(*args, **kwargs)`` over there
``multicall(nodes, fn, *args, timeout=5.0)`` (yes)      the same on several nodes at once
``cast(node, fn, *args, **kwargs)`` (never)             run it there, forget the result
=====================================================  ======================================

Example::

    from beamlike.dist import rpc

    rpc.call("beta@127.0.0.1", "os:getpid")                 # beta's OS pid
    rpc.multicall(["beta@127.0.0.1", "gamma@127.0.0.1"], "os:getpid")
    # -> [("ok", 4242), ("error", RpcError(...))]

What it guarantees, as ``erpc`` does: every call runs in a fresh process on the other
node, spawned and monitored by the caller. The caller gets the function's value, or an
``RpcError`` saying why not: the function raised (``kind="error"``, with the exception's
type name, message and traceback text, never the exception object: no pickle), its
process exited without an answer (``kind="exit"``, with the reason: killed, linked to
something that crashed, ``ProcessExit`` raised), or the call itself failed
(``kind="erpc"``: ``"noconnection"`` when the node cannot be reached or is lost during
the call, ``"timeout"`` as the subclass ``RpcTimeout``). On a timeout the remote process
is killed, and an answer that arrives later is dropped: it never reaches the caller's
mailbox (the reply goes to an alias, as a ``gen_server.call``'s does).

Code never travels: ``fn`` is ``"package.module:function"`` or an importable module-level
function, imported over there (any callable is fine when ``node`` is this node). The
arguments and the value must be terms that can travel (``codec``); arguments that cannot
fail at the call site with ``codec.EncodeError``, a value that cannot becomes an error of
kind ``"error"``.

Non-guarantees: ``cast`` says nothing of failures (not even that the node was reached);
a ``multicall`` whose caller dies leaves its calls running until they end or time out.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from beamlike._core.mailbox import check_timeout
from beamlike._core.node import current_process
from beamlike.dist import codec
from beamlike.dist.errors import DistError
from beamlike.dist.names import full_name, function_name
from beamlike.errors import BadArgumentType
from beamlike.gen_server import From, reply
from beamlike.messages import ANY, Down
from beamlike.process import (
    demonitor,
    exit,
    receive,
    resolve_function,
    send,
    spawn,
    spawn_opt,
)

__all__ = ["RpcError", "RpcException", "RpcTimeout", "call", "cast", "multicall"]

DEFAULT_TIMEOUT = 5.0
_EXECUTE = "beamlike.dist.rpc:_execute"
_CAST = "beamlike.dist.rpc:_cast_main"
_TIMED_OUT: Any = object()


class RpcError(DistError):
    """An rpc that gave no value.

    Attributes:
        kind: ``"error"`` (the function raised), ``"exit"`` (its process exited without
            answering) or ``"erpc"`` (the call failed: ``reason`` says how).
        reason: for ``"erpc"``, ``"noconnection"``, ``"timeout"`` or ``"notsup"`` (the
            other node could not start the rpc process); for ``"exit"``, the exit
            reason; for ``"error"``, the exception as a ``codec.RemoteError``.
        node: the node the function was to run on.
        function: the function, as ``"package.module:function"`` (or its repr).
        type_name: the remote exception's type, ``"module.QualName"`` (builtins without
            module); ``""`` unless ``kind == "error"``.
        message: ``str()`` of the remote exception (for ``"erpc"``, details, if any).
        remote_traceback: the remote traceback as text; ``""`` unless ``kind == "error"``.
    """

    def __init__(
        self,
        kind: str,
        reason: Any,
        *,
        node: str,
        function: str,
        type_name: str = "",
        message: str = "",
        remote_traceback: str = "",
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.node = node
        self.function = function
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        if kind == "error":
            what = f"raised {type_name}: {message}" if message else f"raised {type_name}"
        elif kind == "exit":
            what = f"exited with reason {reason!r}"
        else:
            what = f"failed: {reason}" + (f" ({message})" if message else "")
        super().__init__(f"rpc of {function} on {node} {what}")


class RpcException(RpcError):
    """The function raised (``kind="error"``) or its process exited without an answer
    (``kind="exit"``). Erlang's ``{exception, Reason, Stack}``."""


class RpcTimeout(RpcError, TimeoutError):
    """No answer within the timeout (``kind="erpc"``, ``reason="timeout"``); the remote
    process was killed."""


# -- the function's side ---------------------------------------------------------------------


def _execute(caller: Any, tag: Any, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    """The process an rpc runs in: call the function, answer the caller's alias."""
    from_ = From(caller, tag)
    try:
        value = resolve_function(fn)(*args, **kwargs)
    except Exception as exc:
        reply(from_, ("error", codec.type_name(exc.__class__), _text(exc), traceback.format_exc()))
        return
    try:
        reply(from_, ("ok", value))
    except Exception as exc:  # codec.EncodeError, or too big a value
        text = f"the result cannot travel: {_text(exc)}"
        reply(from_, ("error", codec.type_name(exc.__class__), text, ""))


def _cast_main(fn: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    resolve_function(fn)(*args, **kwargs)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return object.__repr__(exc)


# -- the caller's side -----------------------------------------------------------------------


def _prepare(node: str, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    """The full node name, and the function as it will be sent (a name for another node).

    Raises ``BadArgument`` for a bad node name or a function another node cannot import,
    ``codec.EncodeError`` for arguments that cannot travel."""
    target = full_name(node)
    here = current_process().node
    if target == here.name:
        if not isinstance(fn, str) and not callable(fn):
            raise BadArgumentType(
                f"rpc expects a callable or a 'package.module:function' string; got {fn!r}"
            )
        return target, fn
    name = function_name(fn)
    codec.encode((list(args), kwargs))  # fails here, at the call site, not over there
    return target, name


def call(
    node: str,
    fn: str | Callable[..., Any],
    *args: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a new process on ``node``; return its value.

    Args:
        node: the node (``"beta"`` means ``"beta@127.0.0.1"``); this node's own name
            runs it here, in a new process too.
        fn: ``"package.module:function"`` or an importable function (any callable for
            this node).
        timeout: seconds to wait for the answer; None waits for ever.

    Blocks until the answer arrives, the process exits, the node is lost or ``timeout``
    passes. Raises ``RpcException`` when the function raised or its process exited
    without answering, ``RpcError`` (reason ``"noconnection"``) when the node cannot be
    reached or is lost, ``RpcTimeout`` after ``timeout`` (the remote process is then
    killed); ``BadArgument`` for a bad node name or function, ``codec.EncodeError`` for
    arguments that cannot travel.
    """
    wait = check_timeout(timeout)
    target, sent = _prepare(node, fn, args, kwargs)
    return _call(target, sent, args, kwargs, wait)


def _shown(fn: Any) -> str:
    return fn if isinstance(fn, str) else str(getattr(fn, "__qualname__", repr(fn)))


def _call(
    target: str, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
) -> Any:
    deadline = None if timeout is None else time.monotonic() + timeout
    me = current_process()
    here = me.node
    shown = _shown(fn)
    tag = here.make_ref()
    here.aliases[tag] = me  # replies to the tag reach us only while it is here
    try:
        payload = (me.pid, tag, fn, list(args), dict(kwargs))
        if target == here.name:
            pid, mref = spawn_opt(_execute, payload, monitor=True)
        elif here.dist is None:
            raise RpcError("erpc", "noconnection", node=target, function=shown)
        else:
            try:
                pid, mref = here.dist.spawn(
                    target, _EXECUTE, payload, link=False, monitor=True, timeout=timeout
                )
            except DistError as exc:
                text = str(exc)
                if text.endswith(": timeout"):  # the node did not even answer the spawn
                    raise RpcTimeout("erpc", "timeout", node=target, function=shown) from None
                # "noconnection": not reached or lost; else it could not start the process
                reason = "noconnection" if "noconnection" in text else "notsup"
                raise RpcError("erpc", reason, node=target, function=shown, message=text) from None
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        answer = receive((tag, ANY), Down(mref, ANY, ANY), timeout=left, default=_TIMED_OUT)
    finally:
        here.aliases.pop(tag, None)
    if answer is _TIMED_OUT:
        exit(pid, "kill")
        demonitor(mref, flush=True)
        receive((tag, ANY), timeout=0, default=None)  # it may have come in the meantime
        raise RpcTimeout("erpc", "timeout", node=target, function=shown)
    if answer.__class__ is Down:
        reason = answer.reason
        if reason == "noconnection":
            raise RpcError("erpc", "noconnection", node=target, function=shown)
        raise RpcException("exit", reason, node=target, function=shown)
    demonitor(mref, flush=True)
    result = answer[1]
    if result[0] == "ok":
        return result[1]
    _, type_name, message, remote_traceback = result
    raise RpcException(
        "error",
        codec.RemoteError(type_name, message, (message,)),
        node=target,
        function=shown,
        type_name=type_name,
        message=message,
        remote_traceback=remote_traceback,
    )


def _call_one(
    parent: Any,
    tag: Any,
    index: int,
    target: str,
    fn: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
) -> None:
    try:
        outcome: tuple[str, Any] = ("ok", _call(target, fn, args, kwargs, timeout))
    except RpcError as exc:
        outcome = ("error", exc)
    send(parent, (tag, index, outcome))


def multicall(
    nodes: Sequence[str],
    fn: str | Callable[..., Any],
    *args: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> list[tuple[str, Any]]:
    """``call`` on every node of ``nodes`` at once; the outcomes in the order of ``nodes``.

    Each outcome is ``("ok", value)`` or ``("error", RpcError)``; ``timeout`` applies to
    each call (they run in parallel, so the whole takes about the longest of them).

    Blocks until every call has an outcome. Raises (before calling anything)
    ``BadArgument`` for a bad node name or function, ``codec.EncodeError`` for arguments
    that cannot travel.
    """
    wait = check_timeout(timeout)
    if isinstance(nodes, str) or not isinstance(nodes, Sequence):
        raise BadArgumentType(f"multicall expects a list of node names; got {nodes!r}")
    prepared = [_prepare(node, fn, args, kwargs) for node in nodes]
    me = current_process()
    tag = me.node.make_ref()
    monitors = {}
    for index, (target, sent) in enumerate(prepared):
        _, mref = spawn_opt(
            _call_one, (me.pid, tag, index, target, sent, args, kwargs, wait), monitor=True
        )
        monitors[mref] = index
    outcomes: dict[int, tuple[str, Any]] = {}
    while len(outcomes) < len(prepared):
        patterns = [(tag, ANY, ANY), *(Down(mref, ANY, ANY) for mref in monitors)]
        message = receive(*patterns)
        if message.__class__ is Down:
            index = monitors.pop(message.ref)
            if index not in outcomes:  # the helper crashed before it answered
                outcomes[index] = (
                    "error",
                    RpcException(
                        "exit", message.reason, node=prepared[index][0], function=_shown(fn)
                    ),
                )
            continue
        outcomes[message[1]] = message[2]
    for mref in monitors:
        demonitor(mref, flush=True)
    return [outcomes[i] for i in range(len(prepared))]


def cast(node: str, fn: str | Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``fn(*args, **kwargs)`` in a new process on ``node``, without waiting and
    without any report of the outcome (Erlang's ``erpc:cast``).

    Never blocks. Raises ``BadArgument`` for a bad node name or function,
    ``codec.EncodeError`` for arguments that cannot travel.
    """
    target, sent = _prepare(node, fn, args, kwargs)
    if target == current_process().node.name:
        spawn(_cast_main, sent, list(args), dict(kwargs))
    else:
        spawn(_cast_remote, target, sent, list(args), dict(kwargs))


def _cast_remote(target: str, fn: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    dist = current_process().node.dist
    try:
        if dist is not None:
            dist.spawn(target, _CAST, (fn, args, kwargs), link=False, monitor=False)
    except DistError:
        pass  # a cast reports nothing, as erpc:cast
