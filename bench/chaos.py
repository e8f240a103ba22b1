"""Chaos benchmark: agents under load while a killer kills a random agent every 10 ms.

Usage (from the repository root)::

    .venv/bin/python bench/chaos.py                       # 1,000 agents, 5 s, ~15 s in all
    .venv/bin/python bench/chaos.py --agents 200 --seconds 2
    .venv/bin/python bench/chaos.py --json chaos.json

What it does, in one OS process (gevent-patched first, one fresh beamlike node):

1. starts ``--agents`` agents on the ``local`` provider with a simulated latency of
   ``--delay`` seconds per provider call (so turns really are in flight when kills land);
2. for ``--seconds``, each agent has its own client process chatting with it in a loop
   (unique messages ``"<agent> message <n>"``, ``chat(timeout=30)``), while a killer
   process kills a random agent (``exit(pid, "kill")``, untrappable) every ``--kill-every``
   seconds (catching up with kills that fell due while the CPU was busy);
3. counts the chats answered and the chats that raised, by exception type, and the
   latency of the answered ones; the restarts come from the ``agent.restart`` telemetry
   event;
4. when the clients and the killer have finished: every agent must answer one more chat;
5. checks the conversations in memory against what the clients saw: every turn whose
   ``chat`` returned must be committed exactly once, in the order the client saw, no turn
   may be committed twice, and the last turn must be the final chat. A turn whose chat
   raised may be committed or not (the agent died between the commit and the reply, say);
   how many were is printed too.

Exit status 1 when a check fails. ``--machine`` also prints ``BENCH <metric> <value>``
lines (``bench/agents.py`` runs it so); a failed check prints ``BENCH_ERROR``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from time import monotonic  # noqa: E402
from typing import Any  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import beamlike  # noqa: E402
import elixirchain as ec  # noqa: E402
from bench import _harness  # noqa: E402
from elixirchain import app as application  # noqa: E402
from elixirchain import telemetry  # noqa: E402

now = _harness.now
FINAL = "after the storm"


def run_chaos(
    agents: int, seconds: float, kill_every: float, delay: float, seed: int
) -> dict[str, Any]:
    """Runs the whole benchmark on the current node; returns its figures. Blocks."""
    figures: dict[str, Any] = {
        "agents": agents,
        "seconds": seconds,
        "kill_every_ms": kill_every * 1000,
        "provider_delay_ms": delay * 1000,
    }
    restarts = Counter[str]()
    telemetry.attach(
        "bench-chaos-restarts",
        ("elixirchain", "agent", "restart"),
        lambda _event, _measurements, meta: restarts.update([meta["agent"]]),
    )

    t0 = now()
    handles = [
        ec.start_agent(name=f"chaos-{i}", provider_options={"delay": delay}) for i in range(agents)
    ]
    figures["setup_s"] = now() - t0

    ok: dict[str, list[str]] = {h.name: [] for h in handles}
    failed: dict[str, list[str]] = {h.name: [] for h in handles}
    errors = Counter[str]()
    latencies: list[float] = []
    stop_at = monotonic() + seconds

    def client(handle: Any) -> None:
        n = 0
        while monotonic() < stop_at:
            text = f"{handle.name} message {n}"
            n += 1
            started = now()
            try:
                answer = ec.chat(handle, text, timeout=30)
            except Exception as error:  # counted by type, whatever it is
                errors[type(error).__name__] += 1
                failed[handle.name].append(text)
                continue
            latencies.append(now() - started)
            if not answer.endswith(f"You said: {text}"):
                errors["WrongAnswer"] += 1
                failed[handle.name].append(text)
                continue
            ok[handle.name].append(text)

    kills = {"attempted": 0, "hit": 0}

    def killer() -> None:
        rng = random.Random(seed)
        start = monotonic()
        while (moment := monotonic()) < stop_at:
            due = int((moment - start) / kill_every) - kills["attempted"]
            for _ in range(max(due, 0)):
                pid = ec.whereis_agent(rng.choice(handles))
                kills["attempted"] += 1
                if pid is not None:  # None: that agent is between a kill and its restart
                    beamlike.exit(pid, "kill")
                    kills["hit"] += 1
            beamlike.sleep(kill_every)

    t0 = now()
    clients = [beamlike.task.async_(client, h) for h in handles]
    chaos = beamlike.task.async_(killer)
    beamlike.task.await_many([*clients, chaos], timeout=seconds + 120)
    figures["chaos_wall_s"] = now() - t0
    answered = sum(len(texts) for texts in ok.values())
    figures.update(
        kills=kills["attempted"],
        kills_hit=kills["hit"],
        restarts=sum(restarts.values()),
        agents_restarted=len(restarts),
        chats_ok=answered,
        chats_failed=sum(errors.values()),
        chats_per_s=answered / figures["chaos_wall_s"],
        latency_median_ms=statistics.median(latencies) * 1000 if latencies else None,
        latency_p99_ms=_percentile(latencies, 0.99) * 1000 if latencies else None,
        errors=dict(sorted(errors.items())),
    )

    # every agent answers afterwards
    t0 = now()
    after = beamlike.task.async_stream(
        handles,
        lambda h: ec.chat(h, FINAL, timeout=30),
        max_concurrency=agents,
        timeout=60,
    )
    answers = [value for status, value in after if status == "ok"]
    figures["answered_after"] = sum(1 for a in answers if a.endswith(f"You said: {FINAL}"))
    figures["after_wall_s"] = now() - t0

    figures.update(_verify(handles, ok, failed))
    telemetry.detach("bench-chaos-restarts")
    return figures


def _verify(
    handles: list[Any], ok: dict[str, list[str]], failed: dict[str, list[str]]
) -> dict[str, Any]:
    """Compares each agent's committed conversation with what its client saw."""
    backend = application.current_app().backend(None)
    lost = twice = duplicates = out_of_order = committed_failed = final_missing = 0
    committed_ok = 0
    examples: list[str] = []
    for handle in handles:
        users = [m.content for m in backend.load(handle.name) if m.role == "user"]
        if not users or users[-1] != FINAL:
            final_missing += 1
        counts = Counter(users)
        duplicates += sum(c - 1 for c in counts.values() if c > 1)
        seen = ok[handle.name]
        for text in seen:
            if counts[text] == 0:
                lost += 1
                examples.append(f"lost: {text!r}")
            elif counts[text] > 1:
                twice += 1
                examples.append(f"committed {counts[text]} times: {text!r}")
            else:
                committed_ok += 1
        seen_set = set(seen)
        if [u for u in users if u in seen_set] != [t for t in seen if counts[t]]:
            out_of_order += 1
            examples.append(f"{handle.name}: committed turns out of the client's order")
        committed_failed += sum(1 for text in failed[handle.name] if counts[text])
    return {
        "ok_turns_committed_once": committed_ok,
        "ok_turns_lost": lost,
        "ok_turns_committed_twice": twice,
        "duplicate_commits": duplicates,
        "agents_out_of_order": out_of_order,
        "agents_final_missing": final_missing,
        "failed_chats_committed": committed_failed,
        "examples": examples[:5],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def problems(figures: dict[str, Any]) -> list[str]:
    """What went wrong, as sentences; empty when every check passed."""
    out = []
    agents = figures["agents"]
    if figures["answered_after"] != agents:
        out.append(f"only {figures['answered_after']} of {agents} agents answered afterwards")
    for key, what in (
        ("ok_turns_lost", "answered turns are missing from memory"),
        ("ok_turns_committed_twice", "answered turns were committed more than once"),
        ("duplicate_commits", "turns were committed more than once"),
        ("agents_out_of_order", "agents committed turns out of order"),
        ("agents_final_missing", "agents do not end with the final chat"),
    ):
        if figures[key]:
            out.append(f"{figures[key]} {what}")
    if figures["chats_ok"] == 0:
        out.append("no chat was answered during the chaos")
    if figures["kills_hit"] == 0:
        out.append("the killer killed nothing")
    return out


def report(figures: dict[str, Any]) -> str:
    """The figures as a few lines of text."""
    f = figures
    errors = ", ".join(f"{k} {v}" for k, v in f["errors"].items()) or "none"
    lines = [
        f"chaos: {f['agents']:,} agents chatting in a loop (local provider, "
        f"{f['provider_delay_ms']:g} ms per call) for {f['seconds']:g} s, one random agent "
        f"killed every {f['kill_every_ms']:g} ms",
        f"  kills              {f['kills']:,} ({f['kills_hit']:,} hit a running agent; "
        f"{f['restarts']:,} restarts of {f['agents_restarted']:,} agents)",
        f"  chats answered     {f['chats_ok']:,} ({f['chats_per_s']:,.0f}/s; latency median "
        f"{_ms(f['latency_median_ms'])}, p99 {_ms(f['latency_p99_ms'])})",
        f"  chats that raised  {f['chats_failed']:,} ({errors})",
        f"  answered after     {f['answered_after']:,} of {f['agents']:,} agents",
        f"  answered turns     {f['ok_turns_committed_once']:,} committed exactly once, "
        f"{f['ok_turns_lost']} lost, {f['ok_turns_committed_twice']} committed twice "
        f"(duplicates of any turn: {f['duplicate_commits']}; agents out of order: "
        f"{f['agents_out_of_order']})",
        f"  raised but stored  {f['failed_chats_committed']:,} turns whose chat raised were "
        f"committed (the kill came after the commit)",
        f"  wall time          setup {f['setup_s']:.1f} s, chaos {f['chaos_wall_s']:.1f} s, "
        f"final chats {f['after_wall_s']:.1f} s",
    ]
    bad = problems(figures)
    lines.append("  result             " + ("PASS" if not bad else "FAIL: " + "; ".join(bad)))
    lines += [f"    {example}" for example in f["examples"]]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def emit_machine(figures: dict[str, Any]) -> None:
    """The figures as BENCH lines for bench/agents.py."""
    for key, value in figures.items():
        if key == "errors":
            for name, count in value.items():
                _harness.emit(f"errors.{name}", count)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _harness.emit(key, value)
    bad = problems(figures)
    if bad:
        _harness.emit_error("; ".join(bad))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/chaos.py", description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000, help="agents (default 1000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="chaos duration (default 5)")
    parser.add_argument(
        "--kill-every", type=float, default=0.010, help="seconds between kills (default 0.01)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.005, help="provider latency, seconds (default 0.005)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the killer's random seed")
    parser.add_argument(
        "--reports",
        action="store_true",
        help="keep crash and supervisor reports (default: off, as in bench/run.py's restarts)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--machine", action="store_true", help="also print BENCH lines (for bench/agents.py)"
    )
    args = parser.parse_args(argv)
    if args.agents < 1 or args.seconds <= 0 or args.kill_every <= 0 or args.delay < 0:
        parser.error("--agents >= 1, --seconds > 0, --kill-every > 0 and --delay >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _harness.forget_api_keys()  # the offline provider, whatever the environment says
    if not args.reports:  # one crash report per kill would measure traceback formatting
        logging.disable(logging.CRITICAL)
    try:
        figures = beamlike.run(
            run_chaos, args.agents, args.seconds, args.kill_every, args.delay, args.seed
        )
    except Exception as exc:
        traceback.print_exc()
        if args.machine:
            _harness.emit_error(f"{type(exc).__name__}: {exc}")
        return 1
    if args.machine:
        emit_machine(figures)
    print(report(figures), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if problems(figures) else 0


if __name__ == "__main__":
    _harness.exit_now(main())  # skip tearing down a thousand parked greenlets
