"""The Registry: unique and duplicate keys, cleanup on exit, queries, via names, listeners,
the registry's own life, and every bad-input error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import beamlike
from beamlike import (
    ANY,
    AlreadyRegisteredError,
    BadArgument,
    BadArgumentType,
    Down,
    Exit,
    NoProcError,
    Pid,
    Ref,
    exit,
    is_alive,
    monitor,
    process_flag,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    whereis,
)
from beamlike.registry import Registry, Via

WAIT = 2.0


# -- helpers ---------------------------------------------------------------------------


def agent(parent: Pid) -> None:
    """A process that runs the functions it is sent and reports their results."""
    send(parent, ("ready", self_pid()))
    while True:
        message = receive()
        if message == "stop":
            return
        if message == "crash":
            raise ValueError("boom")
        fn, args = message
        try:
            send(parent, ("result", self_pid(), fn(*args)))
        except Exception as exc:
            send(parent, ("error", self_pid(), exc))


def start_agent() -> Pid:
    spawn(agent, self_pid())
    return receive(("ready", ANY), timeout=WAIT)[1]  # type: ignore[no-any-return]


def do(pid: Pid, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` inside the agent ``pid``; return its result or raise its error."""
    send(pid, (fn, args))
    kind, _, value = receive((ANY, pid, ANY), timeout=WAIT)
    if kind == "error":
        raise value
    return value


def wait_down(ref: Ref) -> Down:
    return receive(Down(ref, ANY, ANY), timeout=WAIT)  # type: ignore[no-any-return]


def end(pid: Pid, how: str = "stop") -> Down:
    """Make the agent ``pid`` return ("stop") or crash ("crash"); wait until it is gone."""
    ref = monitor(pid)
    send(pid, how)
    return wait_down(ref)


def registered_agent(registry: str, key: Any, value: Any = None) -> Pid:
    pid = start_agent()
    do(pid, Registry.register, registry, key, value)
    return pid


def wait_forever() -> None:
    receive(lambda _msg: False)


# -- registration, unique and duplicate ------------------------------------------------


def test_start_link_returns_the_owner_registered_under_the_registry_name() -> None:
    owner = Registry.start_link("reg", keys="unique")

    assert owner.__class__ is Pid
    assert whereis("reg") == owner


def test_register_then_lookup_returns_the_caller_and_its_value() -> None:
    Registry.start_link("reg", keys="unique")

    assert Registry.register("reg", "alice", {"role": "scribe"}) is None

    assert Registry.lookup("reg", "alice") == [(self_pid(), {"role": "scribe"})]


def test_lookup_of_a_key_nobody_registered_is_empty() -> None:
    Registry.start_link("reg", keys="unique")

    assert Registry.lookup("reg", "nobody") == []


def test_keys_default_to_unique() -> None:
    Registry.start_link("reg")
    registered_agent("reg", "k")

    with pytest.raises(AlreadyRegisteredError):
        Registry.register("reg", "k", None)


def test_a_unique_key_held_by_another_process_raises_with_the_holder_pid() -> None:
    Registry.start_link("reg", keys="unique")
    holder = registered_agent("reg", "k", 1)

    with pytest.raises(AlreadyRegisteredError) as caught:
        Registry.register("reg", "k", 2)

    assert caught.value.name == "k"
    assert caught.value.pid == holder
    assert str(caught.value) == f"name 'k' is already registered to {holder!r}"
    assert Registry.lookup("reg", "k") == [(holder, 1)]


def test_a_process_registering_its_own_unique_key_again_raises() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.register("reg", "k", 1)

    with pytest.raises(AlreadyRegisteredError) as caught:
        Registry.register("reg", "k", 2)

    assert caught.value.pid == self_pid()
    assert Registry.lookup("reg", "k") == [(self_pid(), 1)]


def test_a_process_may_hold_several_keys_of_a_unique_registry() -> None:
    Registry.start_link("reg", keys="unique")

    Registry.register("reg", "a", 1)
    Registry.register("reg", "b", 2)

    assert Registry.keys("reg", self_pid()) == ["a", "b"]


def test_a_duplicate_registry_lets_one_process_register_a_key_many_times() -> None:
    Registry.start_link("reg", keys="duplicate")

    Registry.register("reg", "topic", 1)
    Registry.register("reg", "topic", 2)

    assert Registry.lookup("reg", "topic") == [(self_pid(), 1), (self_pid(), 2)]


