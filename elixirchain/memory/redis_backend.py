"""The Redis backend: conversations in Redis lists and hashes, through redis-py.

Guarantees: ``commit_turn`` is one Lua script, which Redis runs atomically (no other
client runs a command in between): it checks the turn marker, appends the turn's
messages with one ``RPUSH``, writes the marker, clears the turn's journal and lists the
conversation. So a turn is stored whole or not at all, and of concurrent commits of a
turn, from any number of processes or machines, exactly one returns True. A process
killed while waiting for the reply leaves either the whole turn or nothing. redis-py is
pure Python, so a process waiting on Redis lets the other processes of the node run; a
bounded connection pool (``max_connections``) makes processes queue for a connection
instead of opening one each.

Non-guarantees: what Redis persists is what its own configuration (RDB, AOF) persists.
The scripts name every key they touch, but the keys of a conversation are not given a
hash tag, so the backend is for a single Redis server (or a replicated one), not Redis
Cluster.

Keys, under ``key_prefix`` (default ``"elixirchain:"``), for a conversation ``c``:

- ``{prefix}{c}:messages``: list of the committed messages (JSON), in commit order;
- ``{prefix}{c}:turns``: hash turn id -> ``"start count"``, its slice of the list;
- ``{prefix}{c}:journal``: hash turn id -> the turn's journal as a JSON array;
- ``{prefix}conversations``: set of the conversation ids with committed turns.

The suffixes hold no ``:``, so no two conversations share a key, whatever their ids.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from elixirchain.errors import ConfigError
from elixirchain.memory.base import (
    ACCEPTED_FORMS,
    MemoryBackend,
    MemoryBackendError,
    decode_message,
)
from elixirchain.messages import Message

try:
    import redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - a declared dependency
    raise ImportError("the Redis memory backend needs redis-py: pip install 'redis>=5.0'") from exc

__all__ = ["DEFAULT_KEY_PREFIX", "RedisBackend"]

DEFAULT_KEY_PREFIX = "elixirchain:"

# KEYS: turns, messages, journal, conversations. ARGV: turn id, conversation id, bodies...
_COMMIT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 0
end
local start = redis.call('LLEN', KEYS[2])
local count = #ARGV - 2
for i = 3, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('HSET', KEYS[1], ARGV[1], start .. ' ' .. count)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""

# KEYS: turns, messages. ARGV: turn id. The turn's messages, or nil if not committed.
_COMMITTED_TURN = """
local marker = redis.call('HGET', KEYS[1], ARGV[1])
if not marker then
  return false
end
local start, count = string.match(marker, '^(%d+) (%d+)$')
start, count = tonumber(start), tonumber(count)
if count == 0 then
  return {}
