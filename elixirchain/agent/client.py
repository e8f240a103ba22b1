"""The agent API users call: start_agent, chat, chat_stream, add_tool, stop_agent.

An ``AgentHandle`` holds only the agent's name; every call looks the agent up in the
application's registry, so a handle keeps working after the agent crashed and its
supervisor restarted it.

``chat`` survives a crash of the agent in the middle of the turn: it waits for the
restarted agent and sends the same turn again (same ``turn_id``); the new agent resumes
the turn from its journal (completed tool calls are not re-run) or, if it had already
been committed, answers from memory. After three crashes during one turn it gives up
with ``TurnFailed``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from time import monotonic
from typing import Any

import beamlike
from beamlike import (
    ChildSpec,
    Registry,
    dynamic_supervisor,
    gen_server,
    make_ref,
    receive,
    self_pid,
)
from beamlike.dynamic_supervisor import MaxChildrenError
from beamlike.gen_server import CallError, CallTimeout
from beamlike.registry import Via
from elixirchain import app as application
from elixirchain.agent.config import AgentConfig
from elixirchain.agent.server import Agent
from elixirchain.agent.turn import CHUNK, DONE, TurnRequest
from elixirchain.errors import (
    AgentAlreadyStarted,
    AgentNotFound,
    ChatTimeout,
    ConfigError,
    Overloaded,
    TurnFailed,
)
from elixirchain.messages import Attachment
from elixirchain.tools import Tool

__all__ = [
    "AgentHandle",
    "add_tool",
    "agent_info",
    "chat",
    "chat_stream",
    "list_agents",
    "register_tool",
    "remove_tool",
    "start_agent",
    "stop_agent",
    "whereis_agent",
]

MAX_CRASHES_PER_TURN = 3
_POLL = 0.002  # seconds between looks for a restarted agent


_TURN_PREFIX = uuid.uuid4().hex[:16]  # unique per OS process; a counter within it
_turn_numbers = itertools.count(1)


def _turn_id() -> str:
    """A turn id unique across processes and restarts (random prefix + counter): the
    memory backend keys journals and idempotent commits by it. Never blocks."""
    return f"{_TURN_PREFIX}-{next(_turn_numbers)}"


@dataclass(frozen=True, slots=True)
class AgentHandle:
    """Names an agent. Valid across restarts; compare and hash by name."""

    name: str

    def __str__(self) -> str:
        return self.name


def _name(agent: Any) -> str:
    if isinstance(agent, AgentHandle):
        return agent.name
    if isinstance(agent, str):
        return agent
    raise TypeError(
        f"expected an AgentHandle (from start_agent) or an agent name (str), "
        f"got {type(agent).__name__}: {agent!r}"
    )


def _via(name: str) -> Via:
    return Via(application.REGISTRY, name)  # what Registry.via makes, minus its checks


def whereis_agent(agent: AgentHandle | str) -> beamlike.Pid | None:
    """The pid of the agent's current incarnation, or None. Never blocks."""
    if not application.is_running():
        return None
    entries = Registry.lookup(application.REGISTRY, _name(agent))
    return entries[0][0] if entries else None


def start_agent(config: Mapping[str, Any] | None = None, /, **options: Any) -> AgentHandle:
    """Starts an agent under the application's supervisor (starting the application on
    first use) and returns its handle.

    Takes keyword arguments or the README's dict of options (see ``AgentConfig``).
    Blocks until the agent runs.

    Raises:
        ConfigError: an unknown or bad option (the message lists the valid ones).
        AgentAlreadyStarted: an agent with that name runs.
        ProviderError: the provider cannot be set up (e.g. no API key).
    """
    agent = AgentConfig.from_options(config, **options)
    app = application.ensure_started()
    if not app.register_agent(agent):
        raise AgentAlreadyStarted(f"an agent named {agent.name!r} is already running")
    spec = ChildSpec(
        id=agent.name,
        start=(Agent.start_link, (agent.name,), {"name": _via(agent.name)}),
        restart="transient",
    )
    try:
        dynamic_supervisor.start_child(application.AGENTS, spec)
    except MaxChildrenError:
        app.forget_agent(agent.name)
        raise Overloaded(
            f"cannot start agent {agent.name!r}: the application runs its maximum of "
            "agents (elixirchain.start(max_agents=...))"
        ) from None
    except BaseException:
        app.forget_agent(agent.name)
        raise
    return AgentHandle(agent.name)


