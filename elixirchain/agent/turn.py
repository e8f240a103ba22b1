"""One turn of an agent, run in its own process (the turn worker), linked to the agent.

The loop: history from memory, plus the user's message -> provider (through the shared
gate of its key: rate limits, breaker, retries) -> if the model asked for tools, run
them in parallel as tasks linked to this worker -> provider again -> ... -> a final
answer -> commit the whole turn to memory at once -> reply.

Crash safety, the reason the worker journals as it goes:

- every assistant message that asks for tools, and every tool result as it arrives, is
  appended to the turn's journal in the memory backend (outside every process);
- if the agent (and so this worker, which is linked to it) dies, the client retries the
  same ``turn_id`` on the restarted agent; the new worker rebuilds the turn from the
  journal, so completed tool calls are not re-run and answered provider steps are not
  asked again;
- a turn that was already committed (the crash came between commit and reply) is
  answered from memory without any work.

Streaming: text deltas of every provider step are sent to the streaming client as they
arrive, also between tool calls. The worker never blocks the agent process itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beamlike import gen_server, send
from beamlike.gen_server import From
from elixirchain import telemetry
from elixirchain.errors import ElixirChainError, TurnFailed
from elixirchain.messages import (
    ASSISTANT,
    TOOL,
    Attachment,
    Message,
    Request,
    Response,
    ToolResult,
    collect,
)
from elixirchain.resilience import call_provider, stream_provider
from elixirchain.tools import ToolContext, run_calls

__all__ = ["CHUNK", "DONE", "TurnRequest", "TurnRuntime", "finish", "forget_turn", "run_turn"]

# Messages to a streaming client: (CHUNK, ref, text) per delta, then (DONE, ref, result).
CHUNK = "elixirchain.chunk"
DONE = "elixirchain.done"


@dataclass(slots=True)
class TurnRequest:
    """A chat request as the agent queues it.

    ``reply_to`` is the caller's ``From`` for ``chat``; for ``chat_stream`` it is None and
    ``stream_to``/``ref`` say where chunks and the result go.
    """

    turn_id: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    reply_to: From | None = None
    stream_to: Any = None
    ref: Any = None


@dataclass(slots=True)
class TurnRuntime:
    """What a worker needs, prepared by the agent: shared, read-only objects."""

    agent: str
    config: Any  # AgentConfig
    provider: Any
    fallback: Any
    tools: Mapping[str, Any]
    memory: Any  # ConversationMemory
    limits: Any
    retry: Any
    cache: Any
    gates: str | None
    specs: tuple[Any, ...] = field(default=())


def finish(request: TurnRequest, result: tuple[str, Any]) -> None:
    """Delivers a turn's result, ``("ok", text)`` or ``("error", exception)``, to the
    waiting ``chat`` caller or the streaming client. Never blocks."""
    if request.reply_to is not None:
        gen_server.reply(request.reply_to, result)
    elif request.stream_to is not None:
        send(request.stream_to, (DONE, request.ref, result))


def run_turn(runtime: TurnRuntime, request: TurnRequest) -> None:
    """The worker's body: runs the turn and delivers its result. Blocks until done.

    An exception escaping here crashes the worker; the agent then reports it to the
    caller as ``TurnFailed``.
    """
    meta = {"agent": runtime.agent, "turn_id": request.turn_id}
    with telemetry.span(("elixirchain", "agent", "turn"), meta) as span:
        try:
            text = _run(runtime, request)
        except ElixirChainError as error:  # a provider failed beyond its retries, ...
            span.metadata["status"] = "error"
            span.metadata["error"] = type(error).__name__
            if not isinstance(error, TurnFailed):
                failed = TurnFailed(f"the turn on agent {runtime.agent!r} failed: {error}")
                failed.__cause__ = error
                error = failed
            forget_turn(runtime, request.turn_id)
            finish(request, ("error", error))
            return
        span.metadata["status"] = "ok"
    finish(request, ("ok", text))


def forget_turn(runtime: TurnRuntime, turn_id: str) -> None:
    """Drops the journal of a turn that will not be resumed (it failed or was
    cancelled). Blocks while the backend deletes it."""
    memory = runtime.memory
    memory.backend.journal_clear(memory.conversation_id, turn_id)


def _run(runtime: TurnRuntime, request: TurnRequest) -> str:
    memory = runtime.memory
    done = memory.backend.committed_turn(memory.conversation_id, request.turn_id)
    if done is not None:  # committed before a crash: answer from memory
        return _final_text(done)
    history = memory.history()
    turn, pending = _resume(
        Message.user(request.text, request.attachments), memory.journal(request.turn_id)
    )
    config = runtime.config
    steps = sum(1 for m in turn if m.role == ASSISTANT)
    while True:
        if pending is not None:  # the model asked for tools: answer them
            calls, completed = pending
            results = _run_tools(runtime, request, calls, completed)
            turn.append(Message.tool(results))
            pending = None
        if steps >= config.max_steps:
            raise TurnFailed(
                f"agent {runtime.agent!r} stopped after {steps} provider calls without a "
                f"final answer (max_steps={config.max_steps})"
            )
        response = _ask(runtime, request, history, turn)
        steps += 1
        message = response.message
        turn.append(message)
        if message.tool_calls:
            memory.record(request.turn_id, message)
            pending = (message.tool_calls, {})
            continue
        memory.commit(request.turn_id, turn)
        return message.content


def _resume(
    user: Message, journal: Sequence[Message]
) -> tuple[list[Message], tuple[Sequence[Any], dict[str, ToolResult]] | None]:
    """Rebuilds a turn from its journal: the messages so far, and the tool calls still
    to answer with the results already recorded for them (None if none pending)."""
    turn = [user]
    results: dict[str, ToolResult] = {}
    for message in journal:
        if message.role == TOOL:
            for result in message.tool_results:
                results[result.call_id] = result
            continue
        if results:  # the previous assistant's calls were all answered
            turn.append(_answers(turn[-1], results))
            results = {}
        turn.append(message)
    last = turn[-1]
    if last.role == ASSISTANT and last.tool_calls:
        if all(call.id in results for call in last.tool_calls):
            turn.append(_answers(last, results))
            return turn, None
        return turn, (last.tool_calls, results)
    return turn, None


def _answers(assistant: Message, results: Mapping[str, ToolResult]) -> Message:
    return Message.tool(results[c.id] for c in assistant.tool_calls if c.id in results)


def _final_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == ASSISTANT:
            return message.content
    return ""


def _request(runtime: TurnRuntime, history: list[Message], turn: list[Message]) -> Request:
    config = runtime.config
    return Request(
        model=config.model or runtime.provider.default_model,
        messages=(*history, *turn),
        system=config.system_prompt,
        tools=runtime.specs,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout=config.request_timeout,
    )


def _ask(
    runtime: TurnRuntime, request: TurnRequest, history: list[Message], turn: list[Message]
) -> Response:
    provider_request = _request(runtime, history, turn)
    options = {
        "limits": runtime.limits,
        "retry": runtime.retry,
        "fallback": runtime.fallback,
        "cache": runtime.cache,
        "gates": runtime.gates,
        "metadata": {"agent": runtime.agent, "turn_id": request.turn_id},
    }
    if request.stream_to is None:
        return call_provider(runtime.provider, provider_request, **options)
    chunks = stream_provider(runtime.provider, provider_request, **options)
    return collect(_forward(chunks, request), model=provider_request.model)


def _forward(chunks: Any, request: TurnRequest) -> Any:
    client, ref = request.stream_to, request.ref
    for chunk in chunks:
        if chunk.text:
            send(client, (CHUNK, ref, chunk.text))
        yield chunk


def _run_tools(
    runtime: TurnRuntime,
    request: TurnRequest,
    calls: Sequence[Any],
    completed: dict[str, ToolResult],
) -> tuple[ToolResult, ...]:
    config = runtime.config
    memory = runtime.memory
    context = ToolContext(
        agent=runtime.agent,
        conversation_id=memory.conversation_id,
        turn_id=request.turn_id,
        metadata=dict(config.metadata),  # the turn's own copy (and a picklable one)
    )

    def journal(result: ToolResult) -> None:
        memory.record(request.turn_id, Message.tool([result]))
        telemetry.execute(
            ("elixirchain", "tool", "result"),
            {"count": 1},
            {"agent": runtime.agent, "tool": result.name, "is_error": result.is_error},
        )

    return run_calls(
        calls,
        runtime.tools,
        context,
        timeout=config.tool_timeout,
        retries=config.tool_retries,
        max_concurrency=config.max_tool_concurrency,
        completed=completed,
        on_result=journal,
    )
