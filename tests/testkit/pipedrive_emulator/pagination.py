"""Paging: v2 opaque cursors (sort field, last value, last id, direction) and v1 start/limit offsets."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pipedrive_emulator.errors import bad_request
from pipedrive_emulator.validation import SortKey

if TYPE_CHECKING:
    from pipedrive_emulator.listindex import SortedView

Record = dict[str, Any]


@dataclass(frozen=True)
class Cursor:
    """The decoded content of a v2 ``cursor``: where the previous page ended in one sort order."""

    field: str
    value: Any
    last_id: Any
    direction: str


@lru_cache(maxsize=65536)
def parse_timestamp(value: str) -> datetime | None:
    """Parse any timestamp Pipedrive emits (RFC 3339 with/without millis, v1 ``YYYY-MM-DD HH:MM:SS``).

    Args:
        value: The timestamp text.

    Returns:
        An aware UTC datetime, or None for the ``0000-00-00 00:00:00`` placeholder or unparseable text.
    """
    if value.startswith("0000-"):
        return None
    text = value.replace("Z", "+00:00")
    if "T" not in text and " " in text:
        text = text.replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def sort_value(record: Record, field: str) -> tuple[int, Any]:
    """Return a comparable (is_null, value) pair for a record's sort field; timestamps compare as instants."""
    value = record.get(field)
    if value is None:
        return (1, 0)
    if field.endswith("_time") and isinstance(value, str):
        parsed = parse_timestamp(value)
        return (1, 0) if parsed is None else (0, parsed.timestamp())
    if isinstance(value, bool):
        return (0, int(value))
    return (0, value)


def _id_key(record_id: Any) -> tuple[int, Any]:
    return (0, record_id) if isinstance(record_id, int) else (1, str(record_id))


def full_key(record: Record, field: str) -> tuple[Any, ...]:
    """The total order paging uses: the record's sort value, then its id."""
    return (*sort_value(record, field), *_id_key(record.get("id")))


def encode_cursor(cursor: Cursor) -> str:
    """Encode a cursor as base64url JSON, like the spec's sample (field, fieldValue, sortDirection, id)."""
    payload = {
        "field": cursor.field,
        "fieldValue": cursor.value,
        "sortDirection": cursor.direction,
        "id": cursor.last_id,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """Decode a cursor minted by ``encode_cursor``.

    Raises:
        ApiError: 400 when the text is not a cursor this emulator issued.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
        cursor = Cursor(
            field=payload["field"],
            value=payload["fieldValue"],
            last_id=payload["id"],
            direction=payload["sortDirection"],
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise bad_request('Invalid value for "cursor".') from None
    if not isinstance(cursor.field, str) or cursor.direction not in ("asc", "desc"):
        raise bad_request('Invalid value for "cursor".')
    return cursor


def cursor_page(
    records: Sequence[Record], sort_by: str, direction: str, cursor_text: str | None, limit: int
) -> tuple[list[Record], str | None]:
    """Cut one page from records in (sort_by, id) order, resuming after the cursor's position.

    Ties on the sort value are broken by id, so paging visits every record exactly once even when many share
    one ``update_time`` across a page boundary.

    Args:
        records: The filtered records (any order).
        sort_by: The field to order by.
        direction: ``asc`` or ``desc``.
        cursor_text: The request's ``cursor``, or None for the first page.
        limit: Page size.

    Returns:
        The page and the ``next_cursor`` (None on the last page).

    Raises:
        ApiError: 400 for a malformed cursor or one minted for another sort order.
    """
    keyed = sorted(((full_key(record, sort_by), index) for index, record in enumerate(records)))
    if direction == "desc":
        keyed.reverse()
    keys = [key for key, _ in keyed]
    begin = 0
    if cursor_text is not None:
        after = _cursor_key(cursor_text, sort_by, direction)
        try:
            if direction == "asc":
                begin = bisect.bisect_right(keys, after)
            else:
                begin = len(keys) - bisect.bisect_left(keys[::-1], after)
        except TypeError:
            raise bad_request('Invalid value for "cursor".') from None
    chosen = keyed[begin : begin + limit]
    page = [records[index] for _, index in chosen]
    if begin + limit >= len(keyed) or not page:
        return page, None
    return page, _next_cursor(page[-1], sort_by, direction)


def _cursor_key(cursor_text: str, sort_by: str, direction: str) -> tuple[Any, ...]:
    """Decode a request's cursor and return the ``full_key`` of the position it marks."""
    cursor = decode_cursor(cursor_text)
    if cursor.field != sort_by or cursor.direction != direction:
        raise bad_request('"cursor" does not match the requested "sort_by"/"sort_direction".')
    return full_key({sort_by: cursor.value, "id": cursor.last_id}, sort_by)


def _next_cursor(last: Record, sort_by: str, direction: str) -> str:
    return encode_cursor(Cursor(sort_by, last.get(sort_by), last.get("id"), direction))


def indexed_cursor_page(
    view: SortedView,
    keep: Callable[[Record], bool],
    sort_by: str,
    direction: str,
    cursor_text: str | None,
    limit: int,
    bounds: tuple[int, int] | None = None,
) -> tuple[list[Record], str | None] | None:
    """Cut the same page as ``cursor_page`` would from the kept records, walking a presorted view.

    The cursor position is found by bisecting the whole view (filtering keeps order), then records are
    walked from there, ``keep`` applied, until one more than a page is found.

    Args:
        view: The whole collection in ascending (``sort_by``, id) order.
        keep: Whether a record passes the request's filters.
        sort_by: The field the view is ordered by.
        direction: ``asc`` or ``desc``.
        cursor_text: The request's ``cursor``, or None for the first page.
        limit: Page size.
        bounds: A (start, stop) range of view positions outside which no record is kept (a speed-up only).

    Returns:
        The page and the ``next_cursor``; None when the cursor's value cannot be ordered against the view's
        values, so the caller must answer with ``cursor_page`` (which decides between a page and a 400).

    Raises:
        ApiError: 400 for a malformed cursor or one minted for another sort order.
    """
    keys, rows = view.keys, view.rows
    low, high = bounds if bounds is not None else (0, len(keys))
    if cursor_text is not None:
        after = _cursor_key(cursor_text, sort_by, direction)
        try:
            if direction == "asc":
                low = max(low, bisect.bisect_right(keys, after))
            else:
                high = min(high, bisect.bisect_left(keys, after))
        except TypeError:
            return None
    positions = range(low, high) if direction == "asc" else range(high - 1, low - 1, -1)
    page: list[Record] = []
    more = False
    for position in positions:
        row = rows[position]
        if keep(row):
            if len(page) >= limit:
                more = True
                break
            page.append(row)
    if not more or not page:
        return page, None
    return page, _next_cursor(page[-1], sort_by, direction)


def sort_v1(records: Sequence[Record], keys: Sequence[SortKey]) -> list[Record]:
    """Order records by a v1 ``sort`` spec (``field ASC, field DESC``), ties by id."""
    ordered = sorted(records, key=lambda record: _id_key(record.get("id")))
    for key in reversed(keys):
        ordered.sort(key=lambda record, field=key.field: sort_value(record, field), reverse=key.descending)
    return ordered


def offset_page(records: Sequence[Record], start: int, limit: int) -> tuple[list[Record], bool]:
    """Cut ``records[start:start+limit]``.

    Returns:
        The page and whether more items follow it.
    """
    page = list(records[start : start + limit])
    return page, start + limit < len(records)
