"""Reading one deal's changelog: which entries of a page are new, when to stop paging, the records made.

Pipedrive's example lists a deal's changes newest first, but the order is not documented (UNVERIFIED), so the
order is read from the pages themselves: a read that may stop at ``since`` stops early only once the pages
have shown they go newest first; any other order is read to the end, keeping only the new entries.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tap_pipedrive.history_state import epoch_of
from tap_pipedrive.records import to_rfc3339

_HASHED = (
    "field_key",
    "old_value",
    "new_value",
    "actor_user_id",
    "change_source",
    "change_source_user_agent",
    "is_bulk_update_flag",
)


def text_value(value: Any) -> str | None:
    """An old/new value as text: strings as given, numbers and booleans as JSON, objects/arrays as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _integer(value: Any) -> Any:
    """An id given as digits becomes an int; anything else is kept for the target to judge."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def change_hash(entry: Mapping[str, Any]) -> str:
    """16 hex digits of a digest of what a change says (field, values, actor, source, bulk flag)."""
    content = [text_value(entry.get(name)) if "value" in name else entry.get(name) for name in _HASHED]
    digest = hashlib.sha1(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode())  # noqa: S324
    return digest.hexdigest()[:16]


class ChangeShaper:
    """Turns one deal's changelog entries into ``deal_changes`` records with a stable key.

    The key is (deal_id, time, field_key, change_hash). Identical changes of one field within one second get
    ``-2``, ``-3``… after the hash, in the order the API lists them.

    Args:
        deal_id: The deal.
        seen: Keys counted by an earlier part of the same read (``Reading.keys``).
    """

    def __init__(self, deal_id: int, seen: Sequence[str] = ()) -> None:
        self.deal_id = deal_id
        self._counts: Counter[str] = Counter(seen)
        self._last_second = epoch_of(seen[0].split("|", 1)[0]) if seen else None
        self._at_last_second: list[str] = list(seen)

    def record(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The record of one changelog entry."""
        digest = change_hash(entry)
        base = f"{entry.get('time')}|{entry.get('field_key')}|{digest}"
        self._counts[base] += 1
        repeat = self._counts[base]
        second = epoch_of(entry.get("time"))
        if second != self._last_second:
            self._last_second, self._at_last_second = second, []
        self._at_last_second.append(base)
        return {
            "deal_id": self.deal_id,
            "time": to_rfc3339(entry.get("time")),
            "field_key": entry.get("field_key"),
            "change_hash": digest if repeat == 1 else f"{digest}-{repeat}",
            "old_value": text_value(entry.get("old_value")),
            "new_value": text_value(entry.get("new_value")),
            "actor_user_id": _integer(entry.get("actor_user_id")),
            "change_source": entry.get("change_source"),
            "change_source_user_agent": entry.get("change_source_user_agent"),
            "is_bulk_update_flag": entry.get("is_bulk_update_flag"),
        }

    @property
    def keys_at_last_second(self) -> list[str]:
        """The keys counted at the last second seen (what a resumed read must start counting from)."""
        return list(self._at_last_second)


class PageJudge:
    """Decides, page after page of one deal's changelog, which entries are new and whether to read on.

    Args:
        since: Changes older than this (epoch seconds) are read already; None = every change is new.
        order: The order earlier pages of this read showed (``desc``, ``asc``, ``mixed`` or None).
        last: The time of the last entry of the previous page.
    """

    def __init__(self, since: int | None, order: str | None = None, last: int | None = None) -> None:
        self.since = since
        self.order = order
        self.last = last

    def judge(self, times: Sequence[int | None]) -> tuple[list[bool], bool]:
        """Which entries of a page (by their times) to keep, and whether the read is over after this page."""
        for moment in times:
            if moment is None:
                continue
            if self.last is not None and moment != self.last:
                direction = "desc" if moment < self.last else "asc"
                self.order = direction if self.order in (None, direction) else "mixed"
            self.last = moment
        since = self.since
        keep = [since is None or moment is None or moment >= since for moment in times]
        older = since is not None and any(m is not None and m < since for m in times)
        return keep, older and self.order == "desc"
