"""The main demo (``make demo``): a thousand supervised agents, one killed mid-turn.

With no API key it runs on the offline ``local`` provider (deterministic, an honest
stand-in for an LLM). With ``GEMINI_API_KEY`` set, a few agents use Gemini too.

What it shows, with timings:
1. 1,000 agents start and answer one chat each, concurrently;
2. an agent is killed in the middle of a turn: its supervisor restarts it, the pending
   ``chat`` resumes the turn on the new agent, and the conversation is intact;
3. an agent streams its answer chunk by chunk;
4. an agent answers arithmetic by calling the ``calculator`` tool.
"""

from gevent import monkey

monkey.patch_all()

import os
import sys
import time

import beamlike
import elixirchain as ec

AGENTS = int(os.environ.get("DEMO_AGENTS", "1000"))


def timed(label, fn):
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label:<46} {elapsed * 1000:9.1f} ms")
    return value, elapsed


def many_agents():
    handles, _ = timed(
        f"start {AGENTS} agents",
        lambda: [
            ec.start_agent(name=f"agent-{i}", system_prompt="Be brief.") for i in range(AGENTS)
        ],
    )

    def ask(handle):
        return ec.chat(handle, f"hello from {handle.name}")

    answers, elapsed = timed(
        f"{AGENTS} concurrent chats (one per agent)",
        lambda: list(beamlike.task.async_stream(handles, ask, max_concurrency=AGENTS, timeout=60)),
    )
    ok = sum(1 for status, _ in answers if status == "ok")
    print(f"  {ok}/{AGENTS} answered; e.g. {answers[0][1]!r}")
    return ok


def kill_mid_turn():
    agent = ec.start_agent(name="survivor", provider_options={"delay": 0.3})
    ec.chat(agent, "My name is Ada.")
    old = ec.whereis_agent(agent)

    def killer():
        beamlike.sleep(0.1)  # the second turn is now waiting for the provider
        beamlike.exit(ec.whereis_agent(agent), "kill")

    beamlike.spawn(killer)
    answer, _ = timed(
        "chat while the agent is killed mid-turn", lambda: ec.chat(agent, "Still there?")
    )
    new = ec.whereis_agent(agent)
    print(f"  agent pid {old} was killed, restarted as {new}")
    print(f"  answer after restart: {answer!r}")
    return "2 earlier messages" in answer and new != old


def streaming():
    agent = ec.start_agent(
        name="streamer", provider_options={"chunk_delay": 0.01, "words_per_chunk": 4}
    )
    print("  streamed: ", end="")
    chunks = []
    start = time.perf_counter()
    for chunk in ec.chat_stream(agent, "Write a long report"):
        chunks.append(chunk)
        print(chunk, end="", flush=True)
    print(f"\n  {len(chunks)} chunks in {(time.perf_counter() - start) * 1000:.1f} ms")
    return len(chunks) > 1


def calculator():
    agent = ec.start_agent(name="mathematician", tools=["calculator"])
    answer, _ = timed(
        "calculator tool: 'What is 17 * 23?'", lambda: ec.chat(agent, "What is 17 * 23?")
    )
    print(f"  answer: {answer!r}")
    return answer == "17 * 23 = 391."


def gemini():
    if not (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")):
        print("  (GEMINI_API_KEY not set: skipped; the local provider answered above)")
        return True
    handles = [
        ec.start_agent(name=f"gemini-{i}", llm_provider="gemini", tools=["calculator"])
        for i in range(3)
    ]
    for handle in handles:
        answer, _ = timed(
            f"{handle.name}: 'What is 12 * 12?'", lambda h=handle: ec.chat(h, "What is 12 * 12?")
        )
        print(f"  {answer!r}")
    return True


def main():
    print(
        f"elixirchain {ec.__version__} demo; provider: "
        f"{ec.agent_info(ec.start_agent(name='probe'))['provider']}"
    )
    results = {}
    print("\n1. many agents")
    results["many agents"] = many_agents() == AGENTS
    print("\n2. kill an agent in the middle of a turn")
    results["restart keeps the conversation"] = kill_mid_turn()
    print("\n3. streaming")
    results["streaming"] = streaming()
    print("\n4. tools")
    results["calculator"] = calculator()
    print("\n5. Gemini")
    results["gemini"] = gemini()
    print("\nsummary")
    for name, ok in results.items():
        print(f"  {'ok ' if ok else 'FAIL'} {name}")
    ec.stop()
    return all(results.values())


if __name__ == "__main__":
    sys.exit(0 if beamlike.run(main) else 1)