def test_duplicate_lookup_lists_entries_in_registration_order() -> None:
    Registry.start_link("reg", keys="duplicate")
    first = registered_agent("reg", "topic", "a")
    Registry.register("reg", "topic", "b")
    third = registered_agent("reg", "topic", "c")

    assert Registry.lookup("reg", "topic") == [(first, "a"), (self_pid(), "b"), (third, "c")]


def test_registries_with_different_names_are_independent() -> None:
    Registry.start_link("one", keys="unique")
    Registry.start_link("two", keys="unique")

    Registry.register("one", "k", 1)
    Registry.register("two", "k", 2)

    assert Registry.lookup("one", "k") == [(self_pid(), 1)]
    assert Registry.lookup("two", "k") == [(self_pid(), 2)]


def test_one_exit_hook_is_set_per_process_per_registry(node: beamlike.Node) -> None:
    Registry.start_link("reg", keys="duplicate")

    for n in range(5):
        Registry.register("reg", "k", n)
        Registry.register("reg", f"k{n}", n)
    Registry.unregister("reg", "k")
    Registry.register("reg", "k", 99)

    assert len(node.exit_hooks[self_pid()]) == 1


# -- cleanup when the registering process exits ----------------------------------------


def test_entries_are_removed_when_their_process_returns() -> None:
    Registry.start_link("reg", keys="duplicate")
    pid = registered_agent("reg", "k", 1)
    do(pid, Registry.register, "reg", "other", 2)

    down = end(pid, "stop")

    assert down.reason == "normal"
    assert Registry.lookup("reg", "k") == []
    assert Registry.lookup("reg", "other") == []
    assert Registry.keys("reg", pid) == []
    assert Registry.count("reg") == 0


def test_entries_are_removed_when_their_process_crashes() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "k", 1)

    down = end(pid, "crash")

    assert isinstance(down.reason, ValueError)
    assert Registry.lookup("reg", "k") == []
    assert Registry.count("reg") == 0


def test_entries_are_removed_when_their_process_is_killed() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "k", 1)
    ref = monitor(pid)

    exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    assert Registry.lookup("reg", "k") == []


def test_the_exit_of_one_process_leaves_the_entries_of_others() -> None:
    Registry.start_link("reg", keys="duplicate")
    leaving = registered_agent("reg", "topic", "leaving")
    staying = registered_agent("reg", "topic", "staying")

    end(leaving)

    assert Registry.lookup("reg", "topic") == [(staying, "staying")]


def supervisor_like(parent: Pid, rounds: int) -> None:
    """Traps exits and restarts a crashed worker, which registers the same key again."""
    process_flag("trap_exit", True)

    def worker() -> None:
        Registry.register("reg", "worker", self_pid())
        send(parent, ("worker", self_pid()))
        receive("crash")
        raise ValueError("boom")

    spawn_link(worker)
    for _ in range(rounds):
        receive(Exit(ANY, ANY))
        spawn_link(worker)  # the old entry is already gone when Exit arrives
    receive(lambda _msg: False)


def test_a_restarted_process_registers_the_same_key_again() -> None:
    Registry.start_link("reg", keys="unique")
    spawn(supervisor_like, self_pid(), 1)
    first = receive(("worker", ANY), timeout=WAIT)[1]

    send(first, "crash")
    second = receive(("worker", ANY), timeout=WAIT)[1]

    assert second != first
    assert Registry.lookup("reg", "worker") == [(second, second)]


def test_the_entry_is_gone_before_the_down_message_is_handled() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "k")
    watcher = start_agent()
    ref = do(watcher, monitor, pid)

    def lookup_on_down() -> list[tuple[Pid, Any]]:
        receive(Down(ref, pid, ANY))
        return Registry.lookup("reg", "k")

    send(pid, "crash")

    assert do(watcher, lookup_on_down) == []


# -- unregister ------------------------------------------------------------------------


def test_unregister_removes_only_the_callers_entries_for_that_key() -> None:
    Registry.start_link("reg", keys="duplicate")
    other = registered_agent("reg", "topic", "other")
    Registry.register("reg", "topic", 1)
    Registry.register("reg", "topic", 2)
    Registry.register("reg", "elsewhere", 3)

    assert Registry.unregister("reg", "topic") is None

    assert Registry.lookup("reg", "topic") == [(other, "other")]
    assert Registry.lookup("reg", "elsewhere") == [(self_pid(), 3)]


