"""Test-double providers: answers computed by a function, or taken from a script.

Guarantees: both doubles record every request they receive (``requests``, in call
order, also for calls that then raised), never touch the network, and answer exactly
what the test gave them. ``key`` may be set so that two doubles share one rate-limit
and circuit-breaker gate (``Provider.key``), or so that one double stands in for a
real provider's gate.

- ``FunctionProvider(fn)``: ``fn(request)`` returns the answer: a ``Response``, an
  assistant ``Message`` or a ``str``. ``stream_fn(request)``, when given, yields the
  streamed answer as ``Chunk``s or ``str`` text deltas (and may raise half-way to
  simulate a broken stream).
- ``ScriptedProvider(script)``: each call takes the next item of ``script``: a
  ``Response``, a ``Message``, a ``str``, a ``ToolCall`` or a list of them (an assistant
  message asking for those calls), an exception (raised), or a callable (called with the
  request; what it returns is used as the item). When the script is used up, a call
  raises ``ScriptExhausted``.

Example::

    provider = ScriptedProvider([
        [ToolCall("call_1", "calculator", {"expression": "17 * 23"})],
        "17 * 23 = 391.",
    ])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from elixirchain.errors import ElixirChainError
from elixirchain.messages import ASSISTANT, Chunk, Message, Request, Response, ToolCall
from elixirchain.providers.base import Provider, _response_chunks

__all__ = ["FunctionProvider", "ScriptExhausted", "ScriptedProvider"]

_ITEM_KINDS = (
    "a Response, a Message, a str, a ToolCall, a list of ToolCall, an exception or a callable"
)


class ScriptExhausted(ElixirChainError, AssertionError):
    """A ``ScriptedProvider`` was called more often than its script has answers.

    An ``AssertionError`` too: in a test it means the code under test made more
    provider calls than the test expected.
    """


class _Double(Provider):
    """What both doubles share: a settable name and key, and recorded requests."""

    def __init__(self, name: str, key: str | None) -> None:
        kind = type(self).__name__
        if not isinstance(name, str) or not name:
            raise TypeError(f"{kind} name must be a non-empty str; got {name!r}")
        if key is not None and (not isinstance(key, str) or not key):
            raise TypeError(f"{kind} key must be a non-empty str or None; got {key!r}")
        self.name = name
        self._key = key
        self.requests: list[Request] = []

    @property
    def key(self) -> str:
        """The gate key: the ``key`` given, else the name. Never blocks."""
        return self._key if self._key is not None else self.name

    def _record(self, request: Any) -> Request:
        if not isinstance(request, Request):
            raise TypeError(
                f"{type(self).__name__} expects a Request; got {request!r} "
                f"(of type {type(request).__name__})"
            )
        self.requests.append(request)
        return request


def _to_response(value: Any, request: Request, what: str) -> Response:
    """Turns a returned answer into a Response, or raises a TypeError naming ``what``."""
    if isinstance(value, Response):
        return value
    if isinstance(value, str):
        return Response(Message.assistant(value), model=request.model)
    if isinstance(value, Message):
        if value.role != ASSISTANT:
            raise TypeError(f"{what} must be an assistant Message; got role {value.role!r}")
        finish = "tool_calls" if value.tool_calls else "stop"
        return Response(value, finish_reason=finish, model=request.model)
    raise TypeError(
        f"{what} must be a Response, a Message or a str; got {value!r} "
        f"(of type {type(value).__name__})"
    )


class FunctionProvider(_Double):
    """A provider whose answers are computed by ``fn`` (as pydantic-ai's FunctionModel).

    Args:
        fn: called with each request; returns a ``Response``, an assistant ``Message``
            (finish reason ``"tool_calls"`` when it asks for tools, else ``"stop"``) or a
            ``str`` (an assistant text). What it raises propagates to the caller.
        stream_fn: called with each streamed request; yields ``Chunk``s or ``str`` text
            deltas. Without it, ``stream`` yields ``fn``'s answer as one chunk.
        name: the provider's name.
        key: the gate key (default: the name).

    Attributes:
        requests: every request received, in order.
    """

    def __init__(
        self,
        fn: Callable[[Request], Response | Message | str],
        *,
        stream_fn: Callable[[Request], Iterable[Chunk | str]] | None = None,
        name: str = "function",
        key: str | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(
                "FunctionProvider expects a callable fn(request) -> Response | Message | "
                f"str; got {fn!r} (of type {type(fn).__name__})"
            )
        if stream_fn is not None and not callable(stream_fn):
            raise TypeError(
                "FunctionProvider stream_fn must be a callable stream_fn(request) -> "
                f"Iterable[Chunk | str] or None; got {stream_fn!r} "
                f"(of type {type(stream_fn).__name__})"
            )
        super().__init__(name, key)
        self.fn = fn
        self.stream_fn = stream_fn

    def __repr__(self) -> str:
        return f"FunctionProvider({self.fn!r}, name={self.name!r})"

    def generate(self, request: Request) -> Response:
        """Records ``request`` and returns ``fn``'s answer.

        Blocks until ``fn`` returns.
        """
        self._record(request)
        return _to_response(self.fn(request), request, "FunctionProvider fn's answer")

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Records ``request`` and yields ``stream_fn``'s chunks (or ``fn``'s answer).

        Blocks while ``stream_fn`` produces each chunk.
        """
        if self.stream_fn is None:
            yield from super().stream(request)  # calls generate, which records
            return
        self._record(request)
        for item in self.stream_fn(request):
            if isinstance(item, Chunk):
                yield item
            elif isinstance(item, str):
                yield Chunk(text=item)
            else:
                raise TypeError(
                    "FunctionProvider stream_fn must yield Chunk or str items; got "
                    f"{item!r} (of type {type(item).__name__})"
                )


class ScriptedProvider(_Double):
    """A provider that answers from a script, one item per call (as pydantic-ai's TestModel).

    Args:
        script: the answers in order (a list, or any iterable, taken lazily). Items: a
            ``Response``; an assistant ``Message``; a ``str`` (an assistant text); a
            ``ToolCall`` or a list of them (an assistant message asking for those calls,
            finish reason ``"tool_calls"``); an exception instance or class (raised by
            that call); a callable (called with the request, its result used as the
            item).
        name: the provider's name (used in the exhaustion message).
        key: the gate key (default: the name).
        chunk_size: when streaming, split text answers into chunks of this many
            characters; None streams each answer as one chunk.

    Attributes:
        requests: every request received, in order (also those whose item raised).
        calls: how many calls took an item from the script.
    """

    def __init__(
        self,
        script: Iterable[Any],
        *,
        name: str = "scripted",
        key: str | None = None,
        chunk_size: int | None = None,
    ) -> None:
        if isinstance(script, str | bytes) or not isinstance(script, Iterable):
            raise TypeError(
                f"ScriptedProvider expects an iterable of answers ({_ITEM_KINDS}); got "
                f"{script!r} (of type {type(script).__name__})"
            )
        if chunk_size is not None and (
            not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1
        ):
            raise TypeError(
                f"ScriptedProvider chunk_size must be an int >= 1 or None; got {chunk_size!r}"
            )
        super().__init__(name, key)
        if isinstance(script, Sequence):
            for position, item in enumerate(script):
                _check_item(item, position)
        self._script = iter(script)
        self.chunk_size = chunk_size
        self.calls = 0

    def __repr__(self) -> str:
        return f"ScriptedProvider(name={self.name!r}, calls={self.calls})"

    def generate(self, request: Request) -> Response:
        """Records ``request`` and answers with the script's next item.

        Blocks only while a callable item runs. Raises the item when it is an
        exception, and ``ScriptExhausted`` when the script is used up.
        """
        self._record(request)
        position = self.calls
        try:
            item = next(self._script)
        except StopIteration:
            plural = "" if position == 1 else "s"
            raise ScriptExhausted(
                f"ScriptedProvider {self.name!r} ran out of answers after {position} call{plural}"
            ) from None
        self.calls += 1
        _check_item(item, position)
        if callable(item) and not _is_exception(item):
            item = item(request)
            _check_item(item, position, returned=True)
        if _is_exception(item):
            raise item
        if isinstance(item, ToolCall):
            item = [item]
        if isinstance(item, list):
            return Response(
                Message.assistant("", item), finish_reason="tool_calls", model=request.model
            )
        return _to_response(item, request, f"ScriptedProvider script item {position}")

    def stream(self, request: Request) -> Iterator[Chunk]:
        """Yields the next item's answer, in ``chunk_size``-character text chunks.

        Tool calls, usage and the finish reason come on the last chunk. Blocks like
        ``generate``, before the first chunk.
        """
        response = self.generate(request)
        text = response.message.content
        size = self.chunk_size or len(text) or 1
        yield from _response_chunks(
            response, [text[i : i + size] for i in range(0, len(text), size)] or [""]
        )


def _is_exception(item: Any) -> bool:
    return isinstance(item, BaseException) or (
        isinstance(item, type) and issubclass(item, BaseException)
    )


def _check_item(item: Any, position: int, *, returned: bool = False) -> None:
    """Raises TypeError unless ``item`` is a valid script item."""
    if isinstance(item, Response | str | ToolCall) or _is_exception(item):
        return
    if isinstance(item, Message):
        if item.role == ASSISTANT:
            return
        problem = f"a Message of role {item.role!r} (only assistant messages answer)"
    elif isinstance(item, list):
        if not item:
            problem = "an empty list (a list item must hold at least one ToolCall)"
        elif all(isinstance(call, ToolCall) for call in item):
            return
        else:
            problem = f"a list with items other than ToolCall: {item!r}"
    elif callable(item) and not returned:
        return
    else:
        problem = f"{item!r} (of type {type(item).__name__})"
    where = f"the callable at script item {position} returned" if returned else "got"
    raise TypeError(
        f"ScriptedProvider script item {position} must be {_ITEM_KINDS}; {where} {problem}"
    )
