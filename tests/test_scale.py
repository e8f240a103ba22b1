"""Scale: many processes at once, every message delivered."""

from __future__ import annotations

import time
from typing import Any

import pytest

from beamlike import ANY, Pid, receive, self_pid, send, sleep, spawn
from beamlike._core import node as node_module
from beamlike._core import process as process_module

WAIT = 5.0
COUNT = 10_000


def reply_once() -> None:
    sender, n = receive()
    send(sender, ("reply", self_pid(), n))


def test_ten_thousand_processes_each_answer_one_message() -> None:
    me = self_pid()
    pids: list[Pid] = [spawn(reply_once) for _ in range(COUNT)]
    assert len(set(pids)) == COUNT

    for n, pid in enumerate(pids):
        send(pid, (me, n))
    replies = [receive(("reply", ANY, ANY), timeout=WAIT) for _ in range(COUNT)]

    assert sorted(n for _, _, n in replies) == list(range(COUNT))
    assert all(pids[n] == pid for _, pid, n in replies)


def wait_for_one_message() -> None:
    receive()


def test_after_a_burst_the_parked_workers_are_reused_then_trimmed(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_module, "POOL_KEEP", 50)
    monkeypatch.setattr(node_module, "POOL_KEEP", 50)
    monkeypatch.setattr(node_module, "POOL_TRIM_AFTER", 0.5)
    pids = [spawn(wait_for_one_message) for _ in range(300)]
    sleep(0.01)  # all of them start and block
    for pid in pids:
        send(pid, "go")
    sleep(0.01)
    assert len(node.pool) == 300  # each exited process parked its worker for reuse
    again = [spawn(wait_for_one_message) for _ in range(300)]
    sleep(0.01)
    assert len(node.pool) == 0  # the second burst reused every one of them
    for pid in again:
        send(pid, "go")
    deadline = time.monotonic() + WAIT
    while len(node.pool) != 50 and time.monotonic() < deadline:
        sleep(0.01)
    assert len(node.pool) == 50  # trimmed back to POOL_KEEP once the burst was over
    assert spawn(wait_for_one_message) is not None  # and the node still starts processes
