"""beamlike.offload: blocking and CPU-bound functions off the event loop."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gevent import monkey

import beamlike
from beamlike import ANY, Down, exit, monitor, receive, self_pid, send, spawn
from beamlike.errors import BadArgument, BadArgumentType
from beamlike.offload import (
    OffloadError,
    OffloadTimeout,
    RemoteTraceback,
    WorkerDied,
    run_in_process,
    run_in_thread,
)

_real_sleep = monkey.get_original("time", "sleep")
_thread_ident = monkey.get_original("_thread", "get_ident")


# --- functions run off the loop (module level: worker processes import them) ---------


class Refused(Exception):
    """An exception that pickles (its args are its constructor's)."""


class Stubborn(Exception):
    """An exception that cannot be rebuilt from its args: it cannot travel back."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


def refuse(what: str) -> None:
    raise Refused(f"no {what}")


def stubborn() -> None:
    raise Stubborn(7, "odd")


def spin(seconds: float) -> int:
    """Pure-Python computation for ``seconds`` of wall time; returns the loop count."""
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        count += 1
    return count


def mark_and_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def die() -> None:
    os._exit(3)


def unpicklable_result() -> Any:
    return lambda: None


def os_sleep_then(seconds: float, value: Any) -> Any:
    _real_sleep(seconds)
    return value


def note_and_sleep(notes: list[str], seconds: float) -> None:
    notes.append("started")
    _real_sleep(seconds)


# --- helpers ------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` while letting the event loop run; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        beamlike.sleep(0.01)


def os_process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def ping_pong_rounds(during: Callable[[], Any]) -> tuple[Any, int]:
    """Count ping-pong round trips between two processes while ``during()`` runs."""

    def ponger() -> None:
        while True:
            sender = receive()
            send(sender, "pong")

    def pinger(partner: beamlike.Pid, owner: beamlike.Pid) -> None:
        rounds = 0
        while True:
            send(partner, self_pid())
            receive("pong")
            rounds += 1
            if receive(("count?", ANY), timeout=0, default=None) is not None:
                send(owner, ("rounds", rounds))
                return

    partner = spawn(ponger)
    counter = spawn(pinger, partner, self_pid())
    result = during()
    send(counter, ("count?", None))
    _, rounds = receive(("rounds", ANY), timeout=5)
    exit(partner, "kill")
    return result, rounds


# --- run_in_thread ------------------------------------------------------------------


def test_run_in_thread_returns_the_value_computed_in_another_os_thread() -> None:
    def main() -> tuple[int, int]:
        return run_in_thread(_thread_ident), _thread_ident()

    theirs, ours = beamlike.run(main)
    assert theirs != ours


def test_run_in_thread_reraises_the_exception_with_its_type() -> None:
    def main() -> None:
        run_in_thread(refuse, "entry")

    with pytest.raises(Refused, match=r"^no entry$"):
        beamlike.run(main)


def test_run_in_thread_passes_keyword_arguments() -> None:
    assert beamlike.run(lambda: run_in_thread(os_sleep_then, 0, value="v")) == "v"


def test_run_in_thread_times_out_with_a_beamlike_timeout_error() -> None:
    def main() -> float:
        started = time.monotonic()
        with pytest.raises(OffloadTimeout) as info:
            run_in_thread(os_sleep_then, 1.0, "late", timeout=0.1)
        assert str(info.value) == (
            "run_in_thread(test_offload.os_sleep_then) did not finish within 0.1 s"
        )
        assert isinstance(info.value, TimeoutError)
        return time.monotonic() - started

    assert beamlike.run(main) < 0.8


def test_other_processes_run_while_one_waits_for_a_thread() -> None:
    def main() -> tuple[str, int]:
        return ping_pong_rounds(lambda: run_in_thread(os_sleep_then, 0.3, "done"))

    value, rounds = beamlike.run(main)
    assert value == "done"
    assert rounds > 20


def test_killing_the_process_waiting_for_a_thread_ends_the_wait_at_once() -> None:
    def main() -> float:
        notes: list[str] = []
        waiter = spawn(run_in_thread, note_and_sleep, notes, 2.0)
        ref = monitor(waiter)
        wait_until(lambda: notes == ["started"])
        started = time.monotonic()
        exit(waiter, "kill")
        assert receive(Down(ref, waiter, ANY), timeout=1.0).reason == "killed"
        return time.monotonic() - started

    assert beamlike.run(main) < 0.5


def test_run_in_thread_checks_its_arguments() -> None:
    with pytest.raises(BadArgumentType, match=r"^run_in_thread expects a callable; got 3"):
        run_in_thread(3)  # type: ignore[arg-type]
    with pytest.raises(BadArgument, match=r"^timeout must be >= 0 seconds"):
        run_in_thread(os_sleep_then, 0, 1, timeout=-1)


# --- run_in_process -----------------------------------------------------------------


def test_run_in_process_returns_the_value_computed_in_another_os_process() -> None:
    assert beamlike.run(lambda: run_in_process(os.getpid)) != os.getpid()
    assert beamlike.run(lambda: run_in_process(pow, 3, 1000, 7)) == pow(3, 1000, 7)


def test_other_processes_keep_running_while_cpu_bound_work_runs_in_a_worker() -> None:
    def main() -> tuple[int, int]:
        run_in_process(spin, 0.0)  # warm up: the worker is started and has imported us
        return ping_pong_rounds(lambda: run_in_process(spin, 0.5))

    loops, rounds = beamlike.run(main)
    assert loops > 0
    assert rounds > 100  # the same spin in a process would allow none


def test_run_in_process_reraises_the_exception_with_its_type_and_remote_traceback() -> None:
    def main() -> None:
        run_in_process(refuse, "way")

    with pytest.raises(Refused, match=r"^no way$") as info:
        beamlike.run(main)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert 'in refuse\n    raise Refused(f"no {what}")' in str(cause)


def test_an_exception_that_cannot_travel_back_is_reported_by_name() -> None:
    with pytest.raises(OffloadError) as info:
        beamlike.run(lambda: run_in_process(stubborn))
    assert str(info.value) == (
        "test_offload.stubborn raised test_offload.Stubborn: 7: odd (in a worker process; "
        "the exception could not be pickled back)"
    )


def test_a_result_that_cannot_travel_back_is_an_offload_error() -> None:
    with pytest.raises(OffloadError, match=r"^test_offload.unpicklable_result returned a value"):
        beamlike.run(lambda: run_in_process(unpicklable_result))


def test_a_function_that_cannot_be_pickled_is_refused_at_the_call() -> None:
    with pytest.raises(BadArgument, match=r"^run_in_process needs a picklable module-level"):
        beamlike.run(lambda: run_in_process(lambda: 1))


def test_a_function_of_the_main_script_is_refused_with_advice() -> None:
    def local() -> None:
        pass

    local.__module__ = "__main__"
    with pytest.raises(BadArgument) as info:
        run_in_process(local)
    assert str(info.value).endswith("is defined in the __main__ script: move it into a module")


def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_fresh_one() -> None:
    def main() -> tuple[int, int]:
        first = run_in_process(os.getpid)  # the idle worker the next call reuses
        with pytest.raises(OffloadTimeout) as info:
            run_in_process(spin, 30.0, timeout=0.3)
        assert str(info.value) == "run_in_process(test_offload.spin) did not finish within 0.3 s"
        wait_until(lambda: os_process_gone(first))
        return first, run_in_process(os.getpid)

    first, second = beamlike.run(main)
    assert first != second


def test_killing_the_waiting_process_kills_the_worker(tmp_path: Path) -> None:
    marker = tmp_path / "worker.pid"

    def main() -> None:
        waiter = spawn(run_in_process, mark_and_sleep, str(marker), 30.0)
        ref = monitor(waiter)
        wait_until(marker.exists)
        wait_until(lambda: marker.read_text() != "")
        worker = int(marker.read_text())
        exit(waiter, "kill")
        assert receive(Down(ref, waiter, ANY), timeout=1.0).reason == "killed"
        wait_until(lambda: os_process_gone(worker))

    beamlike.run(main)


def test_a_worker_that_dies_is_reported_and_replaced() -> None:
    def main() -> int:
        with pytest.raises(WorkerDied) as info:
            run_in_process(die)
        assert str(info.value).startswith("the worker process (OS pid ")
        assert str(info.value).endswith(
            "running test_offload.die exited with code 3 before replying"
        )
        return run_in_process(pow, 2, 10)

    assert beamlike.run(main) == 1024


def test_calls_beyond_the_pool_size_wait_for_a_free_worker() -> None:
    from beamlike._core.offload import PROCESSES

    def main() -> list[Any]:
        tasks = [beamlike.task.async_(run_in_process, pow, 2, n) for n in range(PROCESSES + 2)]
        return beamlike.task.await_many(tasks, timeout=20)

    assert beamlike.run(main) == [2**n for n in range(PROCESSES + 2)]


def test_stopping_the_node_kills_its_worker_processes() -> None:
    node = beamlike.Node()
    with node.as_default():
        worker = beamlike.run(lambda: run_in_process(os.getpid))
    assert not os_process_gone(worker)
    node.stop()
    wait_until(lambda: os_process_gone(worker))


def test_a_stopped_node_runs_its_stop_hooks_once_in_order() -> None:
    node = beamlike.Node()
    seen: list[str] = []
    node.on_stop(lambda: seen.append("first"))
    node.on_stop(lambda: 1 / 0)  # logged; the others still run
    node.on_stop(lambda: seen.append("second"))
    node.stop()
    node.stop()
    assert seen == ["first", "second"]
