"""Deletes of every entity, through the real tap and target into PostgreSQL, both ways the specs leave open.

One small account per listing behaviour (soft-deleted rows listed or left out, REFERENCE.md §11 q1), three
pipeline runs each: a full sync; after ``mutate`` deleted records of every entity (and took line items off
unchanged deals), an incremental run; after more deletes and Pipedrive's 30-day purge, a run with the
reconciliation pass due. After each run every table is compared with the account: a row is marked
deleted (``is_deleted`` or ``_sdc_deleted_at``) exactly when Pipedrive no longer has it or flags it — except,
after the incremental run, deletions an incremental read cannot see (absence, or rows the lists leave out) —
and no row is ever removed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pipedrive_emulator import Emulator
from pipedrive_emulator.deletes import is_deleted
from psycopg2 import sql

BIN = Path(sys.executable).parent
SCHEMA = "pipedrive"
DELETES = {
    "users": 1,
    "pipelines": 1,
    "stages": 1,
    "organizations": 2,
    "persons": 2,
    "deals": 2,
    "activities": 2,
    "activity_types": 1,
    "products": 2,
    "leads": 2,
    "lead_labels": 1,
    "notes": 2,
    "currencies": 1,
}
ENTITIES = [*DELETES, "deal_products"]
HIDEABLE = {"persons", "organizations", "activities", "products", "notes", "pipelines", "stages"}
INCREMENTAL_ABSENCE = {"leads"}
"""Incremental streams whose deleted records just vanish: only the reconciliation pass can mark them."""
FULL_TABLE = {"users", "pipelines", "stages", "activity_types", "lead_labels", "currencies"}

pytestmark = pytest.mark.slow


@dataclass
class Scenario:
    """The account, what each step changed, and every table after each run."""

    emulator: Emulator
    mode: str
    deleted_first: dict[str, list[Any]]
    deleted_first_at: str
    snapshots: list[dict[str, dict[Any, tuple[bool, bool, str | None]]]] = field(default_factory=list)
    truths: list[dict[str, dict[Any, bool]]] = field(default_factory=list)
    target_logs: list[str] = field(default_factory=list)


def _run_pipeline(tmp: Path, tap_config: dict, state: dict | None, url: str) -> tuple[dict | None, str]:
    """tap-pipedrive | target-pipeboard-postgres, as a user runs them; the last STATE and the target's log."""
    (tmp / "tap.json").write_text(json.dumps(tap_config))
    (tmp / "target.json").write_text(json.dumps({"database_url": url, "default_target_schema": SCHEMA}))
    command = [str(BIN / "tap-pipedrive"), "--config", str(tmp / "tap.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp / "state.json")]
    tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    target = subprocess.run(
        [str(BIN / "target-pipeboard-postgres"), "--config", str(tmp / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr[-3000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    return (states[-1] if states else state), target.stderr


def _snapshot(url: str) -> dict[str, dict[Any, tuple[bool, bool, str | None]]]:
    """Per table: id → (is_deleted, _sdc_deleted_at is set, _sdc_deleted_at as text)."""
    tables = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table in ENTITIES:
            cur.execute(
                sql.SQL(
                    "SELECT id, coalesce(is_deleted, false), _sdc_deleted_at IS NOT NULL, "
                    "to_char(_sdc_deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM {}"
                ).format(sql.Identifier(SCHEMA, table))
            )
            tables[table] = {row[0]: (row[1], row[2], row[3]) for row in cur.fetchall()}
    conn.close()
    return tables


def _truth(emulator: Emulator) -> dict[str, dict[Any, bool]]:
    """Per entity: id → deleted, for every record Pipedrive still has (purged ones are absent)."""
    return {entity: {r["id"]: is_deleted(entity, r) for r in emulator.records(entity)} for entity in ENTITIES}


@pytest.fixture(scope="module", params=["listed", "hidden"])
def scenario(request: pytest.FixtureRequest, database_server: Any, tmp_path_factory: pytest.TempPathFactory):
    mode = request.param
    # 150 deals: line items are read 100 deals at a time while deals sync, and the rest at their own turn.
    emulator = Emulator(deals=150, seed=21, list_deleted=mode == "listed", purge_after_days=30).start()
    url = database_server.create_database()
    tmp = tmp_path_factory.mktemp(f"deletes-{mode}")
    config = {"api_token": emulator.token, "api_url": emulator.base_url}
    try:
        state, log = _run_pipeline(tmp, config, None, url)
        snapshots, truths, logs = [_snapshot(url)], [_truth(emulator)], [log]

        first = emulator.mutate(delete=DELETES, remove_line_items=3)
        deleted_first = {**first["deleted"], "deal_products": first["line_items_removed"]["deal_products"]}
        state, log = _run_pipeline(tmp, config, state, url)
        snapshots.append(_snapshot(url))
        truths.append(_truth(emulator))
        logs.append(log)

        emulator.mutate(delete=DELETES, remove_line_items=2)
        purged = emulator.mutate(advance_days=31)["purged"]
        assert set(deleted_first["organizations"]) <= set(purged["organizations"])
        state, log = _run_pipeline(tmp, {**config, "reconcile_interval_hours": 0}, state, url)
        snapshots.append(_snapshot(url))
        truths.append(_truth(emulator))
        logs.append(log)
        yield Scenario(emulator, mode, deleted_first, first["now"], snapshots, truths, logs)
    finally:
        emulator.stop()


def _marked(row: tuple[bool, bool, str | None]) -> bool:
    return row[0] or row[1]


def _expected_marked(table: dict[Any, Any], truth: dict[Any, bool]) -> set[Any]:
    """Rows Pipedrive no longer has, or flags as deleted."""
    return {rid for rid in table if rid not in truth or truth[rid]}


def _unseen_by_an_incremental_read(scenario: Scenario, entity: str) -> set[Any]:
    if entity in INCREMENTAL_ABSENCE or (entity in HIDEABLE - FULL_TABLE and scenario.mode == "hidden"):
        return set(scenario.deleted_first.get(entity, []))
    return set()


@pytest.mark.parametrize("entity", ENTITIES)
def test_the_incremental_run_marks_exactly_the_deletions_it_can_see(scenario: Scenario, entity: str) -> None:
    before, after = scenario.snapshots[0][entity], scenario.snapshots[1][entity]
    deleted = set(scenario.deleted_first.get(entity, []))
    assert deleted, f"mutate deleted no {entity}"
    assert deleted <= set(after), f"{entity}: a deleted record is missing from the table"
    assert set(before) <= set(after), f"{entity}: rows were removed"

    unseen = _unseen_by_an_incremental_read(scenario, entity)
    marked = {rid for rid, row in after.items() if _marked(row)}
    assert marked == _expected_marked(after, scenario.truths[1][entity]) - unseen
    newly = marked - {rid for rid, row in before.items() if _marked(row)}
    assert newly == deleted - unseen, f"{entity}: marked {sorted(newly, key=str)}"
    for rid in newly:
        assert after[rid][1], f"{entity} {rid}: no _sdc_deleted_at"
        if entity not in FULL_TABLE | {"deal_products"} and entity not in INCREMENTAL_ABSENCE:
            assert after[rid][2] == scenario.deleted_first_at, f"{entity} {rid}: not the deletion time"


@pytest.mark.parametrize("entity", ENTITIES)
def test_after_purges_the_reconciliation_pass_marks_every_row_pipedrive_no_longer_has(
    scenario: Scenario, entity: str
) -> None:
    before, after = scenario.snapshots[1][entity], scenario.snapshots[2][entity]
    truth = scenario.truths[2][entity]
    assert set(before) <= set(after), f"{entity}: rows were removed"
    marked = {rid for rid, row in after.items() if _marked(row)}
    assert marked == _expected_marked(after, truth)
    assert {rid for rid, deleted in truth.items() if not deleted} <= set(after) - marked
    for rid, row in after.items():
        if row[0]:
            assert row[1], f"{entity} {rid}: is_deleted without _sdc_deleted_at"
        if rid in before and _marked(before[rid]):
            assert row[2] == before[rid][2], f"{entity} {rid}: an earlier deletion time was overwritten"


@pytest.mark.parametrize("stream", ["organizations", "persons", "activities", "products", "deals", "leads"])
def test_the_target_says_how_many_rows_the_reconciliation_marked(scenario: Scenario, stream: str) -> None:
    before, after = scenario.snapshots[1][stream], scenario.snapshots[2][stream]
    newly = sum(1 for rid, row in after.items() if _marked(row) and not _marked(before.get(rid, row)))
    newly_by_absence = sum(
        1 for rid, row in after.items() if row[1] and not row[0] and not _marked(before.get(rid, row))
    )
    counts = [
        int(n)
        for n in re.findall(
            rf"(?<!\w){stream}: (\d+) rows no longer in the source, marked", scenario.target_logs[2]
        )
    ]
    assert counts == [newly_by_absence]
    assert newly >= newly_by_absence
