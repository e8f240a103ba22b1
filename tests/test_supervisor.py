"""Supervisor: child specs, start order, restart types and strategies, restart intensity,
ordered shutdown, and the child management functions, as OTP's ``supervisor`` does them.

The test body is registered as ``"test"``. Children are started by ``start_worker``,
which runs in the supervisor and sends ``("start", tag, pid)`` to the test, so start
order is the order of those messages. Workers trap exits: when their supervisor stops
them they send ``("stopped", tag, reason)`` first, so stop order is the order of those.
A supervisor that is meant to die is started with ``start`` (not linked) and watched
with a monitor.
"""

from __future__ import annotations

import logging
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
    process_flag,
    process_info,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_opt,
    whereis,
)
from beamlike import exit as exit_process
from beamlike import supervisor as supervisor_module
from beamlike import sys as beamlike_sys
from beamlike.gen_server import BadReturn, GenServer, Ignore, Ok, Reply
from beamlike.proc_lib import StartError
from beamlike.supervisor import (
    AlreadyPresentError,
    AlreadyStartedError,
    ChildInfo,
    ChildSpec,
    ChildStartError,
    NotFoundError,
    RestartingError,
    RunningError,
    Supervisor,
    SupervisorSpec,
    child_spec,
    count_children,
    delete_child,
    get_childspec,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

WAIT = 2.0


@pytest.fixture(autouse=True)
def _test_is_registered() -> None:
    register("test", self_pid())


# -- children used by the tests ------------------------------------------------------


def worker(tag: str, stubborn: bool) -> None:
    """Wait for commands; report an exit signal, then exit with its reason (or ignore
    it when ``stubborn``). It traps exits from birth (``spawn_opt``)."""
    while True:
        message = receive()
        if message.__class__ is Exit:
            send("test", ("stopped", tag, message.reason))
            if not stubborn:
                raise ProcessExit(message.reason)
        elif message[0] == "exit":
            raise ProcessExit(message[1])


def start_worker(tag: str, stubborn: bool = False) -> Pid:
    """A start function: runs in the supervisor, tells the test, returns the pid."""
    pid = spawn_opt(worker, (tag, stubborn), link=True, trap_exit=True)
    send("test", ("start", tag, pid))
    return pid  # type: ignore[no-any-return]


def spec(tag: str, **fields: Any) -> ChildSpec:
    stubborn = fields.pop("stubborn", False)
    return ChildSpec(tag, (start_worker, (tag, stubborn)), **fields)


def started(tag: str) -> Pid:
    """Wait until the supervisor started child ``tag``; its pid."""
    return receive(("start", tag, ANY), timeout=WAIT)[2]  # type: ignore[no-any-return]


def start_order(count: int) -> list[str]:
    return [receive(("start", ANY, ANY), timeout=WAIT)[1] for _ in range(count)]


def stop_order(count: int) -> list[tuple[str, Any]]:
    return [receive(("stopped", ANY, ANY), timeout=WAIT)[1:] for _ in range(count)]


def make_exit(pid: Pid, reason: Any) -> None:
    """Make the child ``pid`` exit with ``reason`` (by its own hand), and wait for it."""
    ref = monitor(pid)
    send(pid, ("exit", reason))
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == reason


def restarted(sup: Any, tag: str, old: Pid) -> Pid:
    """Wait until ``tag`` was started again; check which_children shows the new pid."""
    new = started(tag)
    assert new != old
    assert child_pid(sup, tag) == new
    return new


def child_pid(sup: Any, tag: Any) -> Any:
    [info] = [info for info in which_children(sup) if info.id == tag]
    return info.pid


def no_more_starts() -> None:
    """The supervisor is idle (it answered a call) and started nothing else."""
    assert receive(("start", ANY, ANY), timeout=0, default=None) is None


def wait_down(pid: Any) -> Any:
    ref = monitor(pid)
    return receive(Down(ref, ANY, ANY), timeout=WAIT).reason


class Counter(GenServer):
    def handle_call(self, request: Any, from_: Any, count: int) -> Reply:
        return Reply(count, count + 1)


# -- child specs ---------------------------------------------------------------------


def test_child_spec_of_a_genserver_class_uses_its_child_spec_with_none() -> None:
    assert child_spec(Counter) == ChildSpec(Counter, (Counter.start_link, (None,), {}))


def test_child_spec_of_a_class_and_arg_tuple_passes_the_arg() -> None:
    normalised = child_spec((Counter, 7))
    assert normalised.id is Counter
    assert normalised.start == (Counter.start_link, (7,), {})
    assert normalised.modules == (Counter,)


def test_child_spec_accepts_the_dict_of_genserver_child_spec() -> None:
    assert child_spec(Counter.child_spec(1, id="c", restart="transient")) == ChildSpec(
        "c", (Counter.start_link, (1,), {}), restart="transient"
    )


def test_child_spec_defaults_are_permanent_worker_with_five_seconds_shutdown() -> None:
    normalised = child_spec({"id": "w", "start": (start_worker, ("w",))})
    assert (normalised.restart, normalised.type, normalised.shutdown) == (
        "permanent",
        "worker",
        5.0,
    )
    assert normalised.start == (start_worker, ("w",), {})


def test_a_supervisor_child_defaults_to_infinity_shutdown() -> None:
    assert ChildSpec("s", (start_worker, ("s",)), type="supervisor").shutdown == "infinity"
    assert child_spec(Supervisor).type == "supervisor"


def test_child_spec_applies_overrides() -> None:
    assert child_spec((Counter, 0), id="other", shutdown="brutal_kill").shutdown == "brutal_kill"


def test_child_spec_rejects_other_forms_listing_the_accepted_ones() -> None:
    with pytest.raises(BadArgument) as info:
        child_spec("worker")
    assert str(info.value) == (
        "a child spec must be a ChildSpec, a dict with keys 'id' and 'start' (and optionally "
        "'restart', 'shutdown', 'type', 'modules'), a GenServer subclass, or a (GenServer "
        "subclass, arg) tuple; got 'worker' (of type str)"
    )


def test_child_spec_rejects_an_unknown_restart_type() -> None:
    with pytest.raises(BadArgument) as info:
        spec("w", restart="always")
    assert str(info.value) == (
        "child spec 'w': restart must be one of 'permanent', 'transient', 'temporary'; got 'always'"
    )


def test_child_spec_rejects_a_bad_shutdown() -> None:
    with pytest.raises(BadArgument) as info:
        spec("w", shutdown=-1)
    assert str(info.value) == (
        "child spec 'w': shutdown must be a number of seconds >= 0, 'brutal_kill' or "
        "'infinity'; got -1"
    )


def test_child_spec_rejects_a_bad_type() -> None:
    with pytest.raises(BadArgument, match=r"type must be one of 'worker', 'supervisor'; got 'w'"):
        spec("w", type="w")


def test_child_spec_rejects_a_start_that_is_not_a_function_and_args() -> None:
    with pytest.raises(BadArgument, match=r"start must be a tuple \(fn, args\)"):
        ChildSpec("w", start_worker)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType, match="the start function must be callable; got 1"):
        ChildSpec("w", (1, ()))


