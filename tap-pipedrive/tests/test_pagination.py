"""Paginators: v2 cursors and v1 offsets (both additional_data shapes), without I/O."""

from __future__ import annotations

import json

import pytest
import requests
from tap_pipedrive.pagination import CursorPaginator, OffsetPaginator, next_offset


def _response(body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    return response


def test_cursor_paginator_follows_next_cursor_then_stops_when_null() -> None:
    paginator = CursorPaginator()
    paginator.advance(_response({"data": [{"id": 1}], "additional_data": {"next_cursor": "abc"}}))
    assert paginator.current_value == "abc"
    assert not paginator.finished
    paginator.advance(_response({"data": [{"id": 2}], "additional_data": {"next_cursor": None}}))
    assert paginator.finished


def test_cursor_paginator_stops_without_additional_data() -> None:
    paginator = CursorPaginator()
    paginator.advance(_response({"data": []}))
    assert paginator.finished


@pytest.mark.parametrize(
    ("extra", "start", "returned", "expected"),
    [
        pytest.param(
            {"pagination": {"more_items_in_collection": True, "next_start": 500}},
            0,
            500,
            500,
            id="wrapped-more",
        ),
        pytest.param({"pagination": {"more_items_in_collection": False}}, 500, 20, None, id="wrapped-last"),
        pytest.param(
            {"start": 0, "limit": 500, "more_items_in_collection": True}, 0, 500, 500, id="flat-leads-more"
        ),
        pytest.param(
            {"start": 500, "limit": 500, "more_items_in_collection": False},
            500,
            3,
            None,
            id="flat-leads-last",
        ),
        pytest.param({}, 0, 500, 500, id="absent-full-page"),
        pytest.param({}, 500, 499, None, id="absent-short-page"),
        pytest.param({"pagination": {"more_items_in_collection": True}}, 0, 0, None, id="empty-page-stops"),
    ],
)
def test_next_offset(extra: dict, start: int, returned: int, expected: int | None) -> None:
    assert next_offset(extra, start, 500, returned) == expected


def test_offset_paginator_walks_the_leads_flat_shape() -> None:
    paginator = OffsetPaginator(page_size=2)
    paginator.advance(
        _response(
            {"data": [{}, {}], "additional_data": {"start": 0, "limit": 2, "more_items_in_collection": True}}
        )
    )
    assert paginator.current_value == 2
    paginator.advance(
        _response(
            {"data": [{}], "additional_data": {"start": 2, "limit": 2, "more_items_in_collection": False}}
        )
    )
    assert paginator.finished
