"""Chaos: agents under load while random agents are killed every 10 ms.

Every chat must end with an answer or a clear elixirchain error, every agent must answer
afterwards, and no committed turn may be lost or committed twice.
"""

from __future__ import annotations

import random
from collections import Counter
from time import monotonic

import beamlike
import elixirchain as ec
from elixirchain import app as application

AGENTS = 1000
CHAOS_SECONDS = 5.0
KILL_EVERY = 0.010


def test_agents_killed_at_random_under_load_lose_no_committed_turn():
    handles = [
        ec.start_agent(name=f"chaos-{i}", provider_options={"delay": 0.005}) for i in range(AGENTS)
    ]
    ok: dict[str, list[str]] = {h.name: [] for h in handles}
    errors: Counter[str] = Counter()
    stop_at = monotonic() + CHAOS_SECONDS

    def client(handle):
        n = 0
        while monotonic() < stop_at:
            text = f"{handle.name} message {n}"
            n += 1
            try:
                answer = ec.chat(handle, text, timeout=30)
            except ec.ElixirChainError as error:
                errors[type(error).__name__] += 1
                continue
            assert answer.endswith(f"You said: {text}")
            ok[handle.name].append(text)

    kills = 0

    def killer():
        # One kill per 10 ms on average: under this load (every client chats in a tight
        # loop, the CPU is saturated) a process waits ~0.1 s for its turn, so the killer
        # catches up with the kills that fell due meanwhile.
        nonlocal kills
        rng = random.Random(7)
        start = monotonic()
        while (now := monotonic()) < stop_at:
            due = int((now - start) / KILL_EVERY) - kills
            for _ in range(max(due, 0)):
                pid = ec.whereis_agent(rng.choice(handles))
                kills += 1
                if pid is not None:
                    beamlike.exit(pid, "kill")
            beamlike.sleep(KILL_EVERY)

    clients = [beamlike.task.async_(client, h) for h in handles]
    chaos = beamlike.task.async_(killer)
    beamlike.task.await_many([*clients, chaos], timeout=CHAOS_SECONDS + 60)

    assert kills >= CHAOS_SECONDS / KILL_EVERY * 0.9  # the killer really ran
    answered = sum(len(texts) for texts in ok.values())
    assert answered > AGENTS  # every agent got through several turns
    assert set(errors) <= {"TurnFailed", "ChatTimeout"}, errors

    # every agent answers afterwards
    after = beamlike.task.async_stream(
        handles,
        lambda h: ec.chat(h, "after the storm", timeout=30),
        max_concurrency=AGENTS,
        timeout=60,
    )
    assert all(status == "ok" for status, _ in after)

    # every turn whose chat returned is committed exactly once, in order
    backend = application.current_app().backend(None)
    for handle in handles:
        users = [m.content for m in backend.load(handle.name) if m.role == "user"]
        assert users[-1] == "after the storm"
        committed = users[:-1]
        assert len(committed) == len(set(committed)), f"{handle.name}: a turn committed twice"
        assert [t for t in committed if t in set(ok[handle.name])] == ok[handle.name]