def test_child_spec_rejects_unknown_dict_keys_and_missing_start() -> None:
    with pytest.raises(BadArgument, match=r"unknown key\(s\) \['restarts'\]"):
        child_spec({"id": "w", "start": (start_worker, ()), "restarts": "temporary"})
    with pytest.raises(BadArgument, match=r"lacks the key\(s\) \['start'\]"):
        child_spec({"id": "w"})


def test_child_ids_must_be_hashable() -> None:
    with pytest.raises(BadArgumentType, match="a child id must be hashable; got"):
        ChildSpec(["w"], (start_worker, ()))


def test_duplicate_child_ids_are_refused_at_the_call_site() -> None:
    with pytest.raises(BadArgument, match="duplicate child id 'a'"):
        Supervisor.start_link([spec("a"), spec("a")])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"strategy": "one_for_some"},
            "strategy must be one of 'one_for_one', 'one_for_all', 'rest_for_one'; "
            "got 'one_for_some'",
        ),
        ({"max_restarts": -1}, "max_restarts must be an int >= 0; got -1"),
        ({"max_seconds": 0}, "max_seconds must be a number of seconds > 0; got 0"),
    ],
)
def test_bad_flags_are_refused_at_the_call_site(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(BadArgument) as info:
        Supervisor.start_link([], **flags)
    assert str(info.value) == message


# -- starting ------------------------------------------------------------------------


def test_children_start_in_order() -> None:
    sup = Supervisor.start_link([spec("a"), spec("b"), spec("c")])
    assert start_order(3) == ["a", "b", "c"]
    assert [info.id for info in which_children(sup)] == ["a", "b", "c"]


def test_which_children_reports_id_pid_type_and_modules() -> None:
    sup = Supervisor.start_link([spec("a"), (Counter, 3)])
    pid = started("a")
    [first, second] = which_children(sup)
    assert first == ChildInfo("a", pid, "worker", (start_worker,))
    assert (second.id, second.type, second.modules) == (Counter, "worker", (Counter,))
    assert gen_server.call(second.pid, "next") == 3


def test_a_failed_start_stops_the_started_children_in_reverse_order() -> None:
    def fail() -> None:
        raise RuntimeError("no database")

    with pytest.raises(StartError) as info:
        Supervisor.start_link([spec("a"), spec("b"), ChildSpec("db", (fail, ())), spec("c")])
    reason = info.value.reason
    assert reason[:1] == ("shutdown",)
    assert reason[1][:2] == ("failed_to_start_child", "db")
    assert repr(reason[1][2]) == "RuntimeError('no database')"
    assert str(info.value) == (
        "supervisor did not start: child 'db' failed to start: RuntimeError('no database')"
    )
    assert start_order(2) == ["a", "b"]
    assert stop_order(2) == [("b", "shutdown"), ("a", "shutdown")]
    no_more_starts()


def test_a_child_whose_init_fails_is_reported_with_its_reason() -> None:
    class Broken(GenServer):
        def init(self, arg: Any) -> Any:
            raise ValueError("bad config")

    with pytest.raises(StartError, match=r"child <class '.*Broken'> failed to start: ValueError"):
        Supervisor.start_link([Broken])


def test_a_child_whose_start_returns_none_is_kept_as_not_running() -> None:
    sup = Supervisor.start_link([ChildSpec("nothing", (lambda: None, ()))])
    assert [info.pid for info in which_children(sup)] == [None]


def test_a_temporary_child_whose_start_returns_none_is_not_kept() -> None:
    sup = Supervisor.start_link([ChildSpec("nothing", (lambda: None, ()), restart="temporary")])
    assert which_children(sup) == []


def test_a_start_function_must_return_a_pid_or_none() -> None:
    with pytest.raises(StartError) as info:
        Supervisor.start_link([ChildSpec("x", (lambda: "pid", ()))])
    error = info.value.reason[1][2]
    assert isinstance(error, BadReturn)
    assert "returned 'pid'; expected the pid of a process linked to the supervisor" in str(error)


def test_a_start_function_must_link_the_child_to_the_supervisor() -> None:
    with pytest.raises(StartError, match="a process not linked to the supervisor"):
        Supervisor.start_link([ChildSpec("x", (spawn, (receive,)))])


def test_start_link_takes_a_supervisor_spec_instead_of_children_and_flags() -> None:
    sup = Supervisor.start_link(SupervisorSpec([spec("a"), spec("b")], strategy="one_for_all"))
    assert start_order(2) == ["a", "b"]
    make_exit(child_pid(sup, "b"), "boom")
    assert stop_order(1) == [("a", "shutdown")]
    with pytest.raises(BadArgument, match="either in the SupervisorSpec or as keywords"):
        Supervisor.start_link(SupervisorSpec([]), strategy="one_for_all")


def test_a_named_supervisor_is_registered() -> None:
    sup = Supervisor.start_link([], name="top")
    assert whereis("top") == sup


def test_init_returning_ignore_starts_nothing() -> None:
    class Nothing(Supervisor):
        def init(self, arg: Any) -> Ignore:
            return Ignore()

    assert Nothing.start_link() is None


# -- restart types -------------------------------------------------------------------


def test_permanent_child_is_restarted_after_a_crash() -> None:
    sup = Supervisor.start_link([spec("a")])
    old = started("a")
    make_exit(old, "boom")
    restarted(sup, "a", old)


def test_permanent_child_is_restarted_after_a_normal_exit() -> None:
    sup = Supervisor.start_link([spec("a")])
    old = started("a")
    make_exit(old, "normal")
    restarted(sup, "a", old)


def test_transient_child_is_not_restarted_after_normal_exit() -> None:
    sup = Supervisor.start_link([spec("a", restart="transient")])
    make_exit(started("a"), "normal")
    assert child_pid(sup, "a") is None
    no_more_starts()


def test_transient_child_is_not_restarted_after_a_shutdown_exit() -> None:
    sup = Supervisor.start_link([spec("a", restart="transient")])
    make_exit(started("a"), ("shutdown", "done"))
    assert child_pid(sup, "a") is None
    no_more_starts()


def test_transient_child_is_restarted_after_an_abnormal_exit() -> None:
    sup = Supervisor.start_link([spec("a", restart="transient")])
    old = started("a")
    make_exit(old, "boom")
    restarted(sup, "a", old)


def test_temporary_child_is_never_restarted_and_is_forgotten() -> None:
    sup = Supervisor.start_link([spec("a", restart="temporary"), spec("b")])
    make_exit(started("a"), "boom")
    assert [info.id for info in which_children(sup)] == ["b"]
    started("b")
    no_more_starts()


# -- strategies ----------------------------------------------------------------------


def test_one_for_one_restarts_only_the_child_that_exited() -> None:
    sup = Supervisor.start_link([spec("a"), spec("b"), spec("c")])
    a, b, c = started("a"), started("b"), started("c")
    make_exit(b, "boom")
    restarted(sup, "b", b)
    assert [info.pid for info in which_children(sup)][::2] == [a, c]
    assert receive(("stopped", ANY, ANY), timeout=0, default=None) is None


def test_one_for_all_stops_the_others_in_reverse_order_then_restarts_all_in_order() -> None:
    sup = Supervisor.start_link([spec("a"), spec("b"), spec("c")], strategy="one_for_all")
    assert start_order(3) == ["a", "b", "c"]
    b = child_pid(sup, "b")
    make_exit(b, "boom")
    assert stop_order(2) == [("c", "shutdown"), ("a", "shutdown")]
    assert start_order(3) == ["a", "b", "c"]
    assert all(isinstance(i.pid, Pid) and is_alive(i.pid) for i in which_children(sup))


def test_rest_for_one_restarts_the_child_and_those_started_after_it() -> None:
    sup = Supervisor.start_link(
        [spec("a"), spec("b"), spec("c"), spec("d")], strategy="rest_for_one"
    )
    assert start_order(4) == ["a", "b", "c", "d"]
    a = child_pid(sup, "a")
    make_exit(child_pid(sup, "b"), "boom")
    assert stop_order(2) == [("d", "shutdown"), ("c", "shutdown")]
    assert start_order(3) == ["b", "c", "d"]
    assert child_pid(sup, "a") == a


def test_one_for_all_forgets_temporary_siblings_instead_of_restarting_them() -> None:
    sup = Supervisor.start_link([spec("a"), spec("t", restart="temporary")], strategy="one_for_all")
    assert start_order(2) == ["a", "t"]
    make_exit(child_pid(sup, "a"), "boom")
    assert stop_order(1) == [("t", "shutdown")]
    assert start_order(1) == ["a"]
    assert [info.id for info in which_children(sup)] == ["a"]


# -- restart intensity ---------------------------------------------------------------


def test_more_restarts_than_intensity_shuts_the_supervisor_down() -> None:
    sup = Supervisor.start([spec("a"), spec("b")], max_restarts=2, max_seconds=60)
    assert sup is not None
    ref = monitor(sup)
    a = started("a")
    started("b")
    for _ in range(2):
        make_exit(a, "boom")
        a = started("a")
    make_exit(a, "boom")  # the third restart within 60 s is one too many
    assert stop_order(1) == [("b", "shutdown")]
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"
    no_more_starts()


def test_max_restarts_zero_shuts_down_at_the_first_exit() -> None:
    sup = Supervisor.start([spec("a")], max_restarts=0)
    assert sup is not None
    ref = monitor(sup)
    make_exit(started("a"), "boom")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"


def test_restarts_older_than_max_seconds_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(_supervising, "_now", lambda: clock[0])
    sup = Supervisor.start([spec("a")], max_restarts=1, max_seconds=5)
    a = started("a")
    for _ in range(3):  # one restart every 6 s: never two within 5 s
        make_exit(a, "boom")
        a = restarted(sup, "a", a)
        clock[0] += 6.0
    assert sup is not None
    assert is_alive(sup)


def test_a_supervisor_that_gives_up_makes_its_parent_apply_its_strategy() -> None:
    inner = ChildSpec(
        "inner",
        (Supervisor.start_link, ([spec("leaf")],), {"max_restarts": 0}),
        type="supervisor",
    )
    top = Supervisor.start_link([inner, spec("sibling")], strategy="one_for_all")
    assert start_order(2) == ["leaf", "sibling"]
    old_inner = child_pid(top, "inner")
    make_exit(child_pid(old_inner, "leaf"), "boom")  # inner gives up: exits "shutdown"
    assert stop_order(1) == [("sibling", "shutdown")]
    assert start_order(2) == ["leaf", "sibling"]
    assert child_pid(top, "inner") not in (None, old_inner)


def test_a_failed_restart_is_retried_and_counts_toward_intensity() -> None:
    attempts: list[int] = []

    def flaky() -> Pid:
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("still down")
        return start_worker("f")

    sup = Supervisor.start([ChildSpec("f", (flaky, ()))], max_restarts=3, max_seconds=60)
    assert sup is not None
    ref = monitor(sup)
    make_exit(started("f"), "boom")
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"
    assert len(attempts) == 4  # the first start, then three restarts that failed


def test_a_retried_restart_that_succeeds_brings_the_child_back() -> None:
    attempts: list[int] = []

    def flaky_once() -> Pid:
        attempts.append(1)
        if len(attempts) == 2:
            raise RuntimeError("down once")
        return start_worker("f")

    sup = Supervisor.start_link([ChildSpec("f", (flaky_once, ()))])
    old = started("f")
    make_exit(old, "boom")
    restarted(sup, "f", old)
    assert len(attempts) == 3


# -- shutdown ------------------------------------------------------------------------


def test_children_are_stopped_in_reverse_start_order() -> None:
    sup = Supervisor.start_link([spec("a"), spec("b"), spec("c")])
    start_order(3)
    supervisor_module.stop(sup)
    assert stop_order(3) == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]


