"""Complete reads under a table version: when a pass is due, how it resumes, when it may activate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.versions import (
    PASS,
    RECONCILED_AT,
    CompleteReads,
    forget_bookmarks,
    reconciliation_due,
    table_version,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOGGER = logging.getLogger("test-versions")


def reads(activate: bool = True, interval: float = 168, at: datetime = NOW) -> CompleteReads:
    return CompleteReads(at, activate=activate, interval_hours=interval, metrics=TapMetrics(), logger=LOGGER)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("state", "interval", "due"),
    [
        ({}, 168, True),
        ({RECONCILED_AT: "garbage"}, 168, True),
        ({RECONCILED_AT: stamp(NOW - timedelta(hours=167))}, 168, False),
        ({RECONCILED_AT: stamp(NOW - timedelta(hours=168))}, 168, True),
        ({RECONCILED_AT: stamp(NOW)}, 0, True),
        ({RECONCILED_AT: stamp(NOW - timedelta(hours=2))}, 1, True),
    ],
    ids=["never", "unreadable", "within-a-week", "a-week-on", "every-run", "hourly"],
)
def test_a_pass_is_due_when_never_done_or_its_interval_has_passed(
    state: dict[str, Any], interval: float, due: bool
) -> None:
    assert reconciliation_due(state, NOW, interval) is due


def test_table_versions_grow_with_the_run_start() -> None:
    assert table_version(NOW + timedelta(milliseconds=1)) == table_version(NOW) + 1


def test_forgetting_bookmarks_clears_the_stream_and_every_partition_but_keeps_the_rest() -> None:
    state = {
        "replication_key": "update_time",
        "replication_key_value": "2026-11-01T00:00:00Z",
        "partitions": [
            {"context": {"is_archived": False}, "replication_key_value": "2026-11-01T00:00:00Z"},
            {"context": {"is_archived": True}, "replication_key_value": "2026-10-01T00:00:00Z"},
        ],
        RECONCILED_AT: "2026-11-01T00:00:00Z",
    }
    forget_bookmarks(state)
    assert "replication_key_value" not in state
    assert all("replication_key_value" not in p for p in state["partitions"])
    assert state[RECONCILED_AT] == "2026-11-01T00:00:00Z"
    assert state["replication_key"] == "update_time"


def test_a_full_table_stream_is_read_whole_every_run_without_touching_its_state() -> None:
    run = reads()
    state: dict[str, Any] = {}
    read = run.begin("users", state, incremental=False, partitions=1, tokens=0)
    assert read is not None
    assert read.version == table_version(NOW)
    assert state == {}
    assert run.finish_partition("users", state, completed=True, records=3)
    assert state == {}


def test_a_due_pass_starts_over_and_once_every_partition_finished_records_when_it_began() -> None:
    run = reads()
    state = {
        "partitions": [{"context": {"is_archived": False}, "replication_key_value": "2026-11-19T00:00:00Z"}]
    }
    read = run.begin("deals", state, incremental=True, partitions=2, tokens=10)
    assert read is not None
    assert read.from_start
    assert state[PASS] == {"version": table_version(NOW), "started_at": stamp(NOW)}
    assert "replication_key_value" not in state["partitions"][0]
    assert run.begin("deals", state, incremental=True, partitions=2, tokens=99) is read

    assert not run.finish_partition("deals", state, completed=True, records=5)
    assert PASS in state
    assert run.finish_partition("deals", state, completed=True, records=2)
    assert read.records == 7
    assert PASS not in state
    assert state[RECONCILED_AT] == stamp(NOW)


def test_a_pass_stopped_early_never_activates_and_the_next_run_resumes_it_under_the_same_version() -> None:
    first, state = reads(), {}
    read = first.begin("organizations", state, incremental=True, partitions=1, tokens=0)
    assert read is not None
    assert not first.finish_partition("organizations", state, completed=False, records=40)
    assert state[PASS]["version"] == read.version
    state["replication_key_value"] = "2026-11-18T00:00:00Z"  # how far the stopped run got

    later = reads(at=NOW + timedelta(hours=1))
    resumed = later.begin("organizations", state, incremental=True, partitions=1, tokens=0)
    assert resumed is not None
    assert (resumed.version, resumed.from_start) == (read.version, False)
    assert state["replication_key_value"] == "2026-11-18T00:00:00Z"
    assert later.finish_partition("organizations", state, completed=True, records=10)
    assert state[RECONCILED_AT] == stamp(NOW)


def test_between_passes_an_incremental_stream_reads_increments() -> None:
    state = {RECONCILED_AT: stamp(NOW - timedelta(hours=3)), "replication_key_value": "2026-11-20T00:00:00Z"}
    run = reads()
    assert run.begin("persons", state, incremental=True, partitions=1, tokens=0) is None
    assert run.read_of("persons") is None
    assert not run.finish_partition("persons", state, completed=True, records=1)


def test_with_activate_version_off_nothing_is_read_whole() -> None:
    run = reads(activate=False)
    assert run.begin("users", {}, incremental=False, partitions=1, tokens=0) is None
    assert run.begin("persons", {}, incremental=True, partitions=1, tokens=0) is None
