"""DynamicSupervisor: children added on demand, identified by pid, restarted one for one,
bounded by max_children, shut down concurrently, as Elixir's ``DynamicSupervisor``.

The test body is registered as ``"test"``. Children are started by ``start_worker``,
which runs in the supervisor and sends ``("start", tag, pid)`` to the test. Workers trap
exits from birth: stopped by their supervisor they send ``("stopped", tag, reason)``
first. A supervisor that is meant to die is started with ``start`` (not linked).
"""

from __future__ import annotations

from typing import Any

import pytest

from beamlike import (
    ANY,
    BadArgument,
    BadArgumentType,
    Down,
    Exit,
    Pid,
    ProcessExit,
    _supervising,
    gen_server,
    is_alive,
    monitor,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_opt,
    whereis,
)
from beamlike import exit as exit_process
from beamlike import supervisor as supervisor_module
from beamlike.dynamic_supervisor import (
    DynamicSupervisor,
    DynamicSupervisorSpec,
    MaxChildrenError,
    count_children,
    start_child,
    stop,
    terminate_child,
    which_children,
)
from beamlike.gen_server import GenServer, Ignore, Reply
from beamlike.supervisor import ChildInfo, ChildSpec, ChildStartError, NotFoundError, Supervisor

WAIT = 2.0


@pytest.fixture(autouse=True)
def _test_is_registered() -> None:
    register("test", self_pid())


def worker(tag: str, stubborn: bool, *extra: Any) -> None:
    send("test", ("args", tag, extra))
    while True:
        message = receive()
        if message.__class__ is Exit:
            send("test", ("stopped", tag, message.reason))
            if not stubborn:
                raise ProcessExit(message.reason)
        elif message[0] == "exit":
            raise ProcessExit(message[1])


def start_worker(tag: str, stubborn: bool = False, *extra: Any) -> Pid:
    pid = spawn_opt(worker, (tag, stubborn, *extra), link=True, trap_exit=True)
    send("test", ("start", tag, pid))
    return pid  # type: ignore[no-any-return]


def spec(tag: str, **fields: Any) -> ChildSpec:
    stubborn = fields.pop("stubborn", False)
    return ChildSpec(tag, (start_worker, (tag, stubborn)), **fields)


def started(tag: str) -> Pid:
    return receive(("start", tag, ANY), timeout=WAIT)[2]  # type: ignore[no-any-return]


def make_exit(pid: Pid, reason: Any) -> None:
    ref = monitor(pid)
    send(pid, ("exit", reason))
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == reason


def add(sup: Any, tag: str, **fields: Any) -> Pid:
    """start_child with ``spec(tag, **fields)``; the new child's pid."""
    pid = start_child(sup, spec(tag, **fields))
    assert pid is not None and started(tag) == pid
    return pid


def pids(sup: Any) -> list[Any]:
    return [info.pid for info in which_children(sup)]


class Counter(GenServer):
    def handle_call(self, request: Any, from_: Any, count: int) -> Reply:
        return Reply(count, count + 1)


# -- starting children ---------------------------------------------------------------


def test_a_dynamic_supervisor_starts_with_no_children() -> None:
    sup = DynamicSupervisor.start_link(name="dyn")
    assert whereis("dyn") == sup
    assert which_children(sup) == []
    assert count_children(sup) == {"specs": 0, "active": 0, "supervisors": 0, "workers": 0}


def test_start_child_returns_the_pid_and_which_children_lists_it_without_id() -> None:
    sup = DynamicSupervisor.start_link()
    pid = start_child(sup, spec("a"))
    assert started("a") == pid
    assert which_children(sup) == [ChildInfo(None, pid, "worker", (start_worker,))]


def test_start_child_accepts_a_genserver_tuple_and_a_dict_without_id() -> None:
    sup = DynamicSupervisor.start_link()
    counter = start_child(sup, (Counter, 5))
    assert gen_server.call(counter, "next") == 5
    other = start_child(sup, {"start": (start_worker, ("b",))})
    assert pids(sup) == [counter, other]


def test_children_with_the_same_spec_may_run_side_by_side() -> None:
    sup = DynamicSupervisor.start_link()
    first = start_child(sup, spec("a"))
    second = start_child(sup, spec("a"))
    assert first != second
    assert pids(sup) == [first, second]


def test_extra_arguments_come_before_the_childs_own() -> None:
    sup = DynamicSupervisor.start_link(extra_arguments=["x"])
    start_child(
        sup, ChildSpec("w", (start_worker, (True, "own")))
    )  # start_worker("x", True, "own")
    assert receive(("args", ANY, ANY), timeout=WAIT) == ("args", "x", ("own",))