def test_the_supervisor_stops_its_children_when_its_parent_exits() -> None:
    def parent() -> None:
        send("test", ("sup", Supervisor.start_link([spec("a"), spec("b")])))
        receive()

    holder = spawn(parent)
    sup = receive(("sup", ANY), timeout=WAIT)[1]
    assert sup is not None
    ref = monitor(sup)
    exit_process(holder, "shutdown")
    assert stop_order(2) == [("b", "shutdown"), ("a", "shutdown")]
    assert receive(Down(ref, ANY, ANY), timeout=WAIT).reason == "shutdown"


def test_brutal_kill_kills_the_child_at_once() -> None:
    sup = Supervisor.start_link([spec("a", shutdown="brutal_kill", stubborn=True)])
    ref = monitor(started("a"))
    terminate_child(sup, "a")
    assert receive(Down(ref, ANY, ANY), timeout=0).reason == "killed"
    assert receive(("stopped", ANY, ANY), timeout=0, default=None) is None


def test_a_child_that_ignores_shutdown_is_killed_after_its_shutdown_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = Supervisor.start_link([spec("a", shutdown=0.05, stubborn=True)])
    pid = started("a")
    ref = monitor(pid)
    terminate_child(sup, "a")
    assert stop_order(1) == [("a", "shutdown")]  # it got the signal, and ignored it
    assert receive(Down(ref, ANY, ANY), timeout=0).reason == "killed"
    [report] = [r for r in caplog.records if r.name == "beamlike.supervisor"]
    assert report.getMessage() == (
        f"supervisor {sup!r}: child 'a' ({pid!r}) exited with reason 'killed' while being shut down"
    )


