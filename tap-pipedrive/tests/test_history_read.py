"""Reading a changelog without I/O: stop rules for either page order, and stable record keys."""

from __future__ import annotations

import pytest
from tap_pipedrive.history_read import ChangeShaper, PageJudge, change_hash, text_value


def entry(time: str, key: str = "stage_id", old: object = "1", new: object = "2", **extra: object) -> dict:
    return {
        "field_key": key,
        "old_value": old,
        "new_value": new,
        "actor_user_id": 26,
        "time": time,
        "change_source": "app",
        "change_source_user_agent": None,
        "is_bulk_update_flag": False,
        **extra,
    }


def test_newest_first_pages_stop_at_the_first_change_already_read() -> None:
    judge = PageJudge(since=100)
    keep, over = judge.judge([130, 120, 100])
    assert (keep, over) == ([True, True, True], False)
    keep, over = judge.judge([100, 99, 50])
    assert (keep, over) == ([True, False, False], True)


def test_oldest_first_pages_are_read_to_the_end_keeping_the_new_changes() -> None:
    judge = PageJudge(since=100)
    keep, over = judge.judge([50, 99, 120])
    assert (keep, over) == ([False, False, True], False)
    assert judge.order == "asc"
    keep, over = judge.judge([130])
    assert (keep, over) == ([True], False)


def test_an_undecided_order_reads_on() -> None:
    judge = PageJudge(since=100)
    keep, over = judge.judge([50])
    assert (keep, over) == ([False], False)
    keep, over = judge.judge([40, 40])
    assert over  # 50 then 40: newest first after all
    assert judge.order == "desc"


def test_mixed_orders_never_stop_early_and_unknown_times_are_kept() -> None:
    judge = PageJudge(since=100)
    keep, over = judge.judge([120, 90, 130, None, 80])
    assert judge.order == "mixed"
    assert (keep, over) == ([True, False, True, True, False], False)


def test_a_read_of_everything_keeps_everything() -> None:
    keep, over = PageJudge(since=None).judge([5, 4, 3])
    assert (keep, over) == ([True, True, True], False)


def test_a_record_keeps_pipedrives_values_with_an_rfc3339_time() -> None:
    record = ChangeShaper(7).record(entry("2024-02-12 09:14:35", key="value", old=0, new=100.5))
    assert record == {
        "deal_id": 7,
        "time": "2024-02-12T09:14:35Z",
        "field_key": "value",
        "change_hash": record["change_hash"],
        "old_value": "0",
        "new_value": "100.5",
        "actor_user_id": 26,
        "change_source": "app",
        "change_source_user_agent": None,
        "is_bulk_update_flag": False,
    }
    assert len(record["change_hash"]) == 16


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("open", "open"),
        (3, "3"),
        (True, "true"),
        ({"value": 5, "currency": "EUR"}, '{"value":5,"currency":"EUR"}'),
        ([1, 2], "[1,2]"),
    ],
    ids=["null", "text", "number", "bool", "object", "array"],
)
def test_values_become_text_without_losing_anything(value: object, text: str | None) -> None:
    assert text_value(value) == text


def test_the_key_is_stable_and_identical_repeats_in_one_second_are_numbered() -> None:
    first = entry("2024-02-12 09:14:35")
    other = entry("2024-02-12 09:14:35", old="2", new="1")
    shaper = ChangeShaper(1)
    keys = [shaper.record(e)["change_hash"] for e in (first, other, first)]
    assert keys[0] == change_hash(first) != keys[1]
    assert keys[2] == f"{keys[0]}-2"
    assert ChangeShaper(1).record(first)["change_hash"] == keys[0]


def test_a_resumed_read_goes_on_counting_repeats() -> None:
    same = entry("2024-02-12 09:14:35")
    shaper = ChangeShaper(1)
    shaper.record(entry("2024-02-12 09:20:00", key="value"))
    shaper.record(same)
    resumed = ChangeShaper(1, shaper.keys_at_last_second)
    assert resumed.record(same)["change_hash"].endswith("-2")
    assert resumed.keys_at_last_second == [*shaper.keys_at_last_second, resumed.keys_at_last_second[-1]]


def test_actor_ids_given_as_digits_become_numbers() -> None:
    assert ChangeShaper(1).record(entry("2024-01-01 00:00:00", actor_user_id="42"))["actor_user_id"] == 42
