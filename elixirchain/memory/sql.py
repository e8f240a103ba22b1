"""The SQL backend: conversations in SQLite (the embedded default) or PostgreSQL, through
SQLAlchemy 2 Core.

Guarantees: one database transaction per ``commit_turn`` (the turn's row, its messages,
and the deletion of its journal), so a turn is stored whole or not at all, also when the
committing process is killed or the connection drops half-way. Idempotency is the
database's unique constraint on ``(conversation_id, turn_id)``: of two concurrent commits
of a turn, from two processes or two machines, the second waits for the first and then
fails the constraint, and returns False. Many beamlike processes may use one backend at
once: PostgreSQL goes through pg8000, pure Python, whose sockets cooperate with gevent,
and a modest connection pool (``pool_size`` + ``max_overflow``) that waiting processes
queue for. SQLite is serialised instead: one connection and a lock per database and
node, so concurrent processes never see "database is locked" (each SQLite call blocks
the node briefly: it is a C call on a local file).

Tables, created when missing (``table_prefix`` defaults to ``"elixirchain_"``):

- ``{prefix}turns``: ``id`` (the commit order), ``conversation_id``, ``turn_id``
  (unique together), ``message_count``;
- ``{prefix}messages``: ``conversation_id``, ``turn_seq`` (the turn's ``id``), ``seq``
  (the position in the turn), ``turn_id``, ``role``, ``body`` (the message as JSON text);
  a conversation reads in ``(turn_seq, seq)`` order, so a turn's messages stay together;
- ``{prefix}journal``: ``id`` (the append order), ``conversation_id``, ``turn_id``,
  ``body``.

``"sqlite://"`` is an in-memory database kept by the node (``node.extensions``), shared
by every backend of the node opened on it, and gone with the node. A SQLite file's
engine is shared by the node's backends on that file and disposed with the last one.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from beamlike import node as beamlike_node
from elixirchain.errors import ConfigError
from elixirchain.memory.base import (
    ACCEPTED_FORMS,
    MemoryBackend,
    MemoryBackendError,
    decode_message,
)
from elixirchain.messages import Message

try:
    from sqlalchemy import (
        BigInteger,
        Column,
        Engine,
        Index,
        Integer,
        MetaData,
        PrimaryKeyConstraint,
        String,
        Table,
        Text,
        UniqueConstraint,
        create_engine,
        delete,
        insert,
        select,
    )
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import QueuePool, StaticPool
except ImportError as exc:  # pragma: no cover - a declared dependency
    raise ImportError(
        "the SQL memory backend needs SQLAlchemy 2: pip install 'sqlalchemy>=2.0'"
    ) from exc

__all__ = ["DEFAULT_TABLE_PREFIX", "SQLBackend"]

DEFAULT_TABLE_PREFIX = "elixirchain_"
_EXTENSION = "elixirchain.memory.sqlite"
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_ID = String(255)
# SQLite autoincrements only an INTEGER PRIMARY KEY (its rowid).
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


@dataclass
class _SharedSQLite:
    """One SQLite database's engine and lock, shared by the node's backends on it."""

    engine: Engine
    in_memory: bool
    # Looked up when made, so that it is gevent's RLock once threading is patched.
    lock: Any = field(default_factory=lambda: threading.RLock())
    users: int = 0


def _tables(prefix: str) -> tuple[MetaData, Table, Table, Table]:
    metadata = MetaData()
    turns = Table(
        f"{prefix}turns",
        metadata,
        Column("id", _SERIAL, primary_key=True, autoincrement=True),
        Column("conversation_id", _ID, nullable=False),
        Column("turn_id", _ID, nullable=False),
        Column("message_count", Integer, nullable=False),
        UniqueConstraint("conversation_id", "turn_id", name=f"{prefix}turns_once"),
    )
    messages = Table(
        f"{prefix}messages",
        metadata,
        Column("conversation_id", _ID, nullable=False),
        Column("turn_seq", BigInteger, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("turn_id", _ID, nullable=False),
        Column("role", String(16), nullable=False),
        Column("body", Text, nullable=False),
        PrimaryKeyConstraint("turn_seq", "seq", name=f"{prefix}messages_pk"),
        Index(f"{prefix}messages_order", "conversation_id", "turn_seq", "seq"),
    )
    journal = Table(
        f"{prefix}journal",
        metadata,
        Column("id", _SERIAL, primary_key=True, autoincrement=True),
        Column("conversation_id", _ID, nullable=False),
        Column("turn_id", _ID, nullable=False),
        Column("body", Text, nullable=False),
        Index(f"{prefix}journal_turn", "conversation_id", "turn_id", "id"),
    )
    return metadata, turns, messages, journal


def _parse_url(url: Any) -> URL:
    if not isinstance(url, str):
        raise ConfigError(
            f"SQLBackend expects a database URL str; got {url!r} (of type {type(url).__name__})"
        )
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"open_backend accepts {ACCEPTED_FORMS}; got {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+pg8000")
    elif backend != "sqlite" and backend != "postgresql":
        raise ConfigError(
            f"SQLBackend supports sqlite and postgresql URLs; got {parsed.render_as_string()!r}"
        )
    return parsed


def _check_int(name: str, value: Any, least: int) -> int:
    if value.__class__ is not int or value < least:
        raise ConfigError(f"SQLBackend {name} must be an int >= {least}; got {value!r}")
    return int(value)


class SQLBackend(MemoryBackend):
    """Conversations in a SQL database (see the module docstring).

    Args:
        url: ``"sqlite:///path.db"``, ``"sqlite://"`` (in memory), or
            ``"postgresql://user:password@host:port/db"`` (pg8000 unless the URL names
            another driver, ``postgresql+driver://``).
        table_prefix: prefix of the three table names (letters, digits, ``_``; at most
            40 characters), so that several applications or tests can share a database.
        pool_size, max_overflow, pool_timeout: the PostgreSQL connection pool: connections
            kept, extra ones allowed under load, and seconds a process waits for one
            before ``MemoryBackendError``. SQLite uses one connection (and ignores them).

    Blocks until connected and the tables exist. Raises ``ConfigError`` for a bad URL
    or option, ``MemoryBackendError`` when the database cannot be reached.
    """

    def __init__(
        self,
        url: str,
        *,
        table_prefix: str = DEFAULT_TABLE_PREFIX,
        pool_size: int = 5,
        max_overflow: int = 5,
        pool_timeout: float = 30.0,
    ) -> None:
        parsed = _parse_url(url)
        if not isinstance(table_prefix, str) or not _PREFIX.fullmatch(table_prefix):
            raise ConfigError(
                "SQLBackend table_prefix must be letters, digits and '_' (not starting with "
                f"a digit), at most 40 characters; got {table_prefix!r}"
            )
        pool_size = _check_int("pool_size", pool_size, 1)
        max_overflow = _check_int("max_overflow", max_overflow, 0)
        if (
            not isinstance(pool_timeout, (int, float))
            or isinstance(pool_timeout, bool)
            or pool_timeout <= 0
        ):
            raise ConfigError(f"SQLBackend pool_timeout must be seconds > 0; got {pool_timeout!r}")
        self.url = parsed.render_as_string(hide_password=True)
        self.table_prefix = table_prefix
        self._metadata, self._turns, self._messages, self._journal_table = _tables(table_prefix)
        self._shared: _SharedSQLite | None = None
        self._serial: Any = contextlib.nullcontext()
        if parsed.get_backend_name() == "sqlite":
            self._shared = _shared_sqlite(parsed)
            self._shared.users += 1
            self._engine = self._shared.engine
            self._serial = self._shared.lock
        else:
            self._engine = _engine(
                parsed,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=float(pool_timeout),
                pool_pre_ping=True,
            )
        try:
            self._create_tables()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLBackend({self.url!r}, table_prefix={self.table_prefix!r})"

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Serialise SQLite; turn the driver's failures into ``MemoryBackendError``."""
        with self._serial:
            try:
                yield
            except IntegrityError:
                raise
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                raise MemoryBackendError(f"{self!r}: {action} failed: {cause}") from exc

    def _create_tables(self) -> None:
        with self._guard("creating the tables"):
            try:
                self._metadata.create_all(self._engine)
            except SQLAlchemyError:
                # Another process created them between our check and our CREATE: retry
                # once; a real failure fails again.
                self._metadata.create_all(self._engine)

    def drop_tables(self) -> None:
        """Drop this backend's three tables (with every conversation in them).

        For tests and administration. Blocks until dropped.
        """
        self._check_open()
        with self._guard("dropping the tables"):
            self._metadata.drop_all(self._engine)

    # -- the contract ---------------------------------------------------------------------

    def _load(self, conversation_id: str, limit: int | None) -> list[Message]:
        if limit == 0:
            return []
        m = self._messages
        query = select(m.c.body).where(m.c.conversation_id == conversation_id)
        if limit is None:
            query = query.order_by(m.c.turn_seq, m.c.seq)
        else:
            query = query.order_by(m.c.turn_seq.desc(), m.c.seq.desc()).limit(limit)
        with self._guard("load"), self._engine.connect() as conn:
            bodies = list(conn.execute(query).scalars())
        if limit is not None:
            bodies.reverse()
        return [decode_message(body) for body in bodies]

    def _commit_turn(
        self, conversation_id: str, turn_id: str, messages: list[tuple[str, str]]
    ) -> bool:
        try:
            with self._guard("commit_turn"), self._engine.begin() as conn:
                inserted = conn.execute(
                    insert(self._turns).values(
                        conversation_id=conversation_id,
                        turn_id=turn_id,
                        message_count=len(messages),
                    )
                )
                key = inserted.inserted_primary_key
                assert key is not None  # an INSERT of one row always has one
                turn_seq = key[0]
                if messages:
                    conn.execute(
                        insert(self._messages),
                        [
                            {
                                "conversation_id": conversation_id,
                                "turn_seq": turn_seq,
                                "seq": seq,
                                "turn_id": turn_id,
                                "role": role,
                                "body": body,
                            }
                            for seq, (role, body) in enumerate(messages)
                        ],
                    )
                conn.execute(self._journal_delete(conversation_id, turn_id))
            return True
        except IntegrityError:  # the unique (conversation_id, turn_id): committed already
            self._journal_clear(conversation_id, turn_id)
            return False

    def _committed_turn(self, conversation_id: str, turn_id: str) -> list[Message] | None:
        t, m = self._turns, self._messages
        with self._guard("committed_turn"), self._engine.connect() as conn:
            turn_seq = conn.execute(
                select(t.c.id).where(t.c.conversation_id == conversation_id, t.c.turn_id == turn_id)
            ).scalar()
            if turn_seq is None:
                return None
            bodies = list(
                conn.execute(
                    select(m.c.body).where(m.c.turn_seq == turn_seq).order_by(m.c.seq)
                ).scalars()
            )
        return [decode_message(body) for body in bodies]

    def _journal_append(self, conversation_id: str, turn_id: str, body: str) -> None:
        with self._guard("journal_append"), self._engine.begin() as conn:
            conn.execute(
                insert(self._journal_table).values(
                    conversation_id=conversation_id, turn_id=turn_id, body=body
                )
            )

    def _journal(self, conversation_id: str, turn_id: str) -> list[Message]:
        j = self._journal_table
        query = (
            select(j.c.body)
            .where(j.c.conversation_id == conversation_id, j.c.turn_id == turn_id)
            .order_by(j.c.id)
        )
        with self._guard("journal"), self._engine.connect() as conn:
            bodies = list(conn.execute(query).scalars())
        return [decode_message(body) for body in bodies]

    def _journal_delete(self, conversation_id: str, turn_id: str | None) -> Any:
        j = self._journal_table
        statement = delete(j).where(j.c.conversation_id == conversation_id)
        if turn_id is not None:
            statement = statement.where(j.c.turn_id == turn_id)
        return statement

    def _journal_clear(self, conversation_id: str, turn_id: str | None) -> None:
        with self._guard("journal_clear"), self._engine.begin() as conn:
            conn.execute(self._journal_delete(conversation_id, turn_id))

    def _clear(self, conversation_id: str) -> None:
        with self._guard("clear"), self._engine.begin() as conn:
            for table in (self._messages, self._turns, self._journal_table):
                conn.execute(delete(table).where(table.c.conversation_id == conversation_id))

    def _conversations(self) -> list[str]:
        t = self._turns
        with self._guard("conversations"), self._engine.connect() as conn:
            return list(conn.execute(select(t.c.conversation_id).distinct()).scalars())

    def _close(self) -> None:
        shared = self._shared
        if shared is None:
            self._engine.dispose()
            return
        shared.users -= 1
        if shared.users == 0 and not shared.in_memory:
            _forget_shared(shared)
            shared.engine.dispose()


# --- engines ---------------------------------------------------------------------------


def _engine(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (ImportError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"cannot use {url.render_as_string()!r}: its driver {url.drivername!r} is not "
            f"available ({exc}); PostgreSQL uses pg8000 by default (pip install pg8000)"
        ) from exc


def _sqlite_key(url: URL) -> tuple[str, bool]:
    database = url.database or ""
    if database in ("", ":memory:"):
        return (url.drivername, True)
    return (f"{url.drivername}:{os.path.abspath(database)}", False)


def _shared_sqlite(url: URL) -> _SharedSQLite:
    """The node's engine for this SQLite database, made on first use. Never blocks."""
    registry: dict[str, _SharedSQLite] = beamlike_node.current().extensions.setdefault(
        _EXTENSION, {}
    )
    key, in_memory = _sqlite_key(url)
    shared = registry.get(key)
    if shared is None:
        # check_same_thread=False: greenlets of one OS thread share the connection, and
        # the lock (not the thread) serialises them.
        if in_memory:
            engine = _engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = _engine(
                url,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False, "timeout": 30.0},
            )
        shared = registry[key] = _SharedSQLite(engine, in_memory)
    return shared


def _forget_shared(shared: _SharedSQLite) -> None:
    registry = beamlike_node.current().extensions.get(_EXTENSION, {})
    for key, value in list(registry.items()):
        if value is shared:
            del registry[key]
