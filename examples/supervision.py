"""Supervision: what happens to an agent when things fail.

    .venv/bin/python examples/supervision.py

1. The agent process is killed in the middle of a turn, while it waits for the model
   after its calculator calls. Its supervisor restarts it; the pending ``chat`` sends
   the same turn to the new process, which resumes it from the turn's journal: the
   calculator calls that had completed are not run again. The conversation is intact.
2. Tools fail: one raises, one hangs past its timeout. Each failure goes back to the
   model as an error result it can act on; the agent process is the same one as before.

Runs on the offline ``local`` provider (part 2 uses a tiny ``FunctionProvider`` as the
"model", because the local provider only ever calls the calculator). Exits 1 if
something did not hold.
"""

from gevent import monkey

monkey.patch_all()

import sys

import beamlike
import elixirchain as ec
from elixirchain.providers import FunctionProvider


def killed_mid_turn():
    # delay: each provider call takes 0.3 s, so there is time to kill the agent.
    agent = ec.start_agent(
        name="survivor", tools=["calculator"], llm_provider="local", provider_options={"delay": 0.3}
    )
    print(ec.chat(agent, "My name is Ada."))
    old = ec.whereis_agent(agent)

    def killer():
        if beamlike.receive("calculator done", timeout=5, default=None) is None:
            return
        beamlike.sleep(0.1)  # the agent now waits for the model's second answer
        print(f"killing agent process {ec.whereis_agent(agent)}")
        beamlike.exit(ec.whereis_agent(agent), "kill")

    killer_pid = beamlike.spawn(killer)
    tool_runs = []

    def on_tool_result(event, measurements, metadata):
        tool_runs.append(metadata["tool"])
        if len(tool_runs) == 2:
            beamlike.send(killer_pid, "calculator done")

    def on_restart(event, measurements, metadata):
        print(f"telemetry: agent {metadata['agent']!r} restarted (start {metadata['starts']})")

    ec.telemetry.attach("tool-runs", ("elixirchain", "tool", "result"), on_tool_result)
    ec.telemetry.attach("restarts", ("elixirchain", "agent", "restart"), on_restart)
    answer = ec.chat(agent, "What is 2 + 2 and 3 * 3?", timeout=10)
    new = ec.whereis_agent(agent)
    print(answer)
    print(f"agent process {old} was replaced by {new}")
    print(f"calculator calls run: {len(tool_runs)} (none re-run after the restart)")
    print(ec.chat(agent, "Do you remember me?"))
    ec.telemetry.detach("tool-runs")
    ec.telemetry.detach("restarts")
    ec.stop_agent(agent)
    return new != old and answer == "2 + 2 = 4. 3 * 3 = 9." and len(tool_runs) == 2


@ec.tool
def weather(city: str) -> str:
    """The current weather of a city.

    Args:
        city: the city's name.
    """
    raise ConnectionError(f"weather service unreachable for {city}")


@ec.tool(timeout=0.2)
def stock_price(symbol: str) -> float:
    """The last price of a stock.

    Args:
        symbol: the ticker symbol.
    """
    beamlike.sleep(60)  # hangs: killed after its 0.2 s timeout
    return 1.0


def model(request):
    """A stand-in model: asks for both tools, then reports what came back."""
    last = request.messages[-1]
    if last.role == "tool":
        return " ".join(
            f"[{r.name}: {'error' if r.is_error else 'ok'}: {r.content}]" for r in last.tool_results
        )
    return ec.Message.assistant(
        "",
        [
            ec.ToolCall("call_1", "weather", {"city": "Paris"}),
            ec.ToolCall("call_2", "stock_price", {"symbol": "ACME"}),
        ],
    )


def failing_tools():
    agent = ec.start_agent(
        name="unlucky", llm_provider=FunctionProvider(model), tools=[weather, stock_price]
    )
    before = ec.whereis_agent(agent)
    answer = ec.chat(agent, "Weather in Paris and the price of ACME?")
    print(answer)
    alive = ec.whereis_agent(agent) == before
    print(f"same agent process afterwards: {alive}")
    ec.stop_agent(agent)
    return alive and answer.count(": error: ") == 2


def main():
    print("1. an agent killed in the middle of a turn")
    first = killed_mid_turn()
    print("\n2. tools that fail")
    second = failing_tools()
    ec.stop()
    return first and second


if __name__ == "__main__":
    sys.exit(0 if beamlike.run(main) else 1)
