"""Deletion marks: each entity's signal normalised into is_deleted and _sdc_deleted_at, in every stream."""

from __future__ import annotations

from typing import Any

import pytest
from tap_pipedrive import deletions
from tap_pipedrive.deletions import DeletionSignal, mark_deletion
from tap_pipedrive.tap import STREAM_TYPES

DETECTED = "2026-11-02T10:00:00Z"


def marked(record: dict[str, Any], signal: DeletionSignal) -> tuple[bool, str | None]:
    row = dict(record)
    mark_deletion(row, signal, DETECTED)
    return row["is_deleted"], row["_sdc_deleted_at"]


@pytest.mark.parametrize(
    ("record", "signal", "expected"),
    [
        ({"is_deleted": True, "update_time": "2026-10-01T00:00:00Z"}, deletions.IS_DELETED, True),
        ({"is_deleted": False}, deletions.IS_DELETED, False),
        ({"is_deleted": None}, deletions.IS_DELETED, False),
        ({}, deletions.IS_DELETED, False),
        ({"status": "deleted", "is_deleted": False}, deletions.DEAL_STATUS, True),
        ({"status": "lost", "is_deleted": False}, deletions.DEAL_STATUS, False),
        ({"active_flag": False}, deletions.INACTIVE, True),
        ({"active_flag": 0}, deletions.INACTIVE, True),
        ({"active_flag": "0"}, deletions.INACTIVE, True),
        ({"active_flag": 1}, deletions.INACTIVE, False),
        ({"active_flag": None}, deletions.INACTIVE, False),
        ({"is_deleted": 1}, deletions.USER_DELETED, True),
        ({"is_deleted": False, "active_flag": False}, deletions.USER_DELETED, False),
        ({"is_deleted": True, "active_flag": False}, deletions.ABSENCE, False),
    ],
    ids=[
        "v2-flag",
        "v2-live",
        "v2-null-flag",
        "v2-no-flag",
        "deal-status-deleted",
        "deal-lost",
        "inactive-false",
        "inactive-zero",
        "inactive-zero-text",
        "active-one",
        "active-null",
        "user-deleted",
        "user-deactivated-is-not-deleted",
        "absence-ignores-flags",
    ],
)
def test_is_deleted_is_a_boolean_from_the_entitys_own_signal(
    record: dict[str, Any], signal: DeletionSignal, expected: bool
) -> None:
    assert marked(record, signal)[0] is expected


def test_deleted_at_is_the_records_deletion_time_when_it_has_one_else_the_detection_time() -> None:
    stamp = "2026-10-30T08:00:00Z"
    assert marked({"is_deleted": True, "update_time": stamp}, deletions.IS_DELETED) == (True, stamp)
    assert marked({"is_deleted": True, "modified": stamp}, deletions.USER_DELETED) == (True, stamp)
    assert marked({"is_deleted": True, "modified": None}, deletions.USER_DELETED) == (True, DETECTED)
    assert marked({"active_flag": False, "update_time": None}, deletions.INACTIVE) == (True, DETECTED)


def test_a_live_record_carries_an_explicit_null_deletion_time_so_an_upsert_undeletes_it() -> None:
    row = {"is_deleted": False, "update_time": "2026-10-30T08:00:00Z", "_sdc_deleted_at": "stale"}
    mark_deletion(row, deletions.IS_DELETED, DETECTED)
    assert row == {"is_deleted": False, "update_time": "2026-10-30T08:00:00Z", "_sdc_deleted_at": None}


@pytest.mark.parametrize("stream_type", STREAM_TYPES, ids=[s.name for s in STREAM_TYPES])
def test_every_stream_declares_a_non_null_is_deleted_and_a_deletion_time(stream_type: Any) -> None:
    declared = stream_type.declared_properties()
    assert declared["is_deleted"] == {"type": "boolean"}
    assert declared["_sdc_deleted_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert isinstance(stream_type.deletion, DeletionSignal)
