"""The runner against a real Postgres: atomic swap, idempotency, schema drift and missing optional sources."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import psycopg2
import pytest
from pipeboard_transform.runner import Runner
from pipeboard_transform.settings import TransformSettings
from pipeboard_transform.sources import SourceError


def snapshot(db) -> list[tuple]:
    return db.execute("SELECT * FROM pipedrive.main_bi ORDER BY id")


def test_a_second_run_rebuilds_the_same_table_and_leaves_nothing_behind(db, runner):
    runner.run()
    first = snapshot(db)

    runner.run()

    assert snapshot(db) == first
    tables = db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'pipedrive' AND tablename LIKE 'main_bi%'"
    )
    assert tables == [("main_bi",)]


def test_a_new_custom_field_column_appears_in_main_bi_on_the_next_run(db, runner):
    runner.run()
    assert "renewal_date" not in db.columns("main_bi")

    db.execute("ALTER TABLE pipedrive.deals ADD COLUMN renewal_date date")
    db.execute("UPDATE pipedrive.deals SET renewal_date = '2027-01-31' WHERE id = 2")
    runner.run()

    assert db.main_bi("renewal_date")[2] == {"renewal_date": dt.date(2027, 1, 31)}


def test_a_custom_field_named_like_an_enrichment_column_is_kept_under_a_custom_prefix(db, runner):
    db.execute("ALTER TABLE pipedrive.deals ADD COLUMN owner_name text")
    db.execute("UPDATE pipedrive.deals SET owner_name = 'typed by hand' WHERE id = 1")

    runner.run()

    assert db.main_bi("owner_name", "custom_owner_name")[1] == {
        "owner_name": "Anna Smith",
        "custom_owner_name": "typed by hand",
    }


def test_unloaded_optional_streams_read_as_empty(db, runner):
    for table in ("activities", "activity_types", "deal_products", "products", "persons", "organizations"):
        db.execute(f"DROP TABLE pipedrive.{table}")
    db.execute("ALTER TABLE pipedrive.users DROP COLUMN email")

    result = runner.run()

    assert result.row_counts == {"main_bi": 4}
    assert "persons" in result.missing_sources
    rows = db.main_bi("stage_name", "owner_email", "person_name", "activities_total", "products_total_value")
    assert rows[1] == {
        "stage_name": "Proposal",
        "owner_email": None,
        "person_name": None,
        "activities_total": 0,
        "products_total_value": 0,
    }
    types = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'pipedrive' "
            "AND table_name = 'main_bi' AND column_name IN ('person_name', 'last_activity_done_at')"
        )
    )
    assert types == {"person_name": "text", "last_activity_done_at": "timestamp with time zone"}


def test_missing_deals_fails_clearly(db, runner):
    db.execute("DROP TABLE pipedrive.deals")

    with pytest.raises(SourceError, match=r"pipedrive\.deals does not exist"):
        runner.run()


def test_a_failed_run_leaves_the_previous_main_bi_untouched(db, runner):
    runner.run()
    before = snapshot(db)
    db.execute("ALTER TABLE pipedrive.activities ALTER COLUMN due_date TYPE text")
    db.execute("UPDATE pipedrive.activities SET due_date = 'not a date' WHERE id = 4")
    db.execute("INSERT INTO pipedrive.deals (id, title, status) VALUES (5, 'New', 'open')")

    with pytest.raises(psycopg2.errors.InvalidDatetimeFormat):
        runner.run()

    assert snapshot(db) == before


def test_the_swap_keeps_grants_on_main_bi(db, runner):
    role = f"pipeboard_reader_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role}")
    try:
        runner.run()
        db.execute(f"GRANT SELECT ON pipedrive.main_bi TO {role}")
        runner.run()
        allowed = db.execute("SELECT has_table_privilege(%s, 'pipedrive.main_bi', 'SELECT')", (role,))
        assert allowed == [(True,)]
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_readers_see_the_old_table_until_the_swap_commits_and_then_the_new_one(db, runner):
    runner.run()
    reader = psycopg2.connect(db.url)  # a BI query in progress holds its lock on main_bi
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM pipedrive.main_bi")
        assert cur.fetchone() == (4,)
    db.execute("INSERT INTO pipedrive.deals (id, title, status) VALUES (5, 'New', 'open')")

    errors: list[BaseException] = []
    build = threading.Thread(target=lambda: _capture(errors, runner.run))
    build.start()
    _wait_until_waiting_for_lock(db)
    with reader.cursor() as cur:  # the rebuild is done but waits: the reader still sees the old table
        cur.execute("SELECT count(*) FROM pipedrive.main_bi")
        assert cur.fetchone() == (4,)
    late_counts: list[int] = []
    late = threading.Thread(
        target=lambda: _capture(errors, lambda: late_counts.append(_count(db.url)))
    )  # a new reader arriving during the swap queues behind it and then reads the new table
    late.start()
    _wait_until_waiting_for_lock(db, waiters=2)
    reader.commit()
    reader.close()
    build.join(30)
    late.join(30)

    assert errors == []
    assert late_counts == [5]
    assert len(snapshot(db)) == 5


def _capture(errors: list[BaseException], action) -> None:
    try:
        action()
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def _count(url: str) -> int:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pipedrive.main_bi")
            return cur.fetchone()[0]
    finally:
        conn.close()


def _wait_until_waiting_for_lock(db, waiters: int = 1) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = db.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'pipedrive.main_bi'::regclass"
        )
        if waiting[0][0] >= waiters:
            return
        time.sleep(0.05)
    raise AssertionError("the transform never reached the swap")


def test_table_models_can_be_built_in_another_schema(db):
    settings = TransformSettings(database_url=db.url, source_schema="pipedrive", target_schema="analytics")

    Runner(settings).run()

    assert db.execute("SELECT count(*) FROM analytics.main_bi") == [(4,)]
    assert db.execute("SELECT to_regclass('pipedrive.main_bi')") == [(None,)]
