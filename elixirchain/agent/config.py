"""An agent's configuration: the options of ``start_agent``, checked once, kept frozen.

``AgentConfig.from_options`` accepts keyword arguments or the README's dict (both may be
mixed; keywords win) and refuses an unknown or misspelt option with the list of valid
ones, so a typo never silently falls back to a default.

``AgentConfig`` is a ``NamedTuple``: immutable like a frozen dataclass, and built in a
third of the time (a frozen dataclass sets each of its 23 fields through
``object.__setattr__``), which ``start_agent`` pays once per agent. Change one with
``config._replace(field=value)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from elixirchain.errors import ConfigError, unknown_option

__all__ = ["MEMORY_TYPES", "AgentConfig"]

MEMORY_TYPES = ("conversation",)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$")


_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})  # the shared, read-only default


class AgentConfig(NamedTuple):
    """Everything an agent needs to (re)start. All times in seconds.

    Attributes:
        name: unique agent name; the handle addresses the agent by it.
        system_prompt: the system instruction sent with every request.
        tools: tools offered to the model (names of built-ins or registered tools, Tool
            classes or instances, ``@tool`` functions).
        llm_provider: provider name ("local", "gemini", "openai", "anthropic", "ollama",
            "name:model") or a Provider instance; None picks the default (``local`` when
            no API key is configured).
        model: the model name; None uses the provider's default.
        memory_type: "conversation" (the only type so far).
        memory: memory backend: None (the application's default), a URL
            ("sqlite:///agents.db", "postgresql://...", "redis://...") or a backend.
        conversation_id: the memory key; defaults to the agent's name.
        history_window: how many past messages to send (None: all).
        temperature, max_tokens: sampling options passed to the provider.
        max_steps: provider calls per turn before giving up without a final answer.
        max_queue: pending chat requests beyond the running turn; more fail fast.
        request_timeout: bound on each provider call.
        tool_timeout, tool_retries, max_tool_concurrency: the tool runner's defaults.
        limits: the provider gate's limits (``resilience.Limits`` or a dict of its
            fields); None uses the application's limits for that provider.
        retry: ``resilience.RetryPolicy`` or a dict of its fields; None: the default.
        fallback_provider: a provider (name or instance) tried when the primary fails.
        cache: cache identical provider requests (deterministic requests only).
        provider_options: extra keyword arguments for the provider's constructor.
        metadata: free-form data passed to tools in their context.
    """

    name: str
    system_prompt: str | None = None
    tools: tuple[Any, ...] = ()
    llm_provider: Any = None
    model: str | None = None
    memory_type: str = "conversation"
    memory: Any = None
    conversation_id: str | None = None
    history_window: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_steps: int = 8
    max_queue: int = 16
    request_timeout: float = 60.0
    tool_timeout: float = 30.0
    tool_retries: int = 0
    max_tool_concurrency: int = 8
    limits: Any = None
    retry: Any = None
    fallback_provider: Any = None
    cache: bool = False
    provider_options: Mapping[str, Any] = _NO_OPTIONS
    metadata: Mapping[str, Any] = _NO_OPTIONS

    @classmethod
    def option_names(cls) -> list[str]:
        return list(_OPTIONS)

    @classmethod
    def from_options(
        cls, config: Mapping[str, Any] | None = None, /, **options: Any
    ) -> AgentConfig:
        """Builds and checks a config. Never blocks.

        Raises:
            ConfigError: an unknown option, a missing or bad name, or a bad value; the
                message names the option, what was expected and what was given.
        """
        if config is None:
            merged = options
        elif isinstance(config, Mapping):
            merged = {str(k): v for k, v in config.items()}
            merged.update(options)
        else:
            raise ConfigError(
                f"start_agent takes a dict of options or keyword arguments, "
                f"got {type(config).__name__}: {config!r}"
            )
        if not _OPTIONS.issuperset(merged):
            unknown = [k for k in merged if k not in _OPTIONS]
            raise unknown_option("start_agent", unknown, _OPTIONS)
        if "name" not in merged:
            raise ConfigError("start_agent needs a name= (a unique string naming the agent)")
        tools = merged.get("tools")
        if tools is not None and tools.__class__ is not tuple:
            if isinstance(tools, str) or not isinstance(tools, list | tuple):
                tools = (tools,)
            merged["tools"] = tuple(tools)
        elif tools is None and "tools" in merged:
            merged["tools"] = ()
        for key in ("provider_options", "metadata"):
            value = merged.get(key)
            if value is None:
                merged.pop(key, None)
            elif not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a dict, got {type(value).__name__}: {value!r}")
            else:
                merged[key] = dict(value)  # a copy: later changes by the caller do not leak in
        agent = cls(**merged)
        agent._check()
        return agent

    def _check(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                "name must be a string of 1-128 letters, digits or _ . : @ - "
                f"(not starting with a punctuation mark), got {self.name!r}"
            )
        if self.memory_type not in MEMORY_TYPES:
            raise ConfigError(
                f"memory_type must be one of {', '.join(MEMORY_TYPES)}, got {self.memory_type!r}"
            )
        for key in ("max_steps", "max_queue", "max_tool_concurrency"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key} must be an integer >= 1, got {value!r}")
        if not isinstance(self.tool_retries, int) or self.tool_retries < 0:
            raise ConfigError(f"tool_retries must be an integer >= 0, got {self.tool_retries!r}")
        for key in ("request_timeout", "tool_timeout"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{key} must be a number of seconds > 0, got {value!r}")
        if self.history_window is not None and (
            not isinstance(self.history_window, int) or self.history_window < 1
        ):
            raise ConfigError(
                f"history_window must be None or an integer >= 1, got {self.history_window!r}"
            )
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ConfigError(
                f"system_prompt must be a string, got {type(self.system_prompt).__name__}"
            )
        if self.model is not None and not isinstance(self.model, str):
            raise ConfigError(f"model must be a string, got {self.model!r}")

    @property
    def conversation(self) -> str:
        """The memory key of this agent's conversation."""
        return self.conversation_id or self.name


_OPTIONS = frozenset(AgentConfig._fields)
