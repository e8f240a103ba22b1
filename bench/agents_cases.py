"""The elixirchain side of the agent benchmarks, one case per OS process.

``python -m bench.agents_cases CASE PARAMS_JSON`` patches the standard library with
gevent first, runs one case once on a fresh beamlike node (``beamlike.run``) and prints
``BENCH <metric> <value>`` lines (see ``bench/_harness.py``). Started by
``bench/agents.py``, one fresh OS process per repetition; it also works by hand::

    .venv/bin/python -m bench.agents_cases idle_agents '{"n": 10000, "warmup": 200}'

Cases (each does its own untimed warm-up first, in the same process):

- ``idle_agents``: start ``n`` agents on the ``local`` provider, without a conversation;
  the RSS growth after ``gc.collect()`` divided by ``n``, and the time of each
  ``start_agent`` call (median per call, and the mean: total ÷ n).
- ``turn``: ``agents`` agents on ``FunctionProvider(lambda request: "ok")``, chatted
  round-robin ``rounds`` times (so every conversation stays short); the median time of one
  ``chat`` call, which is all framework: the provider does nothing.
- ``turn_long``: one such agent after ``history`` committed turns; the median of
  ``turns`` more ``chat`` calls (how the cost of a turn grows with the conversation).
- ``concurrent_http``: ``n`` agents on the OpenAI-compatible adapter pointed at
  ``base_url`` (the fake server, another OS process); one ``chat`` each, all at once;
  the wall time from the first request until the last answer.
"""

from gevent import monkey

monkey.patch_all()

import array  # noqa: E402
import statistics  # noqa: E402
from typing import Any  # noqa: E402

import beamlike  # noqa: E402
import elixirchain as ec  # noqa: E402
from bench import _harness  # noqa: E402
from elixirchain.providers import FunctionProvider  # noqa: E402

now = _harness.now
SYSTEM_PROMPT = "Be brief."


def _answer_ok(_request: Any) -> str:
    return "ok"


def idle_agents(n: int, warmup: int = 200) -> dict[str, float]:
    """``n`` idle agents: bytes of RSS each, µs per ``start_agent`` (median, mean)."""
    for i in range(warmup):  # starts the application and warms every code path up
        ec.start_agent(name=f"warm-{i}", system_prompt=SYSTEM_PROMPT)
    names = [f"agent-{i}" for i in range(n)]  # made before the baseline: not agent memory
    times = array.array("d", bytes(8 * n))  # preallocated: the loop allocates nothing
    _harness.settle_memory()
    before = _harness.rss_bytes()
    start = now()
    for i in range(n):
        t0 = now()
        ec.start_agent(name=names[i], system_prompt=SYSTEM_PROMPT)
        times[i] = now() - t0
    total = now() - start
    _harness.settle_memory()
    after = _harness.rss_bytes()
    if len(ec.list_agents()) != n + warmup:
        raise RuntimeError(f"expected {n + warmup} agents, found {len(ec.list_agents())}")
    return {
        "bytes_per_agent": (after - before) / n,
        "us_per_start": statistics.median(times) * 1e6,
        "us_per_start_mean": total / n * 1e6,
    }


def _chat_times(handles: list[Any], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for handle in handles:
            t0 = now()
            answer = ec.chat(handle, "hello")
            times.append(now() - t0)
            if answer != "ok":
                raise RuntimeError(f"unexpected answer {answer!r}")
    return times


def turn(agents: int, rounds: int, warmup: int = 20) -> dict[str, float]:
    """Median µs of one ``chat`` with an in-process provider that does nothing."""
    provider = FunctionProvider(_answer_ok)
    warm = [
        ec.start_agent(name=f"warm-{i}", llm_provider=provider, system_prompt=SYSTEM_PROMPT)
        for i in range(warmup)
    ]
    _chat_times(warm, 3)
    handles = [
        ec.start_agent(name=f"agent-{i}", llm_provider=provider, system_prompt=SYSTEM_PROMPT)
        for i in range(agents)
    ]
    _harness.settle_memory()
    times = _chat_times(handles, rounds)
    return {"us_per_turn": statistics.median(times) * 1e6}


def turn_long(history: int, turns: int) -> dict[str, float]:
    """Median µs of one ``chat`` on a conversation of ``history`` committed turns."""
    provider = FunctionProvider(_answer_ok)
    warm = ec.start_agent(name="warm", llm_provider=provider, system_prompt=SYSTEM_PROMPT)
    _chat_times([warm], 20)
    agent = ec.start_agent(name="long", llm_provider=provider, system_prompt=SYSTEM_PROMPT)
    _chat_times([agent], history)
    _harness.settle_memory()
    times = _chat_times([agent], turns)
    return {"us_per_turn_long": statistics.median(times) * 1e6}


def _chat_all(handles: list[Any], text: str) -> int:
    """Chats once with every agent, all at once; the number answered. Blocks."""
    results = beamlike.task.async_stream(
        handles,
        lambda handle: ec.chat(handle, text, timeout=60),
        max_concurrency=len(handles),
        ordered=False,
        timeout=120,
    )
    return sum(1 for status, _ in results if status == "ok")


def concurrent_http(n: int, base_url: str, warmup: int = 50) -> dict[str, float]:
    """Wall seconds for ``n`` agents to get one answer each from the fake server."""
    options = {"base_url": base_url}

    def start(name: str) -> Any:
        return ec.start_agent(name=name, llm_provider="openai", provider_options=options)

    warm = [start(f"warm-{i}") for i in range(warmup)]
    if _chat_all(warm, "warm up") != warmup:
        raise RuntimeError("the warm-up chats did not all succeed")
    handles = [start(f"agent-{i}") for i in range(n)]
    _harness.settle_memory()
    t0 = now()
    answered = _chat_all(handles, "hello")
    seconds = now() - t0
    if answered != n:
        raise RuntimeError(f"only {answered} of {n} chats were answered")
    return {"wall_s": seconds}


CASES: dict[str, _harness.CaseFn] = {
    "idle_agents": idle_agents,
    "turn": turn,
    "turn_long": turn_long,
    "concurrent_http": concurrent_http,
}


def main(argv: list[str] | None = None) -> int:
    _harness.forget_api_keys()  # the default provider must be the offline one
    return _harness.case_main("python -m bench.agents_cases", CASES, argv, run=beamlike.run)


if __name__ == "__main__":
    _harness.exit_now(main())  # skip tearing down thousands of parked greenlets
