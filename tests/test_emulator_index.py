"""Checks that the emulator's presorted list index pages every v2 list as filtering and sorting would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests

Record = dict[str, Any]
Window = tuple[str | None, str | None]


@dataclass(frozen=True)
class Listing:
    """One v2 list endpoint as a client sees it.

    Attributes:
        path: The endpoint path.
        entity: The emulator collection it lists.
        sort_fields: Every ``sort_by`` value the spec allows for it.
        listed: Whether a record belongs in the list at all (before any query filter).
        params: Fixed extra query parameters.
        limits: Page sizes to rotate through (small enough to need several pages).
        has_until: Whether the endpoint accepts ``updated_until``.
    """

    path: str
    entity: str
    sort_fields: tuple[str, ...]
    listed: Callable[[Record], bool]
    params: tuple[tuple[str, str], ...] = ()
    limits: tuple[int, ...] = (37, 100, 500)
    has_until: bool = True


def live(record: Record) -> bool:
    """Soft-deleted rows are never listed by the entity lists (tests/test_emulator_server.py)."""
    return not record.get("is_deleted", False)


def deal_in(statuses: set[str], archived: bool) -> Callable[[Record], bool]:
    """Deals are listed by status (default open, won, lost) and by archive state, one endpoint each."""
    return lambda record: bool(record.get("is_archived")) == archived and record.get("status") in statuses


DEFAULT_STATUSES = {"open", "won", "lost"}
DEAL_SORTS = ("id", "update_time", "add_time")
LISTINGS = [
    Listing("/api/v2/deals", "deals", DEAL_SORTS, deal_in(DEFAULT_STATUSES, archived=False)),
    Listing(
        "/api/v2/deals",
        "deals",
        DEAL_SORTS,
        deal_in({*DEFAULT_STATUSES, "deleted"}, archived=False),
        params=(("status", "open,won,lost,deleted"),),
    ),
    Listing(
        "/api/v2/deals",
        "deals",
        DEAL_SORTS,
        deal_in({"deleted"}, archived=False),
        params=(("status", "deleted"),),
        limits=(3, 7),
    ),
    Listing(
        "/api/v2/deals/archived", "deals", DEAL_SORTS, deal_in(DEFAULT_STATUSES, archived=True), limits=(2, 5)
    ),
    Listing("/api/v2/persons", "persons", DEAL_SORTS, live),
    Listing("/api/v2/organizations", "organizations", DEAL_SORTS, live, limits=(9, 30, 500)),
    Listing("/api/v2/activities", "activities", ("id", "update_time", "add_time", "due_date"), live),
    Listing(
        "/api/v2/products",
        "products",
        ("id", "name", "add_time", "update_time"),
        live,
        limits=(2, 3, 500),
        has_until=False,
    ),
]
LISTING_IDS = [
    "deals",
    "deals-all-statuses",
    "deals-deleted",
    "deals-archived",
    "persons",
    "organizations",
    "activities",
    "products",
]


def instant(text: str) -> datetime:
    """A v2 RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_ids(
    records: list[Record], listing: Listing, sort_by: str, direction: str, window: Window
) -> list[Any]:
    """The ids a correct list returns: listed, inside the update_time window, ordered by (value, id)."""
    since, until = (None if bound is None else instant(bound) for bound in window)

    def in_window(record: Record) -> bool:
        stamp = instant(record["update_time"])
        return (since is None or stamp >= since) and (until is None or stamp < until)

    def key(record: Record) -> tuple[Any, ...]:
        value = record.get(sort_by)
        if value is not None and sort_by.endswith("_time"):
            value = instant(value)
        return (value is None, value if value is not None else 0, record["id"])

    kept = [record for record in records if listing.listed(record) and in_window(record)]
    return [record["id"] for record in sorted(kept, key=key, reverse=direction == "desc")]


def page_all(session: requests.Session, url: str, params: dict[str, str]) -> Iterator[list[Record]]:
    """Every page of a v2 list, following ``next_cursor`` to the end."""
    params = dict(params)
    while True:
        response = session.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        yield body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return
        params["cursor"] = cursor


def windows(records: list[Record], has_until: bool, changed_since: str | None) -> list[Window]:
    """Time windows to query: none, and bounds that are real update_time values (to pin ≥ and <)."""
    stamps = sorted({record["update_time"] for record in records}, key=instant)
    since, until = stamps[len(stamps) * 2 // 5], stamps[len(stamps) * 4 // 5]
    chosen: list[Window] = [(None, None), (since, None)]
    if has_until:
        chosen += [(since, until), (None, until)]
    if changed_since is not None:
        chosen.append((changed_since, None))
    return chosen


def check_every_order(
    emulator: Any, session: requests.Session, listing: Listing, changed_since: str | None
) -> int:
    """Page ``listing`` in every sort order against its expectation; returns the number of orders checked."""
    records = emulator.records(listing.entity)
    url = emulator.base_url + listing.path
    spans = windows(records, listing.has_until, changed_since)
    checked = 0
    for field_number, sort_by in enumerate(listing.sort_fields):
        # every window under update_time (the order the index bounds by time); one window per other field
        field_spans = spans if sort_by == "update_time" else [spans[field_number % len(spans)]]
        for direction in ("asc", "desc"):
            for window in field_spans:
                limit = listing.limits[checked % len(listing.limits)]
                params = {**dict(listing.params), "sort_by": sort_by, "sort_direction": direction}
                params["limit"] = str(limit)
                if window[0] is not None:
                    params["updated_since"] = window[0]
                if window[1] is not None:
                    params["updated_until"] = window[1]

                pages = list(page_all(session, url, params))

                got = [record["id"] for page in pages for record in page]
                assert got == expected_ids(records, listing, sort_by, direction, window), params
                assert all(len(page) <= limit for page in pages), params
                checked += 1
    return checked


@pytest.mark.parametrize("listing", LISTINGS, ids=LISTING_IDS)
def test_indexed_lists_match_filtering_and_sorting_before_and_after_a_mutation(
    make_emulator: Callable[..., Any], listing: Listing
) -> None:
    emulator = make_emulator(deals=400, seed=11)
    session = requests.Session()
    session.headers["x-api-token"] = emulator.token

    before = check_every_order(emulator, session, listing, changed_since=None)
    summary = emulator.mutate(updates=30, deletes=4)
    after = check_every_order(emulator, session, listing, changed_since=summary["now"])

    assert before >= 2 * len(listing.sort_fields)
    assert after > before
    assert summary["deleted"]["deals"]
