"""Which source each deal's stage history comes from, and the changelog cases the emulator rarely makes: a
backfill not finished (some deals' changes not loaded), two moves in one second, deal_history off."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.slow  # each test builds with dbt

CHANGES_DDL = """
INSERT INTO pipedrive.stages (id, name, order_nr, pipeline_id, deal_probability, is_deleted)
VALUES (102, 'Contract', 3, 1, 90, false);
INSERT INTO pipedrive.deals (id, title, value, currency, status, stage_id, pipeline_id, owner_id, add_time,
    update_time, stage_change_time, is_deleted, is_archived) VALUES
    (6, 'Two moves in a second', 50, 'EUR', 'open', 102, 1, 10, '2026-04-01T10:00:00Z',
     '2026-04-02T10:00:00Z', '2026-04-02T10:00:00Z', false, false);
CREATE TABLE pipedrive.deal_changes (
    deal_id bigint, time timestamptz, field_key text, change_hash text, old_value text, new_value text,
    actor_user_id bigint, change_source text, change_source_user_agent text, is_bulk_update_flag boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz,
    PRIMARY KEY (deal_id, time, field_key, change_hash));
CREATE TABLE pipedrive.deal_history_coverage (
    stream text PRIMARY KEY, mode text, deals_needing_history bigint, deals_complete bigint,
    deals_pending bigint, coverage numeric, is_complete boolean, listed_through timestamptz,
    _sdc_batched_at timestamptz DEFAULT now());
-- deal 1 moved 100 -> 101 and was won; deal 6 moved twice in one second (hashes in the other order)
INSERT INTO pipedrive.deal_changes (deal_id, time, field_key, change_hash, old_value, new_value) VALUES
    (1, '2026-01-05T10:00:00Z', 'stage_id', 'c1', '100', '101'),
    (1, '2026-01-11T09:00:00Z', 'status', 'c2', 'open', 'won'),
    (6, '2026-04-02T10:00:00Z', 'stage_id', 'bb', '100', '101'),
    (6, '2026-04-02T10:00:00Z', 'stage_id', 'aa', '101', '102');
-- a backfill under way: deal 5 moved after it was created, and its changes are not loaded yet
UPDATE pipedrive.deals SET stage_change_time = '2026-03-05T12:00:00Z' WHERE id = 5;
INSERT INTO pipedrive.deal_history_coverage VALUES
    ('deal_changes', 'stages', 3, 2, 1, 0.666667, false, '2026-04-02T11:00:00Z');
"""


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def visits(db) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = {}
    for row in db.execute(
        "SELECT deal_id, stage_id, entered_at, exited_at, left_by, next_stage_id, source "
        "FROM pipedrive.deal_stage_history ORDER BY deal_id, visit_number"
    ):
        found.setdefault(row[0], []).append(row[1:])
    return found


def test_the_changelog_serves_the_deals_it_covers_and_the_snapshot_the_rest(db, dbt):
    db.execute(CHANGES_DDL)

    dbt.build()

    found = visits(db)
    assert found[1] == [
        (100, at("2026-01-01T10:00:00Z"), at("2026-01-05T10:00:00Z"), "stage", 101, "changelog"),
        (101, at("2026-01-05T10:00:00Z"), at("2026-01-11T09:00:00Z"), "won", None, "changelog"),
    ]
    never_moved = [(100, at("2026-03-01T10:00:00Z"), None, "still_there", None, "changelog")]
    assert found[2] == never_moved
    second = at("2026-04-02T10:00:00Z")
    assert found[6] == [
        (100, at("2026-04-01T10:00:00Z"), second, "stage", 101, "changelog"),
        (101, second, second, "stage", 102, "changelog"),  # chained: 100 -> 101 before 101 -> 102
        (102, second, None, "still_there", None, "changelog"),
    ]
    # moved (stage_change_time after add_time) but no change loaded yet: the snapshot, from the stage it is in
    since = at("2026-03-05T12:00:00Z")
    assert found[5] == [(200, since, at("2026-03-06T10:00:00Z"), "deleted", None, "snapshot")]
    assert db.execute("SELECT is_history_complete FROM pipedrive.deal_stage_history WHERE deal_id = 5") == [
        (False,)
    ]


def test_with_deal_history_off_every_deal_comes_from_the_snapshot_and_each_build_adds_what_it_sees(db, dbt):
    db.execute(CHANGES_DDL)
    db.execute("UPDATE pipedrive.deal_history_coverage SET mode = 'off', coverage = NULL")
    dbt.build()
    db.execute(
        "UPDATE pipedrive.deals SET stage_id = 101, stage_change_time = '2026-03-10T08:00:00Z', "
        "update_time = '2026-03-10T08:00:00Z' WHERE id = 2"
    )

    dbt.build()

    found = visits(db)
    assert {row[-1] for rows in found.values() for row in rows} == {"snapshot"}
    assert found[2] == [
        (100, at("2026-03-01T10:00:00Z"), at("2026-03-10T08:00:00Z"), "stage", 101, "snapshot"),
        (101, at("2026-03-10T08:00:00Z"), None, "still_there", None, "snapshot"),
    ]
    # the changelog's two moves are not used: the snapshot only saw deal 6 in its current stage
    assert found[6] == [(102, at("2026-04-02T10:00:00Z"), None, "still_there", None, "snapshot")]
    versions = db.execute(
        "SELECT stage_id FROM pipedrive.deals_snapshot WHERE id = 2 ORDER BY dbt_valid_from"
    )
    assert versions == [(100,), (101,)]


ANALYTICS = (
    "deals_snapshot",
    "deal_stage_history",
    "time_in_stage",
    "time_in_stage_daily",
    "deal_funnel",
    "daily_pipeline",
    "pipeline_velocity",
    "won_lost_by_month",
)


def test_every_analytics_table_and_column_is_described_in_postgres(built):
    db, _ = built

    undescribed = db.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pipedrive' "
        "AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "AND coalesce(col_description(c.oid, a.attnum), '') = ''",
        (list(ANALYTICS),),
    )
    described = db.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'pipedrive'::regnamespace AND relname = ANY(%s) "
        "AND coalesce(obj_description(oid, 'pg_class'), '') <> ''",
        (list(ANALYTICS),),
    )

    assert undescribed == []
    assert sorted(name for (name,) in described) == sorted(ANALYTICS)
