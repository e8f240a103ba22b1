"""The in-memory backend: conversations in beamlike ETS tables owned by a long-lived process.

Guarantees: the conversations outlive the processes that write them (an agent that
crashes and is restarted finds its last committed turn), because the tables belong to a
*memory owner*, a tiny GenServer that creates them and then just keeps them, not to any
agent. They are ``public``: every process of the node reads and writes them directly,
without a message round trip. A commit writes the whole conversation as one new ETS
object (copy-on-write of a tuple of turns), so a reader sees a turn entirely or not at
all; the idempotency check and that write are never-blocking ETS calls with nothing in
between that yields, so no other process runs between them (beamlike schedules
cooperatively, and a process acts on an exit signal only where it yields): a killed
writer leaves nothing half-written, and of concurrent commits of a turn exactly one wins.

Non-guarantees: the data lives as long as its owner. When the owner exits, its tables,
and every conversation in them, are gone (an ETS table dies with its owner); a backend
then raises ``MemoryBackendError`` until an owner runs again under the same name, with
empty tables. Nothing is written to disk and nothing is shared between nodes: use
``SQLBackend`` or ``RedisBackend`` for conversations that must survive that.

Layout, in the owner's two named tables:

- ``"<owner>.turns"`` (set): ``(conversation_id, ((turn_id, (Message, ...)), ...))``
  (the immutable Message objects themselves: loading decodes nothing), and one marker
  per committed turn, ``((conversation_id, turn_id), (Message, ...))``: ``insert_new``
  on it decides which of concurrent commits wins, and ``committed_turn`` is one lookup;
- ``"<owner>.journal"`` (duplicate_bag, in append order): ``(conversation_id, turn_id,
  json)``.

Example::

    start_memory_owner()                    # or memory_owner_child_spec() in a supervisor
    memory = InMemoryBackend()
    memory.commit_turn("chat-1", "turn-1", [Message.user("hi"), Message.assistant("hello")])
    assert memory.load("chat-1")[1].content == "hello"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from beamlike import ANY, ChildSpec, GenServer, Ok, Pid, Reply, ets, gen_server, whereis
from beamlike.gen_server import AlreadyStartedError, CallError, From
from elixirchain.memory.base import (
    MemoryBackend,
    MemoryBackendError,
    check_id,
    check_messages,
    decode_message,
    encode_message,
)
from elixirchain.messages import Message

__all__ = [
    "DEFAULT_OWNER",
    "InMemoryBackend",
    "MemoryOwner",
    "memory_owner_child_spec",
    "open_memory",
    "start_memory_owner",
]

DEFAULT_OWNER = "elixirchain.memory"

_Turns = tuple[tuple[str, tuple[Message, ...]], ...]


def _table_names(owner: str) -> tuple[str, str]:
    return f"{owner}.turns", f"{owner}.journal"


def _check_owner_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"a memory owner name must be a non-empty str; got {name!r} "
            f"(of type {type(name).__name__})"
        )
    return name


class MemoryOwner(GenServer):
    """Creates the public tables of the in-memory backend and keeps them; nothing else.

    ==========================  ====================================================
    request                     reply
    ==========================  ====================================================
    ``call(owner, "tables")``   ``(turns_table_name, journal_table_name)``
    ==========================  ====================================================

    Its state is the pair of table names; the tables die with it.
    """

    def init(self, arg: Any) -> Ok:
        turns, journal = _table_names(arg)
        ets.new(turns, "set", access="public", named_table=True)
        ets.new(journal, "duplicate_bag", access="public", named_table=True)
        return Ok((turns, journal))

    def handle_call(self, request: Any, from_: From, state: Any) -> Any:
        if request == "tables":
            return Reply(state, state)
        return super().handle_call(request, from_, state)


def start_memory_owner(name: str = DEFAULT_OWNER) -> Pid:
    """Start a memory owner registered as ``name``, not linked to the caller.

    Blocks until it has created its tables. Raises
    ``beamlike.gen_server.AlreadyStartedError`` when ``name`` is taken. An owner started
    this way is supervised by nobody: when it exits, its conversations are lost and
    nothing restarts it. In an application, prefer ``memory_owner_child_spec``.
    """
    name = _check_owner_name(name)
    pid = MemoryOwner.start(name, name=name)
    assert pid is not None  # MemoryOwner.init never ignores
    return pid


def memory_owner_child_spec(name: str = DEFAULT_OWNER) -> ChildSpec:
    """The child spec of a memory owner registered as ``name``, for a supervision tree.

    Start it before the agents that use it (supervisors start children in order), so
    that it outlives their restarts. If it is restarted itself, it starts with empty
    tables: the conversations it kept are lost. Never blocks.
    """
    name = _check_owner_name(name)
    return ChildSpec(name, (MemoryOwner.start_link, (name,), {"name": name}))


def open_memory(owner: str | Pid = DEFAULT_OWNER) -> InMemoryBackend:
    """An ``InMemoryBackend`` on ``owner``; when ``owner`` is a name that no process
    holds, a memory owner is started under it first, unlinked and unsupervised (see
    ``start_memory_owner``: its death loses the conversations).

    Blocks until the owner runs.
    """
    if isinstance(owner, str) and whereis(_check_owner_name(owner)) is None:
        try:
            start_memory_owner(owner)
        except AlreadyStartedError:
            pass  # another process started it in the meantime: use that one
    return InMemoryBackend(owner)


class InMemoryBackend(MemoryBackend):
    """Conversations in the ETS tables of a memory owner (see the module docstring).

    Args:
        owner: the registered name of a running memory owner, or its pid.

    Raises:
        MemoryBackendError: no memory owner runs under that name or pid.
    """

    def __init__(self, owner: str | Pid = DEFAULT_OWNER) -> None:
        if isinstance(owner, Pid):
            try:
                turns, journal = gen_server.call(owner, "tables")
            except CallError as exc:
                raise MemoryBackendError(f"memory owner {owner!r} did not answer: {exc}") from exc
        else:
            turns, journal = _table_names(_check_owner_name(owner))
            if ets.whereis(turns) is None or ets.whereis(journal) is None:
                raise MemoryBackendError(
                    f"no memory owner runs as {owner!r}: start one with "
                    f"start_memory_owner({owner!r}) or put memory_owner_child_spec({owner!r}) "
                    "in the application's supervision tree"
                )
        self.owner = owner
        self._turns: str = turns
        self._journal_table: str = journal

    def __repr__(self) -> str:
        return f"InMemoryBackend(owner={self.owner!r})"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn the loss of the owner's tables into ``MemoryBackendError``."""
        try:
            yield
        except ets.NoTableError as exc:
            raise MemoryBackendError(
                f"the tables of memory owner {self.owner!r} are gone: the owner exited, and "
                "the conversations it kept were lost with it"
            ) from exc

    def _conversation(self, conversation_id: str) -> _Turns:
        with self._guard():
            found = ets.lookup(self._turns, conversation_id)
        return found[0][1] if found else ()  # type: ignore[no-any-return]

    # -- the contract ---------------------------------------------------------------------

    def _load(self, conversation_id: str, limit: int | None) -> list[Message]:
        turns = self._conversation(conversation_id)
        if limit is None:
            return [message for _, messages in turns for message in messages]
        picked: list[Message] = []
        for _, messages in reversed(turns):
            if len(picked) >= limit:
                break
            picked.extend(reversed(messages))
        del picked[limit:]
        picked.reverse()
        return picked

    def commit_turn(self, conversation_id: str, turn_id: str, messages: Sequence[Message]) -> bool:
        """As ``MemoryBackend.commit_turn``. Messages are immutable, so this backend keeps
        the objects themselves (checked to be JSON-storable like every backend's), and
        ``load`` decodes nothing. Blocks until committed (never, here)."""
        self._check_open()
        checked = check_messages(messages)
        for message in checked:
            if message.tool_calls or message.tool_results:  # the only non-str contents
                encode_message(message)  # the same refusal of non-JSON values as elsewhere
        return self._commit_messages(
            check_id("conversation_id", conversation_id), check_id("turn_id", turn_id), checked
        )

    def _commit_turn(
        self, conversation_id: str, turn_id: str, messages: list[tuple[str, str]]
    ) -> bool:
        return self._commit_messages(
            conversation_id, turn_id, tuple(decode_message(body) for _, body in messages)
        )

    def _commit_messages(
        self, conversation_id: str, turn_id: str, bodies: tuple[Message, ...]
    ) -> bool:
        # From the marker to the insert nothing yields: no other process runs in between.
        turns = self._conversation(conversation_id)
        with self._guard():
            fresh = ets.insert_new(self._turns, ((conversation_id, turn_id), bodies))
            if fresh:
                ets.insert(self._turns, (conversation_id, (*turns, (turn_id, bodies))))
            if ets.member(self._journal_table, conversation_id):
                ets.select_delete(self._journal_table, (conversation_id, turn_id, ANY))
        return fresh

    def _committed_turn(self, conversation_id: str, turn_id: str) -> list[Message] | None:
        with self._guard():
            found = ets.lookup(self._turns, (conversation_id, turn_id))
        return list(found[0][1]) if found else None

    def _journal_append(self, conversation_id: str, turn_id: str, body: str) -> None:
        with self._guard():
            ets.insert(self._journal_table, (conversation_id, turn_id, body))

    def _journal(self, conversation_id: str, turn_id: str) -> list[Message]:
        with self._guard():
            entries = ets.lookup(self._journal_table, conversation_id)
        return [decode_message(body) for _, turn, body in entries if turn == turn_id]

    def _journal_clear(self, conversation_id: str, turn_id: str | None) -> None:
        with self._guard():
            if turn_id is None:
                ets.delete(self._journal_table, conversation_id)
            else:
                ets.select_delete(self._journal_table, (conversation_id, turn_id, ANY))

    def _clear(self, conversation_id: str) -> None:
        with self._guard():
            ets.delete(self._turns, conversation_id)
            ets.select_delete(self._turns, ((conversation_id, ANY), ANY))
            ets.delete(self._journal_table, conversation_id)

    def _conversations(self) -> list[str]:
        with self._guard():
            rows = ets.tab2list(self._turns)
        return [key for key, _ in rows if isinstance(key, str)]  # not the turn markers

    def _close(self) -> None:
        """Nothing to release: the tables belong to the owner and stay with it."""
