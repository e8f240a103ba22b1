"""The name registry: register, unregister, whereis, registered, and every error."""

from __future__ import annotations

import pytest
from support_processes import WAIT, dead_pid, noop, wait_down, wait_forever, wait_then_return

import beamlike
from beamlike import (
    ANY,
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    NoProcError,
    Pid,
    is_alive,
    process_info,
    receive,
    register,
    registered,
    self_pid,
    send,
    spawn,
    spawn_monitor,
    unregister,
    whereis,
)


def crash_when_told() -> None:
    receive("crash")
    raise ValueError("boom")


def report_whereis(parent: Pid, name: str) -> None:
    send(parent, ("whereis", whereis(name)))


# -- register, whereis, registered, unregister ----------------------------------------


def test_register_makes_whereis_return_the_pid() -> None:
    pid = spawn(wait_forever)

    register("svc", pid)

    assert whereis("svc") == pid


def test_whereis_of_an_unregistered_name_is_none() -> None:
    assert whereis("nobody") is None


def test_registered_lists_the_registered_names() -> None:
    register("one", spawn(wait_forever))
    register("two", spawn(wait_forever))

    names = registered()

    assert isinstance(names, list)
    assert {"one", "two"} <= set(names)
    assert len(names) == len(set(names))


def test_a_registered_name_is_visible_from_other_processes() -> None:
    pid = spawn(wait_forever)
    register("svc", pid)

    spawn(report_whereis, self_pid(), "svc")

    assert receive(("whereis", ANY), timeout=WAIT) == ("whereis", pid)


def test_the_caller_can_register_itself() -> None:
    register("me", self_pid())

    assert whereis("me") == self_pid()
    assert process_info(self_pid()).registered_name == "me"


def test_unregister_frees_the_name_and_leaves_the_process_running() -> None:
    pid = spawn(wait_forever)
    register("svc", pid)

    unregister("svc")

    assert whereis("svc") is None
    assert "svc" not in registered()
    assert process_info(pid).registered_name is None
    assert is_alive(pid)


def test_a_pid_can_be_registered_again_after_unregister() -> None:
    pid = spawn(wait_forever)
    register("old", pid)
    unregister("old")

    register("new", pid)

    assert whereis("new") == pid


def test_a_name_is_released_when_its_process_returns() -> None:
    pid, ref = spawn_monitor(wait_then_return)
    register("svc", pid)

    send(pid, "return")
    wait_down(ref)

    assert whereis("svc") is None
    assert "svc" not in registered()


def test_a_name_is_released_when_its_process_crashes() -> None:
    pid, ref = spawn_monitor(crash_when_told)
    register("svc", pid)

    send(pid, "crash")
    wait_down(ref)

    assert whereis("svc") is None


def test_a_name_is_released_when_its_process_is_killed() -> None:
    pid, ref = spawn_monitor(wait_forever)
    register("svc", pid)

    beamlike.exit(pid, "kill")
    wait_down(ref)

    assert whereis("svc") is None


def test_a_released_name_can_be_registered_by_another_process() -> None:
    first, ref = spawn_monitor(wait_then_return)
    register("svc", first)
    send(first, "return")
    wait_down(ref)
    second = spawn(wait_forever)

    register("svc", second)

    assert whereis("svc") == second


# -- sending by name ------------------------------------------------------------------


def test_send_to_a_registered_name_delivers_to_its_process() -> None:
    register("me", self_pid())

    send("me", "hello")

    assert receive(timeout=0) == "hello"


def test_send_to_an_unregistered_name_raises_noproc() -> None:
    with pytest.raises(NoProcError):
        send("nobody", "hello")


def test_send_to_a_name_released_by_exit_raises_noproc() -> None:
    pid, ref = spawn_monitor(wait_then_return)
    register("svc", pid)
    send(pid, "return")
    wait_down(ref)

    with pytest.raises(NoProcError):
        send("svc", "hello")


def test_send_to_an_unregistered_name_on_the_local_node_tuple_is_dropped_silently(
    node,
) -> None:
    # erlang:send/2: a bare unregistered name is the *only* unreachable destination that
    # fails; {Name, Node} never does, even when Node is the local node.
    assert send(("nobody", node.name), "hello") == "hello"


# -- errors ---------------------------------------------------------------------------


def test_registering_a_taken_name_raises_already_registered_naming_the_holder() -> None:
    holder = spawn(wait_forever)
    register("svc", holder)

    with pytest.raises(AlreadyRegisteredError) as excinfo:
        register("svc", spawn(wait_forever))

    assert excinfo.value.name == "svc"
    assert excinfo.value.pid == holder


def test_already_registered_is_a_bad_argument() -> None:
    register("svc", spawn(wait_forever))

    with pytest.raises(BadArgument):
        register("svc", spawn(wait_forever))


def test_a_failed_register_leaves_the_existing_registration_alone() -> None:
    holder = spawn(wait_forever)
    other = spawn(wait_forever)
    register("svc", holder)

    with pytest.raises(AlreadyRegisteredError):
        register("svc", other)

    assert whereis("svc") == holder
    assert process_info(other).registered_name is None


def test_registering_the_same_name_for_the_same_pid_again_raises_bad_argument() -> None:
    pid = spawn(wait_forever)
    register("svc", pid)

    with pytest.raises(BadArgument):
        register("svc", pid)

    assert whereis("svc") == pid


def test_registering_a_dead_pid_raises_noproc() -> None:
    pid = dead_pid()

    with pytest.raises(NoProcError):
        register("svc", pid)

    assert whereis("svc") is None


def test_registering_a_second_name_for_a_pid_raises_bad_argument() -> None:
    pid = spawn(wait_forever)
    register("first", pid)

    with pytest.raises(BadArgument) as excinfo:
        register("second", pid)

    assert type(excinfo.value) is BadArgument
    assert whereis("second") is None
    assert whereis("first") == pid


def test_spawn_opt_with_a_taken_name_raises_already_registered_and_starts_nothing() -> None:
    holder = spawn(wait_forever)
    register("svc", holder)
    before = set(beamlike.processes())

    with pytest.raises(AlreadyRegisteredError):
        beamlike.spawn_opt(noop, name="svc")

    assert set(beamlike.processes()) == before
    assert whereis("svc") == holder


def test_unregister_of_a_name_that_is_not_registered_raises_bad_argument() -> None:
    with pytest.raises(BadArgument):
        unregister("nobody")


@pytest.mark.parametrize("name", [42, None, b"svc", ("svc",)], ids=repr)
def test_registering_a_non_str_name_raises_bad_argument_type(name: object) -> None:
    with pytest.raises(BadArgumentType):
        register(name, spawn(wait_forever))
