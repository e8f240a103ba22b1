"""The memory-backend contract, run against every backend; then what is particular to each.

Backends: in-memory (ETS), SQLite file, in-memory SQLite, PostgreSQL at ``PG_URL`` and Redis
at ``REDIS_URL``. PostgreSQL and Redis must be running (CI starts them): when one cannot be
reached, its tests FAIL saying so; they never skip. Every test uses its own table prefix or
key prefix and removes what it created.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import sqlalchemy

import beamlike
from beamlike import (
    ANY,
    Down,
    Supervisor,
    exit,
    monitor,
    receive,
    self_pid,
    send,
    spawn,
    spawn_monitor,
    whereis,
)
from elixirchain.errors import ConfigError
from elixirchain.memory import (
    InMemoryBackend,
    MemoryBackend,
    MemoryBackendError,
    memory_owner_child_spec,
    open_backend,
    start_memory_owner,
)
from elixirchain.memory.redis_backend import RedisBackend
from elixirchain.memory.sql import SQLBackend
from elixirchain.messages import Attachment, Message, ToolCall, ToolResult

PG_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
WAIT = 20.0  # generous: a shared 2-core machine

B = TypeVar("B", bound=MemoryBackend)

BACKENDS = ["memory", "sqlite-file", "sqlite-memory", "postgresql", "redis"]

ACCEPTED = (
    'None or "memory" (in-memory, ETS), "sqlite:///path.db", "sqlite://" (in-memory '
    'SQLite), "postgresql://user@host:port/db" (or "postgresql+driver://..."), '
    '"redis://host:port/db" (or "rediss://..."), or a MemoryBackend instance'
)


# --- fixtures --------------------------------------------------------------------------


def unique() -> str:
    return uuid.uuid4().hex[:12]


def reachable(make: Callable[[], B], what: str, url: str) -> B:
    try:
        return make()
    except MemoryBackendError as exc:
        pytest.fail(
            f"{what} is not reachable at {url} ({exc}); these tests need it running "
            "(CI starts it) and do not skip",
            pytrace=False,
        )


def drop_redis_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def make_backend(kind: str, tmp_path: Path) -> tuple[MemoryBackend, Callable[[], None]]:
    """A fresh backend of ``kind`` and the function that removes what it stored."""
    if kind == "memory":
        start_memory_owner()
        memory = InMemoryBackend()
        return memory, memory.close
    if kind == "redis":
        prefix = f"test:{unique()}:"
        backend = reachable(lambda: RedisBackend(REDIS_URL, key_prefix=prefix), "Redis", REDIS_URL)

        def drop_redis() -> None:
            backend.close()
            drop_redis_keys(prefix)

        return backend, drop_redis
    url, prefix = {
        "sqlite-file": (f"sqlite:///{tmp_path / 'memory.db'}", "elixirchain_"),
        "sqlite-memory": ("sqlite://", f"t{unique()}_"),
        "postgresql": (PG_URL, f"t{unique()}_"),
    }[kind]
    what = "PostgreSQL" if kind == "postgresql" else "SQLite"
    sql = reachable(lambda: SQLBackend(url, table_prefix=prefix), what, url)

    def drop_sql() -> None:
        sql.close()  # the test may have closed it already: drop through a fresh one
        dropper = SQLBackend(url, table_prefix=prefix)
        dropper.drop_tables()
        dropper.close()

    return sql, drop_sql


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, node: Any, tmp_path: Path) -> Iterator[MemoryBackend]:
    made, cleanup = make_backend(request.param, tmp_path)
    try:
        yield made
    finally:
        cleanup()


# --- helpers -----------------------------------------------------------------------------


def turn(n: int) -> list[Message]:
    return [Message.user(f"question {n}"), Message.assistant(f"answer {n}")]


def every_shape() -> list[Message]:
    return [
        Message.user(
            "what is in this picture? ünïcödé ✓ 日本語 🚀",
            [
                Attachment("image/png", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"),
                Attachment("text/plain", b""),
            ],
        ),
        Message.assistant(
            "let me look",
            [
                ToolCall("call-1", "describe", {"detail": "high", "regions": [1, 2, {"x": None}]}),
                ToolCall("call-2", "weather", {"city": "Zürich"}, signature=b"\x00sig\xff"),
            ],
            signature=b"\x01text-signature",
        ),
        Message.tool(
            [
                ToolResult("call-1", "describe", {"objects": ["cat", "mat"], "count": 2}),
                ToolResult("call-2", "weather", "service down: 503", is_error=True),
            ]
        ),
        Message.tool([ToolResult("call-3", "noop", None)]),
        Message.assistant("A cat on a mat — «ça va» 🐈"),
        Message("user", ""),
    ]


def in_processes(jobs: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run each job in its own beamlike process, all at once; their outcomes, in the
    order they finished: ``("ok", result)`` or ``("error", exception)``."""

    def main() -> list[tuple[str, Any]]:
        parent = self_pid()

        def run(job: Callable[[], Any]) -> None:
            try:
                send(parent, ("ok", job()))
            except Exception as exc:
                send(parent, ("error", exc))

        for job in jobs:
            spawn(run, job)
        return [receive(("ok", ANY), ("error", ANY), timeout=WAIT) for _ in jobs]

    return beamlike.run(main)  # type: ignore[no-any-return]


