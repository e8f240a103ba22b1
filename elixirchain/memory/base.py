"""The conversation-memory contract every backend keeps, and ``open_backend``.

Guarantees, for every backend (in-memory, SQL, Redis):

- **Turns are atomic.** ``commit_turn`` stores all of a turn's messages or none; a reader
  never sees half a turn, also when the committing process is killed half-way.
- **Turns are idempotent.** A ``turn_id`` is committed at most once per conversation: a
  second commit of the same turn (a retry after a crash, or a concurrent commit from
  another process) stores nothing and returns False. Exactly one of several concurrent
  commits of a turn returns True.
- **Order.** ``load`` returns committed messages in commit order, the messages of one
  turn together and in the order given.
- **The journal** records a turn while it is in flight (assistant messages with tool
  calls, tool results as they complete), so that a retried turn does not run completed
  tool calls again. Committing a turn clears its journal in the same step.
- **Conversations are independent**: nothing done to one is visible in another.

Messages are stored as JSON (``Message.to_dict``), so what ``load`` returns equals what
was committed when tool arguments and results are JSON values (a tuple comes back as a
list). Conversation and turn ids are non-empty strings of at most 255 characters.

Every method of a backend may block (on the network or the disk) and says until what.
Failures of the storage (unreachable server, closed backend, lost in-memory tables)
raise ``MemoryBackendError``; mistakes of the caller raise ``TypeError``/``ValueError``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from elixirchain.errors import ConfigError, ElixirChainError, unknown_option
from elixirchain.messages import Message

__all__ = [
    "ACCEPTED_FORMS",
    "MAX_ID_LENGTH",
    "MemoryBackend",
    "MemoryBackendError",
    "check_id",
    "decode_message",
    "encode_message",
    "open_backend",
]

MAX_ID_LENGTH = 255

ACCEPTED_FORMS = (
    'None or "memory" (in-memory, ETS), "sqlite:///path.db", "sqlite://" (in-memory '
    'SQLite), "postgresql://user@host:port/db" (or "postgresql+driver://..."), '
    '"redis://host:port/db" (or "rediss://..."), or a MemoryBackend instance'
)


class MemoryBackendError(ElixirChainError):
    """The storage failed: unreachable server, closed backend, lost in-memory tables.

    ``__cause__`` holds the driver's own exception when there was one.
    """


# --- validation and encoding ---------------------------------------------------------


def check_id(what: str, value: Any) -> str:
    """``value`` if it is a valid conversation or turn id, else a clear error.

    Never blocks.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str; got {value!r} (of type {type(value).__name__})")
    if not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(
            f"{what} must be a non-empty str of at most {MAX_ID_LENGTH} characters; "
            f"got {value!r:.80} ({len(value)} characters)"
        )
    return value


def check_message(what: str, value: Any) -> Message:
    """``value`` if it is a ``Message``, else a ``TypeError``. Never blocks."""
    if not isinstance(value, Message):
        raise TypeError(
            f"{what} must be a Message; got {value!r:.80} (of type {type(value).__name__})"
        )
    return value


def check_messages(value: Any) -> tuple[Message, ...]:
    """The messages of a turn as a tuple, or a ``TypeError``. Never blocks."""
    if isinstance(value, Message):
        raise TypeError(
            "commit_turn expects a sequence (list or tuple) of Message; got one Message "
            "(wrap it in a list)"
        )
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            "commit_turn expects a sequence (list or tuple) of Message; "
            f"got {value!r:.80} (of type {type(value).__name__})"
        )
    return tuple(check_message(f"message {i} of the turn", m) for i, m in enumerate(value))


def check_limit(value: Any) -> int | None:
    """``value`` if it is None or an int >= 0, else a clear error. Never blocks."""
    if value is None:
        return None
    if value.__class__ is not int:
        raise TypeError(
            f"load limit must be an int >= 0 or None; got {value!r} (of type {type(value).__name__})"
        )
    if value < 0:
        raise ValueError(f"load limit must be an int >= 0 or None; got {value!r}")
    return value


