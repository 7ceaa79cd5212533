"""The counts a v2 deal carries when asked for through ``include_fields``, from the account's related records.

Pipedrive computes ``notes_count``, ``activities_count``, ``done_activities_count``,
``undone_activities_count`` and ``products_count`` from what is attached to the deal; the emulator counts its
own live notes, activities and deal products the same way, at answer time. ``email_messages_count`` has no
records behind it here: it is generated with the deal and kept on its record (served only when asked for,
like every optional field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipedrive_emulator.data import Dataset
from pipedrive_emulator.listindex import ListIndex

Record = dict[str, Any]

DEAL_COUNTS: dict[str, tuple[str, Callable[[Record], bool]]] = {
    "notes_count": ("notes", lambda note: bool(note.get("active_flag", True))),
    "activities_count": ("activities", lambda activity: not activity.get("is_deleted")),
    "done_activities_count": (
        "activities",
        lambda activity: not activity.get("is_deleted") and bool(activity.get("done")),
    ),
    "undone_activities_count": (
        "activities",
        lambda activity: not activity.get("is_deleted") and not activity.get("done"),
    ),
    "products_count": ("deal_products", lambda line: True),
    "participants_count": ("deal_participants", lambda participant: True),
}
"""Count name → (entity of the related records, which of them count)."""


def deal_counter(ds: Dataset, index: ListIndex, requested: set[str]) -> Callable[[Record], dict[str, int]]:
    """A function giving a deal's requested counts (only those in ``DEAL_COUNTS``)."""
    wanted = {
        name: (index.grouped(entity, ds.records[entity], "deal_id"), counts)
        for name, (entity, counts) in DEAL_COUNTS.items()
        if name in requested
    }

    def count(deal: Record) -> dict[str, int]:
        return {
            name: sum(1 for related in groups.get(deal["id"], ()) if counts(related))
            for name, (groups, counts) in wanted.items()
        }

    return count