end
return redis.call('LRANGE', KEYS[2], start, start + count - 1)
"""

# KEYS: journal. ARGV: turn id, body. Appends body to the turn's JSON array.
_JOURNAL_APPEND = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(current, 1, -2) .. ',' .. ARGV[2] .. ']')
else
  redis.call('HSET', KEYS[1], ARGV[1], '[' .. ARGV[2] .. ']')
end
return 1
"""


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisBackend(MemoryBackend):
    """Conversations in Redis (see the module docstring).

    Args:
        url: ``"redis://[:password@]host:port/db"`` or ``"rediss://..."`` (TLS).
        key_prefix: prefix of every key, so that several applications or tests can share
            a database.
        max_connections: connections the pool opens at most; more concurrent processes
            wait for a free one.
        socket_timeout: seconds to connect, and to wait for each reply, before
            ``MemoryBackendError``; also how long a process waits for a free connection.

    Blocks until Redis answered a PING. Raises ``ConfigError`` for a bad URL or option,
    ``MemoryBackendError`` when Redis cannot be reached.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        max_connections: int = 10,
        socket_timeout: float = 10.0,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss"):
            raise ConfigError(f"open_backend accepts {ACCEPTED_FORMS}; got {url!r}")
        if not isinstance(key_prefix, str):
            raise ConfigError(
                f"RedisBackend key_prefix must be a str; got {key_prefix!r} "
                f"(of type {type(key_prefix).__name__})"
            )
        if max_connections.__class__ is not int or max_connections < 1:
            raise ConfigError(
                f"RedisBackend max_connections must be an int >= 1; got {max_connections!r}"
            )
        if (
            not isinstance(socket_timeout, (int, float))
            or isinstance(socket_timeout, bool)
            or socket_timeout <= 0
        ):
            raise ConfigError(
                f"RedisBackend socket_timeout must be seconds > 0; got {socket_timeout!r}"
            )
        self.url = _masked(url)
        database = urlsplit(url).path.strip("/")
        if database and not database.isdigit():
            raise ConfigError(
                f"RedisBackend expects redis://host:port/db with db a number; got {self.url!r}"
            )
        self.key_prefix = key_prefix
        try:
            self._pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=socket_timeout,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                decode_responses=True,
            )
        except ValueError as exc:
            raise ConfigError(f"RedisBackend cannot use {self.url!r}: {exc}") from None
        self._client = redis.Redis(connection_pool=self._pool)
        self._commit_script = self._client.register_script(_COMMIT)
        self._committed_script = self._client.register_script(_COMMITTED_TURN)
        self._append_script = self._client.register_script(_JOURNAL_APPEND)
        try:
            with self._guard("connecting"):
                self._client.ping()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, key_prefix={self.key_prefix!r})"

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            raise MemoryBackendError(f"{self!r}: {action} failed: {exc}") from exc

    def _keys(self, conversation_id: str) -> tuple[str, str, str]:
        """The turns, messages and journal keys of the conversation."""
        base = f"{self.key_prefix}{conversation_id}:"
        return f"{base}turns", f"{base}messages", f"{base}journal"

    @property
    def _conversations_key(self) -> str:
        return f"{self.key_prefix}conversations"

    # -- the contract ---------------------------------------------------------------------

    def _load(self, conversation_id: str, limit: int | None) -> list[Message]:
        if limit == 0:
            return []
        _, messages, _ = self._keys(conversation_id)
        with self._guard("load"):
            bodies = self._client.lrange(messages, 0 if limit is None else -limit, -1)
        return [decode_message(body) for body in bodies]

    def _commit_turn(
        self, conversation_id: str, turn_id: str, messages: list[tuple[str, str]]
    ) -> bool:
        turns, listed, journal = self._keys(conversation_id)
        with self._guard("commit_turn"):
            stored = self._commit_script(
                keys=[turns, listed, journal, self._conversations_key],
                args=[turn_id, conversation_id, *(body for _, body in messages)],
            )
        return bool(stored == 1)

    def _committed_turn(self, conversation_id: str, turn_id: str) -> list[Message] | None:
        turns, messages, _ = self._keys(conversation_id)
        with self._guard("committed_turn"):
            bodies = self._committed_script(keys=[turns, messages], args=[turn_id])
        if bodies is None:
            return None
        return [decode_message(body) for body in bodies]

    def _journal_append(self, conversation_id: str, turn_id: str, body: str) -> None:
        _, _, journal = self._keys(conversation_id)
        with self._guard("journal_append"):
            self._append_script(keys=[journal], args=[turn_id, body])

    def _journal(self, conversation_id: str, turn_id: str) -> list[Message]:
        _, _, journal = self._keys(conversation_id)
        with self._guard("journal"):
            text = self._client.hget(journal, turn_id)
        if text is None:
            return []
        return [Message.from_dict(entry) for entry in json.loads(text)]

    def _journal_clear(self, conversation_id: str, turn_id: str | None) -> None:
        _, _, journal = self._keys(conversation_id)
        with self._guard("journal_clear"):
            if turn_id is None:
                self._client.delete(journal)
            else:
                self._client.hdel(journal, turn_id)

    def _clear(self, conversation_id: str) -> None:
        with self._guard("clear"):
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(*self._keys(conversation_id))
            pipe.srem(self._conversations_key, conversation_id)
            pipe.execute()

    def _conversations(self) -> list[str]:
        with self._guard("conversations"):
            return [str(member) for member in self._client.smembers(self._conversations_key)]

    def _close(self) -> None:
        self._pool.disconnect()