def test_infinity_shutdown_waits_for_the_child_to_exit() -> None:
    def slow_to_stop() -> None:
        process_flag("trap_exit", True)
        receive(Exit)
        send("test", ("stopping", self_pid()))
        receive("go")
        raise ProcessExit("shutdown")

    sup = Supervisor.start_link(
        [ChildSpec("slow", (spawn_link, (slow_to_stop,)), shutdown="infinity")]
    )

    def terminator() -> None:
        terminate_child(sup, "slow")
        send("test", "terminated")

    spawn(terminator)
    child = receive(("stopping", ANY), timeout=WAIT)[1]
    assert receive("terminated", timeout=0.1, default=None) is None  # still waiting
    send(child, "go")
    assert receive("terminated", timeout=WAIT) == "terminated"


def test_a_genserver_child_that_traps_exits_runs_terminate_on_shutdown() -> None:
    class Tidy(GenServer):
        def init(self, arg: Any) -> Ok:
            process_flag("trap_exit", True)
            return Ok(arg)

        def terminate(self, reason: Any, state: Any) -> None:
            send("test", ("terminated", reason))

    sup = Supervisor.start_link([Tidy])
    terminate_child(sup, Tidy)
    assert receive(("terminated", ANY), timeout=WAIT) == ("terminated", "shutdown")


