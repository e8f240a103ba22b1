"""Conversation memory: where agents keep their conversations, outside their processes.

An agent process may crash and be restarted; its conversation lives in a backend, so
the restarted agent resumes from its last committed turn. Every backend keeps one
contract (``MemoryBackend``, see ``elixirchain.memory.base``): atomic, idempotent turn
commits and an in-flight journal per turn.

==========================  ===========================================================
backend                     where, opened with ``open_backend(...)``
==========================  ===========================================================
``InMemoryBackend``         ETS tables of a memory owner process (``"memory"``, default)
``SQLBackend``              SQLite or PostgreSQL (``"sqlite:///f.db"``, ``"postgresql://..."``)
``RedisBackend``            Redis (``"redis://host:port/db"``)
==========================  ===========================================================

``SQLBackend`` and ``RedisBackend`` are imported on first use (they pull in SQLAlchemy
and redis-py). See ``docs/memory.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from elixirchain.memory.base import MemoryBackend, MemoryBackendError, open_backend
from elixirchain.memory.conversation import ConversationMemory, trim_window
from elixirchain.memory.inmemory import (
    InMemoryBackend,
    MemoryOwner,
    memory_owner_child_spec,
    start_memory_owner,
)

if TYPE_CHECKING:
    from elixirchain.memory.redis_backend import RedisBackend
    from elixirchain.memory.sql import SQLBackend

__all__ = [
    "ConversationMemory",
    "InMemoryBackend",
    "MemoryBackend",
    "MemoryBackendError",
    "MemoryOwner",
    "RedisBackend",
    "SQLBackend",
    "memory_owner_child_spec",
    "open_backend",
    "start_memory_owner",
    "trim_window",
]


def __getattr__(name: str) -> Any:
    if name == "SQLBackend":
        from elixirchain.memory.sql import SQLBackend

        return SQLBackend
    if name == "RedisBackend":
        from elixirchain.memory.redis_backend import RedisBackend

        return RedisBackend
    raise AttributeError(f"module 'elixirchain.memory' has no attribute {name!r}")
