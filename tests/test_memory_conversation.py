"""ConversationMemory: the history window never starts inside a tool exchange; turns and
the journal go to the backend; a crashed turn is retried without re-running its tools."""

from __future__ import annotations

from typing import Any

import pytest

import beamlike
from beamlike import ANY, Down, exit, receive, self_pid, send, spawn_monitor
from elixirchain.errors import ConfigError
from elixirchain.memory import (
    ConversationMemory,
    InMemoryBackend,
    open_backend,
    start_memory_owner,
    trim_window,
)
from elixirchain.messages import Message, ToolCall, ToolResult

WAIT = 10.0


@pytest.fixture
def backend(node: Any) -> InMemoryBackend:
    start_memory_owner()
    return InMemoryBackend()


def call(*ids: str) -> Message:
    return Message.assistant("", [ToolCall(i, "lookup", {"id": i}) for i in ids])


def result(*ids: str) -> Message:
    return Message.tool([ToolResult(i, "lookup", f"result {i}") for i in ids])


USER = Message.user("what is x?")
CALL = call("c1", "c2")
RESULT_1 = result("c1")
RESULT_2 = result("c2")
ANSWER = Message.assistant("x is 42")
TURN = [USER, CALL, RESULT_1, RESULT_2, ANSWER]  # one turn with a tool exchange


