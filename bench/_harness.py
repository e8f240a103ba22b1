"""Timing, statistics, subprocess isolation and table printing for the benchmark suite.

The suite has two sides:

* The *worker side* runs inside a fresh Python (or Erlang) OS process, runs one case of one
  implementation a few times and prints one machine-readable line per measurement::

      BENCH <metric> <value>
      BENCH_ERROR <one line of text>

* The *driver side* (``bench/run.py``, ``bench/million.py``, ``bench/agents.py``) starts
  those OS processes, parses the lines, takes medians, computes ratios and prints the table.

``bench/run.py`` runs every repetition of every implementation in its own OS process (with
its own warm-up), so memory, GC state, greenlet hubs and node state never leak from one
measurement into another, and interleaves the implementations repetition by repetition,
so a change in the background load of a shared machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NoReturn, Protocol, TypeVar

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
ERL_SOURCE = BENCH_DIR / "erl" / "bench.erl"
PYTHON = sys.executable

IMPLS = ("beamlike", "gevent", "erlang")

# The vendors' API keys; without them elixirchain's default provider is the offline one.
API_KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")

now = time.perf_counter


# --------------------------------------------------------------------------- worker side


def rss_bytes() -> int:
    """Resident set size of the calling OS process, from /proc/self/statm. Never blocks."""
    with open("/proc/self/statm", "rb") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def settle_memory() -> None:
    """Collect garbage twice so an RSS reading does not include collectable cycles."""
    gc.collect()
    gc.collect()


def emit(metric: str, value: float) -> None:
    """Print one measurement line for the driver side."""
    print(f"BENCH {metric} {value!r}", flush=True)


def emit_error(text: str) -> None:
    print("BENCH_ERROR " + " ".join(str(text).split()), flush=True)


def emit_metrics(metrics: Mapping[str, float]) -> None:
    """Print one measurement line per metric."""
    for metric, value in metrics.items():
        emit(metric, value)


def forget_api_keys() -> None:
    """Remove the vendors' API keys from this process's environment, whatever it says, so
    that elixirchain's default provider is the offline one."""
    for key in API_KEYS:
        os.environ.pop(key, None)


def run_worker(body: Callable[[], object]) -> int:
    """Run a worker's ``body``; when it raises, print the traceback (stderr) and a
    ``BENCH_ERROR`` line: report, do not hide, the table shows it. Returns the exit status."""
    try:
        body()
    except Exception as exc:
        traceback.print_exc()
        emit_error(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr and end the OS process without interpreter teardown:
    tearing down 10^3..10^6 parked greenlets is slow and is not what any benchmark measures."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


CaseFn = Callable[..., Mapping[str, float]]


def _call(fn: CaseFn, **params: Any) -> Mapping[str, float]:
    return fn(**params)


def case_main(
    prog: str,
    cases: Mapping[str, CaseFn],
    argv: list[str] | None,
    run: Callable[..., Mapping[str, float]] = _call,
) -> int:
    """The main of a worker that runs one case once, ``prog CASE PARAMS_JSON``: calls
    ``run(case_fn, **params)`` and prints its metrics. Returns the exit status (see
    ``run_worker``)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("case", choices=sorted(cases))
    parser.add_argument("params", type=json.loads)
    args = parser.parse_args(argv)
    return run_worker(lambda: emit_metrics(run(cases[args.case], **args.params)))


def run_repetitions(
    fn: CaseFn,
    params: Mapping[str, int],
    repeat: int,
    warmup: Mapping[str, int] | None,
) -> None:
    """Run ``fn(**warmup)`` once untimed, then ``fn(**params)`` ``repeat`` times and emit."""
    if warmup:
        fn(**warmup)
    for _ in range(repeat):
        settle_memory()
        emit_metrics(fn(**params))


# --------------------------------------------------------------------------- driver side


@dataclass
class Outcome:
    """All samples of one case of one implementation, or why there are none."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # wall time of the subprocesses, for the run summary
    report: list[str] = field(default_factory=list)  # the other lines they printed

    def median(self, metric: str) -> float | None:
        values = self.samples.get(metric)
        return statistics.median(values) if values else None

    def merge(self, other: Outcome) -> None:
        for metric, values in other.samples.items():
            self.samples.setdefault(metric, []).extend(values)
        self.error = self.error or other.error
        self.seconds += other.seconds
        self.report += other.report


def parse_output(stdout: str) -> Outcome:
    out = Outcome()
    for line in stdout.splitlines():
        if line.startswith("BENCH_ERROR "):
            out.error = line[len("BENCH_ERROR ") :].strip()
        elif line.startswith("BENCH "):
            _, metric, value = line.split(maxsplit=2)
            out.samples.setdefault(metric, []).append(float(value))
        else:
            out.report.append(line)
    return out


def run_subprocess(argv: Sequence[str], timeout: float, cwd: Path = ROOT) -> Outcome:
    """Run one worker OS process and parse its BENCH lines (its other lines of stdout go
    to ``Outcome.report``). Blocks until it exits."""
    t0 = now()
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = parse_output(_text(exc.stdout))
        out.error = f"timed out after {timeout:.0f} s"
        out.seconds = now() - t0
        return out
    out = parse_output(proc.stdout)
    out.seconds = now() - t0
    if proc.returncode != 0 and out.error is None:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:]
        out.error = f"exit status {proc.returncode}: " + (tail[0].strip() if tail else "")
    if not out.samples and out.error is None:
        out.error = "no measurements printed"
    return out


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def run_python_case(
    impl: str,
    case: str,
    params: Mapping[str, int],
    *,
    repeat: int = 1,
    warmup: Mapping[str, int] | None,
    timeout: float,
) -> Outcome:
    """Run a case of ``impl`` ("beamlike" or "gevent") in one fresh Python process:
    the warm-up, then ``repeat`` measured repetitions. Blocks until it exits."""
    cmd = [PYTHON, "-m", "bench._worker", impl, case, json.dumps(dict(params))]
    cmd += ["--repeat", str(repeat)]
    if warmup:
        cmd += ["--warmup", json.dumps(dict(warmup))]
    return run_subprocess(cmd, timeout)


