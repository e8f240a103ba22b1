"""The Pydantic AI baseline of the agent benchmarks, one case per OS process.

``python -m bench.agents_pydantic CASE PARAMS_JSON`` runs one case once and prints
``BENCH <metric> <value>`` lines (see ``bench/_harness.py``). It does NOT patch with
gevent: Pydantic AI runs as its users run it, on asyncio (``await agent.run``) or through
``agent.run_sync``. Started by ``bench/agents.py``, one fresh OS process per repetition;
it also works by hand::

    .venv/bin/python -m bench.agents_pydantic turn '{"agents": 100, "rounds": 10}'

The cases mirror ``bench/agents_cases.py`` (same names, sizes and metrics):

- ``idle_agents``: ``n`` ``Agent`` instances on one shared ``FunctionModel`` (elixirchain's
  agents share one provider instance too), each with a name and instructions; RSS
  growth ÷ n after ``gc.collect()``, and the time of each ``Agent(...)`` construction.
- ``turn``: ``agents`` agents on ``FunctionModel`` answering ``"ok"``, run round-robin
  ``rounds`` times, each agent keeping its conversation (``message_history=`` the
  previous result's ``all_messages()``), as elixirchain's agents keep theirs; the median
  of one ``await agent.run(...)``, and separately of one ``agent.run_sync(...)``.
- ``turn_long``: one such agent after ``history`` turns; median of ``turns`` more runs.
- ``concurrent_http``: ``n`` agents on ``OpenAIChatModel`` pointed at ``base_url`` (the
  fake server) through ``OpenAIProvider(base_url=..., api_key=...)`` with the library's
  default HTTP client; one ``run`` each under ``asyncio.gather``; the wall time.

Requires ``pydantic-ai-slim[openai]``; when it is missing the process prints a
``BENCH_ERROR`` saying so and ``bench/agents.py`` shows the baseline as n/a.
"""

from __future__ import annotations

import array
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness

now = _harness.now
INSTRUCTIONS = "Be brief."
INSTALL = "pip install 'pydantic-ai-slim[openai]'"


def _function_model() -> Any:
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    def answer_ok(_messages: Any, _info: Any) -> ModelResponse:
        return ModelResponse(parts=[TextPart("ok")])

    return FunctionModel(answer_ok)


def idle_agents(n: int, warmup: int = 200) -> dict[str, float]:
    """``n`` Agent instances: bytes of RSS each, µs per construction (median, mean)."""
    from pydantic_ai import Agent

    model = _function_model()
    warm = [Agent(model, name=f"warm-{i}", instructions=INSTRUCTIONS) for i in range(warmup)]
    names = [f"agent-{i}" for i in range(n)]
    agents: list[Any] = [None] * n
    times = array.array("d", bytes(8 * n))
    _harness.settle_memory()
    before = _harness.rss_bytes()
    start = now()
    for i in range(n):
        t0 = now()
        agents[i] = Agent(model, name=names[i], instructions=INSTRUCTIONS)
        times[i] = now() - t0
    total = now() - start
    _harness.settle_memory()
    after = _harness.rss_bytes()
    assert len(warm) == warmup and agents[-1] is not None
    return {
        "bytes_per_agent": (after - before) / n,
        "us_per_start": statistics.median(times) * 1e6,
        "us_per_start_mean": total / n * 1e6,
    }


