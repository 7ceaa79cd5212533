"""The swap of main_bi against real sessions: readers holding locks, users' views and grants, SIGTERM."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest

pytestmark = pytest.mark.slow  # each test builds with dbt

FAST_RETRIES = {"PIPEBOARD_DBT_SWAP_LOCK_TIMEOUT": "200ms", "PIPEBOARD_DBT_SWAP_RETRY_WAIT": "0.2"}


@contextmanager
def reader(url: str, application: str) -> Iterator[psycopg2.extensions.connection]:
    """A BI session that has read main_bi in a transaction it keeps open (so it holds its lock)."""
    conn = psycopg2.connect(url, application_name=application)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pipedrive.main_bi")
        yield conn
    finally:
        conn.close()


def wait_for(predicate, what: str, timeout: float = 300) -> None:
    """Poll until ``predicate()`` holds (a bound on a hang, not a performance assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_reader_holding_main_bi_delays_the_swap_with_named_retries_never_a_half_built_table(db, dbt):
    dbt.build()
    db.execute("INSERT INTO pipedrive.deals (id, title, status) VALUES (6, 'New', 'open')")
    with reader(db.url, "bi-dashboard-test") as bi:
        pid = bi.get_backend_pid()
        build = dbt.start("build", env={**FAST_RETRIES, "PIPEBOARD_DBT_SWAP_ATTEMPTS": "1000"})
        lines: list[str] = []

        def build_waited() -> bool:
            line = build.stdout.readline()
            lines.append(line)
            return "waited 200ms for the table, held by pid" in line

        wait_for(build_waited, "the swap to report the blocking reader")
        # the new main_bi is built but not swapped in: the reader and a newcomer both see the previous one
        with bi.cursor() as cur:
            cur.execute("SELECT count(*) FROM pipedrive.main_bi")
            assert cur.fetchone() == (5,)
        assert db.execute("SET lock_timeout = '60s'; SELECT count(*) FROM pipedrive.main_bi") == [(5,)]
        assert f"held by pid {pid} (application bi-dashboard-test, user " in lines[-1]
        bi.commit()  # the dashboard query ends
        output = build.communicate(timeout=600)[0]

    assert build.returncode == 0, "".join(lines) + output
    assert db.execute("SELECT count(*) FROM pipedrive.main_bi") == [(6,)]


def test_a_swap_that_never_gets_the_table_fails_and_changes_nothing(db, dbt):
    dbt.build()
    before = db.snapshot()
    db.execute("INSERT INTO pipedrive.deals (id, title, status) VALUES (6, 'New', 'open')")
    with reader(db.url, "long-report") as bi:
        done = dbt.run("build", env={**FAST_RETRIES, "PIPEBOARD_DBT_SWAP_ATTEMPTS": "3"})
        pid = bi.get_backend_pid()

    assert done.returncode == 1
    assert done.stdout.count(f"held by pid {pid} (application long-report") == 3
    assert "could not swap in" in done.stdout
    assert "the previous" in done.stdout
    assert db.snapshot() == before


def test_users_views_on_main_bi_are_kept_with_their_grants_and_comments(db, dbt):
    role = f"pipeboard_reader_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {role}")
    try:
        dbt.build()
        db.execute(f"GRANT SELECT ON pipedrive.main_bi TO {role}")
        db.execute("CREATE SCHEMA reports")
        db.execute(
            "CREATE VIEW reports.open_deals AS SELECT id, title, budget_tier FROM pipedrive.main_bi "
            "WHERE is_open"
        )
        db.execute("CREATE VIEW reports.open_count AS SELECT count(*) AS n FROM reports.open_deals")
        db.execute(f"GRANT SELECT ON reports.open_deals, reports.open_count TO {role}")
        db.execute("COMMENT ON VIEW reports.open_deals IS 'for the sales meeting'")
        db.execute(
            "INSERT INTO pipedrive.deals (id, title, status, budget_tier) VALUES (6, 'A', 'open', 'x')"
        )

        dbt.build()

        assert db.execute("SELECT n FROM reports.open_count") == [(2,)]
        assert db.execute("SELECT budget_tier FROM reports.open_deals WHERE id = 6") == [("x",)]
        for relation in ("pipedrive.main_bi", "reports.open_deals", "reports.open_count"):
            assert db.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (role, relation)) == [(True,)]
        comment = db.execute("SELECT obj_description('reports.open_deals'::regclass)")
        assert comment == [("for the sales meeting",)]
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_a_view_that_no_longer_fits_or_a_materialized_view_fails_the_run_and_changes_nothing(db, dbt):
    dbt.build()
    db.execute("CREATE VIEW public.tiers AS SELECT id, budget_tier FROM pipedrive.main_bi")
    db.execute("ALTER TABLE pipedrive.deals DROP COLUMN budget_tier")
    before = db.snapshot()

    gone_column = dbt.run("build")

    assert gone_column.returncode == 1
    assert "the view public.tiers on " in gone_column.stdout
    assert "recreated on the new table (column main_bi.budget_tier does not exist)" in gone_column.stdout
    assert "main_bi_active" not in gone_column.stdout.split("Completed with")[-1]  # dbt's own view is rebuilt
    assert db.snapshot() == before
    assert db.execute("SELECT count(*) FROM public.tiers") == [(5,)]

    db.execute("DROP VIEW public.tiers")
    db.execute("CREATE MATERIALIZED VIEW public.frozen AS SELECT id FROM pipedrive.main_bi")
    frozen = dbt.run("build")

    assert frozen.returncode == 1
    assert "materialized view frozen" in frozen.stdout
    assert "only plain views are carried over" in frozen.stdout
    assert db.snapshot() == before


def test_sigterm_cancels_dbt_queries_and_leaves_the_previous_main_bi(db, dbt):
    dbt.build()
    before = db.snapshot()
    blocker = psycopg2.connect(db.url)
    try:
        with blocker.cursor() as cur:  # the loader altering deals: dbt's read of it waits
            cur.execute("LOCK TABLE pipedrive.deals IN ACCESS EXCLUSIVE MODE")
        build = dbt.start("build")

        def dbt_is_waiting() -> bool:
            waiting = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pipeboard-dbt' "
                "AND wait_event_type = 'Lock'"
            )
            return waiting[0][0] > 0

        wait_for(dbt_is_waiting, "dbt to wait for the locked deals table")
        build.send_signal(signal.SIGTERM)
        output = build.communicate(timeout=300)[0]
    finally:
        blocker.close()

    assert build.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "Stopped by SIGTERM" in output
    assert "Traceback" not in output
    assert db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pipeboard-dbt' AND state = 'active'"
    ) == [(0,)]
    assert db.snapshot() == before


@pytest.fixture(autouse=True)
def _no_public_leftovers(db):
    yield
    db.execute("DROP MATERIALIZED VIEW IF EXISTS public.frozen")
