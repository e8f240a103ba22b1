"""Several agents at work: researchers in parallel, a summariser fed by their findings.

    .venv/bin/python examples/multi_agent.py

Each agent is its own process, so agents work concurrently: three researchers get a
question each as three ``beamlike.task`` tasks, and ``task.await_many`` collects the
answers. The summariser agent then gets the researchers' findings as its input.

Runs on the offline ``local`` provider with a simulated latency of 0.5 s per model
call: a researcher needs two calls (one asking for the calculator, one answering), so
the three answer in about 1 s together, against 3 s one after the other. Exits 1 if
something did not hold.
"""

from gevent import monkey

monkey.patch_all()

import sys
import time

import beamlike
import elixirchain as ec
from beamlike import task

QUESTIONS = {
    "researcher-1": "What is 17 * 23?",
    "researcher-2": "What is 2 ** 10?",
    "researcher-3": "What is (3 + 4) * 5?",
}


def main():
    researchers = [
        ec.start_agent(
            name=name,
            system_prompt="You research one question and answer in one sentence.",
            tools=["calculator"],
            llm_provider="local",
            provider_options={"delay": 0.5},
        )
        for name in QUESTIONS
    ]
    summariser = ec.start_agent(
        name="summariser", system_prompt="You summarise findings.", llm_provider="local"
    )

    started = time.perf_counter()
    tasks = [task.async_(ec.chat, agent, QUESTIONS[agent.name]) for agent in researchers]
    findings = task.await_many(tasks, timeout=30)
    elapsed = time.perf_counter() - started
    for agent, finding in zip(researchers, findings, strict=True):
        print(f"{agent.name}: {finding}")
    print(f"{len(researchers)} researchers answered in {elapsed:.1f} s, working in parallel")

    summary = ec.chat(summariser, "Summarise these findings:\n" + "\n".join(findings))
    print(f"summariser: {summary}")

    ec.stop()
    return elapsed < 2.5 and summary == "Summary: 17 * 23 = 391. 2 ** 10 = 1024. (3 + 4) * 5 = 35."


if __name__ == "__main__":
    sys.exit(0 if beamlike.run(main) else 1)