# --- the contract, for every backend -----------------------------------------------------


def test_an_unknown_conversation_is_empty(backend: MemoryBackend) -> None:
    assert backend.load("nobody") == []
    assert backend.load("nobody", limit=5) == []
    assert backend.committed_turn("nobody", "turn-1") is None
    assert backend.journal("nobody", "turn-1") == []
    assert backend.conversations() == []


def test_every_message_shape_round_trips(backend: MemoryBackend) -> None:
    messages = every_shape()
    assert backend.commit_turn("chat", "turn-1", messages) is True
    assert backend.load("chat") == messages
    assert backend.committed_turn("chat", "turn-1") == messages


def test_turns_load_in_commit_order(backend: MemoryBackend) -> None:
    for n in (3, 1, 2):
        assert backend.commit_turn("chat", f"turn-{n}", turn(n)) is True
    assert [m.content for m in backend.load("chat")] == [
        "question 3", "answer 3", "question 1", "answer 1", "question 2", "answer 2",
    ]  # fmt: skip


def test_a_second_commit_of_a_turn_stores_nothing_and_returns_false(
    backend: MemoryBackend,
) -> None:
    assert backend.commit_turn("chat", "turn-1", turn(1)) is True
    assert backend.commit_turn("chat", "turn-1", turn(1)) is False
    assert backend.commit_turn("chat", "turn-1", [Message.user("something else")]) is False
    assert backend.load("chat") == turn(1)
    assert backend.committed_turn("chat", "turn-1") == turn(1)


def test_committed_turn_returns_what_that_turn_committed(backend: MemoryBackend) -> None:
    backend.commit_turn("chat", "turn-1", turn(1))
    backend.commit_turn("chat", "turn-2", turn(2))
    backend.commit_turn("chat", "empty", [])
    assert backend.committed_turn("chat", "turn-2") == turn(2)
    assert backend.committed_turn("chat", "turn-1") == turn(1)
    assert backend.committed_turn("chat", "empty") == []
    assert backend.committed_turn("chat", "turn-3") is None
    assert backend.committed_turn("other", "turn-1") is None
    assert backend.load("chat") == turn(1) + turn(2)


def test_the_journal_keeps_each_turns_messages_in_append_order(backend: MemoryBackend) -> None:
    call = Message.assistant("", [ToolCall("c1", "search", {"q": "x"}, signature=b"\x02")])
    result = Message.tool([ToolResult("c1", "search", ["hit"])])
    backend.journal_append("chat", "turn-1", call)
    backend.journal_append("chat", "turn-2", Message.user("other turn"))
    backend.journal_append("chat", "turn-1", result)
    backend.journal_append("chat", "turn-1", result)  # the same message twice is kept twice
    assert backend.journal("chat", "turn-1") == [call, result, result]
    assert backend.journal("chat", "turn-2") == [Message.user("other turn")]
    assert backend.load("chat") == []  # journalled is not committed