def test_unregister_of_a_key_the_caller_does_not_hold_does_nothing() -> None:
    Registry.start_link("reg", keys="unique")
    holder = registered_agent("reg", "k", 1)

    Registry.unregister("reg", "k")
    Registry.unregister("reg", "never")

    assert Registry.lookup("reg", "k") == [(holder, 1)]


def test_a_unique_key_can_be_registered_again_after_unregister() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.register("reg", "k", 1)
    Registry.unregister("reg", "k")

    Registry.register("reg", "k", 2)

    assert Registry.lookup("reg", "k") == [(self_pid(), 2)]


def test_unregister_match_removes_only_the_callers_matching_entries() -> None:
    Registry.start_link("reg", keys="duplicate")
    other = registered_agent("reg", "topic", ("sub", 1))
    Registry.register("reg", "topic", ("sub", 1))
    Registry.register("reg", "topic", ("sub", 2))
    Registry.register("reg", "topic", ("pub", 1))

    Registry.unregister_match("reg", "topic", ("sub", ANY))

    assert Registry.lookup("reg", "topic") == [(other, ("sub", 1)), (self_pid(), ("pub", 1))]


def test_unregister_match_applies_the_guard() -> None:
    Registry.start_link("reg", keys="duplicate")
    for n in range(5):
        Registry.register("reg", "k", n)

    Registry.unregister_match("reg", "k", ANY, guard=lambda v: v % 2 == 0)

    assert Registry.values("reg", "k", self_pid()) == [1, 3]


# -- queries ---------------------------------------------------------------------------


def test_keys_lists_the_keys_of_a_pid_in_registration_order() -> None:
    Registry.start_link("reg", keys="duplicate")
    Registry.register("reg", "b", 1)
    Registry.register("reg", "a", 2)
    Registry.register("reg", "b", 3)
    other = registered_agent("reg", "c")

    assert Registry.keys("reg", self_pid()) == ["b", "a", "b"]
    assert Registry.keys("reg", other) == ["c"]


def test_keys_of_a_pid_that_registered_nothing_is_empty() -> None:
    Registry.start_link("reg", keys="unique")

    assert Registry.keys("reg", spawn(wait_forever)) == []


def test_values_lists_what_a_pid_registered_under_a_key() -> None:
    Registry.start_link("reg", keys="duplicate")
    other = registered_agent("reg", "k", "theirs")
    Registry.register("reg", "k", "mine 1")
    Registry.register("reg", "j", "not this key")
    Registry.register("reg", "k", "mine 2")

    assert Registry.values("reg", "k", self_pid()) == ["mine 1", "mine 2"]
    assert Registry.values("reg", "k", other) == ["theirs"]
    assert Registry.values("reg", "nothing", self_pid()) == []


def test_update_value_stores_fn_of_the_old_value_and_returns_new_and_old() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.register("reg", "counter", 1)

    result = Registry.update_value("reg", "counter", lambda old: old + 10)

    assert result == (11, 1)
    assert Registry.lookup("reg", "counter") == [(self_pid(), 11)]


def test_update_value_keeps_the_entrys_place_in_registration_order() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.register("reg", "a", 1)
    Registry.register("reg", "b", 2)

    Registry.update_value("reg", "a", lambda old: old * 100)

    assert Registry.select("reg", lambda k, p, v: True) == [
        ("a", self_pid(), 100),
        ("b", self_pid(), 2),
    ]


def test_update_value_by_a_process_that_does_not_hold_the_key_raises() -> None:
    Registry.start_link("reg", keys="unique")
    holder = registered_agent("reg", "k", 1)

    with pytest.raises(BadArgument) as caught:
        Registry.update_value("reg", "k", lambda old: old + 1)

    assert str(caught.value) == (
        f"Registry.update_value: {self_pid()!r} does not hold key 'k' in registry 'reg' "
        f"(it is held by {holder!r})"
    )
    assert Registry.lookup("reg", "k") == [(holder, 1)]


def test_update_value_of_a_key_nobody_holds_raises() -> None:
    Registry.start_link("reg", keys="unique")

    with pytest.raises(BadArgument) as caught:
        Registry.update_value("reg", "k", lambda old: old)

    assert str(caught.value) == (
        f"Registry.update_value: {self_pid()!r} does not hold key 'k' in registry 'reg' "
        "(nobody holds it)"
    )


def test_update_value_on_a_duplicate_registry_raises() -> None:
    Registry.start_link("reg", keys="duplicate")
    Registry.register("reg", "k", 1)

    with pytest.raises(BadArgument) as caught:
        Registry.update_value("reg", "k", lambda old: old)

    assert str(caught.value) == (
        "Registry.update_value works on unique registries only; registry 'reg' has keys='duplicate'"
    )


