"""The application: the supervision tree every agent runs under.

::

    elixirchain.sup  (Supervisor, rest_for_one)
    ├── elixirchain.keeper     owns the agent table (configs, tools added at run time,
    │                          start counts) and the tool table (tools registered by name)
    ├── elixirchain.memory     owns the in-memory conversation store (an ETS table)
    ├── elixirchain.registry   Registry: agent name -> agent pid
    ├── elixirchain.gates      DynamicSupervisor: one gate per provider key
    └── elixirchain.agents     DynamicSupervisor: one Agent per start_agent

``rest_for_one``: if the keeper dies its tables go with it, so everything started after
it restarts too (the agents are then gone, as a DynamicSupervisor's children are).

``start()`` starts the tree explicitly (with options); ``start_agent`` starts it with
the defaults on first use. ``stop()`` stops it and every agent. The tree is not linked
to the process that started it. Its state lives on the current beamlike Node
(``node.extensions["elixirchain.app"]``), so each node (and each test) has its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import beamlike
from beamlike import ChildSpec, DynamicSupervisor, GenServer, Ok, Registry, Supervisor, ets
from beamlike import node as beamlike_node
from elixirchain import providers
from elixirchain.agent.config import AgentConfig
from elixirchain.agent.turn import TurnRuntime
from elixirchain.errors import ConfigError, ElixirChainError
from elixirchain.memory import open_backend
from elixirchain.memory.conversation import ConversationMemory
from elixirchain.memory.inmemory import memory_owner_child_spec
from elixirchain.resilience import (
    DEFAULT_GATES,
    Limits,
    ResponseCache,
    RetryPolicy,
    gates_child_spec,
)
from elixirchain.tools import Tool, ToolBox, as_tool

__all__ = ["App", "current_app", "ensure_started", "is_running", "start", "stop"]

APP_KEY = "elixirchain.app"
SUP = "elixirchain.sup"
KEEPER = "elixirchain.keeper"
MEMORY = "elixirchain.memory"
REGISTRY = "elixirchain.registry"
GATES = DEFAULT_GATES  # the gate supervisor call_provider looks for by default
AGENTS = "elixirchain.agents"
AGENT_TABLE = "elixirchain.agent_table"
TOOL_TABLE = "elixirchain.tool_table"

# Agent table rows: (name, config, runtime, starts); beamlike's ets counts from 0.
_CONFIG, _RUNTIME, _STARTS = 1, 2, 3


class _Keeper(GenServer):
    """Owns the application's tables; does nothing else, so it rarely dies."""

    def init(self, _arg: Any) -> Ok:
        ets.new(AGENT_TABLE, named_table=True, access="public")
        ets.new(TOOL_TABLE, named_table=True, access="public")
        return Ok(None)


