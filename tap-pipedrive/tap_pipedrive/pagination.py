"""Paginators for Pipedrive's two schemes: v2 opaque cursors and v1 start/limit offsets."""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator


def response_body(response: requests.Response) -> Any:
    """The response's parsed JSON, parsed once and kept on the response (pages are read several times)."""
    cached = getattr(response, "_pipeboard_body", None)
    if cached is None:
        cached = response.json()
        response._pipeboard_body = cached  # type: ignore[attr-defined]
    return cached


def _additional_data(response: requests.Response) -> dict[str, Any]:
    body = response_body(response)
    extra = body.get("additional_data") if isinstance(body, dict) else None
    return extra if isinstance(extra, dict) else {}


class CursorPaginator(BaseAPIPaginator[str | None]):
    """v2 lists: follow ``additional_data.next_cursor`` until it is null."""

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> str | None:
        """Return the cursor of the next page, or None after the last page."""
        cursor = _additional_data(response).get("next_cursor")
        return cursor if isinstance(cursor, str) and cursor else None

    def has_more(self, response: requests.Response) -> bool:
        """Whether the response names a next page."""
        return self.get_next(response) is not None


def next_offset(extra: dict[str, Any], start: int, page_size: int, returned: int) -> int | None:
    """Where the next v1 page starts, or None when this one was the last.

    Reads ``additional_data.pagination`` (most v1 lists) or the flat form ``/leads`` uses (``start``,
    ``limit``, ``more_items_in_collection`` directly in ``additional_data``); with neither, a page shorter
    than the limit is the last.

    Args:
        extra: The response's ``additional_data`` (empty when absent).
        start: The ``start`` this page was asked with.
        page_size: The ``limit`` this page was asked with.
        returned: How many records the page held.

    Returns:
        The next ``start``, or None.
    """
    block = extra.get("pagination") if isinstance(extra.get("pagination"), dict) else extra
    more = block.get("more_items_in_collection")
    if returned == 0 or more is False:
        return None
    if more is True:
        next_start = block.get("next_start")
        return int(next_start) if isinstance(next_start, int) else start + returned
    return start + returned if returned >= page_size else None


class OffsetPaginator(BaseAPIPaginator[int]):
    """v1 lists: ``start``/``limit`` offsets, both ``additional_data`` shapes."""

    def __init__(self, page_size: int) -> None:
        super().__init__(0)
        self.page_size = page_size

    def get_next(self, response: requests.Response) -> int | None:
        """Return the next ``start``, or None after the last page."""
        body = response_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        returned = len(data) if isinstance(data, list) else 0
        return next_offset(_additional_data(response), self.current_value, self.page_size, returned)

    def has_more(self, response: requests.Response) -> bool:
        """Whether another page follows."""
        return self.get_next(response) is not None
