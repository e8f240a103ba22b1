"""Processes: spawning, identifying, sending to and inspecting them, and `run`.

The test body runs in the main greenlet, which beamlike adopts as a process the first
time it needs a pid, so it can spawn, send and receive directly. Every wait is a
`receive(..., timeout=WAIT)`: it returns as soon as the awaited message arrives.
"""

from __future__ import annotations

import re

import gevent
import pytest
from support_processes import WAIT, crash, dead_pid, exit_with, noop, wait_down, wait_forever

import beamlike
from beamlike import (
    ANY,
    Down,
    Pid,
    ProcessExit,
    Ref,
    demonitor,
    is_alive,
    link,
    make_ref,
    monitor,
    process_flag,
    process_info,
    processes,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    spawn_opt,
    whereis,
)

# -- process bodies -------------------------------------------------------------------


def report_args(parent: Pid, *args: object, **kwargs: object) -> None:
    send(parent, ("args", args, kwargs))


def report_self(parent: Pid) -> None:
    send(parent, ("self", self_pid()))


def report_current_node(parent: Pid) -> None:
    send(parent, ("node", beamlike.node.current()))


def say_ready_then_wait(parent: Pid) -> None:
    send(parent, ("ready", self_pid()))
    wait_forever()


def add(a: int, *, b: int) -> int:
    return a + b


# -- spawn ----------------------------------------------------------------------------


def test_spawn_returns_a_pid_before_the_function_has_run() -> None:
    ran: list[str] = []

    pid = spawn(ran.append, "ran")

    assert isinstance(pid, Pid)
    assert ran == []


def test_spawned_function_runs_once_the_caller_waits() -> None:
    me = self_pid()

    spawn(send, me, "ran")

    assert receive(timeout=WAIT) == "ran"


def test_spawned_function_gets_positional_and_keyword_arguments() -> None:
    spawn(report_args, self_pid(), 1, "two", three=3)

    assert receive(("args", ANY, ANY), timeout=WAIT) == ("args", (1, "two"), {"three": 3})


def test_spawn_accepts_a_module_colon_function_string() -> None:
    spawn("beamlike:send", self_pid(), "sent by a function named by a string")

    assert receive(timeout=WAIT) == "sent by a function named by a string"


def test_spawn_of_a_module_colon_function_string_crashing_reports_its_exception() -> None:
    pid, ref = spawn_monitor("operator:truediv", 1, 0)

    down = wait_down(ref)

    assert down.pid == pid
    assert isinstance(down.reason, ZeroDivisionError)


def test_each_spawn_gets_a_distinct_pid() -> None:
    pids = {spawn(noop) for _ in range(100)}

    assert len(pids) == 100


def test_self_pid_in_a_spawned_process_is_the_pid_spawn_returned() -> None:
    pid = spawn(report_self, self_pid())

    assert receive(("self", ANY), timeout=WAIT) == ("self", pid)


def test_self_pid_of_the_test_body_is_a_live_pid_that_stays_the_same() -> None:
    me = self_pid()

    assert isinstance(me, Pid)
    assert self_pid() == me
    assert is_alive(me)


def test_spawn_link_links_the_new_process_before_it_runs() -> None:
    me = self_pid()

    pid = spawn_link(wait_forever)

    assert process_info(pid).links == frozenset({me})
    assert pid in process_info(me).links


def test_spawn_monitor_returns_a_pid_and_a_ref_whose_down_arrives_on_exit() -> None:
    pid, ref = spawn_monitor(noop)

    assert isinstance(pid, Pid)
    assert isinstance(ref, Ref)
    assert wait_down(ref) == Down(ref, pid, "normal")


# -- spawn_opt ------------------------------------------------------------------------


def test_spawn_opt_passes_args_and_kwargs() -> None:
    spawn_opt(report_args, args=(self_pid(), 1), kwargs={"k": 2})

    assert receive(("args", ANY, ANY), timeout=WAIT) == ("args", (1,), {"k": 2})


def test_spawn_opt_without_options_returns_a_bare_pid() -> None:
    assert isinstance(spawn_opt(noop), Pid)


def test_spawn_opt_with_a_name_registers_the_pid_before_the_function_runs() -> None:
    pid = spawn_opt(wait_forever, name="worker")

    assert whereis("worker") == pid
    assert process_info(pid).registered_name == "worker"


def test_spawn_opt_with_trap_exit_sets_the_flag_before_the_function_runs() -> None:
    pid = spawn_opt(wait_forever, trap_exit=True)

    assert process_info(pid).trap_exit is True


def test_spawn_opt_with_link_links_the_caller_before_the_function_runs() -> None:
    me = self_pid()

    pid = spawn_opt(wait_forever, link=True)

    assert process_info(pid).links == frozenset({me})


def test_spawn_opt_with_monitor_returns_a_pid_and_a_ref() -> None:
    pid, ref = spawn_opt(noop, monitor=True)

    assert wait_down(ref) == Down(ref, pid, "normal")


