"""Custom providers: your own model behind an agent, watched by telemetry, rate-limited.

    .venv/bin/python examples/custom_provider.py

1. A ``Provider`` subclass (here a rule-based stand-in for an in-house model) plugged in
   with ``llm_provider=<instance>``. It asks for a custom tool, gets the result, answers;
   it also streams. A telemetry handler prints every provider call the agent makes.
2. A ``FunctionProvider`` shared by four agents, with ``Limits(rpm=2)``: the agents
   share one gate (one per provider key), which lets two requests through per window
   and queues the others in arrival order. The window is 1 s here to keep the example
   short; the default is 60 s (requests per minute).

Offline; needs no API key. Exits 1 if something did not hold.
"""

from gevent import monkey

monkey.patch_all()

import re
import sys
import time

import beamlike
import elixirchain as ec
from beamlike import task
from elixirchain.providers import FunctionProvider, Provider
from elixirchain.resilience import Limits

# -- 1. a Provider subclass ------------------------------------------------------------


class KeywordModel(Provider):
    """Answers by rules: asks for the ``weather`` tool when asked about the weather."""

    name = "keyword"
    default_model = "keyword-1"

    def generate(self, request):
        last = request.messages[-1]
        words_in = sum(len(message.content.split()) for message in request.messages)
        if last.role == "tool":
            result = last.tool_results[0].content
            text = f"It is {result['sky']} in {result['city']}, {result['celsius']} °C."
        elif (asked := re.search(r"weather in (\w+)", last.content)) and request.tools:
            call = ec.ToolCall("call_1", "weather", {"city": asked.group(1)})
            message = ec.Message.assistant("", [call])
            return ec.messages.Response(message, ec.Usage(words_in, 2), "tool_calls", request.model)
        else:
            text = f"You asked: {last.content}"
        usage = ec.Usage(input_tokens=words_in, output_tokens=len(text.split()))
        return ec.messages.Response(ec.Message.assistant(text), usage, model=request.model)

    def stream(self, request):
        response = self.generate(request)
        words = response.message.content.split(" ")
        for n, word in enumerate(words):
            yield ec.Chunk(text=word if n == 0 else " " + word)
        yield ec.Chunk(
            tool_calls=response.message.tool_calls,
            usage=response.usage,
            finish_reason=response.finish_reason,
        )


@ec.tool
def weather(city: str) -> dict:
    """The current weather of a city.

    Args:
        city: the city's name.
    """
    return {"city": city, "sky": "sunny", "celsius": 21}


def print_call(event, measurements, metadata):
    print(
        f"  [telemetry] {metadata['provider']}/{metadata['model']} call: "
        f"{measurements['duration'] * 1000:.2f} ms, {measurements['input_tokens']} tokens in, "
        f"{measurements['output_tokens']} out"
    )


def own_provider():
    ec.telemetry.attach("print-calls", ("elixirchain", "provider", "call", "stop"), print_call)
    agent = ec.start_agent(name="forecaster", llm_provider=KeywordModel(), tools=[weather])
    answer = ec.chat(agent, "What is the weather in Lisbon?")
    print(answer)
    streamed = list(ec.chat_stream(agent, "Thanks, that is all."))
    print(f"streamed in {len(streamed)} chunks: {''.join(streamed)}")
    ec.telemetry.detach("print-calls")
    ec.stop_agent(agent)
    return answer == "It is sunny in Lisbon, 21 °C." and len(streamed) > 1


# -- 2. a FunctionProvider behind a rate-limited gate ---------------------------------


def rate_limited():
    provider = FunctionProvider(lambda request: "ok", name="echo", key="echo-team-key")
    limits = Limits(rpm=2, window=1.0)
    started = time.perf_counter()
    waits = []

    def on_call(event, measurements, metadata):
        print(f"  {metadata['agent']} calls the provider at {time.perf_counter() - started:.1f} s")

    def on_wait(event, measurements, metadata):
        waits.append(metadata["reason"])

    ec.telemetry.attach("calls", ("elixirchain", "provider", "call", "start"), on_call)
    ec.telemetry.attach("waits", ("elixirchain", "gate", "wait"), on_wait)
    agents = [
        ec.start_agent(name=f"worker-{n}", llm_provider=provider, limits=limits) for n in range(4)
    ]
    answers = task.await_many([task.async_(ec.chat, agent, "go") for agent in agents], timeout=30)
    elapsed = time.perf_counter() - started
    print(f"4 answers {answers} in {elapsed:.1f} s; {len(waits)} requests waited ({waits})")
    ec.telemetry.detach("calls")
    ec.telemetry.detach("waits")
    return answers == ["ok"] * 4 and waits == ["rpm", "rpm"] and elapsed >= 0.9


def main():
    print("1. a Provider subclass, with a telemetry handler")
    first = own_provider()
    print("\n2. four agents on one key, Limits(rpm=2) per 1 s window")
    second = rate_limited()
    ec.stop()
    return first and second


if __name__ == "__main__":
    sys.exit(0 if beamlike.run(main) else 1)
