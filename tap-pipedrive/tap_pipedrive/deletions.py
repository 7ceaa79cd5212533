"""Deleted records: how each entity signals a deletion (data), and the pure shaping that marks a record.

Every entity stream carries ``is_deleted`` (never null) and ``_sdc_deleted_at`` (docs/contracts.md, "Deleted
records"). A stream names its signal with the class attribute ``deletion``; a record is never dropped for
being deleted. Records that vanish without a signal are found by complete re-reads (``versions.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROPERTIES: dict[str, dict[str, Any]] = {
    "is_deleted": {"type": "boolean"},
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}
"""The two properties every entity stream declares."""

_TRUE = (True, 1, "1", "true", "True")
_FALSE = (False, 0, "0", "false", "False")


@dataclass(frozen=True)
class DeletionSignal:
    """How an entity marks a deleted record.

    Attributes:
        flag: Property whose true value means deleted (``is_deleted``), or None.
        inactive: Property whose false value means deleted (v1 ``active_flag``), or None.
        status: Value of ``status`` that means deleted (deals: ``deleted``), or None.
        deleted_at: Property holding the deletion time once deleted (``update_time``, users' ``modified``);
            None when Pipedrive gives none, so the detection time stands in.
    """

    flag: str | None = None
    inactive: str | None = None
    status: str | None = None
    deleted_at: str | None = "update_time"


IS_DELETED = DeletionSignal(flag="is_deleted")
"""v2 entities: ``is_deleted: true``."""
DEAL_STATUS = DeletionSignal(flag="is_deleted", status="deleted")
"""Deals: ``status: deleted`` (``is_deleted: true`` alongside)."""
USER_DELETED = DeletionSignal(flag="is_deleted", deleted_at="modified")
"""Users: ``is_deleted`` (``active_flag: false`` only means deactivated)."""
INACTIVE = DeletionSignal(inactive="active_flag")
"""v1 entities Pipedrive "marks as deleted" with ``active_flag: false`` (activity types, notes, files)."""
MAIL_DELETED = DeletionSignal(flag="deleted_flag")
"""Mail threads: ``deleted_flag: 1`` (a thread moved to the trash; Pipedrive lists it no more either)."""
ABSENCE = DeletionSignal(deleted_at=None)
"""No signal in the record: a deleted record is simply no longer listed."""


def is_deleted(record: Mapping[str, Any], signal: DeletionSignal) -> bool:
    """Whether ``record`` carries the entity's deletion signal (v1 ``0``/``1`` flags understood)."""
    if signal.flag is not None and record.get(signal.flag) in _TRUE:
        return True
    if signal.inactive is not None and record.get(signal.inactive) in _FALSE:
        return True
    return signal.status is not None and record.get("status") == signal.status


def mark_deletion(record: dict[str, Any], signal: DeletionSignal, detected_at: str) -> None:
    """Set ``is_deleted`` and ``_sdc_deleted_at`` of ``record`` in place.

    Args:
        record: The record, its timestamps already RFC 3339.
        signal: The entity's deletion signal.
        detected_at: RFC 3339 time the run started: the deletion time when the record gives none.
    """
    deleted = is_deleted(record, signal)
    record["is_deleted"] = deleted
    when = record.get(signal.deleted_at) if deleted and signal.deleted_at else None
    record["_sdc_deleted_at"] = (when if isinstance(when, str) and when else detected_at) if deleted else None