def encode_message(message: Message) -> str:
    """The JSON text a backend stores for ``message``. Never blocks.

    Raises ``TypeError`` when a tool argument or result is not a JSON value.
    """
    try:
        return json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"a {message.role} message cannot be stored: its tool arguments and results "
            f"must be JSON values ({exc})"
        ) from None


def decode_message(text: str | bytes) -> Message:
    """The ``Message`` that ``encode_message`` stored as ``text``. Never blocks."""
    return Message.from_dict(json.loads(text))


# --- the contract ----------------------------------------------------------------------


class MemoryBackend(ABC):
    """Where conversations live, outside the agent processes that write them.

    The public methods check their arguments and then call the ``_`` methods that a
    backend implements. Backends are shared by many processes at once.
    """

    _closed: bool = False

    # -- the public contract --------------------------------------------------------

    def load(self, conversation_id: str, *, limit: int | None = None) -> list[Message]:
        """The committed messages of the conversation, in order; the last ``limit`` ones
        when ``limit`` is given. ``[]`` for an unknown conversation.

        Blocks until read.
        """
        self._check_open()
        return self._load(check_id("conversation_id", conversation_id), check_limit(limit))

    def commit_turn(self, conversation_id: str, turn_id: str, messages: Sequence[Message]) -> bool:
        """Commit one turn: all of ``messages`` or none, and clear the turn's journal.

        Returns True when stored; False (storing nothing, still clearing the journal)
        when ``turn_id`` was committed already in this conversation. Of concurrent
        commits of the same turn exactly one returns True. Blocks until committed.
        """
        self._check_open()
        return self._commit_turn(
            check_id("conversation_id", conversation_id),
            check_id("turn_id", turn_id),
            [(m.role, encode_message(m)) for m in check_messages(messages)],
        )

    def committed_turn(self, conversation_id: str, turn_id: str) -> list[Message] | None:
        """The messages that turn ``turn_id`` committed, or None if it was not committed.

        Blocks until read.
        """
        self._check_open()
        return self._committed_turn(
            check_id("conversation_id", conversation_id), check_id("turn_id", turn_id)
        )

    def journal_append(self, conversation_id: str, turn_id: str, message: Message) -> None:
        """Record ``message`` in the in-flight journal of the turn, after the others.

        Blocks until stored.
        """
        self._check_open()
        self._journal_append(
            check_id("conversation_id", conversation_id),
            check_id("turn_id", turn_id),
            encode_message(check_message("journal_append message", message)),
        )

    def journal(self, conversation_id: str, turn_id: str) -> list[Message]:
        """The journal of the turn, in the order appended (``[]`` if none).

        Blocks until read.
        """
        self._check_open()
        return self._journal(
            check_id("conversation_id", conversation_id), check_id("turn_id", turn_id)
        )

    def journal_clear(self, conversation_id: str, turn_id: str | None = None) -> None:
        """Forget the journal of the turn, or of every turn of the conversation when
        ``turn_id`` is None. Blocks until done.
        """
        self._check_open()
        self._journal_clear(
            check_id("conversation_id", conversation_id),
            None if turn_id is None else check_id("turn_id", turn_id),
        )

    def clear(self, conversation_id: str) -> None:
        """Forget the conversation: committed messages, turn ids and journals.

        Blocks until done.
        """
        self._check_open()
        self._clear(check_id("conversation_id", conversation_id))

    def conversations(self) -> list[str]:
        """The ids of the conversations that have committed turns, sorted.

        Blocks until read.
        """
        self._check_open()
        return sorted(self._conversations())

    def close(self) -> None:
        """Release the backend's connections; later calls raise ``MemoryBackendError``.

        Closing twice does nothing. Blocks until released. The stored conversations
        stay (except those of an in-memory SQLite database, see ``SQLBackend``).
        """
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> MemoryBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryBackendError(f"{self!r} is closed")

    # -- what a backend implements ----------------------------------------------------

    @abstractmethod
    def _load(self, conversation_id: str, limit: int | None) -> list[Message]: ...

    @abstractmethod
    def _commit_turn(
        self, conversation_id: str, turn_id: str, messages: list[tuple[str, str]]
    ) -> bool:
        """Store ``messages`` (``(role, json)`` pairs) atomically and idempotently."""

    @abstractmethod
    def _committed_turn(self, conversation_id: str, turn_id: str) -> list[Message] | None: ...

    @abstractmethod
    def _journal_append(self, conversation_id: str, turn_id: str, body: str) -> None: ...

    @abstractmethod
    def _journal(self, conversation_id: str, turn_id: str) -> list[Message]: ...

    @abstractmethod
    def _journal_clear(self, conversation_id: str, turn_id: str | None) -> None: ...

    @abstractmethod
    def _clear(self, conversation_id: str) -> None: ...

    @abstractmethod
    def _conversations(self) -> list[str]: ...

    @abstractmethod
    def _close(self) -> None: ...