def test_history_without_a_window_is_every_committed_message(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat")
    memory.commit("turn-1", TURN)
    memory.commit("turn-2", [Message.user("thanks"), Message.assistant("you're welcome")])
    assert memory.history() == [*TURN, Message.user("thanks"), Message.assistant("you're welcome")]


def test_history_is_the_last_window_messages(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat", window=2)
    memory.commit("turn-1", [Message.user("a"), Message.assistant("b")])
    memory.commit("turn-2", [Message.user("c"), Message.assistant("d")])
    assert memory.history() == [Message.user("c"), Message.assistant("d")]


def test_history_never_starts_with_a_tool_result_whose_call_fell_outside(
    backend: InMemoryBackend,
) -> None:
    memory = ConversationMemory(backend, "chat", window=3)  # would start at RESULT_1
    memory.commit("turn-1", TURN)
    assert memory.history() == [ANSWER]


def test_history_drops_only_the_tool_results_at_its_start(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat", window=2)  # would start at RESULT_2
    memory.commit("turn-1", TURN)
    assert memory.history() == [ANSWER]


def test_history_keeps_a_tool_call_together_with_its_results(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat", window=4)  # starts at CALL
    memory.commit("turn-1", TURN)
    assert memory.history() == [CALL, RESULT_1, RESULT_2, ANSWER]


def test_history_may_hold_nothing_when_only_tool_results_fit(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat", window=1)
    memory.commit("turn-1", [USER, CALL, RESULT_1])
    assert memory.history() == []


def test_chained_tool_exchanges_are_cut_between_exchanges(backend: InMemoryBackend) -> None:
    second_call, second_result = call("c3"), result("c3")
    messages = [USER, CALL, RESULT_1, RESULT_2, second_call, second_result, ANSWER]
    ConversationMemory(backend, "chat").commit("turn-1", messages)
    assert ConversationMemory(backend, "chat", window=3).history() == [
        second_call,
        second_result,
        ANSWER,
    ]
    assert ConversationMemory(backend, "chat", window=4).history() == [
        second_call,
        second_result,
        ANSWER,
    ]  # RESULT_2 would have lost CALL
    assert ConversationMemory(backend, "chat", window=6).history() == messages[1:]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, [Message.user("u"), CALL, RESULT_1, ANSWER]),
        (10, [Message.user("u"), CALL, RESULT_1, ANSWER]),
        (3, [CALL, RESULT_1, ANSWER]),
        (2, [ANSWER]),
        (1, [ANSWER]),
    ],
)
def test_trim_window_applies_the_rule_to_a_list(
    window: int | None, expected: list[Message]
) -> None:
    assert trim_window([Message.user("u"), CALL, RESULT_1, ANSWER], window) == expected


def test_commit_is_idempotent_and_committed_returns_the_turn(backend: InMemoryBackend) -> None:
    memory = ConversationMemory(backend, "chat")
    assert memory.commit("turn-1", TURN) is True
    assert memory.commit("turn-1", TURN) is False
    assert memory.committed("turn-1") == TURN
    assert memory.committed("turn-2") is None


def test_record_and_journal_keep_the_turn_in_flight_until_commit(
    backend: InMemoryBackend,
) -> None:
    memory = ConversationMemory(backend, "chat")
    memory.record("turn-1", CALL)
    memory.record("turn-1", RESULT_1)
    assert memory.journal("turn-1") == [CALL, RESULT_1]
    assert memory.history() == []
    memory.commit("turn-1", TURN)
    assert memory.journal("turn-1") == []


def test_clear_forgets_the_conversation_only(backend: InMemoryBackend) -> None:
    memory, other = ConversationMemory(backend, "chat"), ConversationMemory(backend, "other")
    memory.commit("turn-1", TURN)
    memory.record("turn-2", CALL)
    other.commit("turn-1", [USER])
    memory.clear()
    assert memory.history() == []
    assert memory.journal("turn-2") == []
    assert other.history() == [USER]


@pytest.mark.parametrize("window", [0, -3, 2.5, True, "10"])
def test_the_window_must_be_a_positive_int_or_none(backend: InMemoryBackend, window: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        ConversationMemory(backend, "chat", window=window)
    assert str(raised.value) == (
        f"ConversationMemory window must be an int >= 1 or None; got {window!r}"
    )


def test_conversation_memory_wants_a_backend_and_a_conversation_id(
    backend: InMemoryBackend,
) -> None:
    with pytest.raises(TypeError) as raised:
        ConversationMemory("memory", "chat")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "ConversationMemory expects a MemoryBackend (see open_backend); got 'memory' (of type str)"
    )
    with pytest.raises(ValueError) as raised_id:
        ConversationMemory(backend, "")
    assert str(raised_id.value) == (
        "conversation_id must be a non-empty str of at most 255 characters; got '' (0 characters)"
    )


def test_a_turn_retried_after_a_crash_skips_the_tools_it_had_completed(node: Any) -> None:
    """The agent's use of the contract: journal each step, crash, retry the same turn id."""
    ran: list[str] = []

    def run_turn(parent: Any, crash_after: str | None) -> None:
        memory = ConversationMemory(open_backend(), "chat", window=10)
        if memory.committed("turn-1") is not None:
            send(parent, ("done", False))
            return
        journal = memory.journal("turn-1")
        done = {r.call_id for m in journal for r in m.tool_results}
        if not journal:
            memory.record("turn-1", CALL)
        results = []
        for call_id in ("c1", "c2"):
            step = result(call_id)
            if call_id not in done:
                ran.append(call_id)
                memory.record("turn-1", step)
                if call_id == crash_after:
                    send(parent, "crashing")
                    receive("never sent")  # killed here, mid-turn
            results.append(step)
        send(parent, ("done", memory.commit("turn-1", [USER, CALL, *results, ANSWER])))

    def main() -> list[Any]:
        outcomes: list[Any] = []
        pid, ref = spawn_monitor(run_turn, self_pid(), "c1")
        receive("crashing", timeout=WAIT)
        exit(pid, "kill")
        outcomes.append(receive(Down(ref, pid, ANY), timeout=WAIT).reason)
        for _ in range(2):  # the restarted agent retries; then a duplicate retry
            spawn_monitor(run_turn, self_pid(), None)
            outcomes.append(receive(("done", ANY), timeout=WAIT))
        return outcomes

    assert beamlike.run(main) == ["killed", ("done", True), ("done", False)]
    assert ran == ["c1", "c2"]  # c1 ran once, before the crash; the retry ran only c2
    memory = ConversationMemory(open_backend(), "chat")
    assert memory.history() == [USER, CALL, result("c1"), result("c2"), ANSWER]
    assert memory.journal("turn-1") == []