def test_match_returns_the_entries_whose_value_matches_the_pattern() -> None:
    Registry.start_link("reg", keys="duplicate")
    Registry.register("reg", "k", ("job", 1, {"tag": "x", "extra": 0}))
    Registry.register("reg", "k", ("job", 2, {"tag": "y"}))
    Registry.register("reg", "k", ["job", 3])
    Registry.register("reg", "k", "plain")

    me = self_pid()
    assert Registry.match("reg", "k", ("job", ANY, {"tag": "x"})) == [
        (me, ("job", 1, {"tag": "x", "extra": 0}))
    ]
    assert Registry.match("reg", "k", ("job", ANY, ANY)) == [
        (me, ("job", 1, {"tag": "x", "extra": 0})),
        (me, ("job", 2, {"tag": "y"})),
    ]
    assert Registry.match("reg", "k", ["job", ANY]) == [(me, ["job", 3])]
    assert Registry.match("reg", "k", "plain") == [(me, "plain")]
    assert Registry.match("reg", "k", ("job",)) == []
    assert Registry.match("reg", "nothing", ANY) == []


def test_match_applies_the_guard_to_matching_values() -> None:
    Registry.start_link("reg", keys="duplicate")
    for n in range(6):
        Registry.register("reg", "k", ("n", n))

    found = Registry.match("reg", "k", ("n", ANY), guard=lambda v: v[1] >= 4)

    assert found == [(self_pid(), ("n", 4)), (self_pid(), ("n", 5))]


def test_count_is_the_number_of_entries_of_the_registry() -> None:
    Registry.start_link("reg", keys="duplicate")
    assert Registry.count("reg") == 0
    Registry.register("reg", "a", 1)
    Registry.register("reg", "a", 2)
    registered_agent("reg", "b")

    assert Registry.count("reg") == 3


def test_count_match_counts_what_match_would_return() -> None:
    Registry.start_link("reg", keys="duplicate")
    for n in range(6):
        Registry.register("reg", "k", ("n", n))
    Registry.register("reg", "k", "other")

    assert Registry.count_match("reg", "k", ("n", ANY)) == 6
    assert Registry.count_match("reg", "k", ("n", ANY), guard=lambda v: v[1] < 2) == 2
    assert Registry.count_match("reg", "nothing", ANY) == 0


def test_dispatch_calls_fn_once_with_all_entries_of_the_key() -> None:
    Registry.start_link("reg", keys="duplicate")
    subscriber = registered_agent("reg", "topic", "s1")
    Registry.register("reg", "topic", "s2")
    calls: list[list[tuple[Pid, Any]]] = []

    assert Registry.dispatch("reg", "topic", calls.append) is None

    assert calls == [[(subscriber, "s1"), (self_pid(), "s2")]]


def test_dispatch_to_a_key_without_entries_does_not_call_fn() -> None:
    Registry.start_link("reg", keys="duplicate")
    calls: list[Any] = []

    Registry.dispatch("reg", "topic", calls.append)

    assert calls == []


def test_dispatch_can_send_to_every_subscriber() -> None:
    Registry.start_link("reg", keys="duplicate")
    Registry.register("reg", "topic", "me")

    Registry.dispatch("reg", "topic", lambda entries: [send(p, ("news", v)) for p, v in entries])

    assert receive(("news", ANY), timeout=WAIT) == ("news", "me")


def test_select_returns_the_key_pid_value_for_which_where_is_true() -> None:
    Registry.start_link("reg", keys="duplicate")
    other = registered_agent("reg", "a", 1)
    Registry.register("reg", "b", 2)
    Registry.register("reg", "a", 3)

    assert Registry.select("reg", lambda key, pid, value: key == "a") == [
        ("a", other, 1),
        ("a", self_pid(), 3),
    ]
    assert Registry.select("reg", lambda key, pid, value: pid == self_pid() and value > 2) == [
        ("a", self_pid(), 3)
    ]
    assert Registry.select("reg", lambda key, pid, value: False) == []


def test_meta_returns_what_put_meta_stored() -> None:
    Registry.start_link("reg", keys="unique")

    assert Registry.put_meta("reg", "config", {"shards": 4}) is None

    assert Registry.meta("reg", "config") == {"shards": 4}


def test_meta_of_a_missing_key_is_none_or_the_default() -> None:
    Registry.start_link("reg", keys="unique")

    assert Registry.meta("reg", "missing") is None
    assert Registry.meta("reg", "missing", default=0) == 0


