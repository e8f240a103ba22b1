"""Agents: one supervised GenServer per agent (server), its turn loop (turn), its
options (config) and the functions users call (client)."""

from elixirchain.agent.client import (
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
from elixirchain.agent.config import AgentConfig

__all__ = [
    "AgentConfig",
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
