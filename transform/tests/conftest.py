"""Fixtures for the transform tests: hand-loaded source tables in fresh databases, and dbt run on them through
pipeboard-dbt from the dbt virtualenv (.venv-dbt, made by `make install`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

REPO = Path(__file__).resolve().parents[2]
DBT_VENV = Path(os.environ.get("PIPEBOARD_DBT_VENV") or REPO / ".venv-dbt")
SCHEMA = "pipedrive"

SOURCE_DDL = """
CREATE SCHEMA pipedrive;
CREATE TABLE pipedrive.users (
    id bigint PRIMARY KEY, name text, email text, default_currency text, is_you boolean, active_flag boolean,
    is_deleted boolean, _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.pipelines (
    id bigint PRIMARY KEY, name text, order_nr bigint, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.stages (
    id bigint PRIMARY KEY, name text, order_nr bigint, pipeline_id bigint, deal_probability bigint,
    is_deal_rot_enabled boolean, days_to_rotten bigint, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.organizations (
    id bigint PRIMARY KEY, name text, owner_id bigint, address text, address_locality text,
    address_country text, address_postal_code text, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.persons (
    id bigint PRIMARY KEY, name text, org_id bigint, owner_id bigint, primary_email text, primary_phone text,
    emails jsonb, phones jsonb, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.deals (
    id bigint PRIMARY KEY, title text, creator_user_id bigint, value numeric, currency text, status text,
    stage_id bigint, pipeline_id bigint, owner_id bigint, person_id bigint, org_id bigint, add_time timestamptz,
    update_time timestamptz, stage_change_time timestamptz, probability numeric, won_time timestamptz,
    lost_time timestamptz, close_time timestamptz, expected_close_date date, label_ids jsonb, is_deleted boolean,
    is_archived boolean, budget_tier text, technical_contact bigint, partner_organization bigint,
    email_messages_count bigint, notes_count bigint, activities_count bigint, done_activities_count bigint,
    undone_activities_count bigint, products_count bigint, meeting_time text, office_hours text,
    office_hours_until text, contract_period date, contract_period_until date,
    _sdc_extracted_at timestamptz, _sdc_batched_at timestamptz DEFAULT now(),
    _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.deal_fields (
    field_code text PRIMARY KEY, field_name text, field_type text, column_name text, is_custom_field boolean,
    options jsonb, _sdc_batched_at timestamptz DEFAULT now());
CREATE TABLE pipedrive.activities (
    id bigint PRIMARY KEY, deal_id bigint, type text, subject text, done boolean, due_date date,
    due_time text, marked_as_done_time timestamptz, add_time timestamptz, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.activity_types (
    id bigint PRIMARY KEY, key_string text, name text, _sdc_batched_at timestamptz DEFAULT now());
CREATE TABLE pipedrive.products (
    id bigint PRIMARY KEY, name text, code text, is_deleted boolean,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.deal_products (
    id bigint PRIMARY KEY, deal_id bigint, product_id bigint, quantity numeric, item_price numeric,
    sum numeric, currency text, _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.deal_currency_rates (
    currency text PRIMARY KEY, target_currency text, rate numeric, deals_count bigint, value_total numeric,
    value_converted_total numeric, weighted_value_total numeric, read_at timestamptz,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);
CREATE TABLE pipedrive.notes (
    id bigint PRIMARY KEY, deal_id bigint, active_flag boolean, add_time timestamptz,
    _sdc_batched_at timestamptz DEFAULT now(), _sdc_deleted_at timestamptz);

INSERT INTO pipedrive.users (id, name, email, default_currency, is_you, active_flag, is_deleted) VALUES
    (10, 'Anna Smith', 'anna@example.com', 'EUR', true, true, false),
    (11, 'Bo Old', 'bo@example.com', 'USD', false, false, true);
INSERT INTO pipedrive.pipelines (id, name, order_nr, is_deleted) VALUES
    (1, 'Sales', 1, false), (2, 'Renewals', 2, false);
INSERT INTO pipedrive.stages
    (id, name, order_nr, pipeline_id, deal_probability, is_deal_rot_enabled, days_to_rotten, is_deleted) VALUES
    (100, 'Qualified', 1, 1, 20, true, 10, false), (101, 'Proposal', 2, 1, 60, false, NULL, false),
    (200, 'Renewal due', 1, 2, 50, true, 1000000, false);
INSERT INTO pipedrive.organizations VALUES
    (50, 'Acme Ltd', 10, 'Main St 1, Tallinn, Estonia', 'Tallinn', 'Estonia', '10117', false);
INSERT INTO pipedrive.persons (id, name, org_id, owner_id, primary_email, primary_phone, emails, phones, is_deleted)
VALUES
    (70, 'Ines', 50, 10, NULL, NULL,
     '[{"value": "ines@work.example", "primary": false}, {"value": "ines@acme.example", "primary": true}]',
     '[{"value": "+372 5000", "primary": true}]', false),
    (71, 'Juan', NULL, 10, 'juan@loaded.example', '+34 600', '[]', '[]', false);
INSERT INTO pipedrive.deal_fields VALUES
    ('label_ids', 'Label', 'set', 'label_ids', false,
     '[{"id": 1, "label": "Hot"}, {"id": 2, "label": "Warm"}, {"id": 3, "label": "Cold"}]'),
    ('value', 'Value', 'monetary', 'value', false, NULL),
    ('aaaa000000000000000000000000000000000001', 'Budget tier', 'varchar', 'budget_tier', true, NULL),
    ('aaaa000000000000000000000000000000000002', 'Technical contact', 'user', 'technical_contact', true, NULL),
    ('aaaa000000000000000000000000000000000003', 'Partner', 'org', 'partner_organization', true, NULL),
    ('aaaa000000000000000000000000000000000004', 'Meeting time', 'time', 'meeting_time', true, NULL),
    ('aaaa000000000000000000000000000000000005', 'Office hours', 'timerange', 'office_hours', true, NULL),
    ('aaaa000000000000000000000000000000000006', 'Contract period', 'daterange', 'contract_period', true, NULL);
INSERT INTO pipedrive.deals (id, title, creator_user_id, value, currency, status, stage_id, pipeline_id,
    owner_id, person_id, org_id, add_time, update_time, stage_change_time, probability, won_time, lost_time,
    close_time, expected_close_date, label_ids, is_deleted, is_archived, budget_tier, technical_contact,
    partner_organization, _sdc_extracted_at, _sdc_deleted_at) VALUES
    (1, 'Won deal', 10, 1000.5, 'EUR', 'won', 101, 1, 10, 70, 50, '2026-01-01T10:00:00Z',
     '2026-02-01T10:00:00Z', '2026-01-05T10:00:00Z', NULL, '2026-01-11T09:00:00Z', NULL, '2026-01-11T09:00:00Z',
     '2026-01-15', '[2, 1]', false, false, 'gold', 11, 50, now(), NULL),
    (2, 'Open deal', 11, 20, 'USD', 'open', 100, 1, 11, 71, NULL, '2026-03-01T10:00:00Z', '2026-03-02T10:00:00Z',
     '2026-03-01T10:00:00Z', NULL, NULL, NULL, NULL, NULL, '[]', false, false, NULL, NULL, NULL, now(), NULL),
    (3, 'Deleted deal', 10, 5, 'USD', 'deleted', 200, 2, 10, NULL, NULL, '2026-03-05T10:00:00Z',
     '2026-03-06T10:00:00Z', NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, false, NULL, NULL, NULL, now(), NULL),
    (4, 'Lost deal', 10, 7, 'USD', 'lost', 999, NULL, 10, 999, 999, '2026-02-01T23:00:00Z',
     '2026-02-10T10:00:00Z', NULL, 30, NULL, '2026-02-04T01:00:00Z', '2026-02-04T01:00:00Z', NULL, '[3, 9]',
     false, true, NULL, NULL, NULL, now(), NULL),
    (5, 'Purged deal', 10, 100, 'GBP', 'open', 200, 2, 10, NULL, NULL, '2026-03-05T10:00:00Z',
     '2026-03-06T10:00:00Z', '2026-03-05T10:00:00Z', 25, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL,
     NULL, now(), '2026-04-01T00:00:00Z');
-- Pipedrive's counts (include_fields), deliberately unlike the loaded activities, notes and products: those win
UPDATE pipedrive.deals SET email_messages_count = 4, notes_count = 9, activities_count = 7,
    done_activities_count = 5, undone_activities_count = 2, products_count = 6, meeting_time = '09:30:00',
    office_hours = '08:00:00', office_hours_until = ' 17:30 ', contract_period = '2026-01-01',
    contract_period_until = '2026-12-31' WHERE id = 1;
UPDATE pipedrive.deals SET email_messages_count = 0, office_hours = '' WHERE id = 2;
-- Pipedrive's rates into EUR (the deals summary); GBP left the summary (its only deal is gone) and keeps its
-- last rate; PTS is a custom currency Pipedrive does not convert
INSERT INTO pipedrive.deal_currency_rates (currency, target_currency, rate, deals_count, value_total,
    value_converted_total, weighted_value_total, read_at, _sdc_deleted_at) VALUES
    ('EUR', 'EUR', 1, 1, 1000.5, 1000.5, 600.3, '2026-04-02T06:00:00Z', NULL),
    ('USD', 'EUR', 0.92, 2, 27, 24.84, 6.1, '2026-04-02T06:00:00Z', NULL),
    ('PTS', 'EUR', NULL, 1, 500, 0, 250, '2026-04-02T06:00:00Z', NULL),
    ('GBP', 'EUR', 1.17, 1, 100, 117, 25, '2026-03-20T06:00:00Z', '2026-04-02T06:00:00Z');
INSERT INTO pipedrive.activity_types (id, key_string, name) VALUES (1, 'call', 'Call'), (2, 'meeting', 'Meeting');
INSERT INTO pipedrive.activities (id, deal_id, type, subject, done, due_date, due_time, marked_as_done_time,
    add_time, is_deleted) VALUES
    (1, 1, 'call', 'Intro', true, '2026-01-02', '10:00', '2026-01-02T10:30:00Z', '2026-01-01T10:00:00Z', false),
    (2, 1, 'meeting', 'Demo', true, '2026-01-05', NULL, '2026-01-05T12:00:00Z', '2026-01-01T10:00:00Z', false),
    (3, 1, 'call', 'Gone', false, '2026-01-03', NULL, NULL, '2026-01-01T10:00:00Z', true),
    (4, 2, 'meeting', 'Later meeting', false, '2026-04-10', '09:00', NULL, '2026-03-01T10:00:00Z', false),
    (5, 2, 'lunch', 'Sooner lunch', false, '2026-04-09', '12:30:00', NULL, '2026-03-01T10:00:00Z', false),
    (6, 2, 'call', 'Done call', true, '2026-03-03', NULL, '2026-03-03T08:00:00Z', '2026-03-01T10:00:00Z', false),
    (7, NULL, 'call', 'Person only', false, '2026-03-03', NULL, NULL, '2026-03-01T10:00:00Z', false),
    (8, 4, 'call', 'Lost but planned', false, '2026-02-20', NULL, NULL, '2026-02-01T10:00:00Z', false);
INSERT INTO pipedrive.products (id, name, code, is_deleted) VALUES
    (1, 'Hosting', 'H1', false), (2, 'Support', 'S1', true);
INSERT INTO pipedrive.deal_products (id, deal_id, product_id, quantity, item_price, sum, currency) VALUES
    (1, 1, 1, 2, 100, 200, 'EUR'), (2, 1, 2, 1, 300.5, 300.5, 'EUR'), (3, 2, 1, 0.5, 40, 20, 'USD');
INSERT INTO pipedrive.notes (id, deal_id, active_flag, add_time) VALUES
    (1, 1, true, now()), (2, 1, true, now()), (3, 1, false, now()), (4, 2, true, now()), (5, NULL, true, now());
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

    def rows(self, relation: str, *columns: str) -> dict[int, dict[str, Any]]:
        """``relation`` as deal id → {column: value} for ``columns``."""
        rows = self.execute(f"SELECT id, {', '.join(columns)} FROM {relation} ORDER BY id")
        return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}

    def main_bi(self, *columns: str) -> dict[int, dict[str, Any]]:
        """``pipedrive.main_bi`` as deal id → {column: value} for ``columns``."""
        return self.rows("pipedrive.main_bi", *columns)

    def columns(self, table: str, schema: str = SCHEMA) -> list[str]:
        """Column names of ``<schema>.<table>`` in order."""
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        return [row[0] for row in rows]

    def snapshot(self) -> list[tuple]:
        """Every row of main_bi, for comparing before and after."""
        return self.execute("SELECT * FROM pipedrive.main_bi ORDER BY id")


@dataclass
class Dbt:
    """pipeboard-dbt from the dbt virtualenv, run on one database with its own target and log folders."""

    url: str
    workdir: Path

    def command(self, *args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of ``pipeboard-dbt *args``."""
        executable = DBT_VENV / "bin" / "pipeboard-dbt"
        if not executable.exists():
            pytest.fail(f"{executable} is missing: run `make install` (it builds the dbt virtualenv)")
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DBT_", "PIPEBOARD_", "TARGET_PIPEBOARD_POSTGRES_", "PG"))
            and key not in ("DATABASE_URL", "VIRTUAL_ENV")
        }
        environment.update(
            {
                "DATABASE_URL": self.url,
                "DBT_TARGET_PATH": str(self.workdir / "target"),
                "DBT_LOG_PATH": str(self.workdir / "logs"),
                "PIPEBOARD_DBT_SWAP_RETRY_WAIT": "0.2",
                **(env or {}),
            }
        )
        return [str(executable), *args], environment

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``pipeboard-dbt *args`` to the end."""
        argv, environment = self.command(*args, env=env)
        return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=600, check=False)

    def build(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``pipeboard-dbt build``, failing the test with dbt's output when it fails."""
        done = self.run("build", env=env)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        return done

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``pipeboard-dbt *args`` in the background (output on a pipe, stderr merged)."""
        argv, environment = self.command(*args, env=env)
        return subprocess.Popen(
            argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


@pytest.fixture
def db(make_database: Callable[[], str]) -> Database:
    """A fresh database holding the hand-loaded ``pipedrive`` source tables above."""
    database = Database(make_database())
    database.execute(SOURCE_DDL)
    return database


@pytest.fixture
def dbt(db: Database, tmp_path: Path) -> Dbt:
    """pipeboard-dbt on ``db``."""
    return Dbt(db.url, tmp_path)


@pytest.fixture(scope="module")
def built(database_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Dbt]]:
    """One database with the source tables above and main_bi built once, shared by read-only tests."""
    database = Database(database_server.create_database())
    database.execute(SOURCE_DDL)
    runner = Dbt(database.url, tmp_path_factory.mktemp("dbt"))
    runner.build()
    return database, runner


@pytest.fixture
def bare(make_database: Callable[[], str], tmp_path: Path) -> tuple[Database, Dbt]:
    """An empty fresh database (no source tables) and pipeboard-dbt on it."""
    database = Database(make_database())
    return database, Dbt(database.url, tmp_path)