def test_journal_clear_forgets_one_turn_or_all_turns(backend: MemoryBackend) -> None:
    for turn_id in ("turn-1", "turn-2", "turn-3"):
        backend.journal_append("chat", turn_id, Message.user(turn_id))
    backend.journal_append("other", "turn-1", Message.user("kept"))
    backend.journal_clear("chat", "turn-2")
    assert backend.journal("chat", "turn-2") == []
    assert backend.journal("chat", "turn-1") == [Message.user("turn-1")]
    backend.journal_clear("chat")
    assert backend.journal("chat", "turn-1") == []
    assert backend.journal("chat", "turn-3") == []
    assert backend.journal("other", "turn-1") == [Message.user("kept")]


def test_a_commit_clears_that_turns_journal_only(backend: MemoryBackend) -> None:
    backend.journal_append("chat", "turn-1", Message.user("in flight"))
    backend.journal_append("chat", "turn-2", Message.user("next one"))
    assert backend.commit_turn("chat", "turn-1", turn(1)) is True
    assert backend.journal("chat", "turn-1") == []
    assert backend.journal("chat", "turn-2") == [Message.user("next one")]


def test_a_repeated_commit_also_clears_the_turns_journal(backend: MemoryBackend) -> None:
    backend.commit_turn("chat", "turn-1", turn(1))
    backend.journal_append("chat", "turn-1", Message.user("journalled by a retry"))
    assert backend.commit_turn("chat", "turn-1", turn(1)) is False
    assert backend.journal("chat", "turn-1") == []


def test_clear_forgets_messages_turn_ids_and_journals(backend: MemoryBackend) -> None:
    backend.commit_turn("chat", "turn-1", turn(1))
    backend.journal_append("chat", "turn-2", Message.user("in flight"))
    backend.commit_turn("other", "turn-1", turn(9))
    backend.clear("chat")
    assert backend.load("chat") == []
    assert backend.committed_turn("chat", "turn-1") is None
    assert backend.journal("chat", "turn-2") == []
    assert backend.conversations() == ["other"]
    assert backend.load("other") == turn(9)
    assert backend.commit_turn("chat", "turn-1", turn(2)) is True  # the turn id is free again
    assert backend.load("chat") == turn(2)


def test_conversations_lists_those_with_committed_turns_sorted(backend: MemoryBackend) -> None:
    backend.commit_turn("zeta", "t", turn(1))
    backend.commit_turn("Alpha", "t", turn(1))
    backend.commit_turn("beta", "t", [])
    backend.commit_turn("zeta", "u", turn(2))
    backend.journal_append("journal-only", "t", Message.user("not committed"))
    assert backend.conversations() == ["Alpha", "beta", "zeta"]


def test_load_with_a_limit_returns_the_last_messages(backend: MemoryBackend) -> None:
    for n in (1, 2, 3):
        backend.commit_turn("chat", f"turn-{n}", turn(n))
    everything = turn(1) + turn(2) + turn(3)
    assert backend.load("chat", limit=0) == []
    assert backend.load("chat", limit=1) == everything[-1:]
    assert backend.load("chat", limit=3) == everything[-3:]
    assert backend.load("chat", limit=6) == everything
    assert backend.load("chat", limit=100) == everything


def test_conversations_are_isolated_even_when_ids_look_like_keys(backend: MemoryBackend) -> None:
    ids = ["chat", "chat:messages", "chat:turns", "chat:journal", "conversations", "chat:"]
    for n, conversation_id in enumerate(ids):
        assert backend.commit_turn(conversation_id, "turn-1", turn(n)) is True
        backend.journal_append(conversation_id, "turn-2", Message.user(conversation_id))
    for n, conversation_id in enumerate(ids):
        assert backend.load(conversation_id) == turn(n)
        assert backend.committed_turn(conversation_id, "turn-1") == turn(n)
        assert backend.journal(conversation_id, "turn-2") == [Message.user(conversation_id)]
    assert backend.conversations() == sorted(ids)


def test_fifty_concurrent_commits_from_fifty_processes_all_land(backend: MemoryBackend) -> None:
    def commit(n: int) -> Callable[[], bool]:
        return lambda: backend.commit_turn("chat", f"turn-{n}", turn(n))

    outcomes = in_processes([commit(n) for n in range(50)])
    assert outcomes == [("ok", True)] * 50
    loaded = backend.load("chat")
    assert len(loaded) == 100
    pairs = [(loaded[i].content, loaded[i + 1].content) for i in range(0, 100, 2)]
    numbers = [int(question.split()[1]) for question, _ in pairs]
    assert sorted(numbers) == list(range(50))  # every turn, each once
    assert pairs == [(f"question {n}", f"answer {n}") for n in numbers]  # turns stay whole