# -- managing children ---------------------------------------------------------------


def test_start_child_adds_a_child_after_the_others() -> None:
    sup = Supervisor.start_link([spec("a")])
    pid = start_child(sup, spec("b"))
    assert start_order(2) == ["a", "b"]
    assert [(i.id, i.pid) for i in which_children(sup)][1] == ("b", pid)


def test_start_child_with_the_id_of_a_running_child_raises_already_started() -> None:
    sup = Supervisor.start_link([spec("a")])
    pid = started("a")
    with pytest.raises(AlreadyStartedError) as info:
        start_child(sup, spec("a"))
    assert (info.value.id, info.value.pid) == ("a", pid)
    assert str(info.value) == f"a child with id 'a' is already started as {pid!r}"


def test_start_child_with_the_id_of_a_terminated_child_raises_already_present() -> None:
    sup = Supervisor.start_link([spec("a")])
    terminate_child(sup, "a")
    with pytest.raises(AlreadyPresentError, match="a child with id 'a' is already present"):
        start_child(sup, spec("a"))


def test_start_child_that_fails_raises_child_start_error_and_keeps_nothing() -> None:
    sup = Supervisor.start_link([])
    with pytest.raises(ChildStartError) as info:
        start_child(sup, ChildSpec("bad", (lambda: 1 / 0, ())))
    assert info.value.id == "bad"
    assert isinstance(info.value.reason, ZeroDivisionError)
    assert which_children(sup) == []


