"""The agent process: one GenServer per agent, supervised by the application.

=============================================  ==========================================
client (``elixirchain.agent.client``)          what the agent does
=============================================  ==========================================
``chat`` (blocks)                              runs the turn in a linked worker, or queues
                                               it (at most ``max_queue``; beyond that the
                                               caller gets ``Overloaded`` at once)
``chat_stream`` (blocks per chunk)             the same; chunks go to the client as sent
abandoning a stream, ``chat`` timeout          ``("cancel", turn_id)``: the worker (and its
                                               tool tasks, linked to it) is killed
``add_tool`` / ``remove_tool`` (blocks)        changes the tools; kept across restarts
``stop_agent`` (blocks)                        the supervisor stops it; ``terminate`` kills
                                               the running worker
=============================================  ==========================================

The agent itself never waits for a provider or a tool: each turn runs in a worker
process linked to it, so the agent stays responsive (queueing, cancelling, changing
tools) while a turn is in flight, and turns of one agent run one at a time, in order.
The agent traps exits: when its worker ends, it delivers an error for a crashed turn
and starts the next queued one. When the agent dies, the link takes the worker down,
and the worker's links take its tool tasks down.

An idle agent (no turn running or queued) hibernates (``hibernate=True``): it keeps its
state but no greenlet or stack, about 6 KB less per agent; the next request wakes it on
a fresh stack.
"""

from __future__ import annotations

from typing import Any

from beamlike import (
    NORMAL,
    Down,
    Exit,
    GenServer,
    NoReply,
    Ok,
    Reply,
    demonitor,
    exit,
    is_shutdown_reason,
    monitor,
    process_flag,
    spawn_link,
)
from beamlike.gen_server import From
from elixirchain import telemetry
from elixirchain.agent.turn import TurnRequest, TurnRuntime, finish, forget_turn, run_turn
from elixirchain.errors import Overloaded, ToolNotFound, TurnFailed

__all__ = ["Agent", "AgentState"]


class AgentState:
    """The agent's state: its runtime, the running turn and the queue behind it."""

    __slots__ = ("name", "runtime", "queue", "worker", "current", "watch")

    def __init__(self, name: str, runtime: TurnRuntime) -> None:
        self.name = name
        self.runtime = runtime
        self.queue: list[TurnRequest] = []  # at most max_queue; a deque costs 760 B idle
        self.worker: Any = None
        self.current: TurnRequest | None = None
        self.watch: Any = None  # monitor of the streaming client of the current turn

    def __repr__(self) -> str:
        return (
            f"<AgentState {self.name!r} busy={self.current is not None} queued={len(self.queue)}>"
        )


def _noreply(state: AgentState) -> NoReply:
    """Go on; hibernate while no turn runs (an idle agent then holds no greenlet)."""
    return NoReply(state, hibernate=state.current is None)


def _reply(value: Any, state: AgentState) -> Reply:
    """Answer; hibernate while no turn runs."""
    return Reply(value, state, hibernate=state.current is None)


