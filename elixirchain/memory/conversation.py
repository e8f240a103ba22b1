"""One conversation as an agent sees it: a window of history, turns, and the journal.

Guarantees: ``history()`` never starts in the middle of a tool exchange. The window is
the last ``window`` committed messages, shortened at its start until it does not begin
with a tool message: a tool result whose assistant message (with the tool calls) fell
outside the window is dropped with it, because providers refuse a tool result without
its call. An assistant message with tool calls is never separated from its results,
which follow it and so are inside the window too. The history may therefore hold fewer
than ``window`` messages.

Everything else is the backend's (``MemoryBackend``): atomic, idempotent commits and the
in-flight journal of a turn.

Example::

    memory = ConversationMemory(open_backend(), "chat-1", window=20)
    if memory.commit("turn-7", [Message.user("hi"), Message.assistant("hello")]):
        ...
    prompt = memory.history()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elixirchain.errors import ConfigError
from elixirchain.memory.base import MemoryBackend, check_id
from elixirchain.messages import TOOL, Message

__all__ = ["ConversationMemory", "trim_window"]


def trim_window(messages: Sequence[Message], window: int | None) -> list[Message]:
    """The last ``window`` messages (all when None), minus leading tool messages.

    Never blocks.
    """
    start = 0 if window is None else max(len(messages) - window, 0)
    while start < len(messages) and messages[start].role == TOOL:
        start += 1
    return list(messages[start:])


def _check_window(window: Any) -> int | None:
    if window is None:
        return None
    if window.__class__ is not int or window < 1:
        raise ConfigError(f"ConversationMemory window must be an int >= 1 or None; got {window!r}")
    return int(window)


class ConversationMemory:
    """The conversation ``conversation_id`` in ``backend``, with a history window.

    Args:
        backend: where the conversation lives (see ``open_backend``).
        conversation_id: the conversation's id.
        window: how many of the last committed messages ``history`` returns at most;
            None for all.
    """

    def __init__(
        self, backend: MemoryBackend, conversation_id: str, *, window: int | None = None
    ) -> None:
        if not isinstance(backend, MemoryBackend):
            raise TypeError(
                f"ConversationMemory expects a MemoryBackend (see open_backend); got "
                f"{backend!r} (of type {type(backend).__name__})"
            )
        self.backend = backend
        self.conversation_id = check_id("conversation_id", conversation_id)
        self.window = _check_window(window)

    def __repr__(self) -> str:
        return (
            f"ConversationMemory({self.backend!r}, {self.conversation_id!r}, "
            f"window={self.window!r})"
        )

    def history(self) -> list[Message]:
        """The committed messages to send to the model: the window, never starting in
        the middle of a tool exchange (see the module docstring).

        Blocks until read from the backend.
        """
        return trim_window(self.backend.load(self.conversation_id, limit=self.window), self.window)

    def commit(self, turn_id: str, messages: Sequence[Message]) -> bool:
        """Commit the turn: all of ``messages`` or none; False if it was committed
        already. Clears the turn's journal. Blocks until committed.
        """
        return self.backend.commit_turn(self.conversation_id, turn_id, messages)

    def committed(self, turn_id: str) -> list[Message] | None:
        """What turn ``turn_id`` committed, or None. Blocks until read."""
        return self.backend.committed_turn(self.conversation_id, turn_id)

    def record(self, turn_id: str, message: Message) -> None:
        """Journal ``message`` for the turn in flight. Blocks until stored."""
        self.backend.journal_append(self.conversation_id, turn_id, message)

    def journal(self, turn_id: str) -> list[Message]:
        """What was journalled for the turn, in order. Blocks until read."""
        return self.backend.journal(self.conversation_id, turn_id)

    def clear(self) -> None:
        """Forget the conversation: messages, turn ids and journals. Blocks until done."""
        self.backend.clear(self.conversation_id)