class App:
    """The application's settings and caches, shared by every agent of the node.

    Caches: one provider instance per provider spec and options, one memory backend per
    memory spec, one response cache: agents share them, which keeps ``start_agent``
    cheap and makes all agents on one API key share one gate.
    """

    def __init__(
        self,
        *,
        memory: Any,
        limits: Mapping[str, Any],
        retry: RetryPolicy,
        cache_size: int,
    ) -> None:
        self.memory = memory
        self.limits = {name: _limits(value) for name, value in limits.items()}
        self.retry = retry
        self.cache = ResponseCache(max_entries=cache_size)
        self._providers: dict[Any, Any] = {}
        self._named: dict[Any, Any] = {}  # (name, model) -> provider, for no options
        self._backends: dict[Any, Any] = {}

    # agents ------------------------------------------------------------------------

    def register_agent(self, config: AgentConfig) -> bool:
        """Adds the agent's row; False if the name is taken. Never blocks."""
        runtime = self.build_runtime(config)
        return ets.insert_new(AGENT_TABLE, (config.name, config, runtime, 0))

    def forget_agent(self, name: str) -> None:
        """Removes the agent's row. Never blocks."""
        ets.delete(AGENT_TABLE, name)

    def agent_config(self, name: str) -> AgentConfig | None:
        rows = ets.lookup(AGENT_TABLE, name)
        return rows[0][_CONFIG] if rows else None

    def agent_names(self) -> list[str]:
        return sorted(row[0] for row in ets.tab2list(AGENT_TABLE))

    def agent_started(self, name: str) -> tuple[TurnRuntime, int]:
        """Called by an agent's ``init``: its runtime and how often it has started."""
        starts = ets.update_counter(AGENT_TABLE, name, (_STARTS, 1))
        return ets.lookup_element(AGENT_TABLE, name, _RUNTIME), starts

    def change_tools(self, name: str, *, add: Any = None, remove: Any = None) -> TurnRuntime:
        """Adds or removes a tool of agent ``name``; the change survives restarts.

        Raises ValueError/TypeError for a bad tool, ToolNotFound for an unknown name.
        """
        runtime: TurnRuntime = ets.lookup_element(AGENT_TABLE, name, _RUNTIME)
        box = ToolBox(runtime.tools.values())  # a new box: a running turn keeps its own
        if add is not None:
            box.add(self.resolve_tool(add))
        if remove is not None:
            box.remove(remove)
        runtime = replace(runtime, tools=box, specs=box.specs())
        ets.update_element(AGENT_TABLE, name, (_RUNTIME, runtime))
        return runtime

    # building an agent's runtime ---------------------------------------------------

    def build_runtime(self, config: AgentConfig) -> TurnRuntime:
        """Everything a turn needs, checked now so that bad options fail in
        ``start_agent``, not later in the agent. Never blocks (except to open a memory
        backend the first time)."""
        provider = self.provider(config.llm_provider, config.model, config.provider_options)
        fallback = None
        if config.fallback_provider is not None:
            fallback = self.provider(config.fallback_provider, None, {})
        box = ToolBox([self.resolve_tool(tool) for tool in config.tools])
        backend = self.backend(config.memory)
        memory = ConversationMemory(backend, config.conversation, window=config.history_window)
        if config.limits is not None:
            limits = _limits(config.limits)
        else:
            limits = self.limits.get(provider.name) or _NO_LIMITS
        retry = _retry(config.retry) if config.retry is not None else self.retry
        return TurnRuntime(
            agent=config.name,
            config=config,
            provider=provider,
            fallback=fallback,
            tools=box,
            memory=memory,
            limits=limits,
            retry=retry,
            cache=self.cache if config.cache else None,
            gates=GATES,
            specs=box.specs(),
        )

    def provider(self, spec: Any, model: str | None, options: Mapping[str, Any]) -> Any:
        """The shared provider instance for ``spec`` with ``model`` and ``options``."""
        if not options and (spec is None or spec.__class__ is str):
            found = self._named.get((spec, model))  # the common case: a name, no options
            if found is None:
                found = self._named[(spec, model)] = self._provider(spec, model, options)
            return found
        return self._provider(spec, model, options)

    def _provider(self, spec: Any, model: str | None, options: Mapping[str, Any]) -> Any:
        if isinstance(spec, providers.Provider):
            if model is not None or options:
                raise ConfigError(
                    "model and provider_options configure a provider given by name; "
                    f"llm_provider is the instance {spec!r}: configure it directly "
                    f"(got model={model!r}, provider_options={dict(options)!r})"
                )
            return spec
        kwargs = dict(options)
        if model is not None:
            kwargs["model"] = model
        try:
            key: Any = (spec, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # unhashable options: not shared
            return providers.create(spec, **kwargs)
        found = self._providers.get(key)
        if found is None:
            found = self._providers[key] = providers.create(spec, **kwargs)
        return found

    def backend(self, spec: Any) -> Any:
        """The shared memory backend for ``spec`` (None: the application's default)."""
        if spec is None:
            spec = self.memory
        if not isinstance(spec, str | type(None)):
            return open_backend(spec)
        found = self._backends.get(spec)
        if found is None:
            found = self._backends[spec] = open_backend(spec)
        return found

    def resolve_tool(self, obj: Any) -> Tool:
        """A tool registered by name with ``register_tool``, else ``as_tool(obj)``."""
        if isinstance(obj, str):
            rows = ets.lookup(TOOL_TABLE, obj)
            if rows:
                return rows[0][1]
        return as_tool(obj)

    def register_tool(self, obj: Any) -> Tool:
        tool = as_tool(obj)
        ets.insert(TOOL_TABLE, (tool.name, tool))
        return tool

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()


_NO_LIMITS = Limits()  # a gate with only its circuit breaker


def _limits(value: Any) -> Limits:
    if isinstance(value, Limits):
        return value
    if isinstance(value, Mapping):
        return Limits(**value)
    raise ConfigError(f"limits must be a resilience.Limits or a dict of its fields, got {value!r}")


def _retry(value: Any) -> RetryPolicy:
    if isinstance(value, RetryPolicy):
        return value
    if isinstance(value, Mapping):
        return RetryPolicy(**value)
    raise ConfigError(
        f"retry must be a resilience.RetryPolicy or a dict of its fields, got {value!r}"
    )


# starting and stopping --------------------------------------------------------------


def is_running() -> bool:
    """Whether the application runs on the current node. Never blocks."""
    node = beamlike_node.current()
    return APP_KEY in node.extensions and beamlike.whereis(SUP) is not None


def current_app() -> App:
    """The running application of the current node. Never blocks.

    Raises:
        ElixirChainError: it is not running.
    """
    app = beamlike_node.current().extensions.get(APP_KEY)
    if app is None:
        raise ElixirChainError("elixirchain is not started: call elixirchain.start() first")
    return app  # type: ignore[no-any-return]


def start(
    *,
    memory: Any = None,
    limits: Mapping[str, Any] | None = None,
    retry: RetryPolicy | Mapping[str, Any] | None = None,
    max_agents: int | None = None,
    max_restarts: int = 100_000,
    max_seconds: float = 5.0,
    cache_size: int = 1024,
) -> App:
    """Starts the application's supervision tree. Blocks until it runs.

    Args:
        memory: the default memory backend for agents: None or "memory" (in memory,
            kept by the application), "sqlite:///file.db", "postgresql://...",
            "redis://...".
        limits: per provider name, its gate's limits, e.g. ``{"gemini": Limits(rpm=60)}``.
        retry: the default retry policy of provider calls.
        max_agents: refuse ``start_agent`` beyond this many agents (None: no bound).
        max_restarts, max_seconds: the agent supervisor's restart intensity. The default
            is high: agents are independent, and one agent crashing in a loop must not
            take the others down with the supervisor.
        cache_size: entries of the shared response cache (for agents with cache=True).

    Raises:
        ElixirChainError: it is already running.
    """
    if is_running():
        raise ElixirChainError("elixirchain is already started on this node")
    app = App(
        memory=memory,
        limits=dict(limits or {}),
        retry=_retry(retry) if retry is not None else RetryPolicy(),
        cache_size=cache_size,
    )
    if memory is not None:
        app.backend(memory)  # a bad memory spec fails here, before anything starts
    agents = ChildSpec(
        id=AGENTS,
        start=(_start_agents, (max_agents, max_restarts, max_seconds), {}),
        type="supervisor",
    )
    children = [
        {"id": KEEPER, "start": (_Keeper.start_link, (None,), {"name": KEEPER})},
        memory_owner_child_spec(MEMORY),
        Registry.child_spec(REGISTRY, "unique"),
        gates_child_spec(GATES),
        agents,
    ]
    beamlike_node.current().extensions[APP_KEY] = app
    try:
        Supervisor.start(children, strategy="rest_for_one", name=SUP)
    except BaseException:
        beamlike_node.current().extensions.pop(APP_KEY, None)
        raise
    return app


def _start_agents(max_agents: int | None, max_restarts: int, max_seconds: float) -> Any:
    """Starts the agent supervisor, forgetting the agents of an earlier one: a
    (re)started DynamicSupervisor has no children, so their rows would name agents
    that no longer run. Blocks until it runs."""
    ets.delete_all_objects(AGENT_TABLE)
    return DynamicSupervisor.start_link(
        name=AGENTS, max_children=max_agents, max_restarts=max_restarts, max_seconds=max_seconds
    )


def ensure_started() -> App:
    """The running application, started with the defaults if it is not. Blocks while
    it starts."""
    if is_running():
        return current_app()
    return start()


def stop() -> None:
    """Stops every agent and the application. Blocks until they have exited. Memory kept
    in a backend outside the node (SQL, Redis) stays; the in-memory store is gone."""
    node = beamlike_node.current()
    app = node.extensions.get(APP_KEY)
    if beamlike.whereis(SUP) is not None:
        beamlike.gen_server.stop(SUP)
    if app is not None:
        app.close()
    node.extensions.pop(APP_KEY, None)
