"""ETS-like tables: types, access modes, ownership and heirs, counters, matching."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from beamlike import (
    ANY,
    BadArgument,
    BadArgumentType,
    Down,
    Pid,
    ets,
    monitor,
    receive,
    self_pid,
    send,
    spawn,
    spawn_monitor,
)
from beamlike.ets import END_OF_TABLE, AccessError, EtsTransfer, NoTableError, Tid, Var

WAIT = 2.0


# -- helpers ------------------------------------------------------------------------


def in_other_process(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """Run ``fn(*args)`` in a new process; ``("ok", result)`` or ``("error", exception)``."""
    parent = self_pid()

    def body() -> None:
        try:
            send(parent, ("ok", fn(*args)))
        except Exception as exc:
            send(parent, ("error", exc))

    spawn(body)
    return receive(("ok", ANY), ("error", ANY), timeout=WAIT)  # type: ignore[no-any-return]


def table_owner(parent: Pid, options: dict[str, Any], setopts: dict[str, Any] | None) -> None:
    """Make a table holding ("k", 1), report it, and exit on "stop"."""
    tab = ets.new("owned", **options)
    if setopts is not None:
        ets.setopts(tab, **setopts)
    ets.insert(tab, ("k", 1))
    send(parent, ("table", tab))
    receive("stop")


def wait_for_stop() -> None:
    receive("stop")


def start_owner(setopts: dict[str, Any] | None = None, **options: Any) -> tuple[Pid, Any, Any]:
    """An owner process, its monitor ref and its table."""
    pid, ref = spawn_monitor(table_owner, self_pid(), options, setopts)
    _, tab = receive(("table", ANY), timeout=WAIT)
    return pid, ref, tab


def stop_and_wait(pid: Pid, ref: Any) -> None:
    send(pid, "stop")
    assert receive(Down(ref, pid, ANY), timeout=WAIT).reason == "normal"


# -- insert semantics of each type ---------------------------------------------------


def test_set_insert_replaces_the_object_with_the_same_key() -> None:
    tab = ets.new("t", "set")
    assert ets.insert(tab, ("a", 1)) is True
    ets.insert(tab, ("a", 2))
    assert ets.lookup(tab, "a") == [("a", 2)]
    assert ets.info(tab)["size"] == 1  # type: ignore[index]


def test_bag_insert_drops_an_object_equal_to_one_already_stored() -> None:
    tab = ets.new("t", "bag")
    ets.insert(tab, [("a", 1), ("a", 2), ("a", 1)])
    assert ets.lookup(tab, "a") == [("a", 1), ("a", 2)]
    assert ets.info(tab)["size"] == 2  # type: ignore[index]


def test_duplicate_bag_insert_keeps_equal_objects() -> None:
    tab = ets.new("t", "duplicate_bag")
    ets.insert(tab, [("a", 1), ("a", 2), ("a", 1)])
    assert ets.lookup(tab, "a") == [("a", 1), ("a", 2), ("a", 1)]
    assert ets.info(tab)["size"] == 3  # type: ignore[index]


def test_ordered_set_lists_and_walks_objects_in_key_order() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [(3, "c"), (1, "a"), (2, "b")])
    assert ets.tab2list(tab) == [(1, "a"), (2, "b"), (3, "c")]
    assert [ets.first(tab), ets.next(tab, 1), ets.next(tab, 2), ets.next(tab, 3)] == [
        1,
        2,
        3,
        END_OF_TABLE,
    ]
    assert [ets.last(tab), ets.prev(tab, 3), ets.prev(tab, 1)] == [3, 2, END_OF_TABLE]
    assert ets.next(tab, 1.5) == 2


def test_set_walks_keys_in_insertion_order_and_ends_with_end_of_table() -> None:
    tab = ets.new("t")
    ets.insert(tab, [("x", 1), ("y", 2)])
    assert [ets.first(tab), ets.next(tab, "x"), ets.next(tab, "y")] == ["x", "y", END_OF_TABLE]
    assert [ets.last(tab), ets.prev(tab, "y"), ets.prev(tab, "x")] == ["y", "x", END_OF_TABLE]


def test_first_of_an_empty_table_is_end_of_table() -> None:
    assert ets.first(ets.new("t")) == END_OF_TABLE
    assert ets.last(ets.new("t", "ordered_set")) == END_OF_TABLE


def test_next_of_a_key_not_in_a_set_raises_bad_argument() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgument, match="key 'nope' is not in table"):
        ets.next(tab, "nope")


def test_keypos_chooses_the_key_element() -> None:
    tab = ets.new("t", keypos=1)
    ets.insert(tab, [("x", "k1"), ("y", "k1")])
    assert ets.lookup(tab, "k1") == [("y", "k1")]


def test_ordered_set_refuses_a_key_that_cannot_be_compared_and_stores_nothing() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, (1, "a"))
    with pytest.raises(BadArgument, match="must be comparable"):
        ets.insert(tab, [(2, "b"), ("x", "c")])
    assert ets.tab2list(tab) == [(1, "a")]


# -- insert_new and bad objects -------------------------------------------------------


def test_insert_new_stores_nothing_when_any_key_is_present() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("b", 0))
    assert ets.insert_new(tab, [("a", 1), ("b", 2)]) is False
    assert ets.tab2list(tab) == [("b", 0)]


def test_insert_new_stores_every_object_when_no_key_is_present() -> None:
    tab = ets.new("t")
    assert ets.insert_new(tab, [("a", 1), ("b", 2)]) is True
    assert ets.tab2list(tab) == [("a", 1), ("b", 2)]


def test_insert_of_a_non_tuple_raises_bad_argument_saying_what_was_expected() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgumentType) as info:
        ets.insert(tab, {"a": 1})  # type: ignore[arg-type]
    assert str(info.value) == (
        "insert expects a tuple or a list of tuples; got {'a': 1} (of type dict)"
    )


def test_insert_of_a_list_with_one_bad_object_stores_nothing() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgumentType, match=r"expects tuples as objects; got \['b', 2\]"):
        ets.insert(tab, [("a", 1), ["b", 2]])  # type: ignore[list-item]
    assert ets.tab2list(tab) == []


def test_insert_of_a_tuple_too_short_for_keypos_raises_bad_argument() -> None:
    tab = ets.new("t", keypos=2)
    with pytest.raises(BadArgument) as info:
        ets.insert(tab, ("a", 1))
    assert str(info.value) == (
        f"insert: table {tab!r} has its key at position 2 (0-based), so objects need at "
        "least 3 elements; got ('a', 1) with 2"
    )


def test_insert_of_an_unhashable_key_raises_bad_argument() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgumentType, match=r"keys must be hashable; got \[1\]"):
        ets.insert(tab, ([1], "x"))


def test_new_with_an_unknown_type_raises_bad_argument_listing_the_types() -> None:
    with pytest.raises(BadArgument) as info:
        ets.new("t", "hash")
    assert str(info.value) == (
        "unknown table type 'hash'; expected one of set, ordered_set, bag, duplicate_bag"
    )


# -- access modes ---------------------------------------------------------------------


def test_owner_reads_and_writes_a_private_table() -> None:
    tab = ets.new("t", access="private")
    ets.insert(tab, ("a", 1))
    assert ets.lookup(tab, "a") == [("a", 1)]


def test_another_process_reads_and_writes_a_public_table() -> None:
    tab = ets.new("t", access="public")
    assert in_other_process(ets.insert, tab, ("a", 1)) == ("ok", True)
    assert in_other_process(ets.lookup, tab, "a") == ("ok", [("a", 1)])


def test_another_process_reads_a_protected_table() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("a", 1))
    assert in_other_process(ets.lookup, tab, "a") == ("ok", [("a", 1)])


def test_another_process_writing_a_protected_table_gets_access_error() -> None:
    tab = ets.new("t", access="protected")
    kind, error = in_other_process(ets.insert, tab, ("a", 1))
    assert (kind, type(error)) == ("error", AccessError)
    assert ets.tab2list(tab) == []


def test_another_process_reading_a_private_table_gets_access_error() -> None:
    tab = ets.new("t", access="private")
    kind, error = in_other_process(ets.lookup, tab, "a")
    assert (kind, type(error)) == ("error", AccessError)


def test_another_process_may_delete_a_public_table_but_not_a_protected_one() -> None:
    public, protected = ets.new("pub", access="public"), ets.new("prot")
    assert in_other_process(ets.delete, public) == ("ok", True)
    assert ets.info(public) is None
    kind, error = in_other_process(ets.delete, protected)
    assert (kind, type(error)) == ("error", AccessError)
    assert ets.info(protected) is not None


def test_access_error_names_the_table_operation_mode_and_caller() -> None:
    tab = ets.new("t", access="private")
    me = self_pid()

    def read_it() -> None:
        try:
            ets.member(tab, "a")
        except AccessError as exc:
            send(me, (self_pid(), exc))

    pid = spawn(read_it)
    _, error = receive((pid, AccessError), timeout=WAIT)
    assert isinstance(error, AccessError) and isinstance(error, BadArgument)
    assert str(error) == (
        f"member on table {tab!r} is not allowed: the table is private and the calling "
        f"process {pid!r} is not its owner {me!r}"
    )
    assert (error.table, error.operation, error.access, error.pid, error.owner) == (
        tab,
        "member",
        "private",
        pid,
        me,
    )


# -- ownership: owner exit, heir, give_away -------------------------------------------


def test_table_is_deleted_when_its_owner_exits() -> None:
    pid, ref, tab = start_owner()
    assert ets.lookup(tab, "k") == [("k", 1)]
    stop_and_wait(pid, ref)
    assert ets.info(tab) is None
    assert tab not in ets.all()
    with pytest.raises(NoTableError):
        ets.lookup(tab, "k")


def test_heir_inherits_the_table_and_receives_ets_transfer_when_the_owner_exits() -> None:
    me = self_pid()
    pid, ref, tab = start_owner(heir=me, heir_data="inherit")
    stop_and_wait(pid, ref)
    assert receive(EtsTransfer, timeout=WAIT) == EtsTransfer(tab, pid, "inherit")
    assert ets.info(tab)["owner"] == me  # type: ignore[index]
    assert ets.insert(tab, ("k", 2)) is True  # protected: only the owner writes
    assert ets.lookup(tab, "k") == [("k", 2)]


def test_table_is_deleted_when_the_heir_is_dead_at_owner_exit() -> None:
    heir, heir_ref = spawn_monitor(wait_for_stop)
    pid, ref, tab = start_owner(heir=heir, heir_data="x")
    assert ets.info(tab)["heir"] == heir  # type: ignore[index]
    stop_and_wait(heir, heir_ref)
    stop_and_wait(pid, ref)
    assert ets.info(tab) is None


def test_named_table_inherited_by_heir_is_sent_by_name() -> None:
    pid, ref, tab = start_owner(heir=self_pid(), named_table=True)
    assert tab == "owned"
    stop_and_wait(pid, ref)
    assert receive(EtsTransfer, timeout=WAIT) == EtsTransfer("owned", pid, None)
    assert ets.lookup("owned", "k") == [("k", 1)]


def test_give_away_makes_the_receiver_owner_and_sends_it_ets_transfer() -> None:
    me = self_pid()
    tab = ets.new("t")

    def receiver() -> None:
        transfer = receive(EtsTransfer, timeout=WAIT)
        ets.insert(tab, ("mine", 1))
        send(me, ("got", transfer))
        receive("stop")

    pid, ref = spawn_monitor(receiver)
    assert ets.give_away(tab, pid, "gift") is True
    assert receive(("got", ANY), timeout=WAIT) == ("got", EtsTransfer(tab, me, "gift"))
    assert ets.lookup(tab, "mine") == [("mine", 1)]
    assert ets.info(tab)["owner"] == pid  # type: ignore[index]
    stop_and_wait(pid, ref)


def test_table_given_away_is_deleted_when_the_new_owner_exits() -> None:
    tab = ets.new("t")
    pid, ref = spawn_monitor(wait_for_stop)
    ets.give_away(tab, pid, None)
    stop_and_wait(pid, ref)
    assert ets.info(tab) is None


def test_give_away_by_a_process_that_is_not_the_owner_raises_access_error() -> None:
    tab = ets.new("t", access="public")
    kind, error = in_other_process(ets.give_away, tab, self_pid(), None)
    assert (kind, type(error), error.operation) == ("error", AccessError, "give_away")


def test_give_away_to_the_owner_itself_raises_bad_argument() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgument, match="already owns"):
        ets.give_away(tab, self_pid(), None)


def test_heir_set_with_setopts_inherits_the_table() -> None:
    me = self_pid()
    pid, ref, tab = start_owner(setopts={"heir": me, "heir_data": 42})
    stop_and_wait(pid, ref)
    assert receive(EtsTransfer, timeout=WAIT) == EtsTransfer(tab, pid, 42)
    assert ets.info(tab)["owner"] == me  # type: ignore[index]


def test_setopts_with_heir_none_clears_the_heir() -> None:
    heir, heir_ref = spawn_monitor(wait_for_stop)
    tab = ets.new("t", heir=heir)
    assert ets.info(tab)["heir"] == heir  # type: ignore[index]
    assert ets.setopts(tab, heir=None) is True
    assert ets.info(tab)["heir"] is None  # type: ignore[index]
    stop_and_wait(heir, heir_ref)


def test_setopts_by_a_process_that_is_not_the_owner_raises_access_error() -> None:
    tab = ets.new("t", access="public")
    kind, error = in_other_process(ets.setopts, tab)
    assert (kind, type(error), error.operation) == ("error", AccessError, "setopts")


# -- update_counter and update_element -------------------------------------------------


def test_update_counter_with_an_int_adds_to_the_element_after_the_key() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("hits", 10, 0))
    assert ets.update_counter(tab, "hits", 5) == 15
    assert ets.lookup(tab, "hits") == [("hits", 15, 0)]


def test_update_counter_with_pos_and_incr_updates_that_position() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("hits", 10, 0))
    assert ets.update_counter(tab, "hits", (2, -3)) == -3
    assert ets.lookup(tab, "hits") == [("hits", 10, -3)]


def test_update_counter_above_the_threshold_sets_the_setvalue() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("c", 9))
    assert ets.update_counter(tab, "c", (1, 1, 10, 0)) == 10
    assert ets.update_counter(tab, "c", (1, 1, 10, 0)) == 0


def test_update_counter_below_the_threshold_with_a_negative_incr_sets_the_setvalue() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("c", 1))
    assert ets.update_counter(tab, "c", (1, -1, 0, 5)) == 0
    assert ets.update_counter(tab, "c", (1, -1, 0, 5)) == 5


def test_update_counter_with_a_list_returns_a_list_of_new_values() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("c", 1, 2))
    assert ets.update_counter(tab, "c", [(1, 10), (2, 20), (1, 1)]) == [11, 22, 12]
    assert ets.lookup(tab, "c") == [("c", 12, 22)]


def test_update_counter_on_a_missing_key_inserts_the_default_with_the_key() -> None:
    tab = ets.new("t")
    assert ets.update_counter(tab, "new", 1, default=("ignored", 0)) == 1
    assert ets.lookup(tab, "new") == [("new", 1)]


def test_update_counter_on_a_missing_key_without_default_raises_bad_argument() -> None:
    tab = ets.new("t")
    with pytest.raises(BadArgument, match="key 'nope' is not in table .* no default"):
        ets.update_counter(tab, "nope", 1)


def test_update_counter_on_a_non_int_element_raises_and_changes_nothing() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("c", 1, "text"))
    with pytest.raises(BadArgument, match="element 2 of .* is 'text', not an int"):
        ets.update_counter(tab, "c", [(1, 1), (2, 1)])
    assert ets.lookup(tab, "c") == [("c", 1, "text")]


def test_update_counter_on_a_bag_raises_bad_argument() -> None:
    tab = ets.new("t", "bag")
    ets.insert(tab, ("c", 1))
    with pytest.raises(BadArgument, match="works on set and ordered_set tables"):
        ets.update_counter(tab, "c", 1)


def test_update_element_replaces_elements_and_reports_a_missing_key() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("k", 1, 2))
    assert ets.update_element(tab, "k", [(1, "a"), (2, "b")]) is True
    assert ets.lookup(tab, "k") == [("k", "a", "b")]
    assert ets.update_element(tab, "missing", (1, "x")) is False


def test_update_element_of_the_key_raises_bad_argument() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("k", 1))
    with pytest.raises(BadArgument, match="cannot change the key"):
        ets.update_element(tab, "k", (0, "other"))


# -- reading and deleting objects ---------------------------------------------------


def test_lookup_element_returns_one_element_or_a_list_for_a_bag() -> None:
    table_set, bag = ets.new("s"), ets.new("b", "bag")
    ets.insert(table_set, ("k", "v"))
    ets.insert(bag, [("k", "v1"), ("k", "v2")])
    assert ets.lookup_element(table_set, "k", 1) == "v"
    assert ets.lookup_element(bag, "k", 1) == ["v1", "v2"]
    with pytest.raises(BadArgument, match="key 'x' is not in table"):
        ets.lookup_element(table_set, "x", 1)


def test_member_take_and_delete_of_a_key() -> None:
    tab = ets.new("t", "bag")
    ets.insert(tab, [("a", 1), ("a", 2), ("b", 3)])
    assert ets.member(tab, "a") is True
    assert ets.take(tab, "a") == [("a", 1), ("a", 2)]
    assert ets.member(tab, "a") is False
    assert ets.delete(tab, "b") is True
    assert ets.tab2list(tab) == []
    assert ets.info(tab)["size"] == 0  # type: ignore[index]


def test_delete_object_removes_every_equal_copy_only() -> None:
    tab = ets.new("t", "duplicate_bag")
    ets.insert(tab, [("a", 1), ("a", 2), ("a", 1)])
    ets.delete_object(tab, ("a", 1))
    assert ets.lookup(tab, "a") == [("a", 2)]


def test_delete_object_in_a_set_needs_the_whole_object_to_be_equal() -> None:
    tab = ets.new("t")
    ets.insert(tab, ("a", 1))
    ets.delete_object(tab, ("a", 2))
    assert ets.lookup(tab, "a") == [("a", 1)]
    ets.delete_object(tab, ("a", 1))
    assert ets.lookup(tab, "a") == []


def test_delete_all_objects_empties_the_table_and_keeps_it() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [(1,), (2,)])
    assert ets.delete_all_objects(tab) is True
    assert ets.tab2list(tab) == []
    ets.insert(tab, (0,))
    assert ets.tab2list(tab) == [(0,)]


def test_foldl_and_foldr_visit_objects_in_opposite_orders() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [(1, "a"), (2, "b"), (3, "c")])
    assert ets.foldl(lambda obj, acc: acc + obj[1], "", tab) == "abc"
    assert ets.foldr(lambda obj, acc: acc + obj[1], "", tab) == "cba"


# -- matching and select -----------------------------------------------------------


def test_match_returns_bindings_ordered_by_variable_number() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [("alice", "admin", 27), ("bob", "user", 31)])
    assert ets.match(tab, (Var(2), ANY, Var(1))) == [[27, "alice"], [31, "bob"]]
    assert ets.match(tab, (ANY, "user", Var(1))) == [[31]]


def test_match_with_a_repeated_var_matches_only_equal_values() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [(1, "x", "x"), (2, "x", "y")])
    assert ets.match_object(tab, (ANY, Var(1), Var(1))) == [(1, "x", "x")]
    assert ets.match(tab, (Var(3), Var(1), Var(1))) == [["x", 1]]


def test_match_object_matches_nested_tuples_lists_and_dicts_as_subsets() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(
        tab,
        [
            (1, ("point", 0, 0), [1, 2], {"role": "a", "age": 3}),
            (2, ("point", 1, 0), [1, 2, 3], {"role": "b"}),
        ],
    )
    assert ets.match_object(tab, (ANY, ("point", 0, ANY), ANY, ANY)) == [
        (1, ("point", 0, 0), [1, 2], {"role": "a", "age": 3})
    ]
    assert ets.match(tab, (Var(1), ANY, [1, ANY], {"role": Var(2)})) == [[1, "a"]]
    assert ets.match(tab, (Var(1), ANY, ANY, {"role": "b"})) == [[2]]
    assert ets.match_object(tab, ANY) == ets.tab2list(tab)


def test_match_object_with_a_literal_key_looks_the_key_up_without_scanning() -> None:
    class Touchy:
        """A key that refuses to be compared: a scan of the table would hit it."""

        def __hash__(self) -> int:
            return 7

        def __eq__(self, other: object) -> bool:
            raise AssertionError("compared during a scan")

    tab = ets.new("t")
    ets.insert(tab, [(Touchy(), 1), ("a", 2)])
    assert ets.match_object(tab, ("a", ANY)) == [("a", 2)]
    assert ets.match(tab, ("a", Var(1))) == [[2]]


def test_select_filters_with_where_and_maps_with_result() -> None:
    tab = ets.new("t", "ordered_set")
    ets.insert(tab, [("a", 1), ("b", 5), ("c", 9)])
    assert ets.select(tab, (ANY, ANY), where=lambda obj: obj[1] > 2) == [("b", 5), ("c", 9)]
    assert ets.select(tab, (ANY, ANY), lambda obj: obj[1] > 2, lambda obj: obj[0]) == ["b", "c"]
    assert ets.select_count(tab, (ANY, ANY), where=lambda obj: obj[1] < 6) == 2


def test_select_delete_removes_the_selected_objects_and_counts_them() -> None:
    tab = ets.new("t", "duplicate_bag")
    ets.insert(tab, [("a", 1), ("a", 1), ("a", 2), ("b", 1)])
    assert ets.select_delete(tab, (ANY, 1)) == 3
    assert ets.tab2list(tab) == [("a", 2)]
    assert ets.info(tab)["size"] == 1  # type: ignore[index]


# -- info, names, deleted tables --------------------------------------------------------


def test_info_describes_the_table() -> None:
    me = self_pid()
    tab = ets.new("stats", "bag", access="public", keypos=1)
    ets.insert(tab, [("x", "k"), ("y", "k")])
    found = ets.info(tab)
    assert found is not None
    memory = found.pop("memory")
    assert found == {
        "id": tab,
        "name": "stats",
        "named_table": False,
        "type": "bag",
        "size": 2,
        "owner": me,
        "heir": None,
        "protection": "public",
        "keypos": 1,
    }
    assert isinstance(memory, int) and memory > 0


def test_tid_prints_with_name_and_number_and_is_hashable() -> None:
    tab = ets.new("cache")
    assert isinstance(tab, Tid)
    assert repr(tab) == f"#Tid<cache.{tab.number}>"
    assert {tab: 1}[tab] == 1


def test_named_table_is_used_by_name_and_found_by_whereis() -> None:
    tab = ets.new("config", named_table=True)
    assert tab == "config"
    ets.insert("config", ("k", 1))
    tid = ets.whereis("config")
    assert isinstance(tid, Tid)
    assert ets.lookup(tid, "k") == [("k", 1)]
    assert ets.info("config")["named_table"] is True  # type: ignore[index]
    assert ets.whereis("other") is None


def test_new_named_table_with_a_taken_name_raises_bad_argument() -> None:
    ets.new("config", named_table=True)
    with pytest.raises(BadArgument) as info:
        ets.new("config", named_table=True)
    assert str(info.value) == "a named table 'config' already exists"
    assert isinstance(ets.new("config"), Tid)  # an unnamed table may share the name


def test_rename_moves_a_named_table_to_the_new_name() -> None:
    ets.new("old", named_table=True)
    ets.insert("old", ("k", 1))
    assert ets.rename("old", "new") == "new"
    assert ets.lookup("new", "k") == [("k", 1)]
    with pytest.raises(NoTableError):
        ets.lookup("old", "k")


def test_all_lists_the_tables_of_the_node() -> None:
    tab = ets.new("a")
    ets.new("b", named_table=True)
    assert ets.all() == [tab, "b"]
    ets.delete(tab)
    assert ets.all() == ["b"]


def test_operation_on_a_deleted_table_raises_no_table_error() -> None:
    tab = ets.new("t")
    assert ets.delete(tab) is True
    with pytest.raises(NoTableError) as info:
        ets.insert(tab, ("a", 1))
    assert str(info.value) == (
        f"table {tab!r} does not exist (it was deleted, or its owner exited)"
    )
    assert isinstance(info.value, BadArgument)
    assert ets.info(tab) is None


def test_a_table_id_of_the_wrong_type_raises_bad_argument_type() -> None:
    with pytest.raises(BadArgumentType, match="identified by a Tid or the name"):
        ets.lookup(42, "k")  # type: ignore[arg-type]


def test_ets_transfer_is_a_frozen_message() -> None:
    transfer = EtsTransfer("t", self_pid(), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        transfer.heir_data = 1  # type: ignore[misc]


def test_monitor_down_of_owner_comes_after_the_table_is_gone() -> None:
    pid, ref, tab = start_owner(access="public")
    other_ref = monitor(pid)
    send(pid, "stop")
    receive(Down(other_ref, pid, ANY), timeout=WAIT)
    assert ets.info(tab) is None
    receive(Down(ref, pid, ANY), timeout=WAIT)
