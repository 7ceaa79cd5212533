"""Fixtures for the transform tests: a fresh database with hand-loaded source tables, and a runner over it."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2
import pytest
from pipeboard_transform.runner import Runner
from pipeboard_transform.settings import TransformSettings

SCHEMA = "pipedrive"

SOURCE_DDL = """
CREATE SCHEMA pipedrive;
CREATE TABLE pipedrive.users (
    id bigint PRIMARY KEY, name text, email text, active_flag boolean, is_deleted boolean);
CREATE TABLE pipedrive.pipelines (id bigint PRIMARY KEY, name text, order_nr bigint, is_deleted boolean);
CREATE TABLE pipedrive.stages (
    id bigint PRIMARY KEY, name text, order_nr bigint, pipeline_id bigint, deal_probability double precision,
    is_deleted boolean);
CREATE TABLE pipedrive.organizations (
    id bigint PRIMARY KEY, name text, owner_id bigint, address text, address_locality text,
    address_country text, address_postal_code text, is_deleted boolean);
CREATE TABLE pipedrive.persons (
    id bigint PRIMARY KEY, name text, org_id bigint, owner_id bigint, primary_email text, primary_phone text,
    emails jsonb, phones jsonb, is_deleted boolean);
CREATE TABLE pipedrive.deals (
    id bigint PRIMARY KEY, title text, value double precision, currency text, status text, stage_id bigint,
    pipeline_id bigint, owner_id bigint, person_id bigint, org_id bigint, add_time timestamptz,
    update_time timestamptz, won_time timestamptz, lost_time timestamptz, close_time timestamptz,
    expected_close_date date, is_deleted boolean, is_archived boolean, budget_tier text,
    _sdc_extracted_at timestamptz);
CREATE TABLE pipedrive.activities (
    id bigint PRIMARY KEY, deal_id bigint, type text, subject text, done boolean, due_date date,
    due_time text, marked_as_done_time timestamptz, add_time timestamptz, is_deleted boolean);
CREATE TABLE pipedrive.activity_types (id bigint PRIMARY KEY, key_string text, name text);
CREATE TABLE pipedrive.products (id bigint PRIMARY KEY, name text, code text, is_deleted boolean);
CREATE TABLE pipedrive.deal_products (
    id bigint PRIMARY KEY, deal_id bigint, product_id bigint, quantity double precision,
    item_price double precision, sum double precision, currency text);

INSERT INTO pipedrive.users VALUES
    (10, 'Anna Smith', 'anna@example.com', true, false),
    (11, 'Bo Old', 'bo@example.com', false, true);
INSERT INTO pipedrive.pipelines VALUES (1, 'Sales', 1, false), (2, 'Renewals', 2, false);
INSERT INTO pipedrive.stages VALUES
    (100, 'Qualified', 1, 1, 20, false), (101, 'Proposal', 2, 1, 60, false),
    (200, 'Renewal due', 1, 2, 50, false);
INSERT INTO pipedrive.organizations VALUES
    (50, 'Acme Ltd', 10, 'Main St 1, Tallinn, Estonia', 'Tallinn', 'Estonia', '10117', false);
INSERT INTO pipedrive.persons VALUES
    (70, 'Ines', 50, 10, NULL, NULL,
     '[{"value": "ines@work.example", "primary": false}, {"value": "ines@acme.example", "primary": true}]',
     '[{"value": "+372 5000", "primary": true}]', false),
    (71, 'Juan', NULL, 10, 'juan@loaded.example', '+34 600', '[]', '[]', false);
INSERT INTO pipedrive.deals VALUES
    (1, 'Won deal', 1000.5, 'EUR', 'won', 101, 1, 10, 70, 50, '2026-01-01T10:00:00Z', '2026-02-01T10:00:00Z',
     '2026-01-11T09:00:00Z', NULL, '2026-01-11T09:00:00Z', '2026-01-15', false, false, 'gold', now()),
    (2, 'Open deal', 20, 'USD', 'open', 100, 1, 11, 71, NULL, '2026-03-01T10:00:00Z', '2026-03-02T10:00:00Z',
     NULL, NULL, NULL, NULL, false, false, NULL, now()),
    (3, 'Deleted deal', 5, 'USD', 'deleted', 200, 2, 10, NULL, NULL, '2026-03-05T10:00:00Z',
     '2026-03-06T10:00:00Z', NULL, NULL, NULL, NULL, true, false, NULL, now()),
    (4, 'Lost deal', 7, 'USD', 'lost', 999, NULL, 99, 999, 999, '2026-02-01T23:00:00Z',
     '2026-02-10T10:00:00Z', NULL, '2026-02-04T01:00:00Z', '2026-02-04T01:00:00Z', NULL, false, true,
     NULL, now());
INSERT INTO pipedrive.activity_types VALUES (1, 'call', 'Call'), (2, 'meeting', 'Meeting');
INSERT INTO pipedrive.activities VALUES
    (1, 1, 'call', 'Intro', true, '2026-01-02', '10:00', '2026-01-02T10:30:00Z',
     '2026-01-01T10:00:00Z', false),
    (2, 1, 'meeting', 'Demo', true, '2026-01-05', NULL, '2026-01-05T12:00:00Z',
     '2026-01-01T10:00:00Z', false),
    (3, 1, 'call', 'Gone', false, '2026-01-03', NULL, NULL, '2026-01-01T10:00:00Z', true),
    (4, 2, 'meeting', 'Later meeting', false, '2026-04-10', '09:00', NULL, '2026-03-01T10:00:00Z', false),
    (5, 2, 'lunch', 'Sooner lunch', false, '2026-04-09', NULL, NULL, '2026-03-01T10:00:00Z', false),
    (6, 2, 'call', 'Done call', true, '2026-03-03', NULL, '2026-03-03T08:00:00Z',
     '2026-03-01T10:00:00Z', false),
    (7, NULL, 'call', 'Person only', false, '2026-03-03', NULL, NULL, '2026-03-01T10:00:00Z', false);
INSERT INTO pipedrive.products VALUES (1, 'Hosting', 'H1', false), (2, 'Support', 'S1', true);
INSERT INTO pipedrive.deal_products VALUES
    (1, 1, 1, 2, 100, 200, 'EUR'), (2, 1, 2, 1, 300.5, 300.5, 'EUR'), (3, 2, 1, 0.5, 40, 20, 'USD');
"""


class Database:
    """Small helpers over one test database URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, statement: str, params: tuple | None = None) -> list[tuple]:
        """Run one statement in its own autocommit connection and return its rows (none for DDL)."""
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def main_bi(self, *columns: str) -> dict[int, dict[str, object]]:
        """``main_bi`` as deal id → {column: value} for ``columns``."""
        rows = self.execute(f"SELECT id, {', '.join(columns)} FROM pipedrive.main_bi ORDER BY id")
        return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}

    def columns(self, table: str) -> list[str]:
        """Column names of ``pipedrive.<table>`` in order."""
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'pipedrive' "
            "AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [row[0] for row in rows]


@pytest.fixture
def db(make_database: Callable[[], str]) -> Database:
    """A fresh database holding the hand-loaded ``pipedrive`` source tables above."""
    database = Database(make_database())
    database.execute(SOURCE_DDL)
    return database


@pytest.fixture
def runner(db: Database) -> Runner:
    """A runner building the real models over ``db``."""
    return Runner(TransformSettings(database_url=db.url, source_schema=SCHEMA, target_schema=SCHEMA))