def test_max_children_bounds_the_children() -> None:
    sup = DynamicSupervisor.start_link(max_children=2)
    start_child(sup, spec("a"))
    start_child(sup, spec("b"))
    with pytest.raises(MaxChildrenError) as info:
        start_child(sup, spec("c"))
    assert str(info.value) == "the supervisor already has its max_children (2) children"
    assert len(which_children(sup)) == 2


def test_a_child_whose_start_returns_none_is_not_kept() -> None:
    sup = DynamicSupervisor.start_link()
    assert start_child(sup, ChildSpec("n", (lambda: None, ()))) is None
    assert which_children(sup) == []


def test_a_child_that_fails_to_start_raises_child_start_error() -> None:
    sup = DynamicSupervisor.start_link()
    with pytest.raises(ChildStartError) as info:
        start_child(sup, ChildSpec("bad", (lambda: 1 / 0, ())))
    assert isinstance(info.value.reason, ZeroDivisionError)
    assert which_children(sup) == []


def test_start_child_refuses_a_bad_spec_before_calling() -> None:
    with pytest.raises(BadArgument, match="restart must be one of"):
        start_child("nowhere", {"start": (start_worker, ()), "restart": "always"})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"strategy": "one_for_all"},
            "a DynamicSupervisor's strategy must be 'one_for_one'; got 'one_for_all'",
        ),
        ({"max_children": -1}, "max_children must be None or an int >= 0; got -1"),
        ({"max_restarts": 1.5}, "max_restarts must be an int >= 0; got 1.5"),
        ({"extra_arguments": "x"}, "extra_arguments must be a tuple or a list; got 'x'"),
    ],
)
def test_bad_flags_are_refused_at_the_call_site(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(BadArgument) as info:
        DynamicSupervisor.start_link(**flags)
    assert str(info.value) == message


# -- restarts ------------------------------------------------------------------------


def test_a_permanent_child_is_restarted_with_a_new_pid() -> None:
    sup = DynamicSupervisor.start_link()
    old = add(sup, "a")
    make_exit(old, "boom")
    new = started("a")
    assert new != old
    assert pids(sup) == [new]


def test_a_transient_child_is_not_restarted_after_a_normal_exit_and_is_forgotten() -> None:
    sup = DynamicSupervisor.start_link()
    pid = add(sup, "a", restart="transient")
    make_exit(pid, "normal")
    assert which_children(sup) == []
    assert receive(("start", ANY, ANY), timeout=0, default=None) is None


def test_a_transient_child_is_restarted_after_an_abnormal_exit() -> None:
    sup = DynamicSupervisor.start_link()
    old = add(sup, "a", restart="transient")
    make_exit(old, "boom")
    assert pids(sup) == [started("a")]


def test_a_temporary_child_is_never_restarted() -> None:
    sup = DynamicSupervisor.start_link()
    pid = add(sup, "a", restart="temporary")
    make_exit(pid, "boom")
    assert which_children(sup) == []
    assert receive(("start", ANY, ANY), timeout=0, default=None) is None


def test_more_restarts_than_intensity_shuts_the_supervisor_down() -> None:
    sup = DynamicSupervisor.start(max_restarts=1, max_seconds=60)
    assert sup is not None
    ref = monitor(sup)
    add(sup, "other")
    make_exit(add(sup, "a"), "boom")
    make_exit(started("a"), "boom")  # the second restart within 60 s is one too many
    assert receive(("stopped", "other", ANY), timeout=WAIT) == ("stopped", "other", "shutdown")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"


def test_a_failed_restart_is_retried_and_counts_toward_intensity() -> None:
    attempts: list[int] = []

    def flaky() -> Pid:
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("still down")
        return start_worker("f")

    sup = DynamicSupervisor.start(max_restarts=3, max_seconds=60)
    assert sup is not None
    ref = monitor(sup)
    pid = start_child(sup, ChildSpec("f", (flaky, ())))
    assert pid is not None
    make_exit(pid, "boom")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"
    assert len(attempts) == 4


def test_restarts_older_than_max_seconds_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(_supervising, "_now", lambda: clock[0])
    sup = DynamicSupervisor.start_link(max_restarts=1, max_seconds=5)
    pid = add(sup, "a")
    for _ in range(3):
        make_exit(pid, "boom")
        pid = started("a")
        clock[0] += 6.0
    assert pids(sup) == [pid]


# -- stopping children ---------------------------------------------------------------


def test_terminate_child_stops_the_child_and_forgets_it() -> None:
    sup = DynamicSupervisor.start_link()
    pid = start_child(sup, spec("a"))
    assert pid is not None
    terminate_child(sup, pid)
    assert receive(("stopped", "a", ANY), timeout=0) == ("stopped", "a", "shutdown")
    assert not is_alive(pid)
    assert which_children(sup) == []


def test_terminate_child_of_a_pid_that_is_not_a_child_raises_not_found() -> None:
    sup = DynamicSupervisor.start_link()
    with pytest.raises(NotFoundError, match="the supervisor has no child"):
        terminate_child(sup, self_pid())


def test_terminate_child_takes_a_pid() -> None:
    with pytest.raises(BadArgumentType, match="children are identified by pid; got 'a'"):
        terminate_child("dyn", "a")  # type: ignore[arg-type]


def test_a_child_that_ignores_shutdown_is_killed_after_its_shutdown_time() -> None:
    sup = DynamicSupervisor.start_link()
    pid = start_child(sup, spec("a", shutdown=0.05, stubborn=True))
    assert pid is not None
    ref = monitor(pid)
    terminate_child(sup, pid)
    assert receive(Down(ref, ANY, ANY), timeout=0).reason == "killed"


def test_brutal_kill_kills_the_child_at_once() -> None:
    sup = DynamicSupervisor.start_link()
    pid = start_child(sup, spec("a", shutdown="brutal_kill"))
    assert pid is not None
    ref = monitor(pid)
    terminate_child(sup, pid)
    assert receive(Down(ref, ANY, ANY), timeout=0).reason == "killed"
    assert receive(("stopped", ANY, ANY), timeout=0, default=None) is None


def test_children_are_shut_down_concurrently_when_it_stops() -> None:
    def slow(tag: str) -> None:
        receive(Exit)
        send("test", ("stopping", tag, self_pid()))
        receive("go")
        raise ProcessExit("shutdown")

    def start_slow(tag: str) -> Pid:
        return spawn_opt(slow, (tag,), link=True, trap_exit=True)  # type: ignore[no-any-return]

    sup = DynamicSupervisor.start_link(name="dyn")
    for tag in ("a", "b"):
        start_child(sup, ChildSpec(tag, (start_slow, (tag,)), shutdown="infinity"))

    def stopper() -> None:
        stop("dyn")
        send("test", "stopped all")

    spawn(stopper)
    # Both children were told to stop before either has finished: concurrent.
    stopping = [receive(("stopping", ANY, ANY), timeout=WAIT) for _ in range(2)]
    assert sorted(tag for _, tag, _ in stopping) == ["a", "b"]
    for _, _, pid in stopping:
        send(pid, "go")
    assert receive("stopped all", timeout=WAIT) == "stopped all"


def test_the_supervisor_stops_its_children_when_its_parent_exits() -> None:
    def parent() -> None:
        sup = DynamicSupervisor.start_link()
        start_child(sup, spec("a"))
        send("test", ("sup", sup))
        receive()

    holder = spawn(parent)
    sup = receive(("sup", ANY), timeout=WAIT)[1]
    assert sup is not None
    ref = monitor(sup)
    exit_process(holder, "shutdown")
    assert receive(("stopped", "a", ANY), timeout=WAIT) == ("stopped", "a", "shutdown")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"


# -- counting, module-based, nesting -------------------------------------------------


def test_count_children_counts_running_children_by_type() -> None:
    sup = DynamicSupervisor.start_link()
    start_child(sup, spec("a"))
    start_child(sup, spec("b"))
    start_child(sup, ChildSpec("s", (Supervisor.start_link, ([],)), type="supervisor"))
    assert count_children(sup) == {"specs": 3, "active": 3, "supervisors": 1, "workers": 2}


class Workers(DynamicSupervisor):
    def init(self, limit: int) -> DynamicSupervisorSpec:
        return DynamicSupervisorSpec(max_children=limit, extra_arguments=("from init",))


def test_a_module_based_dynamic_supervisor_gets_its_flags_from_init() -> None:
    sup = Workers.start_link(1, name="workers")
    assert whereis("workers") == sup
    start_child(sup, ChildSpec("w", (start_worker, (False,))))
    assert receive(("args", ANY, ANY), timeout=WAIT) == ("args", "from init", ())
    with pytest.raises(MaxChildrenError):
        start_child(sup, ChildSpec("w", (start_worker, (False,))))


def test_a_module_based_dynamic_supervisor_whose_init_ignores_is_not_started() -> None:
    class Off(DynamicSupervisor):
        def init(self, arg: Any) -> Ignore:
            return Ignore()

    assert Off.start_link() is None


def test_a_dynamic_supervisor_runs_under_a_supervisor() -> None:
    top = Supervisor.start_link([(Workers, 3)])
    [info] = supervisor_module.which_children(top)
    assert (info.id, info.type) == (Workers, "supervisor")
    assert count_children(info.pid)["specs"] == 0
