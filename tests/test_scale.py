"""Scale: many processes at once, every message delivered."""

from __future__ import annotations

from beamlike import ANY, Pid, receive, self_pid, send, spawn

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
