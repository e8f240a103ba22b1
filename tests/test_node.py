"""The Node: which node code runs on, and what `node.stop()` ends.

The conftest gives every test a fresh default node (the `node` fixture). Tests that need
a second node make one, use it through `as_default()` and stop it themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import beamlike
from beamlike import ANY, Node, Pid, ProcessExit, receive, self_pid, send, send_after, spawn

WAIT = 2.0
NOTHING = object()


@pytest.fixture
def other_node() -> Iterator[Node]:
    other = Node()
    try:
        yield other
    finally:
        other.stop()


def note_how_it_ends(ended: list[object]) -> None:
    """Waits for ever; records the reason it was ended with, or "returned"."""
    try:
        receive("never sent")
    except ProcessExit as exit_:
        ended.append(exit_.reason)
        raise
    ended.append("returned")


def report_node(parent: Pid) -> None:
    send(parent, ("node", beamlike.node.current()))


def test_a_node_is_named_nonode_at_nohost_by_default() -> None:
    assert Node().name == "nonode@nohost"


def test_a_node_keeps_the_name_it_was_given() -> None:
    assert Node("alpha@localhost").name == "alpha@localhost"


def test_current_node_outside_any_process_is_the_default_node(node: Node) -> None:
    assert beamlike.node.current() is node


def test_as_default_makes_code_outside_processes_use_that_node(other_node: Node) -> None:
    with other_node.as_default():
        assert beamlike.node.current() is other_node


def test_as_default_restores_the_previous_default_on_exit(node: Node, other_node: Node) -> None:
    with other_node.as_default():
        pass

    assert beamlike.node.current() is node


def test_a_process_spawned_under_as_default_runs_on_that_node(other_node: Node) -> None:
    me = self_pid()

    with other_node.as_default():
        spawn(report_node, me)

    assert receive(("node", ANY), timeout=WAIT) == ("node", other_node)


def test_set_default_returns_the_previous_default(node: Node, other_node: Node) -> None:
    previous = beamlike.node.set_default(other_node)
    try:
        assert previous is node
        assert beamlike.node.current() is other_node
    finally:
        beamlike.node.set_default(node)


def test_reset_default_makes_the_next_use_create_a_fresh_node(node: Node) -> None:
    beamlike.node.reset_default()
    try:
        fresh = beamlike.node.current()
        assert isinstance(fresh, Node)
        assert fresh is not node
        assert beamlike.node.current() is fresh
    finally:
        fresh.stop()
        beamlike.node.set_default(node)


def test_stop_kills_every_process_of_the_node_before_it_returns(other_node: Node) -> None:
    ended: list[object] = []
    with other_node.as_default():
        for _ in range(3):
            spawn(note_how_it_ends, ended)
        beamlike.sleep(0)  # yield: they start and block in receive

    other_node.stop()

    assert ended == ["killed", "killed", "killed"]


def test_stop_leaves_the_processes_of_other_nodes_alone(other_node: Node) -> None:
    ended: list[object] = []
    pid = spawn(note_how_it_ends, ended)
    beamlike.sleep(0)

    other_node.stop()

    assert ended == []
    assert beamlike.is_alive(pid)


def test_stop_cancels_the_timers_of_the_node(other_node: Node) -> None:
    me = self_pid()
    with other_node.as_default():
        send_after(0.02, me, "from a stopped node")

    other_node.stop()

    assert receive(timeout=0.1, default=NOTHING) is NOTHING


def test_stop_twice_is_harmless(other_node: Node) -> None:
    other_node.stop()
    other_node.stop()