# --- open_backend ------------------------------------------------------------------------

_MEMORY_OPTIONS = ("owner",)
_SQL_OPTIONS = ("table_prefix", "pool_size", "max_overflow", "pool_timeout")
_REDIS_OPTIONS = ("key_prefix", "max_connections", "socket_timeout")


def _check_options(what: str, options: dict[str, Any], valid: tuple[str, ...]) -> None:
    unknown = set(options) - set(valid)
    if unknown:
        raise unknown_option(what, unknown, valid)


def open_backend(spec: str | MemoryBackend | None = None, **options: Any) -> MemoryBackend:
    """The memory backend that ``spec`` names.

    ===================================  ==================================================
    spec                                 backend (options)
    ===================================  ==================================================
    None, ``"memory"``                   ``InMemoryBackend`` on the owner registered as
                                         ``"elixirchain.memory"``, started (unlinked,
                                         unsupervised) if none runs (``owner``)
    ``"sqlite:///path.db"``              ``SQLBackend`` on a SQLite file
    ``"sqlite://"``                      ``SQLBackend`` on an in-memory SQLite database
                                         shared by the node's processes
    ``"postgresql://user@host/db"``      ``SQLBackend`` through pg8000, unless the URL
                                         names a driver (``postgresql+driver://``)
                                         (SQL options: ``table_prefix``, ``pool_size``,
                                         ``max_overflow``, ``pool_timeout``)
    ``"redis://host:port/db"``           ``RedisBackend`` (``key_prefix="elixirchain:"``,
                                         ``max_connections``, ``socket_timeout``)
    a ``MemoryBackend``                  that backend itself (no options)
    ===================================  ==================================================

    Blocks until the backend is ready (connected, tables created). Raises
    ``ConfigError`` for any other spec or an unknown option, ``MemoryBackendError``
    when the storage cannot be reached.
    """
    if isinstance(spec, MemoryBackend):
        if options:
            raise ConfigError(
                "open_backend got options for a MemoryBackend instance, which is used as "
                f"is; got options: {', '.join(sorted(options))}"
            )
        return spec
    if spec is None or spec == "memory":
        _check_options("open_backend('memory')", options, _MEMORY_OPTIONS)
        from elixirchain.memory.inmemory import open_memory

        return open_memory(**options)
    if isinstance(spec, str):
        scheme = spec.partition("://")[0].lower() if "://" in spec else ""
        dialect = scheme.partition("+")[0]
        if dialect in ("sqlite", "postgresql"):
            _check_options(f"open_backend({dialect!r} URL)", options, _SQL_OPTIONS)
            from elixirchain.memory.sql import SQLBackend

            return SQLBackend(spec, **options)
        if scheme in ("redis", "rediss"):
            _check_options("open_backend('redis' URL)", options, _REDIS_OPTIONS)
            from elixirchain.memory.redis_backend import RedisBackend

            return RedisBackend(spec, **options)
    raise ConfigError(
        f"open_backend accepts {ACCEPTED_FORMS}; got {spec!r} (of type {type(spec).__name__})"
    )
