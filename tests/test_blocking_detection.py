"""Blocking detection: a process that keeps the event loop longer than the node's
block_threshold is reported on logger "beamlike.blocking", once per episode.

These tests run on their own Node(block_threshold=0.1). The report comes from a
watcher thread, so after the busy process is done the test polls the captured records
for a bounded time instead of waiting on a message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

import beamlike
from beamlike import Node, Pid, self_pid, sleep

BLOCKING_LOGGER = "beamlike.blocking"
THRESHOLD = 0.1


@pytest.fixture
def slow_node(caplog: pytest.LogCaptureFixture) -> Iterator[Node]:
    caplog.set_level(logging.DEBUG, logger=BLOCKING_LOGGER)
    node = Node(block_threshold=THRESHOLD)
    try:
        yield node
    finally:
        node.stop()


def run_on(node: Node, fn: object, *args: object) -> object:
    with node.as_default():
        return beamlike.run(fn, *args)


def busy_for(seconds: float) -> Pid:
    """Keeps the CPU without yielding to the event loop."""
    me = self_pid()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return me


def yielding_for(seconds: float) -> Pid:
    """Keeps the CPU for `seconds` in total, yielding every few milliseconds."""
    me = self_pid()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        slice_end = time.monotonic() + 0.005
        while time.monotonic() < slice_end:
            pass
        sleep(0)
    return me


def blocking_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == BLOCKING_LOGGER]


def formatted(record: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(record)


def records_naming(caplog: pytest.LogCaptureFixture, pid: Pid, *, within: float) -> list:
    """Polls for up to `within` seconds until a blocking record names `pid`."""
    deadline = time.monotonic() + within
    while True:
        found = [r for r in blocking_records(caplog) if str(pid) in formatted(r)]
        if found or time.monotonic() >= deadline:
            return found
        sleep(0.01)


def test_a_process_busy_for_longer_than_the_threshold_is_reported_with_its_pid(
    slow_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    pid = run_on(slow_node, busy_for, 5 * THRESHOLD)

    found = records_naming(caplog, pid, within=2.0)

    assert found, [formatted(r) for r in blocking_records(caplog)]
    assert found[0].levelno == logging.WARNING


def test_the_blocking_report_names_the_initial_call_and_shows_the_stack(
    slow_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    pid = run_on(slow_node, busy_for, 5 * THRESHOLD)

    found = records_naming(caplog, pid, within=2.0)

    assert found
    assert "busy_for" in formatted(found[0])
    assert 'test_blocking_detection.py", line' in formatted(found[0])


def test_one_blocking_episode_is_reported_once(
    slow_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    pid = run_on(slow_node, busy_for, 6 * THRESHOLD)
    records_naming(caplog, pid, within=2.0)

    sleep(2 * THRESHOLD)

    assert len(records_naming(caplog, pid, within=0)) == 1


def test_a_process_that_yields_often_is_not_reported(
    slow_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    run_on(slow_node, yielding_for, 4 * THRESHOLD)

    sleep(2 * THRESHOLD)

    assert blocking_records(caplog) == []