def test_the_same_turn_committed_by_two_processes_at_once_is_stored_once(
    backend: MemoryBackend,
) -> None:
    def commit(n: int) -> Callable[[], bool]:
        return lambda: backend.commit_turn("chat", "turn-1", turn(n))

    outcomes = in_processes([commit(1), commit(2)])
    assert sorted(outcomes) == [("ok", False), ("ok", True)]
    loaded = backend.load("chat")
    assert loaded in (turn(1), turn(2))
    assert backend.committed_turn("chat", "turn-1") == loaded


def test_processes_killed_while_committing_leave_only_whole_turns(
    backend: MemoryBackend,
) -> None:
    def writer(parent: Any, n: int) -> None:
        for k in range(10_000):
            turn_id = f"w{n}-{k}"
            backend.commit_turn(
                "chat", turn_id, [Message.user(turn_id), Message.assistant(turn_id)]
            )
            send(parent, ("committed", turn_id))
            beamlike.sleep(0.001)  # the in-memory backend never yields by itself

    def main() -> list[str]:
        writers = [spawn_monitor(writer, self_pid(), n) for n in range(5)]
        reported = [receive(("committed", ANY), timeout=WAIT)[1] for _ in range(25)]
        for pid, _ in writers:
            exit(pid, "kill")
        for pid, ref in writers:
            assert receive(Down(ref, pid, ANY), timeout=WAIT).reason == "killed"
        return reported

    reported = beamlike.run(main)
    loaded = backend.load("chat")
    assert len(loaded) % 2 == 0
    turn_ids = [loaded[i].content for i in range(0, len(loaded), 2)]
    for i, turn_id in enumerate(turn_ids):
        whole = [Message.user(turn_id), Message.assistant(turn_id)]
        assert loaded[2 * i : 2 * i + 2] == whole
        assert backend.committed_turn("chat", turn_id) == whole
    assert set(reported) <= set(turn_ids)
    assert len(set(turn_ids)) == len(turn_ids)


def test_a_message_that_is_not_json_is_refused_and_nothing_is_stored(
    backend: MemoryBackend,
) -> None:
    bad = Message.tool([ToolResult("c1", "t", {"when": object()})])
    with pytest.raises(TypeError) as raised:
        backend.commit_turn("chat", "turn-1", [Message.user("fine"), bad])
    assert str(raised.value).startswith(
        "a tool message cannot be stored: its tool arguments and results must be JSON values ("
    )
    assert backend.load("chat") == []
    assert backend.committed_turn("chat", "turn-1") is None


def test_a_closed_backend_refuses_every_call(backend: MemoryBackend) -> None:
    backend.close()
    backend.close()  # twice is fine
    with pytest.raises(MemoryBackendError) as raised:
        backend.load("chat")
    assert str(raised.value) == f"{backend!r} is closed"


# --- bad arguments (checked once, for all backends, by the base class) --------------------


