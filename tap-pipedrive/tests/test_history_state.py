"""Deal-history progress without I/O: id sets, which deals are queued, reads finished or paused, state."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tap_pipedrive.history_state import (
    MAX_GROUPS,
    DealMarks,
    HistoryProgress,
    Reading,
    decode_ids,
    encode_ids,
    epoch_of,
    stamp,
)

T0 = 1_790_000_000


def marks(update: int | None, stage: int | None = None, added: int | None = T0 - 1_000) -> DealMarks:
    return DealMarks(update_time=update, stage_change_time=stage, add_time=added)


@given(st.sets(st.integers(min_value=0, max_value=2**40)))
def test_id_sets_survive_encoding(ids: set[int]) -> None:
    assert decode_ids(encode_ids(ids)) == sorted(ids)


def test_dense_id_sets_encode_small() -> None:
    ids = [i for i in range(1, 100_001) if i % 5]
    text = encode_ids(ids)
    assert decode_ids(text) == ids
    assert len(text) < 2_000


def test_id_set_codec_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_ids([3, -1])
    with pytest.raises(ValueError, match="not an encoded id set"):
        decode_ids("definitely not zlib")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-12 09:14:35", 1_707_729_275),
        ("2024-02-12T09:14:35Z", 1_707_729_275),
        ("2024-02-12T09:14:35.900Z", 1_707_729_275),
        ("2024-02-12T11:14:35+02:00", 1_707_729_275),
        ("2024-02-12", 1_707_696_000),
        ("0000-00-00 00:00:00", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_epoch_of_reads_every_timestamp_form(text: str | None, expected: int | None) -> None:
    assert epoch_of(text) == expected


def test_first_look_queues_deals_that_ever_moved_stage_and_skips_the_rest() -> None:
    progress = HistoryProgress()
    deals = {1: marks(T0, stage=T0 - 50), 2: marks(T0 - 10), 3: marks(T0 - 5, stage=T0 - 5)}

    assert progress.look_at(deals, "stages") == 2

    assert progress.pending == {1: None, 3: None}
    assert progress.listed_through == T0
    assert progress.boundary == {1}
    assert progress.queue() == [3, 1]


def test_all_mode_queues_every_deal_updated_after_it_was_added() -> None:
    progress = HistoryProgress()
    deals = {1: marks(T0, added=T0), 2: marks(T0, added=T0 - 1), 3: marks(T0, stage=T0, added=T0)}

    progress.look_at(deals, "all")

    assert progress.pending == {2: None, 3: None}


def done_progress() -> HistoryProgress:
    progress = HistoryProgress()
    progress.look_at(
        {1: marks(T0, stage=T0 - 9), 2: marks(T0 - 3, stage=T0 - 20), 3: marks(T0, stage=T0)}, "stages"
    )
    for deal_id in progress.queue():
        progress.finish(deal_id, None)
    return progress


def test_a_read_deal_is_queued_again_only_when_its_marker_moved() -> None:
    progress = done_progress()
    assert progress.done == {1: T0, 2: T0, 3: T0}

    queued = progress.look_at(
        {
            1: marks(T0 + 60, stage=T0 - 9),  # value changed, stage did not
            2: marks(T0 + 60, stage=T0 + 60),  # moved stage
            3: marks(T0, stage=T0),  # seen again exactly as before (it was on the boundary)
        },
        "stages",
    )

    assert queued == 1
    assert progress.pending == {2: T0}
    assert set(progress.done) == {1, 3}
    assert progress.listed_through == T0 + 60


def test_a_move_in_the_boundary_second_after_the_listing_is_caught() -> None:
    progress = done_progress()  # deal 2 was listed with update_time T0 - 3, the boundary second is T0
    progress.look_at({2: marks(T0, stage=T0)}, "stages")
    assert progress.pending == {2: T0}


def test_all_mode_queues_read_deals_whose_update_time_moved() -> None:
    progress = done_progress()
    progress.look_at({1: marks(T0 + 60, stage=T0 - 9), 3: marks(T0, stage=T0)}, "all")
    assert progress.pending == {1: T0}


def test_pending_deals_stay_queued_with_their_first_since() -> None:
    progress = done_progress()
    progress.look_at({2: marks(T0 + 60, stage=T0 + 60)}, "stages")
    progress.look_at({2: marks(T0 + 120, stage=T0 + 120)}, "stages")
    assert progress.pending == {2: T0}


def test_a_paused_read_resumes_first_and_is_queued_again_if_the_deal_moved_meanwhile() -> None:
    progress = HistoryProgress()
    progress.look_at({5: marks(T0, stage=T0), 9: marks(T0 - 1, stage=T0 - 1)}, "stages")
    progress.pause(Reading(deal_id=5, cursor="c2", since=None, started=T0, top=T0))
    assert progress.queue() == [5, 9]

    progress.look_at({5: marks(T0 + 60, stage=T0 + 60)}, "stages")
    assert progress.reading is not None
    assert progress.reading.moved
    progress.finish(5, None)
    assert progress.pending == {5: T0, 9: None}

    progress.pause(Reading(deal_id=9, cursor="c", since=None, started=T0, top=T0 - 1))
    progress.finish(9, None)
    assert progress.done == {9: T0}


def test_requeue_and_forget() -> None:
    progress = HistoryProgress()
    progress.look_at({4: marks(T0, stage=T0)}, "stages")
    progress.pause(Reading(deal_id=4, cursor="c", since=None, started=T0))
    progress.requeue(4)
    assert (progress.reading, progress.pending) == (None, {4: None})
    progress.forget(4)
    assert (progress.pending, progress.done) == ({}, {})
    assert progress.coverage("stages").ratio == 1.0


def test_state_round_trips_through_json() -> None:
    progress = done_progress()
    progress.look_at({2: marks(T0 + 60, stage=T0 + 60), 7: marks(T0 + 60, stage=T0 + 5)}, "stages")
    progress.pause(Reading(deal_id=7, cursor="abc", since=None, started=T0 + 60, top=T0 + 5, order="desc"))

    text = json.dumps(progress.dump())
    again = HistoryProgress.load(json.loads(text))

    assert again.dump() == progress.dump()
    assert again.pending == {2: T0}
    assert again.reading == progress.reading
    assert again.coverage("stages").pending == 2
    assert json.loads(text)["listed_through"] == stamp(T0 + 60)


def test_a_state_merged_by_meltano_can_only_add_work() -> None:
    before = done_progress()
    complete = before.dump()
    after = HistoryProgress.load(complete)
    after.look_at({1: marks(T0 + 60, stage=T0 + 60)}, "stages")
    partial = after.dump()

    merged = {**complete, **partial}  # Meltano's merge: keys of the partial state win; lists are replaced
    loaded = HistoryProgress.load(merged)

    assert loaded.pending == {1: T0}
    assert 1 not in loaded.done


def test_old_groups_merge_into_the_oldest() -> None:
    progress = HistoryProgress()
    for run in range(MAX_GROUPS + 5):
        progress.listed_through = T0 + run * 100
        progress.done[run] = T0 + run * 100
    state = progress.dump()
    assert len(state["done"]) == MAX_GROUPS
    loaded = HistoryProgress.load(state)
    assert loaded.done[0] == loaded.done[5] == T0
    assert loaded.done[6] == T0 + 600


def test_unknown_state_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        HistoryProgress.load({"format": 99})
