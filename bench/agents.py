"""Benchmarks of elixirchain's agents next to Pydantic AI, and the chaos benchmark.

Usage (from the repository root)::

    .venv/bin/python bench/agents.py                  # everything, about 3 minutes on 2 cores
    .venv/bin/python bench/agents.py --quick          # smoke test, small N, < 60 s
    .venv/bin/python bench/agents.py --only turn,concurrent_http --repeat 3
    .venv/bin/python bench/agents.py --json agents.json --markdown

Every repetition of every implementation runs in a fresh OS process: elixirchain's
cases (``bench/agents_cases.py``) in a Python that calls ``gevent.monkey.patch_all()``
first, Pydantic AI's (``bench/agents_pydantic.py``) in a Python without gevent, on asyncio.
The two take turns repetition by repetition (alternating which goes first), so a change
in the background load hits both alike. The HTTP case starts a fresh fake
OpenAI-compatible server (``tests/fakes/openai_server.py``, its own OS process,
answering after 100 ms) for each repetition. The chaos benchmark (``bench/chaos.py``)
runs once, at the end. The table shows medians, the ratio elixirchain ÷ Pydantic AI
(lower is better for elixirchain), each goal (on elixirchain's value) with PASS/MISS,
and the range over the repetitions. See bench/README.md.

Pydantic AI is a bench-only dependency: ``pip install 'pydantic-ai-slim[openai]'`` into
the project's venv (or into ``.venv-bench``, which is used when it exists, or name an
interpreter with ``--baseline-python``). Without it the baseline column shows ``n/a``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness
from bench._harness import PYTHON, ROOT, Outcome
from bench.agents_pydantic import INSTALL

FAKE_SERVER = ROOT / "tests" / "fakes" / "openai_server.py"
FAKE_DELAY = 0.1  # seconds the fake server waits before answering
BENCH_VENV_PYTHON = ROOT / ".venv-bench" / "bin" / "python"

EC, PAI = "elixirchain", "pydantic_ai"
IMPLS = (EC, PAI)
MODULES = {EC: "bench.agents_cases", PAI: "bench.agents_pydantic"}
LABELS = {EC: "elixirchain", PAI: "Pydantic AI"}


@dataclass(frozen=True)
class Metric:
    """One row. ``goal`` bounds elixirchain's value (in ``unit``); lower is better."""

    name: str
    unit: str
    goal: float | None = None
    goal_text: str = "—"
    ec_metric: str | None = None  # elixirchain's metric, when it is not ``name``
    note: str = ""

    def metric_for(self, impl: str) -> str:
        return (self.ec_metric or self.name) if impl == EC else self.name


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    metrics: tuple[Metric, ...]
    params: dict[str, int]
    quick_params: dict[str, int]
    repeat: int = 5
    quick_repeat: int = 1
    timeout: float = 180.0  # per OS process, seconds
    server: bool = False  # needs the fake OpenAI server


CASES: tuple[Case, ...] = (
    Case(
        name="idle_agents",
        title="{n} idle agents, no conversation",
        metrics=(
            Metric("bytes_per_agent", "bytes/agent (RSS)", 8192, "≤ 8 KiB"),
            Metric("us_per_start", "µs/start (median call)", 50, "≤ 50 µs"),
            Metric("us_per_start_mean", "µs/start (mean, incl. GC)"),
        ),
        params={"n": 10_000},
        quick_params={"n": 2_000},
    ),
    Case(
        name="turn",
        title="chat turn, in-process provider ({agents} agents × {rounds})",
        metrics=(
            Metric("us_per_turn", "µs/turn (PAI: await run)", 100, "≤ 100 µs"),
            Metric("us_per_turn_sync", "µs/turn (PAI: run_sync)", ec_metric="us_per_turn"),
        ),
        params={"agents": 100, "rounds": 10},
        quick_params={"agents": 50, "rounds": 4},
    ),
    Case(
        name="turn_long",
        title="chat turn after {history} turns of history",
        metrics=(Metric("us_per_turn_long", "µs/turn (PAI: await run)"),),
        params={"history": 200, "turns": 50},
        quick_params={"history": 50, "turns": 20},
        repeat=3,
    ),
    Case(
        name="concurrent_http",
        title="{n} agents × 1 chat at once, HTTP, 100 ms server",
        metrics=(Metric("wall_s", "s wall", 1.5, "≤ 1.5 s"),),
        params={"n": 1_000},
        quick_params={"n": 200},
        repeat=3,
        server=True,
    ),
)
CHAOS_PARAMS = {"agents": 1000, "seconds": 5}
CHAOS_QUICK_PARAMS = {"agents": 200, "seconds": 2}
CASE_NAMES = (*(c.name for c in CASES), "chaos")


CaseResult = _harness.CaseResult[Case]


# --------------------------------------------------------------------------- running


