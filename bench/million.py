"""One million idle processes: time to spawn them and the memory they take.

Usage (from the repository root; ``make bench-1m``)::

    .venv/bin/python bench/million.py
    .venv/bin/python bench/million.py --impl beamlike --n 1000000 --json 1m.json

Each implementation runs the ``spawn_idle`` case (processes blocked in ``receive``) in its
own fresh OS process: beamlike and raw gevent in Python (gevent patched first), Erlang with
``erl +S 1:1 +P 2000000``. The spawn time runs from the first spawn until the last process
has started (so all are blocked); memory is the RSS of the whole OS process at that point
(for Erlang also the ``erlang:memory(total)`` delta per process). Goals for beamlike:
under 20 s and under 8 GiB.

A Python run stops early (and says so) when its RSS would pass a guard, by default 70 % of
the memory available when the script starts (at most 16 GiB): this is a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness
from bench._harness import IMPLS, Erlang, Outcome

GIB = 1 << 30
GOAL_SECONDS = 20.0
GOAL_GIB = 8.0


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def run_impl(impl: str, n: int, guard_mb: int, erlang: Erlang, timeout: float) -> Outcome:
    if impl == "erlang":
        return erlang.run_case(
            "spawn_idle",
            {"n": n},
            repeat=1,
            warmup=None,
            timeout=timeout,
            extra_flags=["+P", str(max(2 * n, 1_048_576))],
        )
    params = {"n": n, "max_rss_mb": guard_mb}
    return _harness.run_python_case(
        impl, "spawn_idle", params, repeat=1, warmup=None, timeout=timeout
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/million.py", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="processes (default 10^6)")
    parser.add_argument("--impl", default=",".join(IMPLS), help="comma-separated subset")
    parser.add_argument(
        "--max-rss-gib",
        type=float,
        default=None,
        help="stop a Python run whose RSS passes this (default: see module doc)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per implementation, s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    args = parser.parse_args(argv)
    impls = [i for i in IMPLS if i in {s.strip() for s in args.impl.split(",")}]
    guard = args.max_rss_gib * GIB if args.max_rss_gib else min(16 * GIB, 0.7 * mem_available())
    guard_mb = int(guard // (1 << 20))

    erlang = Erlang()
    results: dict[str, dict] = {}
    try:
        for impl in impls:
            out = run_impl(impl, args.n, guard_mb, erlang, args.timeout)
            status = f"ERROR {out.error}" if out.error else "ok"
            print(f"  {impl:<9} {out.seconds:6.1f} s  {status}", file=sys.stderr)
            spawn_us = out.median("us_per_spawn")
            rss_mb = out.median("rss_mb")
            results[impl] = {
                "spawn_seconds": spawn_us * args.n / 1e6 if spawn_us is not None else None,
                "rss_gib": rss_mb / 1024 if rss_mb is not None else None,
                "bytes_per_proc": out.median("bytes_per_proc"),
                "samples": out.samples,
                "error": out.error,
            }
    finally:
        erlang.close()

    headers = ["implementation", "spawn time (s)", "RSS (GiB)", "bytes/process", "goal", "result"]
    rows = []
    for impl, r in results.items():
        verdict = goal = "—"
        if impl == "beamlike":
            goal = f"< {GOAL_SECONDS:g} s, < {GOAL_GIB:g} GiB"
            if r["spawn_seconds"] is None or r["rss_gib"] is None:
                verdict = "n/a"
            else:
                fast = "PASS" if r["spawn_seconds"] < GOAL_SECONDS else "MISS"
                small = "PASS" if r["rss_gib"] < GOAL_GIB else "MISS"
                verdict = f"time {fast}, RSS {small}"
        rows.append(
            [
                impl if not r["error"] else f"{impl} (error)",
                _fmt(r["spawn_seconds"], 1),
                _fmt(r["rss_gib"], 2),
                _fmt(r["bytes_per_proc"], 0),
                goal,
                verdict,
            ]
        )
    machine = _harness.machine_info(erlang)
    print(
        f"\n{args.n:,} idle processes; machine: {machine['cpus']} CPUs, Python "
        f"{machine['python']}, gevent {machine['gevent']}, OTP {machine['otp'] or ('—' if 'erlang' in impls else 'not run')}; "
        f"RSS guard {guard / GIB:.1f} GiB\n"
    )
    print(_harness.render_table(headers, rows, markdown=False))
    print("\n(Erlang bytes/process: erlang:memory(total) delta; RSS is the whole VM.)")
    for impl, r in results.items():
        if r["error"]:
            reason = r["error"]
            if impl == "erlang" and not erlang.available:
                reason = erlang.skip_reason
            print(f"{impl}: {reason}")
    if args.json:
        args.json.write_text(
            json.dumps({"n": args.n, "machine": machine, "results": results}, indent=2) + "\n"
        )
        print(f"wrote {args.json}")
    return 1 if any(r["error"] for i, r in results.items() if i != "erlang") else 0


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
