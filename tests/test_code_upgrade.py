"""Hot code upgrade: ``code.upgrade(module)`` moves running servers to the new code.

Each test installs version 1 of a counter module (tests/upgrade_fixtures/counter_v1.py)
as a fresh module in a temporary directory on ``sys.path``, imports it and starts
servers; then it overwrites the file with version 2 (or a broken one) and upgrades.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from beamlike import (
    ANY,
    Down,
    Exit,
    code,
    monitor,
    process_flag,
    process_info,
    receive,
    self_pid,
    whereis,
)
from beamlike import gen_server as gs
from beamlike import sys as bsys
from beamlike.code import UpgradeResult
from beamlike.gen_server import From, GenServer, Reply

WAIT = 2.0
FIXTURES = Path(__file__).parent / "upgrade_fixtures"


class ModuleOnDisk:
    """A module in a temporary directory on ``sys.path``, rewritten version by version."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.py"
        self.mtime = 1_000_000_000

    def write(self, source: str) -> None:
        self.path.write_text(source)
        # Cached bytecode is trusted while the source's mtime (in whole seconds) and size
        # are unchanged: move the mtime on, so that a reload within the second recompiles.
        self.mtime += 10
        os.utime(self.path, (self.mtime, self.mtime))
        importlib.invalidate_caches()

    def install(self, version: str) -> None:
        self.write((FIXTURES / f"{version}.py").read_text())

    def load(self) -> ModuleType:
        return importlib.import_module(self.name)