class FakeServer:
    """The fake OpenAI-compatible server in its own OS process (started, then stopped)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeServer:
        """Starts the server; blocks until it printed its port (at most 20 s)."""
        if not FAKE_SERVER.exists():
            raise RuntimeError(f"{FAKE_SERVER.relative_to(ROOT)} is missing")
        self.proc = subprocess.Popen(
            [PYTHON, str(FAKE_SERVER), "--port", "0", "--delay", str(self.delay)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20.0)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            self.__exit__()
            raise RuntimeError(f"the fake OpenAI server did not print its port (got {line!r})")
        self.base_url = f"http://127.0.0.1:{line}/v1"
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 5 s). Blocks until it exited."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


def baseline_python(explicit: str | None) -> tuple[str, str, str | None]:
    """The interpreter for Pydantic AI's side, the versions it has (pydantic-ai, openai),
    and why it cannot run (None: it can). Blocks until the probe exits (at most 60 s)."""
    python = explicit or (str(BENCH_VENV_PYTHON) if BENCH_VENV_PYTHON.exists() else PYTHON)
    probe = "import pydantic_ai, openai; print(pydantic_ai.__version__, openai.__version__)"
    try:
        proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return python, "n/a", f"{python} does not run: {exc}"
    if proc.returncode != 0:
        return python, "n/a", f"pydantic-ai is not installed for {python} ({INSTALL})"
    parts = proc.stdout.split()
    versions = f"pydantic-ai {parts[0]}, openai {parts[1]}" if len(parts) == 2 else "pydantic-ai —"
    return python, versions, None


def run_one(
    impl: str,
    case: Case,
    params: Mapping[str, Any],
    python: str,
    timeout: float,
    pin: str | None = None,
) -> Outcome:
    """One repetition of one implementation in a fresh OS process (pinned to CPU ``pin``
    with ``taskset`` when given). Blocks until it exits."""
    prefix = ["taskset", "-c", pin] if pin is not None else []

    def run(sent: Mapping[str, Any]) -> Outcome:
        cmd = [*prefix, python, "-m", MODULES[impl], case.name, json.dumps(dict(sent))]
        return _harness.run_subprocess(cmd, timeout)

    if not case.server:
        return run(params)
    try:
        with FakeServer(FAKE_DELAY) as server:
            return run({**params, "base_url": server.base_url})
    except RuntimeError as exc:
        return Outcome(error=f"skipped: {exc}")


def run_case(
    case: Case,
    pythons: Mapping[str, str],
    skipped: Mapping[str, str],
    *,
    quick: bool,
    repeat: int | None,
    pin: str | None = None,
) -> CaseResult:
    """Runs ``case``: each repetition of each implementation in a fresh OS process, the
    implementations taking turns (and alternating which goes first)."""
    params = case.quick_params if quick else case.params
    reps = repeat or (case.quick_repeat if quick else case.repeat)
    timeout = 60.0 if quick else case.timeout
    outcomes = _harness.run_interleaved(
        case.name,
        IMPLS,
        reps,
        lambda impl: run_one(impl, case, params, pythons[impl], timeout, pin),
        skipped=skipped,
        alternate=True,
    )
    return CaseResult(case, dict(params), reps, outcomes)


def run_chaos(quick: bool) -> tuple[Outcome, dict[str, Any]]:
    """Runs bench/chaos.py once in its own OS process. Blocks until it exits.

    Returns its figures and the lines of its report (an Outcome), and its parameters."""
    params = CHAOS_QUICK_PARAMS if quick else CHAOS_PARAMS
    cmd = [PYTHON, str(ROOT / "bench" / "chaos.py"), "--machine"]
    for key, value in params.items():
        cmd += [f"--{key}", str(value)]
    out = _harness.run_subprocess(cmd, 120 if quick else 300)
    _harness.print_status("chaos", EC, out)
    return out, params


# --------------------------------------------------------------------------- reporting


def _count(n: int) -> str:
    return f"{n:,}"


def _range(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return "(1 run)"
    return f"{_harness.fmt_value(min(values))}–{_harness.fmt_value(max(values))}"


def table_rows(results: list[CaseResult]) -> tuple[list[str], list[list[str]], list[dict]]:
    headers = [
        "benchmark",
        "unit",
        "elixirchain",
        "Pydantic AI",
        "ec÷PAI",
        "goal",
        "result",
        "ec range",
        "PAI range",
    ]
    rows: list[list[str]] = []
    records: list[dict] = []
    for res in results:
        title = res.title(_count)
        for metric in res.case.metrics:
            samples = {
                impl: res.outcomes[impl].samples.get(metric.metric_for(impl), []) for impl in IMPLS
            }
            med = {impl: res.outcomes[impl].median(metric.metric_for(impl)) for impl in IMPLS}
            ratio = _harness.ratio(med[EC], med[PAI])
            verdict = _harness.verdict(med[EC], metric.goal)
            cells = [title if metric is res.case.metrics[0] else "", metric.unit]
            cells += [_harness.median_cell(res.outcomes[i], med[i], "n/a") for i in IMPLS]
            cells += [
                _harness.fmt_ratio(ratio),
                metric.goal_text,
                verdict,
                _range(samples[EC]),
                _range(samples[PAI]),
            ]
            rows.append(cells)
            records.append(
                {
                    **res.record(title, metric.name, metric.unit, med, samples),
                    "elixirchain_over_pydantic_ai": ratio,
                    "elixirchain_over_pydantic_ai_paired": _harness.paired_ratio(
                        samples[EC], samples[PAI]
                    ),
                    "goal": metric.goal,
                    "result": verdict if metric.goal is not None else None,
                }
            )
    return headers, rows, records


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/agents.py",
        description="elixirchain agents next to Pydantic AI, and the chaos benchmark.",
    )
    _harness.add_run_arguments(
        parser,
        CASE_NAMES,
        repeat_help="repetitions per case (default: 5, 3 for turn_long and concurrent_http; "
        "--quick: 1); the chaos benchmark always runs once",
        quick_help="small N, one repetition: a smoke test (< 60 s)",
    )
    parser.add_argument(
        "--pin",
        metavar="CPU",
        help="run each measured process under `taskset -c CPU` (the fake server and the "
        "chaos benchmark stay unpinned); steadier per-turn figures on a shared VM",
    )
    parser.add_argument(
        "--baseline-python",
        metavar="PATH",
        help="the interpreter with pydantic-ai installed (default: .venv-bench/bin/python "
        "if it exists, else this one)",
    )
    return _harness.parse_run_arguments(parser, argv, CASE_NAMES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    with_chaos = not args.only or "chaos" in args.only
    pai_python, pai_versions, pai_missing = baseline_python(args.baseline_python)
    if pai_missing:
        print(f"Pydantic AI baseline: n/a: {pai_missing}", file=sys.stderr)
    pythons = {EC: PYTHON, PAI: pai_python}
    skipped = {PAI: pai_missing} if pai_missing else {}
    started = datetime.datetime.now(datetime.UTC)
    t0 = _harness.now()
    results = [
        run_case(c, pythons, skipped, quick=args.quick, repeat=args.repeat, pin=args.pin)
        for c in cases
    ]
    chaos: tuple[Outcome, dict[str, Any]] | None = None
    if with_chaos:
        chaos = run_chaos(args.quick)
    elapsed = _harness.now() - t0

    machine: dict[str, Any] = dict(_harness.machine_info())
    machine["baseline"] = pai_versions
    mode = "quick (smoke test)" if args.quick else "full"
    if args.pin is not None:
        mode += f", measured processes pinned to CPU {args.pin}"
    print()
    print(
        f"elixirchain agents vs Pydantic AI — {mode}; medians over repetitions, each in a "
        f"fresh OS process; ec÷PAI: lower is better for elixirchain"
    )
    print(
        f"machine: {machine['cpus']} CPUs, Python {machine['python']}, gevent "
        f"{machine['gevent']}, greenlet {machine['greenlet']}; baseline: {machine['baseline']}"
    )
    records: list[dict] = []
    if results:
        headers, rows, records = table_rows(results)
        print()
        print(_harness.render_table(headers, rows, markdown=args.markdown))
        print()
        print(
            "goals bound elixirchain's value. References from the issue: Pydantic AI ≈ 29 KiB "
            "and ≈ 170 µs per Agent, LangGraph ≈ 161 KiB per agent instance."
        )
        if pai_missing:
            print(f"Pydantic AI: n/a: {pai_missing}")
    failures = [
        (impl, f"{r.case.name} / {LABELS[impl]}: {o.error}")
        for r in results
        for impl, o in r.outcomes.items()
        if o.error and not o.error.startswith("skipped")
    ]
    chaos_record = None
    if chaos is not None:
        out, params = chaos
        print()
        print("\n".join(out.report) if out.report else "chaos: no report")
        if out.error:
            failures.append((EC, f"chaos: {out.error}"))
        chaos_record = {
            "params": params,
            "figures": {k: v[0] for k, v in out.samples.items()},
            "error": out.error,
        }
    for _, error in failures:
        print(f"\nerror in {error}")
    print(f"\ntotal {elapsed:.0f} s")

    if args.json:
        _harness.write_json(
            args.json,
            "bench/agents.py",
            argv,
            quick=args.quick,
            started=started,
            elapsed=elapsed,
            machine=machine,
            results=records,
            chaos=chaos_record,
        )
    # A failed baseline is shown, not fatal; a failed elixirchain case or chaos check is.
    return 1 if any(impl == EC for impl, _ in failures) else 0


if __name__ == "__main__":
    sys.exit(main())
