"""Crash reports: one ERROR record on "beamlike.crash", with the traceback, per crash.

A process that ends with "normal", "shutdown", ("shutdown", x), "kill" or "killed" is
not reported, and neither is a process killed by an exit signal: only the process whose
own code raised is.
"""

from __future__ import annotations

import logging

import pytest
from support_processes import WAIT, exit_with, wait_down, wait_forever

import beamlike
from beamlike import (
    Down,
    Pid,
    receive,
    self_pid,
    send,
    spawn_link,
    spawn_monitor,
)

CRASH_LOGGER = "beamlike.crash"


@pytest.fixture(autouse=True)
def _capture_crash_reports(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=CRASH_LOGGER)


def crash_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == CRASH_LOGGER]


def formatted(record: logging.LogRecord) -> str:
    """The record as a handler prints it: message, then traceback if any."""
    return logging.Formatter("%(message)s").format(record)


def run_until_down(fn: object, *args: object) -> tuple[Pid, Down]:
    pid, ref = spawn_monitor(fn, *args)
    return pid, wait_down(ref)


def failing_function() -> None:
    raise ValueError("boom from failing_function")


def return_normally() -> None:
    pass


def catch_own_error(parent: Pid) -> None:
    try:
        raise ValueError("caught")
    except ValueError:
        send(parent, "caught it")


def link_to_a_crash_then_wait() -> None:
    spawn_link(failing_function)
    receive("never sent")


# -- what is reported -----------------------------------------------------------------


def test_a_crash_is_logged_once_at_error_level_on_the_crash_logger(caplog) -> None:
    run_until_down(failing_function)

    records = crash_records(caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR


def test_the_crash_report_includes_the_traceback_of_the_exception(caplog) -> None:
    run_until_down(failing_function)

    (record,) = crash_records(caplog)
    text = formatted(record)
    assert "Traceback (most recent call last)" in text
    assert "in failing_function" in text
    assert "ValueError: boom from failing_function" in text


def test_the_crash_report_names_the_crashed_pid(caplog) -> None:
    pid, _ = run_until_down(failing_function)

    (record,) = crash_records(caplog)
    assert str(pid) in formatted(record)


def test_each_crash_is_reported_separately(caplog) -> None:
    run_until_down(failing_function)
    run_until_down(failing_function)

    assert len(crash_records(caplog)) == 2


def test_a_crash_propagated_over_a_link_is_reported_only_once(caplog) -> None:
    _, down = run_until_down(link_to_a_crash_then_wait)

    assert isinstance(down.reason, ValueError)
    assert len(crash_records(caplog)) == 1


# -- what is not reported -------------------------------------------------------------


def test_a_normal_return_is_not_reported(caplog) -> None:
    run_until_down(return_normally)

    assert crash_records(caplog) == []


@pytest.mark.parametrize(
    "reason",
    ["normal", "shutdown", ("shutdown", "bye"), "kill", "killed"],
    ids=["normal", "shutdown", "shutdown-tuple", "kill", "killed"],
)
def test_exiting_with_a_quiet_reason_is_not_reported(caplog, reason: object) -> None:
    _, down = run_until_down(exit_with, reason)

    assert down.reason == reason
    assert crash_records(caplog) == []


def test_a_process_killed_with_exit_kill_is_not_reported(caplog) -> None:
    pid, ref = spawn_monitor(wait_forever)

    beamlike.exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    assert crash_records(caplog) == []


def test_a_process_killed_by_an_exit_signal_is_not_reported(caplog) -> None:
    pid, ref = spawn_monitor(wait_forever)

    beamlike.exit(pid, "boom")

    assert wait_down(ref).reason == "boom"
    assert crash_records(caplog) == []


def test_an_exception_the_process_catches_itself_is_not_reported(caplog) -> None:
    run_until_down(catch_own_error, self_pid())

    assert receive(timeout=WAIT) == "caught it"
    assert crash_records(caplog) == []