def stop_agent(agent: AgentHandle | str, *, timeout: float = 5.0) -> None:
    """Stops the agent (its running turn and tool tasks are killed; waiting callers get
    ``TurnFailed``). Its conversation stays in memory. Blocks until it has exited.

    Raises:
        AgentNotFound: no such agent.
    """
    name = _name(agent)
    pid = whereis_agent(name)
    app = application.current_app() if application.is_running() else None
    if app is None or app.agent_config(name) is None:
        raise AgentNotFound(f"no agent named {name!r} is running")
    app.forget_agent(name)  # first, so a crash now is not taken for a restart
    if pid is not None:
        try:
            dynamic_supervisor.terminate_child(application.AGENTS, pid, timeout=timeout)
        except beamlike.BadArgument:
            pass  # it exited meanwhile


def list_agents() -> list[AgentHandle]:
    """Handles of every started agent, by name. Never blocks."""
    if not application.is_running():
        return []
    return [AgentHandle(name) for name in application.current_app().agent_names()]


def _call(name: str, request: Any, timeout: float | None) -> Any:
    try:
        return gen_server.call(_via(name), request, timeout=timeout)
    except CallError as error:
        if error.reason == "noproc":
            raise AgentNotFound(f"no agent named {name!r} is running") from None
        raise


def agent_info(agent: AgentHandle | str, *, timeout: float = 5.0) -> dict[str, Any]:
    """The agent's provider, model, tools, whether it is busy and its queue length.
    Blocks until the agent answered."""
    return _call(_name(agent), ("info",), timeout)  # type: ignore[no-any-return]


def add_tool(agent: AgentHandle | str, tool: Any, *, timeout: float = 5.0) -> list[str]:
    """Adds a tool (a Tool class or instance, an ``@tool`` function, a registered or
    built-in tool name) to the agent; it is kept across restarts. Returns the agent's
    tool names. Blocks until the agent answered.

    Raises:
        ValueError/TypeError: not a tool, or a tool of that name is there already.
    """
    return _unwrap(_call(_name(agent), ("add_tool", tool), timeout))  # type: ignore[no-any-return]


def remove_tool(agent: AgentHandle | str, name: str, *, timeout: float = 5.0) -> list[str]:
    """Removes the agent's tool ``name``; returns the tool names left. Blocks until the
    agent answered. Raises ToolNotFound for an unknown name."""
    return _unwrap(_call(_name(agent), ("remove_tool", name), timeout))  # type: ignore[no-any-return]


def register_tool(tool: Any) -> Tool:
    """Makes a tool available to every agent by its name (``tools=["my_tool"]``).
    Starts the application if needed. Blocks only while it starts."""
    return application.ensure_started().register_tool(tool)


def _check_message(message: Any) -> str:
    if not isinstance(message, str):
        raise ConfigError(f"the message must be a str, got {type(message).__name__}: {message!r}")
    return message


def chat(
    agent: AgentHandle | str,
    message: str,
    *,
    timeout: float | None = 60.0,
    attachments: Iterable[Attachment] = (),
) -> str:
    """Sends ``message`` to the agent and returns its final answer.

    Blocks until the answer arrives, at most ``timeout`` seconds (None: no bound). If
    the agent crashes during the turn, waits for its restart and resumes the turn there.

    Raises:
        AgentNotFound: no such agent.
        Overloaded: the agent's queue is full (fails at once).
        ChatTimeout: no answer in time (the turn is cancelled).
        TurnFailed: the turn failed (provider errors are its ``__cause__``), was
            cancelled, or the agent was stopped or crashed repeatedly.
    """
    name = _name(agent)
    turn_id = _turn_id()
    request = TurnRequest(turn_id, _check_message(message), tuple(attachments))
    deadline = None if timeout is None else monotonic() + timeout
    crashes = 0
    while True:
        try:
            return _unwrap(  # type: ignore[no-any-return]
                gen_server.call(_via(name), ("chat", request), timeout=_left(deadline))
            )
        except CallTimeout:
            gen_server.cast(_via(name), ("cancel", turn_id))
            raise ChatTimeout(
                f"agent {name!r} did not answer within {timeout} s (the turn was cancelled)"
            ) from None
        except CallError as error:
            if error.reason == "noproc":  # between a crash and the restart, or stopped
                _await_restart(name, deadline, timeout)
                continue
            crashes += 1  # the agent exited during the turn
            if crashes >= MAX_CRASHES_PER_TURN:
                raise TurnFailed(
                    f"agent {name!r} crashed {crashes} times during this turn "
                    f"(last reason: {error.reason!r})"
                ) from None
            _await_restart(name, deadline, timeout)