def test_start_child_refuses_a_bad_spec_before_calling() -> None:
    with pytest.raises(BadArgument, match="a child spec must be"):
        start_child("no such supervisor", 42)


def test_terminate_child_keeps_the_spec_and_restart_child_starts_it_again() -> None:
    sup = Supervisor.start_link([spec("a")])
    old = started("a")
    terminate_child(sup, "a")
    assert stop_order(1) == [("a", "shutdown")]
    assert child_pid(sup, "a") is None
    new = restart_child(sup, "a")
    assert started("a") == new != old
    assert child_pid(sup, "a") == new


def test_terminate_child_of_a_temporary_child_forgets_it() -> None:
    sup = Supervisor.start_link([spec("t", restart="temporary")])
    terminate_child(sup, "t")
    assert which_children(sup) == []


def test_a_terminated_child_is_not_restarted_by_the_supervisor() -> None:
    sup = Supervisor.start_link([spec("a")])
    started("a")
    terminate_child(sup, "a")
    assert child_pid(sup, "a") is None
    no_more_starts()


def test_restart_child_of_a_running_child_raises_running() -> None:
    sup = Supervisor.start_link([spec("a")])
    pid = started("a")
    with pytest.raises(RunningError) as info:
        restart_child(sup, "a")
    assert str(info.value) == f"child 'a' is running ({pid!r}); terminate_child it first"
    assert not isinstance(info.value, RestartingError)


