"""ElixirChain: AI agents as supervised, isolated lightweight processes.

Each agent is a beamlike GenServer under a supervisor: it keeps running when a provider,
a tool or the agent itself fails, thousands run in one OS process, and the conversation
lives outside the agent so a restarted agent carries on. Call
``gevent.monkey.patch_all()`` in your program's entry point first.

    import elixirchain as ec

    agent = ec.start_agent(name="assistant", tools=["calculator"])
    print(ec.chat(agent, "What is 17 * 23?"))
    for chunk in ec.chat_stream(agent, "Write a long report"):
        print(chunk, end="")
    ec.stop_agent(agent)

With no API key configured the ``local`` provider (offline, deterministic, an honest
stand-in for an LLM) answers; set ``GEMINI_API_KEY`` (or ``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``) to use a real model.
"""

from elixirchain import errors, messages, telemetry
from elixirchain.agent import (
    AgentConfig,
    AgentHandle,
    add_tool,
    agent_info,
    chat,
    chat_stream,
    list_agents,
    register_tool,
    remove_tool,
    start_agent,
    stop_agent,
    whereis_agent,
)
from elixirchain.app import start, stop
from elixirchain.errors import (
    AgentAlreadyStarted,
    AgentNotFound,
    ChatTimeout,
    CircuitOpen,
    ConfigError,
    ElixirChainError,
    Overloaded,
    ProviderError,
    RateLimited,
    ToolError,
    TurnFailed,
)
from elixirchain.messages import Attachment, Chunk, Message, ToolCall, ToolResult, Usage
from elixirchain.resilience import Limits, RetryPolicy
from elixirchain.tools import Tool, ToolContext, tool

__all__ = [
    "AgentAlreadyStarted",
    "AgentConfig",
    "AgentHandle",
    "AgentNotFound",
    "Attachment",
    "ChatTimeout",
    "Chunk",
    "CircuitOpen",
    "ConfigError",
    "ElixirChainError",
    "Limits",
    "Message",
    "Overloaded",
    "ProviderError",
    "RateLimited",
    "RetryPolicy",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "TurnFailed",
    "Usage",
    "__version__",
    "add_tool",
    "agent_info",
    "chat",
    "chat_stream",
    "errors",
    "list_agents",
    "messages",
    "register_tool",
    "remove_tool",
    "start",
    "start_agent",
    "stop",
    "stop_agent",
    "telemetry",
    "tool",
    "whereis_agent",
]

__version__ = "0.1.0"
