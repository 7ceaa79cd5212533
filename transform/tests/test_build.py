"""The runner's guarantees through dbt: absent streams, schema drift, failed builds, data tests, schemas."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test builds with dbt

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / ".venv" / "bin" / "target-pipeboard-postgres"


def test_unloaded_optional_streams_read_as_empty_and_main_bi_can_go_to_another_schema(db, dbt):
    for table in ("activities", "activity_types", "deal_products", "products", "persons", "organizations",
                  "notes", "deal_fields", "users", "deal_currency_rates"):  # fmt: skip
        db.execute(f"DROP TABLE pipedrive.{table}")
    db.execute("ALTER TABLE pipedrive.stages DROP COLUMN deal_probability")

    dbt.build(env={"DBT_POSTGRES_TARGET_SCHEMA": "analytics"})

    assert db.execute("SELECT to_regclass('pipedrive.main_bi')") == [(None,)]
    rows = db.rows(
        "analytics.main_bi", "stage_name", "owner_name", "person_name", "activities_total",
        "activities_open", "products_count", "products_total_value", "notes_count", "weighted_value",
        "label_names", "meeting_time",
    )  # fmt: skip
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[1] == {
        "stage_name": "Proposal",
        "owner_name": None,
        "person_name": None,
        "activities_total": 7,  # activities are not loaded: Pipedrive's counts of the deal stand in
        "activities_open": 2,
        "products_count": 6,
        "products_total_value": 0,
        "notes_count": 9,
        "weighted_value": None,  # no deal probability and the stage's column is gone
        "label_names": "2, 1",  # no field metadata: the ids stand in
        "meeting_time": "09:30:00",  # no field metadata says it is a time: it stays as loaded
    }
    assert (rows[2]["activities_total"], rows[2]["notes_count"]) == (0, None)  # no count known
    assert "technical_contact_name" not in db.columns("main_bi", "analytics")  # no metadata says it is a user
    types = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'analytics' "
            "AND table_name = 'main_bi' AND column_name IN ('person_name', 'last_activity_done_at')"
        )
    )
    assert types == {"person_name": "text", "last_activity_done_at": "timestamp with time zone"}


def test_missing_deals_fails_clearly(db, dbt):
    db.execute("DROP TABLE pipedrive.deals")

    done = dbt.run("build")

    assert done.returncode == 1
    assert "required source table pipedrive.deals does not exist" in done.stdout
    assert db.execute("SELECT to_regclass('pipedrive.main_bi')") == [(None,)]


def test_new_custom_fields_appear_on_the_next_run_and_a_colliding_one_keeps_its_data(db, dbt):
    dbt.build()
    assert "renewal_date" not in db.columns("main_bi")

    db.execute("ALTER TABLE pipedrive.deals ADD COLUMN renewal_date date, ADD COLUMN owner_name text")
    db.execute("UPDATE pipedrive.deals SET renewal_date = '2027-01-31', owner_name = 'by hand' WHERE id = 2")
    dbt.build()

    assert db.main_bi("renewal_date", "owner_name", "custom_owner_name")[2] == {
        "renewal_date": dt.date(2027, 1, 31),
        "owner_name": "Bo Old",
        "custom_owner_name": "by hand",
    }


def test_a_failing_data_test_or_model_fails_the_run_and_leaves_the_previous_main_bi(db, dbt):
    dbt.build()
    before = db.snapshot()
    db.execute("INSERT INTO pipedrive.deals (id, title, status) VALUES (6, 'Odd', 'bogus')")

    failed_test = dbt.run("build")

    assert failed_test.returncode == 1
    assert "Failure in test accepted_values_stg_pipedrive__deals_status" in failed_test.stdout
    assert "Got 1 result, configured to fail if != 0" in failed_test.stdout
    assert db.snapshot() == before

    db.execute("UPDATE pipedrive.deals SET status = 'open' WHERE id = 6")
    db.execute("ALTER TABLE pipedrive.activities ALTER COLUMN due_date TYPE text")
    db.execute("UPDATE pipedrive.activities SET due_date = 'not a date' WHERE id = 4")
    failed_model = dbt.run("build")

    assert failed_model.returncode == 1
    assert 'invalid input syntax for type date: "not a date"' in failed_model.stdout
    assert db.snapshot() == before
    leftovers = db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'pipedrive' AND tablename LIKE 'main_bi%'"
    )
    assert leftovers == [("main_bi",)]


def _load(url: str, schema_type: dict, rows: list[dict], tmp_path: Path) -> None:
    """Load ``deals`` rows through the real target, with ``deal_score`` typed as ``schema_type``."""
    messages = [
        {
            "type": "SCHEMA",
            "stream": "deals",
            "key_properties": ["id"],
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": ["string", "null"]},
                    "status": {"type": ["string", "null"]},
                    "deal_score": schema_type,
                },
            },
        },
        *({"type": "RECORD", "stream": "deals", "record": row} for row in rows),
    ]
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"database_url": url, "default_target_schema": "pipedrive"}))
    done = subprocess.run(
        [str(TARGET), "--config", str(config)],
        input="\n".join(json.dumps(m) for m in messages) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_loader_can_widen_a_column_after_the_transform_ran(bare, tmp_path):
    db, dbt = bare
    score_type = (
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'deals' "
        "AND column_name = 'deal_score'"
    )
    first = [{"id": 1, "title": "A", "status": "open", "deal_score": 3}]
    _load(db.url, {"type": ["integer", "null"]}, first, tmp_path)
    dbt.build()
    assert db.execute(score_type) == [("bigint",)]

    second = [{"id": 2, "title": "B", "status": "won", "deal_score": 2.5}]
    _load(db.url, {"type": ["number", "null"]}, second, tmp_path)
    dbt.build()

    assert db.execute(score_type) == [("numeric",)]
    assert db.main_bi("deal_score") == {1: {"deal_score": 3}, 2: {"deal_score": 2.5}}


def test_an_explicit_seed_rate_wins_and_pipedrives_rates_cross_into_another_reporting_currency(
    db, dbt, tmp_path
):
    project = tmp_path / "project"  # the project with seeds/currency_rates.csv as a user would edit it
    source = REPO / "transform"
    shutil.copytree(
        source,
        project,
        ignore=lambda folder, names: [
            name for name in names if Path(folder) == source and name in ("target", "logs", "tests")
        ],
    )
    (project / "seeds" / "currency_rates.csv").write_text(
        "currency,reporting_currency,rate\nEUR,USD,1.1\nGBP,USD,1.27\nJPY,GBP,0.005\n"
    )
    db.execute(
        "INSERT INTO pipedrive.deals (id, title, value, currency, status, stage_id, owner_id, is_deleted) "
        "VALUES (6, 'Yen', 10000, 'JPY', 'open', 100, 10, false), "
        "(7, 'Points', 500, 'PTS', 'open', 100, 10, false), "
        "(8, 'Nothing yet', 0, 'XXX', 'open', 100, 10, false)"
    )
    db.execute(
        "INSERT INTO pipedrive.deal_currency_rates (currency, target_currency, rate, value_total, "
        "value_converted_total, read_at) VALUES ('JPY', 'EUR', 0.0061, 10000, 61, '2026-04-02T06:00:00Z'), "
        "('XXX', 'EUR', NULL, 0, 0, '2026-04-02T06:00:00Z')"
    )
    db.execute("UPDATE pipedrive.deals SET meeting_time = 'after lunch' WHERE id = 2")

    done = dbt.build(env={"DBT_PROJECT_DIR": str(project), "PIPEBOARD_REPORTING_CURRENCY": "USD"})

    rows = db.main_bi("reporting_currency", "reporting_rate_source", "value_reporting", "meeting_time")
    assert {row["reporting_currency"] for row in rows.values()} == {"USD"}
    assert rows[1]["reporting_rate_source"] == "seed"  # your 1.1 over Pipedrive's 1 / 0.92
    assert rows[1]["value_reporting"] == Decimal("1100.55")
    assert (rows[2]["reporting_rate_source"], rows[2]["value_reporting"]) == ("same_currency", Decimal("20"))
    assert (rows[5]["reporting_rate_source"], rows[5]["value_reporting"]) == ("seed", Decimal("127.00"))
    # JPY into USD through EUR, the currency Pipedrive converted both into: 0.0061 / 0.92
    assert rows[6]["reporting_rate_source"] == "pipedrive"
    assert float(rows[6]["value_reporting"]) == pytest.approx(10000 * 0.0061 / 0.92, rel=1e-12)
    # a custom currency Pipedrive does not convert, and one whose deals are all worth 0: no rate
    assert rows[7] == {**rows[7], "reporting_rate_source": None, "value_reporting": None}
    assert rows[8] == {**rows[8], "reporting_rate_source": None, "value_reporting": None}
    # a time value that is not one: NULL in main_bi, and a warning naming the test (the build succeeds)
    assert rows[2]["meeting_time"] is None
    assert rows[1]["meeting_time"] == dt.time(9, 30)
    assert "Warning in test deal_temporal_values_parse" in done.stdout
    assert db.execute("SELECT meeting_time FROM pipedrive.deals WHERE id = 2") == [("after lunch",)]
