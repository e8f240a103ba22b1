"""Run the beamlike benchmark suite against raw gevent and Erlang/OTP; print one table.

Usage (from the repository root)::

    .venv/bin/python bench/run.py                  # everything, about 4 minutes on 2 cores
    .venv/bin/python bench/run.py --quick          # smoke test, small N, < 60 s
    .venv/bin/python bench/run.py --only ring,pingpong --repeat 3
    .venv/bin/python bench/run.py --json results.json --markdown

Every repetition of every implementation runs in a fresh OS process (a fresh Python that
patches with gevent first, or a fresh ``erl +S 1:1``), after its own untimed warm-up; the
implementations take turns, repetition by repetition. The table shows medians, the ratios
beamlike ÷ raw gevent and beamlike ÷ Erlang, and each goal with PASS/MISS: most goals
bound beamlike ÷ raw gevent, some beamlike's own ratio to its own baseline, or beamlike's
absolute value (see ``Metric``). See bench/README.md for what each case measures.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness
from bench._harness import IMPLS, Erlang, Outcome

# What a metric's goal bounds (always "at most", lower is better):
GOAL_VS_GEVENT = "vs gevent"  # the ratio beamlike ÷ raw gevent
GOAL_VS_OWN = "vs own baseline"  # beamlike's value, itself a ratio to its own baseline
GOAL_ABSOLUTE = "absolute"  # beamlike's value, in the metric's unit


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    goal: float | None = None  # upper bound; what it bounds is said by goal_kind
    goal_kind: str = GOAL_VS_GEVENT
    # False for a metric that is already a ratio (each implementation to its own
    # baseline): dividing beamlike's by another implementation's means nothing.
    compare: bool = True

    def goal_text(self) -> str:
        if self.goal is None:
            return "—"
        if self.goal_kind == GOAL_VS_OWN:
            return f"≤ {self.goal:g} (own)"
        if self.goal_kind == GOAL_ABSOLUTE:
            return f"≤ {self.goal:g} {self.unit.split('/')[0]}"
        return f"≤ {self.goal:g}"


@dataclass(frozen=True)
class Case:
    """One benchmark: its parameters (full and --quick) and the metrics shown in the table."""

    name: str
    title: str
    metrics: tuple[Metric, ...]
    params: dict[str, int]
    warmup: dict[str, int] | None
    quick_params: dict[str, int]
    quick_warmup: dict[str, int] | None
    repeat: int = 7
    quick_repeat: int = 2
    timeout: float = 180.0  # per OS process, seconds


CASES: tuple[Case, ...] = (
    Case(
        name="spawn_exit",
        title="spawn + exit, {n} processes",
        metrics=(Metric("us_per_proc", "µs/process", goal=0.5),),
        params={"n": 100_000},
        warmup={"n": 10_000},
        repeat=5,
        quick_params={"n": 10_000},
        quick_warmup={"n": 1_000},
    ),
    Case(
        name="spawn_idle",
        title="{n} idle processes (in receive)",
        metrics=(
            Metric("us_per_spawn", "µs/spawn"),
            Metric("bytes_per_proc", "bytes/process", goal=0.6),
        ),
        params={"n": 100_000},
        warmup=None,  # the case spawns 1,000 warm-up processes itself, before the baseline
        repeat=3,
        quick_params={"n": 10_000},
        quick_warmup=None,
        quick_repeat=1,
    ),
    Case(
        name="ring",
        title="ring, {procs} processes × {rounds} rounds",
        metrics=(Metric("us_per_hop", "µs/hop", goal=0.4),),
        params={"procs": 1000, "rounds": 100},
        warmup={"procs": 1000, "rounds": 5},
        quick_params={"procs": 100, "rounds": 10},
        quick_warmup={"procs": 100, "rounds": 2},
    ),
    Case(
        name="pingpong",
        title="ping-pong, {n} round trips",
        metrics=(Metric("us_per_roundtrip", "µs/round trip", goal=0.6),),
        params={"n": 100_000},
        warmup={"n": 5_000},
        quick_params={"n": 5_000},
        quick_warmup={"n": 500},
    ),
    Case(
        name="selective_empty",
        title="selective receive, empty mailbox",
        metrics=(Metric("us_per_receive", "µs/receive"),),
        params={"n": 100_000, "junk": 0},
        warmup={"n": 5_000, "junk": 0},
        quick_params={"n": 5_000, "junk": 0},
        quick_warmup={"n": 500, "junk": 0},
    ),
    Case(
        name="selective_10k",
        title="selective receive past {junk} unmatched",
        metrics=(Metric("us_per_receive", "µs/receive", goal=1.0),),
        params={"n": 300, "junk": 10_000},
        warmup={"n": 20, "junk": 10_000},
        quick_params={"n": 20, "junk": 10_000},
        quick_warmup={"n": 3, "junk": 10_000},
    ),
    Case(
        name="call",
        title="GenServer call, 1 client, {n} calls",
        metrics=(Metric("us_per_call", "µs/call", goal=0.8),),
        params={"n": 30_000, "junk": 0},
        warmup={"n": 3_000, "junk": 0},
        quick_params={"n": 3_000, "junk": 0},
        quick_warmup={"n": 300, "junk": 0},
    ),
    Case(
        name="call_100",
        title="GenServer call, {clients} clients × {k} calls",
        metrics=(Metric("us_per_call", "µs/call", goal=0.8),),
        params={"clients": 100, "k": 300},
        warmup={"clients": 100, "k": 20},
        quick_params={"clients": 100, "k": 20},
        quick_warmup={"clients": 100, "k": 2},
    ),
    Case(
        name="call_10k_queued",
        title="GenServer call, {junk} queued in caller",
        metrics=(
            Metric("us_per_call", "µs/call"),
            Metric("us_per_call_empty", "µs/call, empty mailbox"),
            Metric(
                "queued_over_empty",
                "÷ own empty-mailbox call",
                goal=1.5,
                goal_kind=GOAL_VS_OWN,
                compare=False,
            ),
        ),
        params={"n": 20_000, "junk": 10_000},
        warmup={"n": 2_000, "junk": 10_000},
        quick_params={"n": 2_000, "junk": 10_000},
        quick_warmup={"n": 200, "junk": 10_000},
    ),
    Case(
        name="supervisor_restart",
        title="supervisor restarts, {restarts} crashes",
        metrics=(Metric("us_per_restart", "µs/restart", goal=30.0, goal_kind=GOAL_ABSOLUTE),),
        params={"restarts": 5_000},
        warmup={"restarts": 500},
        repeat=5,
        quick_params={"restarts": 300},
        quick_warmup={"restarts": 30},
    ),
)

CASE_NAMES = tuple(c.name for c in CASES)


CaseResult = _harness.CaseResult[Case]


def run_case(
    case: Case, impls: tuple[str, ...], erlang: Erlang, *, quick: bool, repeat: int | None
) -> CaseResult:
    """Run ``case``: each repetition of each implementation in a fresh OS process (warm-up
    included), the implementations interleaved repetition by repetition."""
    params = case.quick_params if quick else case.params
    warmup = case.quick_warmup if quick else case.warmup
    reps = repeat or (case.quick_repeat if quick else case.repeat)
    timeout = 30.0 if quick else case.timeout

    def run_one(impl: str) -> Outcome:
        if impl == "erlang":
            return erlang.run_case(case.name, params, warmup=warmup, timeout=timeout)
        return _harness.run_python_case(impl, case.name, params, warmup=warmup, timeout=timeout)

    outcomes = _harness.run_interleaved(case.name, impls, reps, run_one)
    return CaseResult(case, dict(params), reps, outcomes)


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 10_000 and n % 1000 == 0 else f"{n:,}"


def table_rows(results: list[CaseResult]) -> tuple[list[str], list[list[str]], list[dict]]:
    """The printed table (headers, rows) and the same data as JSON-ready dicts."""
    headers = [
        "benchmark",
        "unit",
        "beamlike",
        "gevent",
        "erlang",
        "bl÷gevent",
        "goal",
        "result",
        "bl÷erlang",
    ]
    rows: list[list[str]] = []
    records: list[dict] = []
    for res in results:
        title = res.title(_count)
        for metric in res.case.metrics:
            samples = {i: o.samples.get(metric.name, []) for i, o in res.outcomes.items()}
            med = {impl: out.median(metric.name) for impl, out in res.outcomes.items()}
            vs_gevent = vs_erlang = paired_gevent = paired_erlang = None
            if metric.compare:
                vs_gevent = _harness.ratio(med.get("beamlike"), med.get("gevent"))
                vs_erlang = _harness.ratio(med.get("beamlike"), med.get("erlang"))
                mine = samples.get("beamlike", [])
                paired_gevent = _harness.paired_ratio(mine, samples.get("gevent", []))
                paired_erlang = _harness.paired_ratio(mine, samples.get("erlang", []))
            judged = vs_gevent if metric.goal_kind == GOAL_VS_GEVENT else med.get("beamlike")
            verdict = _harness.verdict(judged, metric.goal)
            cells = [title if metric is res.case.metrics[0] else "", metric.unit]
            cells += [
                _harness.median_cell(res.outcomes.get(i), med.get(i), "skipped") for i in IMPLS
            ]
            goal = metric.goal_text()
            cells += [_harness.fmt_ratio(vs_gevent), goal, verdict, _harness.fmt_ratio(vs_erlang)]
            rows.append(cells)
            records.append(
                {
                    **res.record(title, metric.name, metric.unit, med, samples),
                    "beamlike_over_gevent": vs_gevent,
                    "beamlike_over_erlang": vs_erlang,
                    "beamlike_over_gevent_paired": paired_gevent,
                    "beamlike_over_erlang_paired": paired_erlang,
                    "goal_beamlike_over_gevent": (
                        metric.goal if metric.goal_kind == GOAL_VS_GEVENT else None
                    ),
                    "goal": metric.goal,
                    "goal_kind": metric.goal_kind if metric.goal is not None else None,
                    "result": verdict if metric.goal is not None else None,
                }
            )
    return headers, rows, records


def goal_legend(kinds: set[str]) -> str:
    """The note under the table saying what each kind of goal bounds."""
    lines = []
    if GOAL_VS_GEVENT in kinds:
        lines.append("goal ≤ x: bounds bl÷gevent")
    if GOAL_VS_OWN in kinds:
        lines.append(
            "goal ≤ x (own): bounds beamlike's value in that row, a ratio to its own baseline "
            "(each column: that implementation ÷ itself)"
        )
    if GOAL_ABSOLUTE in kinds:
        lines.append("goal ≤ x µs: bounds beamlike's value itself")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="beamlike vs raw gevent vs Erlang/OTP (erl +S 1:1), one table.",
    )
    _harness.add_run_arguments(
        parser,
        CASE_NAMES,
        repeat_help=(
            "repetitions per case (default: 7; 5 for spawn + exit and supervisor restarts, "
            "3 for memory; --quick: 2, 1)"
        ),
        quick_help="small N and few repetitions: a smoke test (< 60 s)",
    )
    parser.add_argument(
        "--impl",
        metavar="IMPL[,IMPL...]",
        default=",".join(IMPLS),
        help="implementations to run (default: all three)",
    )
    args = _harness.parse_run_arguments(parser, argv, CASE_NAMES)
    impls = _harness.split_names(parser, args.impl, IMPLS, "implementation")
    args.impl = tuple(i for i in IMPLS if i in impls)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    erlang = Erlang()
    if "erlang" in args.impl and not erlang.ensure_compiled():
        print(f"Erlang/OTP {erlang.skip_reason}", file=sys.stderr)
    started = datetime.datetime.now(datetime.UTC)
    t0 = _harness.now()
    try:
        results = [
            run_case(c, args.impl, erlang, quick=args.quick, repeat=args.repeat) for c in cases
        ]
    finally:
        erlang.close()
    elapsed = _harness.now() - t0

    machine = _harness.machine_info(erlang)
    headers, rows, records = table_rows(results)
    mode = "quick (smoke test)" if args.quick else "full"
    print()
    print(
        f"beamlike benchmarks — {mode}; medians; ratios are beamlike ÷ other (lower is "
        f"better); Erlang runs with erl +S 1:1"
    )
    print(
        f"machine: {machine['cpus']} CPUs, Python {machine['python']}, gevent "
        f"{machine['gevent']}, greenlet {machine['greenlet']}, "
        f"OTP {machine['otp'] or ('— (' + erlang.skip_reason + ')' if 'erlang' in args.impl else 'not run')}"
    )
    print()
    print(_harness.render_table(headers, rows, markdown=args.markdown))
    kinds = {m.goal_kind for r in results for m in r.case.metrics if m.goal is not None}
    if kinds - {GOAL_VS_GEVENT}:
        print()
        print(goal_legend(kinds))
    errors = [
        (r.case.name, impl, o.error)
        for r in results
        for impl, o in r.outcomes.items()
        if o.error and not (impl == "erlang" and not erlang.available)
    ]
    if not erlang.available and "erlang" in args.impl:
        print(f"\nErlang/OTP {erlang.skip_reason}")
    by_error: dict[str, list[str]] = {}
    for name, impl, error in errors:
        by_error.setdefault(f"{impl}: {error}", []).append(name)
    for error, names in by_error.items():
        print(f"\nerror in {', '.join(names)} / {error}")
    print(f"\ntotal {elapsed:.0f} s")

    if args.json:
        _harness.write_json(
            args.json,
            "bench/run.py",
            argv,
            quick=args.quick,
            started=started,
            elapsed=elapsed,
            machine=machine,
            results=records,
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
