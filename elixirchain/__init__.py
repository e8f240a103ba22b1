"""ElixirChain: the agent layer on top of beamlike.

This package will hold the agent layer described in ARCHITECTURE.md: one GenServer per
agent, LLM providers, tools, chains, multi-agent coordination, pluggable memory,
resilience (rate limits, circuit breakers, retries), telemetry and an interactive shell.
It uses only beamlike's public API.

None of that is built yet. For now the package exposes only ``__version__``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