def test_delete_child_forgets_a_terminated_child() -> None:
    sup = Supervisor.start_link([spec("a"), spec("b")])
    terminate_child(sup, "a")
    delete_child(sup, "a")
    assert [info.id for info in which_children(sup)] == ["b"]


def test_delete_child_of_a_running_child_raises_running() -> None:
    sup = Supervisor.start_link([spec("a")])
    with pytest.raises(RunningError):
        delete_child(sup, "a")


def test_unknown_child_ids_raise_not_found() -> None:
    sup = Supervisor.start_link([])
    for function in (terminate_child, restart_child, delete_child, get_childspec):
        with pytest.raises(NotFoundError, match="the supervisor has no child 'x'"):
            function(sup, "x")


def test_get_childspec_returns_the_normalised_spec() -> None:
    sup = Supervisor.start_link([(Counter, 1)])
    assert get_childspec(sup, Counter) == child_spec((Counter, 1))


def test_count_children_counts_specs_running_children_and_types() -> None:
    inner = ChildSpec("inner", (Supervisor.start_link, ([],)), type="supervisor")
    sup = Supervisor.start_link([spec("a"), spec("b"), inner])
    terminate_child(sup, "b")
    assert count_children(sup) == {"specs": 3, "active": 2, "supervisors": 1, "workers": 2}


# -- module-based supervisors --------------------------------------------------------


class Pool(Supervisor):
    def init(self, size: int) -> SupervisorSpec:
        return SupervisorSpec(
            [spec(f"w{i}") for i in range(size)], strategy="one_for_all", max_restarts=1
        )


def test_a_module_based_supervisor_gets_children_and_flags_from_init() -> None:
    sup = Pool.start_link(2, name="pool")
    assert whereis("pool") == sup
    assert start_order(2) == ["w0", "w1"]
    make_exit(child_pid(sup, "w1"), "boom")  # one_for_all
    assert stop_order(1) == [("w0", "shutdown")]
    assert start_order(2) == ["w0", "w1"]


def test_a_module_based_supervisor_is_a_child_of_type_supervisor() -> None:
    top = Supervisor.start_link([(Pool, 1)])
    [info] = which_children(top)
    assert (info.id, info.type) == (Pool, "supervisor")
    assert [child.id for child in which_children(info.pid)] == ["w0"]


def test_a_module_based_supervisor_refuses_flags_given_to_start_link() -> None:
    with pytest.raises(BadArgument, match="Pool is a module-based supervisor"):
        Pool.start_link(1, strategy="one_for_all")