@pytest.fixture
def counter_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleOnDisk]:
    """Version 1 of the counter module, installed under a name unique to the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = ModuleOnDisk(tmp_path, f"counter_{uuid.uuid4().hex}")
    module.install("counter_v1")
    try:
        yield module
    finally:
        sys.modules.pop(module.name, None)


@pytest.fixture
def counter(counter_file: ModuleOnDisk) -> ModuleType:
    return counter_file.load()


class Other(GenServer):
    """A server of another module, which an upgrade of the counter must not touch."""

    def handle_call(self, request: Any, from_: From, state: Any) -> Reply:
        return Reply(state, state)


# -- what moves to the new code -------------------------------------------------------


def test_upgrade_moves_a_running_server_to_the_new_class(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(5)
    assert gs.call(pid, "get") == ("v1", 5)

    counter_file.install("counter_v2")
    results = code.upgrade(counter)

    assert results == [UpgradeResult(pid, "Counter", 1, 2, True)]
    assert gs.call(pid, "get") == ("v2", 5)
    assert bsys.get_status(pid)["module"] is counter.Counter
    assert bsys.get_status(pid)["vsn"] == 2


def test_code_change_gets_the_old_version_the_state_and_extra(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(5)
    gs.cast(pid, ("add", 1))

    counter_file.install("counter_v2")
    code.upgrade(counter, extra={"step": 2})

    assert bsys.get_state(pid) == {"count": 6, "log": [], "extra": {"step": 2}}


def test_the_server_keeps_its_pid_and_its_name(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(5, name="counter")

    counter_file.install("counter_v2")
    code.upgrade(counter)

    assert whereis("counter") == pid
    assert gs.call("counter", "get") == ("v2", 5)


def test_messages_queued_while_suspended_are_handled_after_by_the_new_code(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(0)
    bsys.suspend(pid)
    gs.cast(pid, ("add", 1))
    gs.cast(pid, ("add", 2))

    counter_file.install("counter_v2")
    code.upgrade(counter)

    assert bsys.get_state(pid) == {"count": 3, "log": [1, 2], "extra": None}


def test_links_and_monitors_survive_the_upgrade(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    process_flag("trap_exit", True)
    pid = counter.Counter.start_link(5)
    ref = monitor(pid)

    counter_file.install("counter_v2")
    code.upgrade(counter)

    assert process_info(pid).links == frozenset({self_pid()})
    gs.stop(pid, "shutdown")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT) == Down(ref, pid, "shutdown")
    assert receive(Exit(pid, ANY), timeout=WAIT) == Exit(pid, "shutdown")


def test_every_running_server_of_the_module_is_upgraded(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pids = [counter.Counter.start_link(n) for n in range(3)]

    counter_file.install("counter_v2")
    results = code.upgrade(counter)

    assert sorted(result.pid for result in results) == sorted(pids)
    assert [gs.call(pid, "get") for pid in pids] == [("v2", 0), ("v2", 1), ("v2", 2)]


def test_servers_of_other_modules_are_left_alone(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    other = Other.start_link("untouched")
    pid = counter.Counter.start_link(5)

    counter_file.install("counter_v2")
    results = code.upgrade(counter)

    assert [result.pid for result in results] == [pid]
    assert bsys.get_status(other)["module"] is Other
    assert gs.call(other, "get") == "untouched"


def test_new_servers_started_after_the_upgrade_use_the_new_class(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    counter_file.install("counter_v2")
    assert code.upgrade(counter) == []

    pid = counter.Counter.start_link(7)

    assert gs.call(pid, "get") == ("v2", 7)


def test_upgrade_accepts_the_module_name(counter_file: ModuleOnDisk, counter: ModuleType) -> None:
    pid = counter.Counter.start_link(5)

    counter_file.install("counter_v2")
    code.upgrade(counter_file.name)

    assert gs.call(pid, "get") == ("v2", 5)


def test_servers_of_lists_the_running_servers_of_a_module(counter: ModuleType) -> None:
    pid = counter.Counter.start_link(5)
    Other.start_link(None)

    assert code.servers_of(counter) == [(pid, counter.Counter)]


# -- what stays on the old code -------------------------------------------------------


def test_a_failing_code_change_leaves_that_server_on_the_old_code_and_state(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    good = counter.Counter.start_link(3)
    bad = counter.Counter.start_link(-1)

    counter_file.install("counter_v2")
    results = {result.pid: result for result in code.upgrade(counter)}

    assert results[good] == UpgradeResult(good, "Counter", 1, 2, True)
    failed = results[bad]
    assert (failed.ok, failed.old_vsn, failed.new_vsn) == (False, 1, 2)
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "cannot migrate a negative count: -1"
    assert gs.call(bad, "get") == ("v1", -1)
    assert bsys.get_state(bad) == -1
    assert bsys.get_status(bad)["vsn"] == 1
    assert gs.call(good, "get") == ("v2", 3)


def test_a_server_left_on_the_old_code_goes_on_serving(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    bad = counter.Counter.start_link(-1)

    counter_file.install("counter_v2")
    code.upgrade(counter)
    gs.cast(bad, ("add", 5))

    assert gs.call(bad, "get") == ("v1", 4)
    assert bsys.get_status(bad)["suspended"] is False


def test_a_failed_code_change_is_logged(
    caplog, counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    caplog.set_level(logging.ERROR, logger="beamlike.code")
    bad = counter.Counter.start_link(-1)

    counter_file.install("counter_v2")
    code.upgrade(counter)

    assert [r.getMessage() for r in caplog.records if r.name == "beamlike.code"] == [
        f"upgrade of {bad!r} (Counter) failed: ValueError('cannot migrate a negative count: -1')"
    ]


def test_a_server_whose_class_is_gone_is_reported_and_keeps_running(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Legacy.start_link("old")

    counter_file.install("counter_v2")
    (result,) = code.upgrade(counter)

    assert (result.pid, result.class_name, result.ok, result.new_vsn) == (
        pid,
        "Legacy",
        False,
        None,
    )
    assert str(result.error) == f"Legacy no longer exists in {counter_file.name}"
    assert gs.call(pid, "get") == ("legacy", "old")


def test_a_syntax_error_in_the_new_source_raises_and_the_servers_keep_the_old_code(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(5)

    counter_file.write("class Counter(:\n    pass\n")
    with pytest.raises(SyntaxError):
        code.upgrade(counter)

    assert gs.call(pid, "get", timeout=WAIT) == ("v1", 5)
    assert bsys.get_status(pid)["suspended"] is False


def test_messages_sent_during_a_failed_reload_are_handled_by_the_old_code(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(0)
    bsys.suspend(pid)
    gs.cast(pid, ("add", 1))

    counter_file.write("class Counter(:\n    pass\n")
    with pytest.raises(SyntaxError):
        code.upgrade(counter)

    assert gs.call(pid, "get", timeout=WAIT) == ("v1", 1)


def test_a_server_too_busy_to_be_suspended_in_time_is_not_left_suspended(
    counter_file: ModuleOnDisk, counter: ModuleType
) -> None:
    pid = counter.Counter.start_link(5)
    gs.cast(pid, ("sleep", 0.3))  # busy in a callback for longer than the upgrade waits

    counter_file.install("counter_v2")
    code.upgrade(counter, timeout=0.05)

    assert gs.call(pid, "get", timeout=WAIT)[1] == 5
    assert bsys.get_status(pid)["suspended"] is False