class Agent(GenServer):
    """The agent's callbacks. Started by the application with the agent's name; the
    configuration comes from the application's agent table, so a restarted agent gets
    the tools added at run time too."""

    def init(self, name: Any) -> Ok:
        from elixirchain.app import current_app

        process_flag("trap_exit", True)
        app = current_app()
        runtime, starts = app.agent_started(name)
        if starts > 1:
            telemetry.execute(
                ("elixirchain", "agent", "restart"), {"count": 1}, {"agent": name, "starts": starts}
            )
        return Ok(AgentState(name, runtime), hibernate=True)

    def handle_call(self, request: Any, from_: From, state: AgentState) -> Any:
        kind = request[0]
        if kind == "chat":
            turn: TurnRequest = request[1]
            turn.reply_to = from_
            return self._accept(turn, state, None)
        if kind == "stream":
            turn = request[1]
            return self._accept(turn, state, ("ok", turn.ref))
        if kind == "add_tool":
            return self._change_tools(state, add=request[1])
        if kind == "remove_tool":
            return self._change_tools(state, remove=request[1])
        if kind == "info":
            return _reply(self._info(state), state)
        return super().handle_call(request, from_, state)

    def handle_cast(self, request: Any, state: AgentState) -> Any:
        if request[0] == "cancel":
            self._cancel(state, request[1])
            return _noreply(state)
        return super().handle_cast(request, state)

    def handle_info(self, message: Any, state: AgentState) -> Any:
        if isinstance(message, Exit) and message.pid == state.worker:
            self._worker_ended(state, message.reason)
            return _noreply(state)
        if isinstance(message, Down) and message.ref == state.watch and state.current:
            self._cancel(state, state.current.turn_id)  # the streaming client is gone
            return _noreply(state)
        return super().handle_info(message, state)

    def terminate(self, reason: Any, state: AgentState) -> None:
        if state.worker is not None:
            exit(state.worker, "kill")
        # A deliberate stop answers every waiting caller. After a crash they are left
        # to see the agent's exit: chat then retries the same turn on the restarted agent.
        if not is_shutdown_reason(reason):
            return
        error = TurnFailed(f"agent {state.name!r} was stopped ({reason!r})")
        for turn in ([state.current] if state.current else []) + list(state.queue):
            finish(turn, ("error", error))

    # turns -----------------------------------------------------------------------

    def _accept(self, turn: TurnRequest, state: AgentState, answer: Any) -> Any:
        if state.current is None:
            self._start(state, turn)
        elif len(state.queue) >= state.runtime.config.max_queue:
            error = Overloaded(
                f"agent {state.name!r} is overloaded: {len(state.queue)} requests already "
                f"wait behind the running turn (max_queue="
                f"{state.runtime.config.max_queue}); try again later"
            )
            telemetry.execute(
                ("elixirchain", "agent", "overloaded"), {"count": 1}, {"agent": state.name}
            )
            return _reply(("error", error), state)
        else:
            state.queue.append(turn)
        if answer is None:
            return _noreply(state)
        return _reply(answer, state)

    def _start(self, state: AgentState, turn: TurnRequest) -> None:
        state.current = turn
        state.worker = spawn_link(run_turn, state.runtime, turn)
        if turn.stream_to is not None:
            state.watch = monitor(turn.stream_to)

    def _worker_ended(self, state: AgentState, reason: Any) -> None:
        turn = state.current
        if turn is not None and reason != NORMAL:
            if reason == "killed":  # _cancel kills it
                error = TurnFailed(f"the turn on agent {state.name!r} was cancelled")
            else:
                error = TurnFailed(f"the turn on agent {state.name!r} crashed: {reason!r}")
            try:
                forget_turn(state.runtime, turn.turn_id)  # no caller will resume it
            finally:
                finish(turn, ("error", error))
        self._next(state)

    def _next(self, state: AgentState) -> None:
        if state.watch is not None:
            demonitor(state.watch, flush=True)
        state.current = state.worker = state.watch = None
        if state.queue:
            self._start(state, state.queue.pop(0))

    def _cancel(self, state: AgentState, turn_id: str) -> None:
        if state.current is not None and state.current.turn_id == turn_id:
            exit(state.worker, "kill")  # its Exit ends the turn (_worker_ended)
            return
        for turn in list(state.queue):
            if turn.turn_id == turn_id:
                state.queue.remove(turn)
                finish(
                    turn, ("error", TurnFailed(f"the turn on agent {state.name!r} was cancelled"))
                )

    # tools and info -----------------------------------------------------------------

    def _change_tools(self, state: AgentState, add: Any = None, remove: Any = None) -> Any:
        from elixirchain.app import current_app

        try:
            state.runtime = current_app().change_tools(state.name, add=add, remove=remove)
        except (ValueError, TypeError, ToolNotFound) as error:
            return _reply(("error", error), state)
        return _reply(("ok", sorted(state.runtime.tools)), state)

    def _info(self, state: AgentState) -> dict[str, Any]:
        runtime = state.runtime
        return {
            "name": state.name,
            "provider": runtime.provider.name,
            "model": runtime.config.model or runtime.provider.default_model,
            "tools": sorted(runtime.tools),
            "busy": state.current is not None,
            "queued": len(state.queue),
            "conversation_id": runtime.memory.conversation_id,
        }