def test_delete_meta_removes_the_metadata() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.put_meta("reg", "config", 1)

    Registry.delete_meta("reg", "config")
    Registry.delete_meta("reg", "never there")

    assert Registry.meta("reg", "config") is None


# -- via names -------------------------------------------------------------------------


def test_a_via_name_prints_compares_and_hashes_by_registry_and_key() -> None:
    via = Registry.via("reg", "alice")

    assert repr(via) == "Via('reg', 'alice')"
    assert repr(Registry.via("reg", "alice", 5)) == "Via('reg', 'alice', 5)"
    assert via == Via("reg", "alice") == Registry.via("reg", "alice", {"value": "ignored"})
    assert hash(via) == hash(Via("reg", "alice"))
    assert via != Via("reg", "bob")
    assert via != Via("other", "alice")


def test_a_via_name_is_frozen() -> None:
    via = Registry.via("reg", "alice")

    with pytest.raises(AttributeError):
        via.key = "bob"  # type: ignore[misc]


def test_send_to_a_via_name_reaches_the_registered_process() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "alice")

    send(Registry.via("reg", "alice"), (lambda: "hello from alice", ()))

    assert receive(("result", pid, ANY), timeout=WAIT) == ("result", pid, "hello from alice")


def test_send_to_a_via_name_of_an_unregistered_key_raises_noproc() -> None:
    Registry.start_link("reg", keys="unique")

    with pytest.raises(NoProcError) as caught:
        send(Registry.via("reg", "nobody"), "hello")

    assert str(caught.value) == (
        "cannot send to Via('reg', 'nobody'): no process is registered under that name"
    )


def test_monitor_of_a_via_name_gives_down_when_the_process_exits() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "alice")
    ref = monitor(Registry.via("reg", "alice"))

    send(pid, "stop")

    assert wait_down(ref) == Down(ref, pid, "normal")


def test_monitor_of_a_via_name_of_an_unregistered_key_gives_noproc() -> None:
    Registry.start_link("reg", keys="unique")
    via = Registry.via("reg", "nobody")

    ref = monitor(via)

    assert wait_down(ref) == Down(ref, via, "noproc")


def test_whereis_name_is_the_holder_or_none() -> None:
    Registry.start_link("reg", keys="unique")
    pid = registered_agent("reg", "alice")

    assert Registry.via("reg", "alice").whereis_name() == pid
    assert Registry.via("reg", "bob").whereis_name() is None


def test_register_name_registers_another_process_with_the_vias_value() -> None:
    Registry.start_link("reg", keys="unique")
    pid = spawn(wait_forever)

    assert Registry.via("reg", "worker", {"v": 1}).register_name(pid) is True

    assert Registry.lookup("reg", "worker") == [(pid, {"v": 1})]


def test_register_name_returns_false_when_the_key_is_taken() -> None:
    Registry.start_link("reg", keys="unique")
    holder = registered_agent("reg", "worker", "first")

    assert Registry.via("reg", "worker").register_name(spawn(wait_forever)) is False

    assert Registry.lookup("reg", "worker") == [(holder, "first")]


def test_an_entry_made_by_register_name_is_removed_when_its_process_exits() -> None:
    Registry.start_link("reg", keys="unique")
    pid = start_agent()
    Registry.via("reg", "worker").register_name(pid)

    end(pid, "crash")

    assert Registry.lookup("reg", "worker") == []
    assert Registry.via("reg", "worker").whereis_name() is None


def test_register_name_of_a_dead_pid_raises_noproc() -> None:
    Registry.start_link("reg", keys="unique")
    pid = start_agent()
    end(pid)

    with pytest.raises(NoProcError) as caught:
        Registry.via("reg", "worker").register_name(pid)

    assert str(caught.value) == (
        f"Via('reg', 'worker').register_name: {pid!r} is not a live process of this node"
    )


def test_unregister_name_removes_the_entry_whoever_holds_it() -> None:
    Registry.start_link("reg", keys="unique")
    registered_agent("reg", "worker")
    via = Registry.via("reg", "worker")

    assert via.unregister_name() is None

    assert via.whereis_name() is None
    assert Registry.lookup("reg", "worker") == []


def test_a_via_name_for_a_duplicate_registry_raises_at_once() -> None:
    Registry.start_link("reg", keys="duplicate")

    with pytest.raises(BadArgument) as caught:
        Registry.via("reg", "k")

    assert str(caught.value) == (
        "Registry.via: via names work with unique registries only; registry 'reg' has "
        "keys='duplicate'"
    )