def test_init_returning_something_else_fails_the_start() -> None:
    class Confused(Supervisor):
        def init(self, arg: Any) -> Any:
            return [spec("a")]

    with pytest.raises(StartError) as info:
        Confused.start_link()
    assert isinstance(info.value.reason, BadReturn)
    assert "expected SupervisorSpec(children, ...) or Ignore()" in str(info.value.reason)


# -- reports -------------------------------------------------------------------------


def test_a_crash_is_reported_once_and_its_restart_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="beamlike.supervisor")
    sup = Supervisor.start_link([spec("a")])
    old = started("a")
    make_exit(old, "boom")
    new = restarted(sup, "a", old)
    records = [r for r in caplog.records if r.name == "beamlike.supervisor"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("ERROR", f"supervisor {sup!r}: child 'a' ({old!r}) terminated with reason 'boom'"),
        ("INFO", f"supervisor {sup!r}: restarted child 'a' as {new!r}"),
    ]
    assert records[0].__dict__["supervisor_report"]["context"] == "child_terminated"


def test_an_unexpected_message_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    sup = Supervisor.start_link([], name="top")
    assert sup is not None
    send(sup, "hello")
    assert which_children(sup) == []
    [record] = [r for r in caplog.records if r.name == "beamlike.supervisor"]
    assert record.getMessage() == "supervisor 'top' received an unexpected message: 'hello'"


def test_a_supervisor_is_a_genserver_that_traps_exits() -> None:
    sup = Supervisor.start_link([])
    status = beamlike_sys.get_status(sup)
    assert isinstance(status["module"], type) and issubclass(status["module"], Supervisor)
    assert issubclass(Supervisor, GenServer)
    assert sup is not None
    info = process_info(sup)
    assert info is not None and info.trap_exit is True


def gated_restarts(attempts: list[int]) -> Any:
    """A start function that works once, then fails every time, but only after the
    test let it go on: it tells the test ("attempt") and waits for "proceed", so the
    test can queue a call before the supervisor schedules its retry."""

    def start() -> Pid:
        attempts.append(1)
        if len(attempts) == 1:
            return start_worker("f")
        send("test", "attempt")
        receive("proceed")  # blocks the supervisor: it is running this function
        raise RuntimeError("still down")

    return start


def failed_restart(sup: Any) -> None:
    """Let the next restart attempt of the gated child fail."""
    assert receive("attempt", timeout=WAIT) == "attempt"
    send(sup, "proceed")


def test_a_child_whose_restart_failed_is_shown_as_restarting() -> None:
    sup = Supervisor.start_link([ChildSpec("f", (gated_restarts([]), ()))], max_restarts=100)
    make_exit(started("f"), "boom")
    failed_restart(sup)
    assert [(info.id, info.pid) for info in which_children(sup)] == [("f", "restarting")]
    failed_restart(sup)
    assert count_children(sup) == {"specs": 1, "active": 0, "supervisors": 0, "workers": 1}


def test_restart_child_and_delete_child_of_a_restarting_child_raise_restarting() -> None:
    sup = Supervisor.start_link([ChildSpec("f", (gated_restarts([]), ()))], max_restarts=100)
    make_exit(started("f"), "boom")
    failed_restart(sup)
    with pytest.raises(RestartingError, match="child 'f' is being restarted"):
        restart_child(sup, "f")
    failed_restart(sup)
    with pytest.raises(RestartingError):
        delete_child(sup, "f")


def test_terminate_child_stops_the_retries_of_a_failed_restart() -> None:
    attempts: list[int] = []
    sup = Supervisor.start_link([ChildSpec("f", (gated_restarts(attempts), ()))])
    make_exit(started("f"), "boom")
    failed_restart(sup)
    terminate_child(sup, "f")  # handled before the supervisor's retry
    assert [(info.id, info.pid) for info in which_children(sup)] == [("f", None)]
    assert len(attempts) == 2  # the first start and the failed restart; no retry