def test_spawn_opt_with_all_options_combines_them() -> None:
    me = self_pid()

    pid, ref = spawn_opt(wait_forever, link=True, monitor=True, trap_exit=True, name="everything")

    info = process_info(pid)
    assert info.links == frozenset({me})
    assert info.monitored_by == frozenset({me})
    assert info.trap_exit is True
    assert info.registered_name == "everything"
    assert isinstance(ref, Ref)


# -- send -----------------------------------------------------------------------------


def test_send_returns_the_message() -> None:
    msg = ("hello", 1)

    assert send(self_pid(), msg) is msg


def test_send_to_self_is_receivable_immediately() -> None:
    send(self_pid(), "to myself")

    assert receive(timeout=0) == "to myself"


def test_send_to_a_registered_name_delivers_to_its_process() -> None:
    register("me", self_pid())

    send("me", "by name")

    assert receive(timeout=0) == "by name"


def test_send_to_a_name_and_local_node_tuple_delivers_to_the_registered_process(node) -> None:
    register("me", self_pid())

    send(("me", node.name), "by name and node")

    assert receive(timeout=0) == "by name and node"


def test_send_to_a_dead_pid_is_silently_dropped() -> None:
    pid = dead_pid()

    assert send(pid, "lost") == "lost"


def test_send_never_blocks_even_when_the_receiver_is_not_receiving() -> None:
    pid = spawn(wait_forever)

    for i in range(1000):
        send(pid, i)

    assert process_info(pid).message_queue_len == 1000


def test_messages_to_another_process_arrive_in_send_order() -> None:
    me = self_pid()

    def forward_all(count: int) -> None:
        for _ in range(count):
            send(me, receive())

    pid = spawn(forward_all, 50)
    for i in range(50):
        send(pid, i)

    assert [receive(timeout=WAIT) for _ in range(50)] == list(range(50))


# -- identifiers ----------------------------------------------------------------------


def test_a_local_pid_prints_like_an_erlang_pid() -> None:
    assert re.fullmatch(r"<0\.\d+\.\d+>", str(spawn(noop)))


def test_a_pid_records_the_name_of_its_node(node) -> None:
    assert spawn(noop).node == node.name


def test_pids_are_hashable() -> None:
    a, b = spawn(noop), spawn(noop)

    assert len({a, b, a}) == 2
    assert {a: "a", b: "b"}[a] == "a"


def test_pids_are_totally_ordered() -> None:
    a, b = spawn(noop), spawn(noop)

    assert (a < b) != (b < a)
    assert sorted([a, b]) == sorted([b, a])


def test_a_pid_equals_a_pid_with_the_same_fields_only() -> None:
    pid = spawn(noop)

    same = Pid(node=pid.node, id=pid.id, serial=pid.serial, creation=pid.creation)
    other = Pid(node=pid.node, id=pid.id + 1, serial=pid.serial, creation=pid.creation)

    assert same == pid
    assert hash(same) == hash(pid)
    assert other != pid
    assert pid != str(pid)


def test_pids_of_different_nodes_are_ordered_too() -> None:
    a = Pid(node="alpha@host", id=9, serial=0, creation=1)
    b = Pid(node="beta@host", id=1, serial=0, creation=1)

    assert (a < b) != (b < a)
    assert a != b


def test_make_ref_returns_a_new_ref_each_time() -> None:
    refs = [make_ref() for _ in range(100)]

    assert all(isinstance(ref, Ref) for ref in refs)
    assert len(set(refs)) == 100


def test_a_ref_prints_like_an_erlang_ref() -> None:
    assert re.fullmatch(r"#Ref<\d+\.\d+\.\d+\.\d+>", str(make_ref()))


def test_refs_are_totally_ordered() -> None:
    a, b = make_ref(), make_ref()

    assert (a < b) != (b < a)
    assert sorted([a, b]) == sorted([b, a])


# -- liveness and the process table ---------------------------------------------------


def test_is_alive_is_true_for_a_process_that_has_not_exited() -> None:
    assert is_alive(spawn(wait_forever))


def test_is_alive_is_false_after_the_process_exited() -> None:
    assert not is_alive(dead_pid())


def test_processes_lists_live_processes_including_the_caller() -> None:
    pid = spawn(wait_forever)

    listed = processes()

    assert isinstance(listed, list)
    assert pid in listed
    assert self_pid() in listed
    assert all(isinstance(p, Pid) for p in listed)


def test_processes_does_not_list_a_process_that_exited() -> None:
    pid = dead_pid()

    assert pid not in processes()


def test_current_node_in_the_test_body_is_the_default_node(node) -> None:
    assert beamlike.node.current() is node


def test_current_node_inside_a_process_is_the_node_it_runs_on(node) -> None:
    spawn(report_current_node, self_pid())

    assert receive(("node", ANY), timeout=WAIT) == ("node", node)


# -- adoption of code that beamlike did not start -------------------------------------