def test_a_via_name_made_before_a_duplicate_registry_raises_when_used() -> None:
    via = Registry.via("reg", "k")
    Registry.start_link("reg", keys="duplicate")

    with pytest.raises(BadArgument) as caught:
        via.whereis_name()
    with pytest.raises(BadArgument):
        via.register_name(self_pid())
    with pytest.raises(BadArgument):
        via.unregister_name()

    assert str(caught.value) == (
        "Via('reg', 'k').whereis_name: via names work with unique registries only; "
        "registry 'reg' has keys='duplicate'"
    )


def test_a_restarted_worker_is_found_again_through_the_same_via_name() -> None:
    Registry.start_link("reg", keys="unique")
    via = Registry.via("reg", "worker")
    spawn(supervisor_like, self_pid(), 1)
    first = receive(("worker", ANY), timeout=WAIT)[1]
    assert via.whereis_name() == first

    send(via, "crash")
    second = receive(("worker", ANY), timeout=WAIT)[1]

    assert via.whereis_name() == second != first


# -- listeners -------------------------------------------------------------------------


def test_listeners_hear_of_register_and_unregister() -> None:
    register("listener", self_pid())
    Registry.start_link("reg", keys="duplicate", listeners=["listener"])
    me = self_pid()

    Registry.register("reg", "k", 1)
    Registry.register("reg", "k", 2)
    Registry.unregister("reg", "k")

    assert receive(timeout=WAIT) == ("register", "reg", "k", me, 1)
    assert receive(timeout=WAIT) == ("register", "reg", "k", me, 2)
    assert receive(timeout=WAIT) == ("unregister", "reg", "k", me)
    assert receive(timeout=WAIT) == ("unregister", "reg", "k", me)
    assert receive(timeout=0, default=None) is None


def test_listeners_hear_of_entries_removed_by_an_exit() -> None:
    register("listener", self_pid())
    Registry.start_link("reg", keys="unique", listeners=["listener"])
    pid = registered_agent("reg", "k", "v")
    assert receive(("register", ANY, ANY, ANY, ANY), timeout=WAIT) == (
        "register",
        "reg",
        "k",
        pid,
        "v",
    )

    end(pid, "crash")

    assert receive(("unregister", ANY, ANY, ANY), timeout=WAIT) == ("unregister", "reg", "k", pid)


def test_a_listener_that_is_not_running_is_skipped() -> None:
    register("listener", self_pid())
    Registry.start_link("reg", keys="unique", listeners=["absent", "listener"])

    Registry.register("reg", "k", 1)

    assert receive(timeout=WAIT) == ("register", "reg", "k", self_pid(), 1)


# -- the registry's own life -----------------------------------------------------------


def test_the_registry_is_gone_after_its_owner_exits() -> None:
    owner = Registry.start("reg", keys="unique")
    Registry.register("reg", "k", 1)
    ref = monitor(owner)

    exit(owner, "kill")
    wait_down(ref)

    with pytest.raises(BadArgument) as caught:
        Registry.lookup("reg", "k")
    assert str(caught.value) == (
        "Registry.lookup: registry 'reg' is not running on node 'nonode@nohost' "
        "(start it with Registry.start_link('reg', keys=...); a registry is gone once its "
        "owner process exited)"
    )


def test_a_registry_can_be_started_again_under_the_same_name() -> None:
    owner = Registry.start("reg", keys="unique")
    old_holder = registered_agent("reg", "k", "old")
    ref = monitor(owner)
    exit(owner, "kill")
    wait_down(ref)

    Registry.start_link("reg", keys="duplicate")
    Registry.register("reg", "k", "new")
    end(old_holder)  # its exit hook belongs to the old registry and touches nothing here

    assert Registry.lookup("reg", "k") == [(self_pid(), "new")]


def test_exits_after_the_registry_is_gone_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    owner = Registry.start("reg", keys="unique")
    holder = registered_agent("reg", "k")
    ref = monitor(owner)
    exit(owner, "kill")
    wait_down(ref)

    with caplog.at_level(logging.ERROR, logger="beamlike.node"):
        end(holder)

    assert caplog.records == []


def starts_registry_then_crashes(parent: Pid) -> None:
    send(parent, ("owner", Registry.start_link("reg", keys="unique")))
    receive("crash")
    raise ValueError("boom")


