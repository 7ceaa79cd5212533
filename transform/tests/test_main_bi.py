"""The main_bi model's values over hand-loaded source tables: one row per deal and its enrichment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def test_main_bi_has_one_row_per_deal_including_deleted_and_archived(db, runner):
    result = runner.run()

    assert result.row_counts == {"main_bi": 4}
    assert db.execute("SELECT id FROM pipedrive.main_bi ORDER BY id") == [(1,), (2,), (3,), (4,)]
    constraint = db.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'pipedrive.main_bi'::regclass AND contype = 'p'"
    )
    assert constraint == [("main_bi_pkey",)]


def test_main_bi_keeps_every_deal_column_but_the_loader_metadata(db, runner):
    runner.run()

    columns = db.columns("main_bi")
    deal_columns = [c for c in db.columns("deals") if not c.startswith("_sdc_")]
    assert columns[: len(deal_columns)] == deal_columns
    assert "_sdc_extracted_at" not in columns
    assert db.main_bi("budget_tier")[1] == {"budget_tier": "gold"}


def test_main_bi_names_stage_pipeline_and_owner(db, runner):
    runner.run()

    rows = db.main_bi("stage_name", "stage_order_nr", "pipeline_name", "owner_name", "owner_email")
    assert rows[1] == {
        "stage_name": "Proposal",
        "stage_order_nr": 2,
        "pipeline_name": "Sales",
        "owner_name": "Anna Smith",
        "owner_email": "anna@example.com",
    }
    assert rows[2]["owner_name"] == "Bo Old"  # a deleted user still names the deals they owned
    assert rows[3]["pipeline_name"] == "Renewals"
    assert rows[4] == dict.fromkeys(rows[4], None)  # dangling references read as NULL, the deal stays


def test_main_bi_takes_person_primary_contacts_from_the_arrays_when_not_loaded(db, runner):
    runner.run()

    rows = db.main_bi("person_name", "person_primary_email", "person_primary_phone")
    assert rows[1] == {
        "person_name": "Ines",
        "person_primary_email": "ines@acme.example",
        "person_primary_phone": "+372 5000",
    }
    assert rows[2] == {
        "person_name": "Juan",
        "person_primary_email": "juan@loaded.example",
        "person_primary_phone": "+34 600",
    }


def test_main_bi_carries_the_organization_and_its_address(db, runner):
    runner.run()

    rows = db.main_bi("org_name", "org_address", "org_address_locality", "org_address_country")
    assert rows[1] == {
        "org_name": "Acme Ltd",
        "org_address": "Main St 1, Tallinn, Estonia",
        "org_address_locality": "Tallinn",
        "org_address_country": "Estonia",
    }
    assert rows[2]["org_name"] is None


def test_activity_aggregates_ignore_deleted_activities_and_pick_the_earliest_open_one(db, runner):
    runner.run()

    columns = (
        "activities_total",
        "activities_done",
        "activities_open",
        "last_activity_done_at",
        "next_activity_date",
        "next_activity_type",
        "next_activity_subject",
    )
    rows = db.main_bi(*columns)
    assert rows[1] == {
        "activities_total": 2,
        "activities_done": 2,
        "activities_open": 0,
        "last_activity_done_at": dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC),
        "next_activity_date": None,
        "next_activity_type": None,
        "next_activity_subject": None,
    }
    assert rows[2] == {
        "activities_total": 3,
        "activities_done": 1,
        "activities_open": 2,
        "last_activity_done_at": dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC),
        "next_activity_date": dt.date(2026, 4, 9),
        "next_activity_type": "lunch",  # no activity type row: the type key stands in for its name
        "next_activity_subject": "Sooner lunch",
    }
    assert rows[3]["activities_total"] == 0


def test_product_totals_sum_the_deal_product_lines(db, runner):
    runner.run()

    rows = db.main_bi("products_count", "products_quantity", "products_total_value", "product_names")
    assert rows[1] == {
        "products_count": 2,
        "products_quantity": 3.0,
        "products_total_value": Decimal("500.5"),
        "product_names": "Hosting, Support",
    }
    assert rows[2]["products_total_value"] == Decimal("20")
    assert rows[3] == {
        "products_count": 0,
        "products_quantity": 0,
        "products_total_value": 0,
        "product_names": None,
    }


def test_flags_age_and_days_to_close(db, runner):
    runner.run()
    today = db.execute("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0]

    rows = db.main_bi("is_won", "is_lost", "is_open", "is_deleted", "age_days", "days_to_close")
    assert rows[1] == {
        "is_won": True,
        "is_lost": False,
        "is_open": False,
        "is_deleted": False,
        "age_days": (today - dt.date(2026, 1, 1)).days,
        "days_to_close": 10,
    }
    assert (rows[2]["is_open"], rows[2]["days_to_close"]) == (True, None)
    assert (rows[3]["is_open"], rows[3]["is_deleted"]) == (False, True)
    assert (rows[4]["is_lost"], rows[4]["days_to_close"]) == (True, 3)  # dates in UTC: Feb 1 23:00 → Feb 4