@pytest.fixture
def memory(node: Any) -> InMemoryBackend:
    start_memory_owner()
    return InMemoryBackend()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda b: b.load(7),
            TypeError,
            "conversation_id must be a str; got 7 (of type int)",
        ),
        (
            lambda b: b.load(""),
            ValueError,
            "conversation_id must be a non-empty str of at most 255 characters; got '' (0 characters)",
        ),
        (
            lambda b: b.load("c" * 256),
            ValueError,
            f"conversation_id must be a non-empty str of at most 255 characters; got {'c' * 256!r:.80} (256 characters)",
        ),
        (
            lambda b: b.load("chat", limit=-1),
            ValueError,
            "load limit must be an int >= 0 or None; got -1",
        ),
        (
            lambda b: b.load("chat", limit=True),
            TypeError,
            "load limit must be an int >= 0 or None; got True (of type bool)",
        ),
        (
            lambda b: b.commit_turn("chat", None, []),
            TypeError,
            "turn_id must be a str; got None (of type NoneType)",
        ),
        (
            lambda b: b.commit_turn("chat", "t", Message.user("hi")),
            TypeError,
            "commit_turn expects a sequence (list or tuple) of Message; got one Message "
            "(wrap it in a list)",
        ),
        (
            lambda b: b.commit_turn("chat", "t", "hello"),
            TypeError,
            "commit_turn expects a sequence (list or tuple) of Message; got 'hello' (of type str)",
        ),
        (
            lambda b: b.commit_turn("chat", "t", [Message.user("hi"), {"role": "user"}]),
            TypeError,
            "message 1 of the turn must be a Message; got {'role': 'user'} (of type dict)",
        ),
        (
            lambda b: b.journal_append("chat", "t", "hello"),
            TypeError,
            "journal_append message must be a Message; got 'hello' (of type str)",
        ),
        (
            lambda b: b.journal_clear("chat", 3),
            TypeError,
            "turn_id must be a str; got 3 (of type int)",
        ),
    ],
)
def test_bad_arguments_are_refused_with_what_was_expected(
    memory: InMemoryBackend, call: Callable[[Any], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        call(memory)
    assert str(raised.value) == message
    assert memory.conversations() == []


# --- in-memory ---------------------------------------------------------------------------


def test_in_memory_data_survives_the_death_of_the_process_that_wrote_it(node: Any) -> None:
    start_memory_owner()

    def writer(parent: Any) -> None:
        InMemoryBackend().commit_turn("chat", "turn-1", turn(1))
        InMemoryBackend().journal_append("chat", "turn-2", Message.user("in flight"))
        send(parent, "written")
        receive("never sent")

    def main() -> list[Message]:
        pid, ref = spawn_monitor(writer, self_pid())
        receive("written", timeout=WAIT)
        exit(pid, "kill")
        assert receive(Down(ref, pid, ANY), timeout=WAIT).reason == "killed"
        return InMemoryBackend().load("chat") + InMemoryBackend().journal("chat", "turn-2")

    assert beamlike.run(main) == turn(1) + [Message.user("in flight")]


def test_in_memory_data_is_lost_with_its_owner(node: Any) -> None:
    owner = start_memory_owner()
    memory = InMemoryBackend()
    memory.commit_turn("chat", "turn-1", turn(1))

    def kill_owner() -> None:
        ref = monitor(owner)
        exit(owner, "kill")
        receive(Down(ref, owner, ANY), timeout=WAIT)

    beamlike.run(kill_owner)
    with pytest.raises(MemoryBackendError) as raised:
        memory.load("chat")
    assert str(raised.value) == (
        "the tables of memory owner 'elixirchain.memory' are gone: the owner exited, and the "
        "conversations it kept were lost with it"
    )
    start_memory_owner()  # a new owner under the same name: the backend works again, empty
    assert memory.load("chat") == []
    assert memory.commit_turn("chat", "turn-1", turn(2)) is True


def test_in_memory_backend_without_an_owner_says_how_to_start_one(node: Any) -> None:
    with pytest.raises(MemoryBackendError) as raised:
        InMemoryBackend("my.memory")
    assert str(raised.value) == (
        "no memory owner runs as 'my.memory': start one with start_memory_owner('my.memory') "
        "or put memory_owner_child_spec('my.memory') in the application's supervision tree"
    )


def test_in_memory_backend_accepts_the_owners_pid(node: Any) -> None:
    owner = start_memory_owner("by.pid")
    memory = beamlike.run(InMemoryBackend, owner)
    memory.commit_turn("chat", "turn-1", turn(1))
    assert InMemoryBackend("by.pid").load("chat") == turn(1)


def test_a_supervised_memory_owner_serves_backends(node: Any) -> None:
    def main() -> list[Message]:
        Supervisor.start_link([memory_owner_child_spec("supervised.memory")])
        memory = InMemoryBackend("supervised.memory")
        memory.commit_turn("chat", "turn-1", turn(1))
        return InMemoryBackend("supervised.memory").load("chat")

    assert beamlike.run(main) == turn(1)


def test_two_owners_keep_separate_conversations(node: Any) -> None:
    start_memory_owner("first")
    start_memory_owner("second")
    InMemoryBackend("first").commit_turn("chat", "turn-1", turn(1))
    assert InMemoryBackend("second").load("chat") == []


# --- open_backend --------------------------------------------------------------------------


def test_open_backend_memory_starts_an_owner_when_none_runs(node: Any) -> None:
    assert whereis("elixirchain.memory") is None
    first = open_backend()
    owner = whereis("elixirchain.memory")
    assert isinstance(first, InMemoryBackend) and owner is not None
    first.commit_turn("chat", "turn-1", turn(1))
    second = beamlike.run(open_backend, "memory")
    assert whereis("elixirchain.memory") == owner  # the running owner is reused
    assert second.load("chat") == turn(1)


def test_open_backend_returns_a_backend_instance_as_is(memory: InMemoryBackend) -> None:
    assert open_backend(memory) is memory


def test_open_backend_sqlite_memory_is_shared_by_the_nodes_processes(node: Any) -> None:
    prefix = f"t{unique()}_"
    first = open_backend("sqlite://", table_prefix=prefix)
    assert isinstance(first, SQLBackend)
    first.commit_turn("chat", "turn-1", turn(1))
    second = beamlike.run(open_backend, "sqlite://", table_prefix=prefix)
    first.close()
    assert second.load("chat") == turn(1)
    second.close()


def test_open_backend_sqlite_file_keeps_conversations_after_close(
    node: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = open_backend(url)
    assert isinstance(first, SQLBackend)
    first.commit_turn("chat", "turn-1", turn(1))
    first.close()
    second = open_backend(url)
    assert second.load("chat") == turn(1)
    assert second.commit_turn("chat", "turn-1", turn(1)) is False
    second.close()


def test_open_backend_postgresql_uses_pg8000_unless_a_driver_is_named(node: Any) -> None:
    prefix = f"t{unique()}_"
    url = "postgresql://postgres@127.0.0.1:5432/test"
    backend = reachable(lambda: open_backend(url, table_prefix=prefix), "PostgreSQL", url)
    assert isinstance(backend, SQLBackend)
    try:
        assert backend.url == "postgresql+pg8000://postgres@127.0.0.1:5432/test"
        backend.commit_turn("chat", "turn-1", turn(1))
        assert backend.load("chat") == turn(1)
    finally:
        backend.drop_tables()
        backend.close()


def test_open_backend_redis_uses_the_key_prefix(node: Any) -> None:
    prefix = f"test:{unique()}:"
    backend = reachable(lambda: open_backend(REDIS_URL, key_prefix=prefix), "Redis", REDIS_URL)
    try:
        assert isinstance(backend, RedisBackend)
        backend.commit_turn("chat", "turn-1", turn(1))
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        assert sorted(client.scan_iter(match=f"{prefix}*")) == [
            f"{prefix}chat:messages",
            f"{prefix}chat:turns",
            f"{prefix}conversations",
        ]
        client.close()
    finally:
        backend.close()
        drop_redis_keys(prefix)


@pytest.mark.parametrize(
    "spec", ["mysql://root@localhost/db", "memory:", "", "sqlite", "mongodb://x", 42, b"memory"]
)
def test_open_backend_refuses_other_specs_listing_the_accepted_forms(node: Any, spec: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        open_backend(spec)
    assert str(raised.value) == (
        f"open_backend accepts {ACCEPTED}; got {spec!r} (of type {type(spec).__name__})"
    )


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        (
            "memory",
            {"key_prefix": "x"},
            "open_backend('memory') got unknown option 'key_prefix'; valid options are: owner",
        ),
        (
            "sqlite://",
            {"key_prefix": "x", "prefix": "y"},
            "open_backend('sqlite' URL) got unknown options 'key_prefix', 'prefix'; valid "
            "options are: max_overflow, pool_size, pool_timeout, table_prefix",
        ),
        (
            REDIS_URL,
            {"table_prefix": "x"},
            "open_backend('redis' URL) got unknown option 'table_prefix'; valid options are: "
            "key_prefix, max_connections, socket_timeout",
        ),
        (
            "sqlite://",
            {"table_prefix": "drop table;"},
            "SQLBackend table_prefix must be letters, digits and '_' (not starting with a "
            "digit), at most 40 characters; got 'drop table;'",
        ),
        (
            "postgresql://postgres@127.0.0.1/test",
            {"pool_size": 0},
            "SQLBackend pool_size must be an int >= 1; got 0",
        ),
        (
            "redis://127.0.0.1:6379/zero",
            {},
            "RedisBackend expects redis://host:port/db with db a number; got "
            "'redis://127.0.0.1:6379/zero'",
        ),
        (
            REDIS_URL,
            {"key_prefix": 5},
            "RedisBackend key_prefix must be a str; got 5 (of type int)",
        ),
    ],
)
def test_open_backend_refuses_unknown_or_bad_options(
    node: Any, spec: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        open_backend(spec, **options)
    assert str(raised.value) == message


def test_open_backend_refuses_options_with_a_backend_instance(memory: InMemoryBackend) -> None:
    with pytest.raises(ConfigError) as raised:
        open_backend(memory, owner="x")
    assert str(raised.value) == (
        "open_backend got options for a MemoryBackend instance, which is used as is; "
        "got options: owner"
    )


def test_an_unreachable_server_raises_memory_backend_error(node: Any) -> None:
    with pytest.raises(MemoryBackendError) as raised:
        RedisBackend("redis://127.0.0.1:1/0", socket_timeout=2.0)
    assert str(raised.value).startswith(
        "RedisBackend('redis://127.0.0.1:1/0', key_prefix='elixirchain:'): connecting failed: "
    )
    with pytest.raises(MemoryBackendError) as raised:
        SQLBackend("postgresql://postgres@127.0.0.1:1/test")
    assert str(raised.value).startswith(
        "SQLBackend('postgresql+pg8000://postgres@127.0.0.1:1/test', "
        "table_prefix='elixirchain_'): creating the tables failed: "
    )


def test_passwords_never_appear_in_errors(node: Any) -> None:
    with pytest.raises(MemoryBackendError) as redis_error:
        RedisBackend("redis://:hunter2@127.0.0.1:1/0", socket_timeout=2.0)
    with pytest.raises(MemoryBackendError) as sql_error:
        SQLBackend("postgresql://postgres:hunter2@127.0.0.1:1/test")
    assert "hunter2" not in str(redis_error.value)
    assert str(redis_error.value).startswith("RedisBackend('redis://:***@127.0.0.1:1/0', ")
    assert "hunter2" not in str(sql_error.value)
    assert str(sql_error.value).startswith(
        "SQLBackend('postgresql+pg8000://postgres:***@127.0.0.1:1/test', "
    )


# --- SQL: a process killed in the middle of a commit leaves nothing --------------------


def test_a_process_killed_during_a_postgresql_commit_leaves_nothing(node: Any) -> None:
    prefix = f"t{unique()}_"
    backend = reachable(lambda: SQLBackend(PG_URL, table_prefix=prefix), "PostgreSQL", PG_URL)
    blocker = sqlalchemy.create_engine(PG_URL, poolclass=sqlalchemy.pool.NullPool)
    try:
        with blocker.connect() as conn:
            conn.execute(sqlalchemy.text(f"LOCK TABLE {prefix}turns IN ACCESS EXCLUSIVE MODE"))

            def main() -> str:
                pid, ref = spawn_monitor(backend.commit_turn, "chat", "turn-1", turn(1))
                wait_until_blocked_on_a_lock(blocker)
                exit(pid, "kill")
                return receive(Down(ref, pid, ANY), timeout=WAIT).reason  # type: ignore[no-any-return]

            assert beamlike.run(main) == "killed"
            conn.rollback()  # releases the lock
        assert backend.load("chat") == []
        assert backend.committed_turn("chat", "turn-1") is None
        assert backend.commit_turn("chat", "turn-1", turn(2)) is True
        assert backend.load("chat") == turn(2)
    finally:
        blocker.dispose()
        backend.drop_tables()
        backend.close()


def wait_until_blocked_on_a_lock(engine: sqlalchemy.Engine) -> None:
    """Waits (a bounded poll of pg_locks) until some session waits for a lock."""
    query = sqlalchemy.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(int(WAIT / 0.01)):
        with engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        beamlike.sleep(0.01)
    raise AssertionError(f"no session waited for a lock within {WAIT} s")