def _unwrap(result: Any) -> Any:
    """The value of an ``("ok", value)`` answer; raises the error of ``("error", error)``."""
    status, value = result
    if status == "ok":
        return value
    raise value


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - monotonic())


def _await_restart(name: str, deadline: float | None, timeout: float | None) -> None:
    """Blocks until agent ``name`` runs again; AgentNotFound if it is not an agent (any
    more), ChatTimeout at the deadline."""
    while whereis_agent(name) is None:
        if not application.is_running() or application.current_app().agent_config(name) is None:
            raise AgentNotFound(f"no agent named {name!r} is running")
        if deadline is not None and monotonic() >= deadline:
            raise ChatTimeout(f"agent {name!r} was not restarted within {timeout} s")
        beamlike.sleep(_POLL)


def chat_stream(
    agent: AgentHandle | str, message: str, *, timeout: float | None = 60.0
) -> Iterator[str]:
    """Sends ``message`` and yields the answer's text as the provider streams it (also
    the text the model writes between tool calls).

    Blocks while waiting for each chunk; ``timeout`` bounds the whole stream. Stopping
    early (``break``, ``close()``, garbage collection) cancels the turn, killing its
    provider call and tool tasks. A crash of the agent ends the stream with
    ``TurnFailed`` (a half-streamed answer is not resumed).
    """
    name = _name(agent)
    request = TurnRequest(_turn_id(), _check_message(message), stream_to=self_pid(), ref=make_ref())
    return _stream(name, request, timeout)


def _stream(name: str, request: TurnRequest, timeout: float | None) -> Iterator[str]:
    deadline = None if timeout is None else monotonic() + timeout
    watch = _start_stream(name, request, deadline, timeout)
    ref = request.ref
    finished = False
    try:
        while True:
            msg = receive(
                (CHUNK, ref, beamlike.ANY),
                (DONE, ref, beamlike.ANY),
                beamlike.Down(watch, beamlike.ANY, beamlike.ANY),
                timeout=_left(deadline),
                default=None,
            )
            if msg is None:
                raise ChatTimeout(f"agent {name!r} did not finish streaming within {timeout} s")
            if isinstance(msg, beamlike.Down):
                finished = True
                raise TurnFailed(f"agent {name!r} exited during the stream: {msg.reason!r}")
            if msg[0] == DONE:
                finished = True
                _unwrap(msg[2])
                return
            yield msg[2]
    finally:
        beamlike.demonitor(watch, flush=True)
        if not finished:
            gen_server.cast(_via(name), ("cancel", request.turn_id))
        _flush(ref)


def _start_stream(
    name: str, request: TurnRequest, deadline: float | None, timeout: float | None
) -> Any:
    """Hands the stream request to the agent's current incarnation, monitored; waits for
    a restart (nothing was streamed yet) if the agent dies first. Returns the monitor.
    Blocks until the agent accepted the request."""
    crashes = 0
    while True:
        pid = whereis_agent(name)
        if pid is None:  # not an agent, or between a crash and its restart
            _await_restart(name, deadline, timeout)
            continue
        watch = beamlike.monitor(pid)
        try:
            _unwrap(gen_server.call(pid, ("stream", request), timeout=_left(deadline)))
            return watch
        except BaseException as error:
            beamlike.demonitor(watch, flush=True)
            if isinstance(error, CallTimeout):
                raise ChatTimeout(
                    f"agent {name!r} did not accept the stream within {timeout} s"
                ) from None
            if not isinstance(error, CallError):
                raise
            crashes += 1
            if crashes >= MAX_CRASHES_PER_TURN:
                raise TurnFailed(
                    f"agent {name!r} exited {crashes} times before the stream began "
                    f"(last reason: {error.reason!r})"
                ) from None


def _flush(ref: Any) -> None:
    while (
        receive((CHUNK, ref, beamlike.ANY), (DONE, ref, beamlike.ANY), timeout=0, default=None)
        is not None
    ):
        pass
