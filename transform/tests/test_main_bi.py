"""main_bi's values, built once by dbt over hand-loaded source tables: one row per deal and its enrichment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

pytestmark = pytest.mark.slow  # each test builds with dbt

UTC = dt.UTC


@pytest.fixture(scope="module")
def db(built):
    return built[0]


def test_one_row_per_deal_deleted_archived_and_purged_ones_included_with_a_primary_key(db):
    assert db.execute("SELECT id FROM pipedrive.main_bi ORDER BY id") == [(1,), (2,), (3,), (4,), (5,)]
    constraint = db.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'pipedrive.main_bi'::regclass AND contype = 'p'"
    )
    assert constraint == [("main_bi_pkey",)]


def test_every_deal_column_passes_through_but_the_loader_metadata(db):
    columns = db.columns("main_bi")
    deal_columns = {c for c in db.columns("deals") if not c.startswith("_sdc_")}

    assert deal_columns <= set(columns)
    assert not [c for c in columns if c.startswith("_sdc_")]
    assert db.main_bi("budget_tier")[1] == {"budget_tier": "gold"}


def test_deleted_means_pipedrive_says_so_or_the_loader_marked_it(db):
    rows = db.main_bi("is_deleted", "is_open", "is_active")
    assert rows[3] == {"is_deleted": True, "is_open": False, "is_active": False}
    assert rows[5] == {"is_deleted": True, "is_open": False, "is_active": False}  # _sdc_deleted_at set
    assert rows[4] == {"is_deleted": False, "is_open": False, "is_active": False}  # archived
    assert rows[2] == {"is_deleted": False, "is_open": True, "is_active": True}


def test_names_next_to_every_user_person_and_organization_reference_custom_fields_included(db):
    rows = db.main_bi(
        "stage_name", "pipeline_name", "owner_name", "owner_email", "creator_name",
        "technical_contact_name", "partner_organization_name",
    )  # fmt: skip
    assert rows[1] == {
        "stage_name": "Proposal",
        "pipeline_name": "Sales",
        "owner_name": "Anna Smith",
        "owner_email": "anna@example.com",
        "creator_name": "Anna Smith",
        "technical_contact_name": "Bo Old",  # a deleted user still names what points at them
        "partner_organization_name": "Acme Ltd",
    }
    assert rows[2]["owner_name"] == "Bo Old"
    assert rows[3]["pipeline_name"] == "Renewals"
    assert (rows[4]["stage_name"], rows[4]["pipeline_name"]) == (None, None)  # dangling: NULL, the deal stays


def test_person_primary_contacts_come_from_the_arrays_when_not_loaded_as_such(db):
    rows = db.main_bi(
        "person_name", "person_primary_email", "person_primary_phone", "org_name", "org_address"
    )  # fmt: skip
    assert rows[1] == {
        "person_name": "Ines",
        "person_primary_email": "ines@acme.example",
        "person_primary_phone": "+372 5000",
        "org_name": "Acme Ltd",
        "org_address": "Main St 1, Tallinn, Estonia",
    }
    assert rows[2]["person_primary_email"] == "juan@loaded.example"
    assert rows[2]["org_name"] is None


def test_label_names_follow_label_ids(db):
    rows = db.main_bi("label_names")
    assert rows[1] == {"label_names": "Warm, Hot"}
    assert rows[4] == {"label_names": "Cold, 9"}  # an option the metadata does not know shows its id
    assert rows[2] == {"label_names": None}


def test_weighted_value_uses_the_deal_probability_else_the_stage_and_converts_when_a_rate_is_known(db):
    rows = db.main_bi(
        "weighted_value", "reporting_currency", "reporting_rate_source", "value_reporting",
        "weighted_value_reporting",
    )  # fmt: skip
    assert rows[1] == {
        "weighted_value": Decimal("600.300"),  # 1000.5 x the stage's 60 %
        "reporting_currency": "EUR",  # the default currency of the user whose token loaded the data
        "reporting_rate_source": "same_currency",
        "value_reporting": Decimal("1000.5"),
        "weighted_value_reporting": Decimal("600.300"),
    }
    assert rows[4]["weighted_value"] == Decimal("2.10")  # 7 x the deal's own 30 %
    # USD: no row in the seed, so the rate Pipedrive's deals summary converts USD into EUR with
    assert rows[2] == {
        "weighted_value": Decimal("4.00"),
        "reporting_currency": "EUR",
        "reporting_rate_source": "pipedrive",
        "value_reporting": Decimal("18.40"),
        "weighted_value_reporting": Decimal("3.6800"),
    }
    # GBP left the summary (its only deal is gone, the loader marked the row deleted): its last rate stands
    assert rows[5]["reporting_rate_source"] == "pipedrive"
    assert (rows[5]["value_reporting"], rows[5]["weighted_value_reporting"]) == (
        Decimal("117.00"),
        Decimal("29.2500"),
    )


def test_activity_facts_ignore_deleted_activities_and_next_activity_is_for_open_deals_only(db):
    columns = (
        "activities_total", "activities_done", "activities_open", "last_activity_done_at",
        "next_activity_date", "next_activity_due_time", "next_activity_due_at", "next_activity_type",
        "next_activity_subject", "is_overdue",
    )  # fmt: skip
    rows = db.main_bi(*columns)
    assert rows[1] == {
        "activities_total": 2,
        "activities_done": 2,
        "activities_open": 0,
        "last_activity_done_at": dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
        "next_activity_date": None,
        "next_activity_due_time": None,
        "next_activity_due_at": None,
        "next_activity_type": None,
        "next_activity_subject": None,
        "is_overdue": False,
    }
    now = db.execute("SELECT now()")[0][0]
    due = dt.datetime(2026, 4, 9, 12, 30, tzinfo=UTC)
    assert rows[2] == {
        "activities_total": 3,
        "activities_done": 1,
        "activities_open": 2,
        "last_activity_done_at": dt.datetime(2026, 3, 3, 8, 0, tzinfo=UTC),
        "next_activity_date": dt.date(2026, 4, 9),
        "next_activity_due_time": dt.time(12, 30),
        "next_activity_due_at": due,
        "next_activity_type": "lunch",  # no activity type row: the type key stands in for its name
        "next_activity_subject": "Sooner lunch",
        "is_overdue": due < now,
    }
    assert rows[4]["activities_open"] == 1  # a lost deal keeps its counts…
    # …but has no next activity
    assert (rows[4]["next_activity_date"], rows[4]["is_overdue"]) == (None, False)


def test_notes_and_products_are_counted_per_deal(db):
    rows = db.main_bi(
        "notes_count", "emails_count", "products_count", "products_total_value", "product_names"
    )  # fmt: skip
    assert rows[1] == {
        "notes_count": 2,  # the inactive (deleted) note is not counted; the loaded notes beat Pipedrive's 9
        "emails_count": 4,  # Pipedrive's email_messages_count
        "products_count": 2,  # the loaded lines beat Pipedrive's 6
        "products_total_value": Decimal("500.5"),
        "product_names": "Hosting, Support",
    }
    assert (rows[3]["notes_count"], rows[3]["products_count"], rows[3]["products_total_value"]) == (0, 0, 0)
    assert (rows[2]["emails_count"], rows[3]["emails_count"]) == (0, None)
    assert db.columns("main_bi").count("notes_count") == 1  # the deal's own count is not passed through twice


def test_custom_time_fields_are_times_and_ranges_have_a_typed_start_and_until(db):
    types = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'pipedrive' "
            "AND table_name = 'main_bi' AND column_name IN ('meeting_time', 'office_hours', "
            "'office_hours_until', 'contract_period', 'contract_period_until', 'budget_tier')"
        )
    )
    assert types == {
        "meeting_time": "time without time zone",
        "office_hours": "time without time zone",
        "office_hours_until": "time without time zone",
        "contract_period": "date",
        "contract_period_until": "date",
        "budget_tier": "text",  # every other custom field passes through as loaded
    }
    rows = db.main_bi("meeting_time", "office_hours", "office_hours_until", "contract_period_until")
    assert rows[1] == {
        "meeting_time": dt.time(9, 30),
        "office_hours": dt.time(8, 0),
        "office_hours_until": dt.time(17, 30),  # loaded as ' 17:30 '
        "contract_period_until": dt.date(2026, 12, 31),
    }
    assert rows[2]["office_hours"] is None  # loaded as an empty string


def test_rotting_flags_open_deals_idle_longer_than_their_stage_allows(db):
    rows = db.main_bi("is_rotting")
    now = db.execute("SELECT now()")[0][0]
    # deal 2: open in Qualified (rots after 10 days), last progress the done call of 2026-03-03 08:00
    assert rows[2] == {"is_rotting": dt.datetime(2026, 3, 3, 8, 0, tzinfo=UTC) < now - dt.timedelta(days=10)}
    assert rows[1] == {"is_rotting": False}  # won
    assert rows[5] == {"is_rotting": False}  # deleted


def test_flags_age_days_to_close_and_loaded_at(db):
    today = db.execute("SELECT (now() AT TIME ZONE 'UTC')::date")[0][0]
    rows = db.main_bi("is_won", "is_lost", "age_days", "days_to_close", "loaded_at")
    assert rows[1] == {
        "is_won": True,
        "is_lost": False,
        "age_days": (today - dt.date(2026, 1, 1)).days,
        "days_to_close": 10,
        "loaded_at": db.execute("SELECT _sdc_batched_at FROM pipedrive.deals WHERE id = 1")[0][0],
    }
    assert (rows[4]["is_lost"], rows[4]["days_to_close"]) == (True, 3)  # dates in UTC: Feb 1 23:00 → Feb 4
    assert rows[2]["days_to_close"] is None


def test_main_bi_active_leaves_out_deleted_and_archived_deals(db):
    assert db.execute("SELECT id FROM pipedrive.main_bi_active ORDER BY id") == [(1,), (2,)]
    assert db.columns("main_bi_active") == db.columns("main_bi")


@pytest.mark.parametrize("relation", ["main_bi", "main_bi_active"])
def test_every_column_and_the_relation_carry_a_description(db, relation):
    undescribed = db.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "AND coalesce(col_description(attrelid, attnum), '') = ''",
        (f"pipedrive.{relation}",),
    )
    assert undescribed == []
    described_relation = "SELECT obj_description(%s::regclass, 'pg_class') <> ''"
    assert db.execute(described_relation, (f"pipedrive.{relation}",)) == [(True,)]
    described = dict(
        db.execute(
            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0",
            (f"pipedrive.{relation}",),
        )
    )
    assert described["owner_id"] == "Id of the user who owns the deal."
    assert described["budget_tier"] == 'Pipedrive custom field "Budget tier" (varchar).'
    assert described["technical_contact_name"].endswith('the Pipedrive custom field "Technical contact".')
    assert described["meeting_time"] == 'Pipedrive custom field "Meeting time" (time).'
    assert described["office_hours_until"] == 'End of the range of the Pipedrive custom field "Office hours".'
    assert described["activities_count"].startswith("Activities of the deal, as Pipedrive counted them")