def test_a_plain_gevent_greenlet_gets_a_pid_of_its_own_and_can_receive() -> None:
    me = self_pid()

    def body() -> object:
        send(me, ("pid", self_pid()))
        return receive(timeout=WAIT)

    greenlet = gevent.spawn(body)
    _, pid = receive(("pid", ANY), timeout=WAIT)
    send(pid, "hello, adopted greenlet")

    assert pid != me
    assert greenlet.get(timeout=WAIT) == "hello, adopted greenlet"


def test_an_adopted_gevent_greenlet_that_returns_exits_normal() -> None:
    me = self_pid()

    def body() -> None:
        send(me, ("pid", self_pid()))
        receive("go", timeout=WAIT)

    gevent.spawn(body)
    _, pid = receive(("pid", ANY), timeout=WAIT)
    ref = monitor(pid)
    send(pid, "go")

    assert wait_down(ref) == Down(ref, pid, "normal")


# -- process_info ---------------------------------------------------------------------


def test_process_info_of_a_dead_pid_is_none() -> None:
    assert process_info(dead_pid()) is None


def test_process_info_reports_the_pid() -> None:
    pid = spawn(wait_forever)

    assert process_info(pid).pid == pid


def test_process_info_status_of_the_calling_process_is_running() -> None:
    assert process_info(self_pid()).status == "running"


def test_process_info_status_of_a_spawned_process_that_has_not_run_yet_is_runnable() -> None:
    assert process_info(spawn(wait_forever)).status == "runnable"


def test_process_info_status_of_a_process_blocked_in_receive_is_waiting() -> None:
    pid = spawn(say_ready_then_wait, self_pid())
    receive(("ready", pid), timeout=WAIT)

    assert process_info(pid).status == "waiting"


def test_process_info_lists_queued_messages_in_arrival_order() -> None:
    pid = spawn(wait_forever)
    for msg in (1, "two", (3,)):
        send(pid, msg)

    info = process_info(pid)

    assert info.messages == (1, "two", (3,))
    assert info.message_queue_len == 3


def test_process_info_of_a_fresh_process_has_an_empty_mailbox() -> None:
    info = process_info(spawn(wait_forever))

    assert info.messages == ()
    assert info.message_queue_len == 0


def test_process_info_reports_links_on_both_sides() -> None:
    me = self_pid()
    pid = spawn(wait_forever)

    link(pid)

    assert process_info(pid).links == frozenset({me})
    assert process_info(me).links == frozenset({pid})


def test_process_info_reports_monitors_and_monitored_by() -> None:
    me = self_pid()
    pid = spawn(wait_forever)

    monitor(pid)

    assert process_info(me).monitors == frozenset({pid})
    assert process_info(pid).monitored_by == frozenset({me})


def test_process_info_forgets_a_monitor_after_demonitor() -> None:
    me = self_pid()
    pid = spawn(wait_forever)
    ref = monitor(pid)

    demonitor(ref)

    assert process_info(me).monitors == frozenset()
    assert process_info(pid).monitored_by == frozenset()


def test_process_info_reports_trap_exit() -> None:
    me = self_pid()
    assert process_info(me).trap_exit is False

    process_flag("trap_exit", True)

    assert process_info(me).trap_exit is True


def test_process_info_reports_the_registered_name_or_none() -> None:
    pid = spawn(wait_forever)
    assert process_info(pid).registered_name is None

    register("named", pid)

    assert process_info(pid).registered_name == "named"


def test_process_info_reports_an_integer_memory_estimate() -> None:
    memory = process_info(spawn(wait_forever)).memory

    assert isinstance(memory, int)
    assert memory > 0


def test_process_info_initial_call_names_the_spawned_function() -> None:
    initial_call = process_info(spawn(wait_forever)).initial_call

    assert isinstance(initial_call, str)
    assert "wait_forever" in initial_call
    assert wait_forever.__module__ in initial_call


def own_initial_call() -> str:
    return process_info(self_pid()).initial_call


def test_process_info_initial_call_of_a_process_started_by_run_names_the_function() -> None:
    initial_call = beamlike.run(own_initial_call)

    assert "own_initial_call" in initial_call
    assert own_initial_call.__module__ in initial_call


# -- run ------------------------------------------------------------------------------


def test_run_returns_the_function_result() -> None:
    assert beamlike.run(add, 1, b=2) == 3


def test_run_executes_the_function_in_a_new_process_that_is_gone_afterwards() -> None:
    me = self_pid()

    inner = beamlike.run(self_pid)

    assert inner != me
    assert not is_alive(inner)


def test_run_reraises_the_exception_the_process_crashed_with() -> None:
    with pytest.raises(ValueError, match="^boom$"):
        beamlike.run(crash, "boom")


def test_run_raises_process_exit_when_the_process_exits_with_an_abnormal_reason() -> None:
    with pytest.raises(ProcessExit) as excinfo:
        beamlike.run(exit_with, "shutdown")

    assert excinfo.value.reason == "shutdown"


def test_run_returns_none_when_the_process_exits_with_reason_normal() -> None:
    assert beamlike.run(exit_with, "normal") is None
