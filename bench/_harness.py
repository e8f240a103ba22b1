"""Timing, statistics, subprocess isolation and table printing for the benchmark suite.

The suite has two sides:

* The *worker side* runs inside a fresh Python (or Erlang) OS process, runs one case of one
  implementation a few times and prints one machine-readable line per measurement::

      BENCH <metric> <value>
      BENCH_ERROR <one line of text>

* The *driver side* (``bench/run.py``, ``bench/million.py``) starts those OS processes,
  parses the lines, takes medians, computes ratios and prints the table.

``bench/run.py`` runs every repetition of every implementation in its own OS process (with
its own warm-up), so memory, GC state, greenlet hubs and node state never leak from one
measurement into another, and interleaves the implementations repetition by repetition,
so a change in the background load of a shared machine hits all of them alike.
"""

from __future__ import annotations

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
ERL_SOURCE = BENCH_DIR / "erl" / "bench.erl"
PYTHON = sys.executable

IMPLS = ("beamlike", "gevent", "erlang")

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


CaseFn = Callable[..., Mapping[str, float]]


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
        for metric, value in fn(**params).items():
            emit(metric, value)


# --------------------------------------------------------------------------- driver side


@dataclass
class Outcome:
    """All samples of one case of one implementation, or why there are none."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # wall time of the subprocesses, for the run summary

    def median(self, metric: str) -> float | None:
        values = self.samples.get(metric)
        return statistics.median(values) if values else None

    def merge(self, other: Outcome) -> None:
        for metric, values in other.samples.items():
            self.samples.setdefault(metric, []).extend(values)
        self.error = self.error or other.error
        self.seconds += other.seconds


def parse_output(stdout: str) -> Outcome:
    out = Outcome()
    for line in stdout.splitlines():
        if line.startswith("BENCH_ERROR "):
            out.error = line[len("BENCH_ERROR ") :].strip()
        elif line.startswith("BENCH "):
            _, metric, value = line.split(maxsplit=2)
            out.samples.setdefault(metric, []).append(float(value))
    return out


def run_subprocess(argv: Sequence[str], timeout: float, cwd: Path = ROOT) -> Outcome:
    """Run one worker OS process and parse its BENCH lines. Blocks until it exits."""
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