def test_start_link_links_the_owner_to_the_caller() -> None:
    starter = spawn(starts_registry_then_crashes, self_pid())
    owner = receive(("owner", ANY), timeout=WAIT)[1]
    ref = monitor(owner)

    send(starter, "crash")

    assert isinstance(wait_down(ref).reason, ValueError)
    with pytest.raises(BadArgument):
        Registry.count("reg")


def starts_unlinked_registry(parent: Pid) -> None:
    send(parent, ("owner", Registry.start("reg", keys="unique")))
    raise ValueError("the starter crashes; the owner is not linked to it")


def test_start_does_not_link_the_owner_to_the_caller() -> None:
    starter, starter_ref = spawn_monitor(starts_unlinked_registry, self_pid())
    owner = receive(("owner", ANY), timeout=WAIT)[1]

    assert isinstance(wait_down(starter_ref).reason, ValueError)
    assert starter != owner
    assert is_alive(owner)
    assert whereis("reg") == owner
    assert Registry.count("reg") == 0


def test_start_link_with_a_taken_name_raises_and_starts_nothing(node: beamlike.Node) -> None:
    self_pid()  # the test body is a process too; count it before
    taken = spawn(wait_forever)
    register("reg", taken)
    before = node.process_count()

    with pytest.raises(AlreadyRegisteredError) as caught:
        Registry.start_link("reg", keys="unique")

    assert caught.value.pid == taken
    assert node.process_count() == before
    with pytest.raises(BadArgument):
        Registry.count("reg")


def test_starting_a_running_registry_again_raises_already_registered() -> None:
    owner = Registry.start_link("reg", keys="unique")

    with pytest.raises(AlreadyRegisteredError) as caught:
        Registry.start_link("reg", keys="duplicate")

    assert caught.value.pid == owner


def test_child_spec_is_a_dict_whose_start_starts_the_registry() -> None:
    spec = Registry.child_spec("reg", "duplicate")

    assert spec == {"id": "reg", "start": (Registry.start_link, ("reg",), {"keys": "duplicate"})}
    fn, args, kwargs = spec["start"]
    owner = fn(*args, **kwargs)
    assert whereis("reg") == owner
    Registry.register("reg", "k", 1)
    Registry.register("reg", "k", 2)
    assert Registry.count("reg") == 2


def test_child_spec_passes_listeners_on() -> None:
    spec = Registry.child_spec("reg", "unique", listeners=["l"])

    assert spec["start"][2] == {"keys": "unique", "listeners": ["l"]}


def test_a_registry_belongs_to_the_node_it_was_started_on() -> None:
    Registry.start_link("reg", keys="unique")
    other = beamlike.Node()
    try:
        with other.as_default(), pytest.raises(BadArgument):
            Registry.count("reg")
    finally:
        other.stop()
    assert Registry.count("reg") == 0


# -- bad input -------------------------------------------------------------------------


def test_a_wrong_keys_value_lists_the_allowed_ones_and_shows_the_given_one() -> None:
    with pytest.raises(BadArgument) as caught:
        Registry.start_link("reg", keys="uniq")

    assert str(caught.value) == (
        "Registry.start_link: keys must be one of 'unique', 'duplicate'; got 'uniq'"
    )
    assert whereis("reg") is None


def test_a_keys_value_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(BadArgument) as caught:
        Registry.start("reg", keys=1)  # type: ignore[arg-type]

    assert str(caught.value) == "Registry.start: keys must be one of 'unique', 'duplicate'; got 1"


def test_child_spec_refuses_a_wrong_keys_value() -> None:
    with pytest.raises(BadArgument) as caught:
        Registry.child_spec("reg", "many")

    assert str(caught.value) == (
        "Registry.child_spec: keys must be one of 'unique', 'duplicate'; got 'many'"
    )


def test_a_registry_name_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(BadArgumentType) as caught:
        Registry.start_link(42, keys="unique")  # type: ignore[arg-type]

    assert str(caught.value) == (
        "Registry.start_link expects a registry name (str); got 42 (of type int)"
    )


def test_listeners_must_be_a_list_of_names() -> None:
    with pytest.raises(BadArgumentType) as caught:
        Registry.start_link("reg", keys="unique", listeners="listener")

    assert str(caught.value) == (
        "Registry.start_link: listeners must be a list of registered process names (str); "
        "got 'listener'"
    )
    assert whereis("reg") is None