async def _run_times(agents: list[Any], histories: list[list[Any]], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for i, agent in enumerate(agents):
            t0 = now()
            result = await agent.run("hello", message_history=histories[i])
            times.append(now() - t0)
            if result.output != "ok":
                raise RuntimeError(f"unexpected answer {result.output!r}")
            histories[i] = result.all_messages()
    return times


def _run_sync_times(agents: list[Any], histories: list[list[Any]], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for i, agent in enumerate(agents):
            t0 = now()
            result = agent.run_sync("hello", message_history=histories[i])
            times.append(now() - t0)
            if result.output != "ok":
                raise RuntimeError(f"unexpected answer {result.output!r}")
            histories[i] = result.all_messages()
    return times


def turn(agents: int, rounds: int, warmup: int = 20) -> dict[str, float]:
    """Median µs of one run with a FunctionModel that does nothing: ``await agent.run``
    (one event loop for all runs) and ``agent.run_sync``, on separate agents."""
    from pydantic_ai import Agent

    model = _function_model()

    def make(prefix: str, count: int) -> list[Any]:
        return [Agent(model, name=f"{prefix}-{i}", instructions=INSTRUCTIONS) for i in range(count)]

    async def run_async() -> list[float]:
        warm = make("warm", warmup)
        await _run_times(warm, [[] for _ in warm], 3)
        handles = make("agent", agents)
        _harness.settle_memory()
        return await _run_times(handles, [[] for _ in handles], rounds)

    times = asyncio.run(run_async())
    warm = make("warm-sync", warmup)
    _run_sync_times(warm, [[] for _ in warm], 3)
    handles = make("sync", agents)
    _harness.settle_memory()
    sync_times = _run_sync_times(handles, [[] for _ in handles], rounds)
    return {
        "us_per_turn": statistics.median(times) * 1e6,
        "us_per_turn_sync": statistics.median(sync_times) * 1e6,
    }


def turn_long(history: int, turns: int) -> dict[str, float]:
    """Median µs of one ``await agent.run`` on a conversation of ``history`` turns."""
    from pydantic_ai import Agent

    model = _function_model()

    async def body() -> list[float]:
        warm = Agent(model, name="warm", instructions=INSTRUCTIONS)
        await _run_times([warm], [[]], 20)
        agent = Agent(model, name="long", instructions=INSTRUCTIONS)
        histories: list[list[Any]] = [[]]
        await _run_times([agent], histories, history)
        _harness.settle_memory()
        return await _run_times([agent], histories, turns)

    return {"us_per_turn_long": statistics.median(asyncio.run(body())) * 1e6}


def concurrent_http(n: int, base_url: str, warmup: int = 50) -> dict[str, float]:
    """Wall seconds for ``n`` agents to get one answer each from the fake server."""
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    async def run_all(agents: list[Any], text: str) -> int:
        results = await asyncio.gather(*(a.run(text) for a in agents), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            print(f"{len(errors)} runs failed, e.g. {errors[0]!r}", file=sys.stderr)
        return len(results) - len(errors)

    async def body() -> float:
        # The key is a dummy: the fake server checks none, and the provider needs one.
        provider = OpenAIProvider(base_url=base_url, api_key="sk-bench")
        model = OpenAIChatModel("gpt-4o-mini", provider=provider)
        warm = [Agent(model, name=f"warm-{i}") for i in range(warmup)]
        if await run_all(warm, "warm up") != warmup:
            raise RuntimeError("the warm-up runs did not all succeed")
        agents = [Agent(model, name=f"agent-{i}") for i in range(n)]
        _harness.settle_memory()
        t0 = now()
        answered = await run_all(agents, "hello")
        seconds = now() - t0
        if answered != n:
            raise RuntimeError(f"only {answered} of {n} runs were answered")
        return seconds

    return {"wall_s": asyncio.run(body())}


CASES: dict[str, _harness.CaseFn] = {
    "idle_agents": idle_agents,
    "turn": turn,
    "turn_long": turn_long,
    "concurrent_http": concurrent_http,
}


def main(argv: list[str] | None = None) -> int:
    try:
        import pydantic_ai  # noqa: F401
    except ImportError as exc:
        _harness.emit_error(f"skipped: pydantic-ai is not installed ({exc}); {INSTALL}")
        return 1
    return _harness.case_main("python -m bench.agents_pydantic", CASES, argv)


if __name__ == "__main__":
    _harness.exit_now(main())
