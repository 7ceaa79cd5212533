"""Pending parent ids in a child stream's state, and the products_count fingerprint of deal_products."""

from __future__ import annotations

from typing import Any

import pytest
from tap_pipedrive.children import PENDING, add_pending, pending_ids, remove_pending
from tap_pipedrive.line_items import batches, deals_to_reread, fingerprint, products_count


def test_pending_ids_are_kept_once_each_in_order_until_removed() -> None:
    state: dict[str, Any] = {}
    add_pending(state, [30, 2])
    add_pending(state, [2, 11])
    assert pending_ids(state) == [2, 11, 30]
    remove_pending(state, [11, 99])
    assert state[PENDING] == [2, 30]
    assert pending_ids({}) == []


def test_pending_ids_may_be_strings_such_as_lead_uuids() -> None:
    state: dict[str, Any] = {}
    add_pending(state, ["b", 3, "a"])
    assert pending_ids(state) == [3, "a", "b"]


@pytest.mark.parametrize(
    ("record", "count"),
    [({"products_count": 2}, 2), ({"products_count": 0}, 0), ({}, None), ({"products_count": True}, None)],
    ids=["two", "none", "absent", "not-a-count"],
)
def test_products_count_is_read_only_when_it_is_a_count(record: dict[str, Any], count: int | None) -> None:
    assert products_count(record) == count


def test_the_fingerprint_changes_with_any_deals_line_item_count_and_ignores_deals_without_any() -> None:
    base = fingerprint({1: 2, 2: 0, 3: 1})
    assert fingerprint({3: 1, 1: 2}) == base
    assert fingerprint({1: 2, 2: 0, 3: 1, 4: 0}) == base
    assert fingerprint({1: 1, 2: 0, 3: 1}) != base  # one line item removed
    assert fingerprint({1: 2, 3: 1, 5: 1}) != base  # a deal with line items appeared
    assert fingerprint({1: 2}) != base  # a deal with line items was purged
    assert fingerprint({13: 1}) != fingerprint({1: 31})


def test_a_complete_read_fetches_every_deal_with_line_items_not_already_read_at_that_count() -> None:
    counts = {1: 2, 2: 0, 3: 1, 4: None, 5: 3}
    read = {1: 2, 3: 2, 5: None}
    assert deals_to_reread(counts, read) == [3, 4, 5]


def test_batches_split_ids_in_order() -> None:
    assert list(batches([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(batches([], 100)) == []