CALLS: list[tuple[str, Callable[[str], Any]]] = [
    ("register", lambda r: Registry.register(r, "k", 1)),
    ("unregister", lambda r: Registry.unregister(r, "k")),
    ("unregister_match", lambda r: Registry.unregister_match(r, "k", ANY)),
    ("lookup", lambda r: Registry.lookup(r, "k")),
    ("match", lambda r: Registry.match(r, "k", ANY)),
    ("keys", lambda r: Registry.keys(r, self_pid())),
    ("values", lambda r: Registry.values(r, "k", self_pid())),
    ("update_value", lambda r: Registry.update_value(r, "k", lambda v: v)),
    ("count", lambda r: Registry.count(r)),
    ("count_match", lambda r: Registry.count_match(r, "k", ANY)),
    ("dispatch", lambda r: Registry.dispatch(r, "k", print)),
    ("select", lambda r: Registry.select(r, lambda k, p, v: True)),
    ("meta", lambda r: Registry.meta(r, "k")),
    ("put_meta", lambda r: Registry.put_meta(r, "k", 1)),
    ("delete_meta", lambda r: Registry.delete_meta(r, "k")),
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_every_function_on_an_unknown_registry_says_it_is_not_running(
    name: str, call: Callable[[str], Any]
) -> None:
    with pytest.raises(BadArgument) as caught:
        call("nope")

    assert str(caught.value).startswith(
        f"Registry.{name}: registry 'nope' is not running on node 'nonode@nohost'"
    )


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_every_function_refuses_a_registry_that_is_not_a_name(
    name: str, call: Callable[[Any], Any]
) -> None:
    with pytest.raises(BadArgumentType) as caught:
        call(b"reg")

    assert str(caught.value) == (
        f"Registry.{name} expects a registry name (str); got b'reg' (of type bytes)"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: Via("nope", "k").whereis_name(),
        lambda: Via("nope", "k").register_name(self_pid()),
        lambda: Via("nope", "k").unregister_name(),
    ],
    ids=["whereis_name", "register_name", "unregister_name"],
)
def test_a_via_name_of_an_unknown_registry_says_it_is_not_running(
    call: Callable[[], Any],
) -> None:
    with pytest.raises(BadArgument) as caught:
        call()

    assert "registry 'nope' is not running" in str(caught.value)


def test_send_to_a_via_name_of_an_unknown_registry_says_it_is_not_running() -> None:
    with pytest.raises(BadArgument) as caught:
        send(Registry.via("nope", "k"), "hello")

    assert str(caught.value).startswith(
        "Via('nope', 'k').whereis_name: registry 'nope' is not running"
    )


def test_an_unhashable_key_is_refused() -> None:
    Registry.start_link("reg", keys="unique")

    with pytest.raises(BadArgumentType) as caught:
        Registry.register("reg", ["a", "list"], 1)

    assert str(caught.value) == (
        "Registry.register: a registry key must be hashable; got ['a', 'list'] (of type list)"
    )
    with pytest.raises(BadArgumentType):
        Registry.via("reg", {"a": 1})


def test_keys_and_values_refuse_a_pid_that_is_not_a_pid() -> None:
    Registry.start_link("reg", keys="unique")

    with pytest.raises(BadArgumentType) as caught:
        Registry.keys("reg", "not a pid")  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType):
        Registry.values("reg", "k", 3)  # type: ignore[arg-type]

    assert str(caught.value) == "Registry.keys expects a Pid; got 'not a pid' (of type str)"


def test_register_name_refuses_a_pid_that_is_not_a_pid() -> None:
    Registry.start_link("reg", keys="unique")

    with pytest.raises(BadArgumentType) as caught:
        Registry.via("reg", "k").register_name("worker")  # type: ignore[arg-type]

    assert str(caught.value) == (
        "Via('reg', 'k').register_name expects a Pid; got 'worker' (of type str)"
    )


def test_callbacks_that_are_not_callable_are_refused() -> None:
    Registry.start_link("reg", keys="unique")
    Registry.register("reg", "k", 1)

    with pytest.raises(BadArgumentType) as caught:
        Registry.dispatch("reg", "k", "print")  # type: ignore[arg-type]
    assert str(caught.value) == "Registry.dispatch expects a callable; got 'print'"
    with pytest.raises(BadArgumentType):
        Registry.update_value("reg", "k", 5)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType):
        Registry.select("reg", None)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentType) as caught:
        Registry.match("reg", "k", ANY, guard=True)  # type: ignore[arg-type]
    assert str(caught.value) == "Registry.match guard= expects a callable; got True"
    assert Registry.lookup("reg", "k") == [(self_pid(), 1)]