class Erlang:
    """Compiles bench/erl/bench.erl once and runs its cases on ``erl +S 1:1``."""

    def __init__(self) -> None:
        self.erl = shutil.which("erl")
        self.erlc = shutil.which("erlc")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.compile_error: str | None = None
        self.release: str | None = None

    @property
    def available(self) -> bool:
        return bool(self.erl and self.erlc)

    @property
    def skip_reason(self) -> str:
        if not self.available:
            return "skipped: `erl`/`erlc` not found on PATH (install Erlang/OTP to compare)"
        return f"skipped: bench.erl did not compile: {self.compile_error}"

    def ensure_compiled(self) -> bool:
        """Compile bench.erl into a temporary directory. Blocks until erlc exits."""
        if not (self.erl and self.erlc):
            return False
        if self._tmp is not None:
            return self.compile_error is None
        self._tmp = tempfile.TemporaryDirectory(prefix="beamlike-bench-erl-")
        proc = subprocess.run(
            [self.erlc, "-o", self._tmp.name, str(ERL_SOURCE)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            self.compile_error = " ".join((proc.stdout + proc.stderr).split())[:300]
            return False
        self.release = self._otp_release(self.erl)
        return True

    @staticmethod
    def _otp_release(erl: str) -> str | None:
        proc = subprocess.run(
            [
                erl,
                "-noshell",
                "-eval",
                'io:format("~s", [erlang:system_info(otp_release)]), halt().',
            ],
            capture_output=True,
            text=True,
        )
        return proc.stdout.strip() or None

    def argv(
        self,
        case: str,
        params: Mapping[str, int],
        repeat: int,
        warmup: Mapping[str, int] | None,
        extra_flags: Sequence[str] = (),
    ) -> list[str]:
        assert self._tmp is not None
        expr = (
            f"bench:run({case}, {_erl_proplist(params)}, {_erl_proplist(warmup or {})}, {repeat})"
        )
        return [
            str(self.erl),
            "+S",
            "1:1",
            *extra_flags,
            "-noshell",
            "-pa",
            self._tmp.name,
            "-eval",
            expr,
            "-s",
            "init",
            "stop",
        ]

    def run_case(
        self,
        case: str,
        params: Mapping[str, int],
        *,
        repeat: int = 1,
        warmup: Mapping[str, int] | None,
        timeout: float,
        extra_flags: Sequence[str] = (),
    ) -> Outcome:
        """Run a case on one fresh ``erl +S 1:1``: the warm-up, then ``repeat`` measured
        repetitions. Blocks until the VM exits."""
        if not self.ensure_compiled():
            return Outcome(error=self.skip_reason)
        return run_subprocess(self.argv(case, params, repeat, warmup, extra_flags), timeout)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _erl_proplist(params: Mapping[str, int]) -> str:
    return "[" + ", ".join(f"{{{k}, {int(v)}}}" for k, v in params.items()) + "]"


# --------------------------------------------------------------------------- running a case


class NamedCase(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...


CaseT = TypeVar("CaseT", bound=NamedCase)


@dataclass
class CaseResult(Generic[CaseT]):
    """Every implementation's outcome of one case: all repetitions' samples, or an error."""

    case: CaseT
    params: dict[str, int]
    repeat: int
    outcomes: dict[str, Outcome]

    def title(self, count: Callable[[int], str]) -> str:
        """The case's title with its parameters filled in, each written by ``count``."""
        return self.case.title.format(**{k: count(v) for k, v in self.params.items()})

    def record(
        self,
        title: str,
        metric: str,
        unit: str,
        median: Mapping[str, float | None],
        samples: Mapping[str, list[float]],
    ) -> dict[str, Any]:
        """The JSON-ready fields that every row of a results table has."""
        return {
            "case": self.case.name,
            "title": title,
            "metric": metric,
            "unit": unit,
            "params": self.params,
            "repeat": self.repeat,
            "median": dict(median),
            "samples": dict(samples),
            "errors": {i: o.error for i, o in self.outcomes.items() if o.error},
        }


def print_status(name: str, impl: str, out: Outcome) -> None:
    """One progress line on stderr: the wall time of a case of one implementation, and
    how it ended."""
    status = out.error or "ok"
    if out.error and not out.error.startswith("skipped"):
        status = "ERROR " + out.error
    print(f"  {name:<18} {impl:<12} {out.seconds:6.1f} s  {status}", file=sys.stderr)


def run_interleaved(
    name: str,
    impls: Sequence[str],
    reps: int,
    run_one: Callable[[str], Outcome],
    *,
    skipped: Mapping[str, str] | None = None,
    alternate: bool = False,
) -> dict[str, Outcome]:
    """Run ``reps`` repetitions of each implementation, one ``run_one(impl)`` each, the
    implementations taking turns repetition by repetition (and with ``alternate``, taking
    turns at going first), so that a change in the background load hits all of them alike.

    An implementation in ``skipped`` (implementation -> reason) never runs, one that failed
    does not run again. Prints a progress line per implementation (``print_status``).
    Blocks until all have run."""
    outcomes = {impl: Outcome() for impl in impls}
    for impl, reason in (skipped or {}).items():
        outcomes[impl].error = f"skipped: {reason}"
    for rep in range(reps):
        for impl in reversed(impls) if alternate and rep % 2 else impls:
            total = outcomes[impl]
            if not total.error:
                total.merge(run_one(impl))
    for impl, out in outcomes.items():
        print_status(name, impl, out)
    return outcomes


# --------------------------------------------------------------------------- reporting


def fmt_value(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(mine: Iterable[float], theirs: Iterable[float]) -> float | None:
    """Median of the per-repetition ratios mine ÷ theirs. Repetitions are interleaved
    (see ``run_interleaved``), so pairing them cancels a drift in the background load."""
    ratios = [a / b for a, b in zip(mine, theirs, strict=False) if b]
    return statistics.median(ratios) if ratios else None


def verdict(value: float | None, goal: float | None, *, higher: bool = False) -> str:
    """PASS when ``value`` is at most ``goal`` (with ``higher``: at least); "—" without a
    goal, "n/a" without a value."""
    if goal is None:
        return "—"
    if value is None:
        return "n/a"
    return "PASS" if (value >= goal if higher else value <= goal) else "MISS"


def median_cell(out: Outcome | None, value: float | None, skipped: str) -> str:
    """A table cell: the median ``value``, or why there is none (``skipped`` when the
    implementation was skipped; "—" when it was not run at all)."""
    if out is None:
        return "—"
    if value is not None:
        return fmt_value(value)
    return skipped if out.error and out.error.startswith("skipped") else "error"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> str:
    """Render rows as an aligned plain-text table or as a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def machine_info(erlang: Erlang | None = None) -> dict[str, str | int | None]:
    """Describe the machine and the three runtimes, for the report and --json."""
    try:
        import gevent
        import greenlet

        gevent_version, greenlet_version = gevent.__version__, greenlet.__version__
    except ImportError:  # pragma: no cover - the venv always has them
        gevent_version = greenlet_version = None
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gevent": gevent_version,
        "greenlet": greenlet_version,
        "otp": erlang.release if erlang else None,
    }


# --------------------------------------------------------------------------- command line


def add_run_arguments(
    parser: argparse.ArgumentParser, names: Sequence[str], *, repeat_help: str, quick_help: str
) -> None:
    """The options every suite has: --only, --repeat, --quick, --json, --markdown."""
    parser.add_argument(
        "--only", metavar="NAME[,NAME...]", help="run only these: " + ", ".join(names)
    )
    parser.add_argument("--repeat", type=int, metavar="N", help=repeat_help)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write all samples, medians and ratios"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def split_names(
    parser: argparse.ArgumentParser, text: str, choices: Sequence[str], what: str
) -> list[str]:
    """The names of a comma-separated option; exits with a usage error on an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in choices]
    if unknown:
        parser.error(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")
    return names


def parse_run_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None, names: Sequence[str]
) -> argparse.Namespace:
    """Parse ``argv``, checking the options of ``add_run_arguments`` (``--only`` becomes a
    list of names)."""
    args = parser.parse_args(argv)
    if args.only:
        args.only = split_names(parser, args.only, names, "case")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def write_json(
    path: Path,
    script: str,
    argv: list[str] | None,
    *,
    quick: bool,
    started: datetime.datetime,
    elapsed: float,
    machine: Mapping[str, Any],
    results: list[dict[str, Any]],
    **more: Any,
) -> None:
    """Write a run's results, with how and where it ran, to ``path`` (--json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [script, *(argv if argv is not None else sys.argv[1:])]
    document = {
        "started_utc": started.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "command": " ".join(command),
        "mode": "quick" if quick else "full",
        "machine": dict(machine),
        "results": results,
        **more,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
