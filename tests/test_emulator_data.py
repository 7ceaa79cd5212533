"""Tests of the emulator's data layer: generation, field metadata, spec conformance, clock and mutations."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pipeboard_testkit.openapi import inline_refs, load_spec
from pipedrive_emulator import extra_records, org_data
from pipedrive_emulator.clock import Clock
from pipedrive_emulator.data import (
    NULLABLE_IN_PRACTICE,
    V1_ENTITIES,
    V1_TIMESTAMPS_DESPITE_DATE_TIME,
    V2_ENTITIES,
    Dataset,
    apply_spec_gaps,
    generate,
    timestamp_for,
)
from pipedrive_emulator.generators.custom_fields import USER_CREATABLE_TYPES
from pipedrive_emulator.mutations import ADVANCE_SECONDS, mutate

V2_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
V1_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ISO_MS_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME = re.compile(r"^\d{2}:\d{2}:\d{2}$")
HASH = re.compile(r"^[0-9a-f]{40}$")
FIELD_ENTITY = {
    "deal": "deals",
    "person": "persons",
    "organization": "organizations",
    "product": "products",
    "activity": "activities",
}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(3_000, seed=7)


def parse(ts: str) -> datetime:
    if ts.endswith("Z"):
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).replace(microsecond=0)
    return datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --- determinism and scale -------------------------------------------------------------------------------


def test_same_seed_gives_identical_dataset_and_other_seed_differs():
    a, b, c = generate(300, seed=11), generate(300, seed=11), generate(300, seed=12)
    assert a.records == b.records
    assert a.fields == b.fields
    assert a.company == b.company
    assert a.clock.now() == b.clock.now()
    assert a.records["deals"] != c.records["deals"]


DIGEST_SCRIPT = """
import hashlib, json
from pipedrive_emulator.data import generate
from pipedrive_emulator.mutations import mutate
ds = generate(300, seed=21)
result = mutate(ds, updates=25, deletes=4, add_field="deal", rename_field="person", add_option="deal")
blob = json.dumps([ds.records, ds.fields, ds.company, result], sort_keys=True, default=str)
print(hashlib.sha256(blob.encode()).hexdigest())
"""


def test_generation_and_mutation_do_not_depend_on_string_hash_randomisation():
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", DIGEST_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for hash_seed in (1, 2)
    ]
    digests = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert len(digests[0]) == 64
    assert digests[0] == digests[1]


def test_entity_counts_scale_with_the_deals_knob(ds):
    counts = {entity: len(rows) for entity, rows in ds.records.items()}
    added = set(extra_records.ENTITIES) | set(org_data.ENTITIES)
    assert set(counts) == set(V2_ENTITIES) | set(V1_ENTITIES) | added
    assert counts["deals"] == 3_000
    assert counts["users"] == 7
    assert counts["organizations"] == 750
    assert counts["persons"] == 1_500
    assert counts["activities"] == 9_000
    assert counts["products"] == 60
    assert counts["deal_products"] == 4_500
    assert counts["leads"] == 600
    assert counts["notes"] == 3_000
    assert counts["activity_types"] == 8
    assert counts["lead_labels"] == 6
    assert counts["currencies"] == 8
    assert (counts["call_logs"], counts["mail_threads"], counts["files"]) == (600, 300, 600)
    assert 2 <= counts["pipelines"] <= 3
    per_pipeline = Counter(s["pipeline_id"] for s in ds.records["stages"].values() if not s["is_deleted"])
    assert all(4 <= n <= 6 for n in per_pipeline.values())
    archived_leads = sum(lead["is_archived"] for lead in ds.records["leads"].values())
    assert 0.05 < archived_leads / counts["leads"] < 0.15


def test_tiny_dataset_is_still_consistent():
    small = generate(1, seed=3)
    assert len(small.records["users"]) == 3
    assert len(small.records["deals"]) == 1
    check_references(small)


def test_deal_statuses_include_deleted_and_archived(ds):
    deals = list(ds.records["deals"].values())
    statuses = Counter(d["status"] for d in deals)
    assert {"open", "won", "lost", "deleted"} <= set(statuses)
    now = ds.clock.now()
    for deal in deals:
        assert deal["is_deleted"] == (deal["status"] == "deleted")
        if deal["is_deleted"]:
            assert now - timedelta(days=30) <= parse(deal["update_time"]) <= now
        if deal["is_archived"]:
            assert deal["status"] in ("won", "lost")
            assert parse(deal["add_time"]) <= parse(deal["archive_time"]) <= parse(deal["update_time"])
        else:
            assert deal["archive_time"] is None
        assert (deal["won_time"] is not None) == (deal["status"] == "won")
        assert (deal["lost_time"] is not None) == (deal["status"] == "lost")
    assert sum(d["is_archived"] for d in deals) > 50
    assert statuses["deleted"] > 30


# --- referential integrity ------------------------------------------------------------------------------


def check_references(data: Dataset) -> None:
    rec = data.records
    users, orgs, persons = rec["users"], rec["organizations"], rec["persons"]
    stages, deals, leads = rec["stages"], rec["deals"], rec["leads"]
    type_keys = {t["key_string"] for t in rec["activity_types"].values()}
    currencies = {c["code"] for c in rec["currencies"].values()}
    label_ids = set(rec["lead_labels"])

    def ok(value: Any, table: dict) -> bool:
        return value is None or value in table

    for deal in deals.values():
        assert deal["owner_id"] in users
        assert deal["creator_user_id"] in users
        assert ok(deal["person_id"], persons)
        assert ok(deal["org_id"], orgs)
        stage = stages[deal["stage_id"]]
        assert not stage["is_deleted"]
        assert stage["pipeline_id"] == deal["pipeline_id"]
        assert deal["pipeline_id"] in rec["pipelines"]
        assert deal["currency"] in currencies
        assert ok(deal["source_lead_id"], leads)
    for person in persons.values():
        assert person["owner_id"] in users
        assert ok(person["org_id"], orgs)
    for org in orgs.values():
        assert org["owner_id"] in users
    for act in rec["activities"].values():
        assert act["type"] in type_keys
        assert act["owner_id"] in users
        assert ok(act["deal_id"], deals)
        assert ok(act["lead_id"], leads)
        assert ok(act["person_id"], persons)
        assert ok(act["org_id"], orgs)
        assert all(p["person_id"] in persons for p in act["participants"])
    for line in rec["deal_products"].values():
        assert line["deal_id"] in deals
        assert line["product_id"] in rec["products"]
        assert line["currency"] == deals[line["deal_id"]]["currency"]
    for lead in leads.values():
        assert lead["owner_id"] in users
        assert lead["creator_id"] in users
        assert ok(lead["person_id"], persons)
        assert ok(lead["organization_id"], orgs)
        assert set(lead["label_ids"]) <= label_ids
        assert ok(lead["next_activity_id"], rec["activities"])
    for note in rec["notes"].values():
        assert note["user_id"] in users
        assert ok(note["deal_id"], deals)
        assert ok(note["lead_id"], leads)
        assert ok(note["person_id"], persons)
        assert ok(note["org_id"], orgs)
        assert any(note[k] is not None for k in ("deal_id", "lead_id", "person_id", "org_id"))
    assert data.company["me_user_id"] in users
    assert users[data.company["me_user_id"]]["is_you"]


def test_references_point_at_existing_records(ds):
    check_references(ds)


def builtin_options(data: Dataset, entity: str, code: str) -> set:
    item = next(f for f in data.fields[entity] if f["field_code"] == code)
    return {o["id"] for o in item["options"]}


def test_builtin_option_values_exist_in_the_field_metadata(ds):
    rec = ds.records
    deal_labels, channels = builtin_options(ds, "deal", "label_ids"), builtin_options(ds, "deal", "channel")
    assert all(set(d["label_ids"]) <= deal_labels for d in rec["deals"].values())
    assert {d["channel"] for d in rec["deals"].values()} - {None} <= channels
    industries = builtin_options(ds, "organization", "industry")
    assert {o["industry"] for o in rec["organizations"].values()} - {None} <= industries
    priorities = builtin_options(ds, "activity", "priority")
    assert {a["priority"] for a in rec["activities"].values()} - {None} <= priorities
    statuses = builtin_options(ds, "deal", "status")
    assert {d["status"] for d in rec["deals"].values()} == statuses


def test_activities_use_the_deal_contacts_and_persons_org_links(ds):
    deals, persons = ds.records["deals"], ds.records["persons"]
    on_deals = [a for a in ds.records["activities"].values() if a["deal_id"] is not None]
    assert len(on_deals) > 5_000
    for act in on_deals:
        assert act["person_id"] == deals[act["deal_id"]]["person_id"]
    linked = [d for d in deals.values() if d["person_id"] is not None]
    same_org = sum(d["org_id"] == persons[d["person_id"]]["org_id"] for d in linked)
    assert same_org / len(linked) > 0.7


# --- field metadata and custom-field values ---------------------------------------------------------------


def test_deal_custom_fields_cover_every_user_creatable_type_with_awkward_names(ds):
    custom = [f for f in ds.fields["deal"] if f["is_custom_field"]]
    assert set(USER_CREATABLE_TYPES) <= {f["field_type"] for f in custom}
    assert all(HASH.match(f["field_code"]) for f in custom)
    slugs = Counter(slug(f["field_name"]) for f in custom)
    assert slugs["deal_score"] == 2
    assert any(len(f["field_name"].encode()) > 63 for f in custom)
    assert any(not f["field_name"].isascii() for f in custom)
    builtin = {f["field_code"] for f in ds.fields["deal"] if not f["is_custom_field"]}
    assert {"title", "value", "status", "stage_id", "owner_id"} <= builtin


@pytest.mark.parametrize("entity", ["person", "organization", "product", "activity"])
def test_other_entities_have_a_subset_of_custom_fields(ds, entity):
    custom = [f for f in ds.fields[entity] if f["is_custom_field"]]
    assert len(custom) >= 5
    assert {"enum", "varchar"} & {f["field_type"] for f in custom}
    codes = [f["field_code"] for f in ds.fields[entity]]
    assert len(codes) == len(set(codes))


def check_v2_value(ftype: str, value: Any, field: dict, data: Dataset) -> None:
    option_ids = {o["id"] for o in field["options"] or []}
    if ftype in ("varchar", "varchar_auto", "text", "phone"):
        assert isinstance(value, str)
    elif ftype == "double":
        assert isinstance(value, int | float)
        assert not isinstance(value, bool)
    elif ftype == "monetary":
        assert set(value) == {"value", "currency"}
        assert isinstance(value["value"], int | float)
    elif ftype == "enum":
        assert isinstance(value, int)
        assert value in option_ids
    elif ftype == "set":
        assert isinstance(value, list)
        assert value
        assert set(value) <= option_ids
    elif ftype in ("user", "org", "people"):
        table = {"user": "users", "org": "organizations", "people": "persons"}[ftype]
        assert isinstance(value, int)
        assert value in data.records[table]
    elif ftype == "date":
        assert DATE.match(value)
    elif ftype == "daterange":
        assert set(value) == {"value", "until"}
        assert DATE.match(value["value"])
        assert DATE.match(value["until"])
        assert value["value"] <= value["until"]
    elif ftype == "time":
        assert set(value) == {"value", "timezone_id", "timezone_name"}
        assert TIME.match(value["value"])
    elif ftype == "timerange":
        assert set(value) == {"value", "until", "timezone_id", "timezone_name"}
        assert TIME.match(value["value"])
        assert TIME.match(value["until"])
    elif ftype == "address":
        assert isinstance(value["value"], str)
        assert "formatted_address" in value
        assert "locality" in value
    else:
        pytest.fail(f"unexpected custom field type {ftype}")


@pytest.mark.parametrize("entity", sorted(FIELD_ENTITY))
def test_custom_field_values_have_pipedrive_v2_shapes_with_nulls_mixed_in(ds, entity):
    custom = [f for f in ds.fields[entity] if f["is_custom_field"]]
    records = list(ds.records[FIELD_ENTITY[entity]].values())
    for field in custom:
        values = [r["custom_fields"][field["field_code"]] for r in records]
        present = [v for v in values if v is not None]
        assert present, field["field_name"]
        assert len(present) < len(values), field["field_name"]
        for value in present:
            check_v2_value(field["field_type"], value, field, ds)
    assert all(set(r["custom_fields"]) == {f["field_code"] for f in custom} for r in records)


def test_leads_carry_deal_custom_fields_flat_and_omit_unset_ones(ds):
    custom = {f["field_code"]: f for f in ds.fields["deal"] if f["is_custom_field"]}
    lead_keys = {f["key"] for f in ds.fields["lead"]}
    assert set(custom) <= lead_keys
    seen_types = set()
    for lead in ds.records["leads"].values():
        for code, field in custom.items():
            if code not in lead:
                assert not any(k.startswith(f"{code}_") for k in lead)
                continue
            seen_types.add(field["field_type"])
            value = lead[code]
            ftype = field["field_type"]
            if ftype == "monetary":
                assert isinstance(value, int | float)
                assert isinstance(lead[f"{code}_currency"], str)
            elif ftype == "enum":
                assert value in {str(o["id"]) for o in field["options"]}
            elif ftype == "set":
                assert set(value.split(",")) <= {str(o["id"]) for o in field["options"]}
            elif ftype in ("daterange", "timerange"):
                assert isinstance(value, str)
                assert isinstance(lead[f"{code}_until"], str)
            elif ftype == "address":
                assert isinstance(value, str)
                assert f"{code}_locality" in lead
            assert not isinstance(value, dict | list)
    assert seen_types == set(f["field_type"] for f in custom.values())


def test_persons_have_several_none_or_one_email_with_a_single_primary(ds):
    counts = Counter()
    for person in ds.records["persons"].values():
        for key in ("emails", "phones"):
            items = person[key]
            counts[(key, min(len(items), 2))] += 1
            if items:
                assert sum(i["primary"] for i in items) == 1
                assert all(set(i) == {"value", "primary", "label"} for i in items)
    for key in ("emails", "phones"):
        assert counts[(key, 0)]
        assert counts[(key, 1)]
        assert counts[(key, 2)]


# --- timestamps -----------------------------------------------------------------------------------------


TS_FORMATS = {entity: V2_TS for entity in V2_ENTITIES} | {
    "users": V1_TS,
    "activity_types": V1_TS,
    "notes": V1_TS,
    "leads": ISO_MS_TS,
    "lead_labels": ISO_MS_TS,
    "files": V1_TS,
    "filters": V1_TS,
}


@pytest.mark.parametrize("entity", sorted(TS_FORMATS))
def test_timestamps_use_the_entity_format_and_never_run_ahead(ds, entity):
    now = ds.clock.now()
    add_key, upd_key = ("created", "modified") if entity == "users" else ("add_time", "update_time")
    for record in ds.records[entity].values():
        added, updated = record[add_key], record[upd_key]
        assert TS_FORMATS[entity].match(added), added
        if updated is None:
            continue
        assert TS_FORMATS[entity].match(updated), updated
        assert parse(added) <= now
        assert parse(updated) <= now
        if entity != "users":
            assert parse(added) <= parse(updated)


def test_many_records_share_one_update_time_second(ds):
    for entity in ("deals", "activities"):
        groups = Counter(r["update_time"] for r in ds.records[entity].values())
        _, biggest = groups.most_common(1)[0]
        if entity == "activities":
            assert biggest > 500
        assert biggest > 200


def test_timestamp_for_uses_each_api_format():
    moment = datetime(2026, 10, 3, 12, 0, 5, 987_000, tzinfo=UTC)
    assert timestamp_for("deals", moment) == "2026-10-03T12:00:05Z"
    assert timestamp_for("notes", moment) == "2026-10-03 12:00:05"
    assert ISO_MS_TS.match(timestamp_for("leads", moment))
    assert timestamp_for("leads", moment).startswith("2026-10-03T12:00:05.")
    assert timestamp_for("users", datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05"


def test_clock_starts_from_the_seed_and_moves_only_forward():
    clock = Clock.for_seed(7)
    start = clock.now()
    assert start.tzinfo is not None
    assert start == Clock.for_seed(7).now()
    assert clock.now() == start
    assert clock.advance(90) == start + timedelta(seconds=90)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


# --- conformance with the official OpenAPI response schemas -----------------------------------------------


def find_data(schema: dict) -> dict:
    if "data" in schema.get("properties", {}):
        return schema["properties"]["data"]
    for part in schema.get("allOf", []):
        try:
            return find_data(part)
        except KeyError:
            continue
    raise KeyError("data")


def item_schema(version: str, path: str, entity: str) -> dict:
    spec = load_spec(version)
    response = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    data = find_data(inline_refs(spec, response))
    return apply_spec_gaps(entity, data.get("items", data))


def test_every_documented_spec_gap_is_needed(ds):
    """Each property NULLABLE_IN_PRACTICE relaxes is null in some record and not nullable in the spec."""
    paths = {"deals": "/deals", "persons": "/persons", "organizations": "/organizations"}
    paths |= {"activities": "/activities"}
    for entity, props in NULLABLE_IN_PRACTICE.items():
        for prop in props:
            assert any(r[prop] is None for r in ds.records[entity].values()), (entity, prop)
        version, path = ("v1", f"/{entity}") if entity in ("notes", "files") else ("v2", paths[entity])
        spec = load_spec(version)
        response = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        strict = find_data(inline_refs(spec, response))["items"]["properties"]
        assert not any(strict[prop].get("nullable") for prop in props), entity
    for entity, props in V1_TIMESTAMPS_DESPITE_DATE_TIME.items():
        assert props == {"add_time", "update_time"}, entity
    assert V1_TS.match(ds.records["activity_types"][1]["add_time"])


SPEC_ITEMS = [
    ("v2", "/deals", "deals", lambda r: not r["is_archived"]),
    ("v2", "/deals/archived", "deals", lambda r: r["is_archived"]),
    ("v2", "/persons", "persons", None),
    ("v2", "/organizations", "organizations", None),
    ("v2", "/activities", "activities", None),
    ("v2", "/products", "products", None),
    ("v2", "/pipelines", "pipelines", None),
    ("v2", "/stages", "stages", None),
    ("v2", "/deals/products", "deal_products", None),
    ("v1", "/users", "users", None),
    ("v1", "/activityTypes", "activity_types", None),
    ("v1", "/leads", "leads", lambda r: not r["is_archived"]),
    ("v1", "/leads/archived", "leads", lambda r: r["is_archived"]),
    ("v1", "/leadLabels", "lead_labels", None),
    ("v1", "/notes", "notes", None),
    ("v1", "/currencies", "currencies", None),
]


@pytest.mark.parametrize(
    ("version", "path", "entity", "keep"), SPEC_ITEMS, ids=[p for _, p, _, _ in SPEC_ITEMS]
)
def test_records_validate_against_the_spec_list_item_schema(ds, version, path, entity, keep):
    validator = OAS30Validator(item_schema(version, path, entity), format_checker=oas30_format_checker)
    records = [r for r in ds.records[entity].values() if keep is None or keep(r)]
    assert records
    for record in records[:: max(1, len(records) // 400)]:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, (record["id"], errors[:5])


FIELD_PATHS = [
    ("v2", "/dealFields", "deal"),
    ("v2", "/personFields", "person"),
    ("v2", "/organizationFields", "organization"),
    ("v2", "/productFields", "product"),
    ("v2", "/activityFields", "activity"),
    ("v1", "/leadFields", "lead"),
    ("v1", "/noteFields", "note"),
]


@pytest.mark.parametrize(("version", "path", "entity"), FIELD_PATHS, ids=[p for _, p, _ in FIELD_PATHS])
def test_field_metadata_validates_against_the_spec(ds, version, path, entity):
    gaps_key = "lead_fields" if entity == "lead" else f"{entity}_fields"
    validator = OAS30Validator(item_schema(version, path, gaps_key), format_checker=oas30_format_checker)
    for item in ds.fields[entity]:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(item)]
        assert not errors, (item.get("field_code", item.get("key")), errors[:5])


def test_me_user_with_company_validates_against_the_users_me_schema(ds):
    me = ds.records["users"][ds.company["me_user_id"]] | {
        k: v for k, v in ds.company.items() if k != "me_user_id"
    }
    validator = OAS30Validator(item_schema("v1", "/users/me", "users"), format_checker=oas30_format_checker)
    assert not [e.message for e in validator.iter_errors(me)]


# --- mutations -------------------------------------------------------------------------------------------


def test_mutate_updates_and_deletes_exactly_the_reported_records():
    data = generate(400, seed=5)
    before = copy.deepcopy(data.records)
    start = data.clock.now()
    result = mutate(data, updates=37, deletes=5)
    now = data.clock.now()
    assert now == start + timedelta(seconds=ADVANCE_SECONDS)
    stamp = timestamp_for("deals", now)
    assert result["now"] == stamp
    assert sum(len(ids) for ids in result["updated"].values()) == 37
    assert len(result["deleted"]["deals"]) == 5
    assert result["updated"]["deals"]
    assert not set(result["updated"].get("deals", [])) & set(result["deleted"]["deals"])
    for entity in V2_ENTITIES + V1_ENTITIES:
        changed = {rid for rid, rec in data.records[entity].items() if rec != before[entity][rid]}
        expected = set(result["updated"].get(entity, [])) | set(result["deleted"].get(entity, []))
        assert changed == expected, entity
        for rid in changed:
            assert data.records[entity][rid]["update_time"] == stamp
            assert before[entity][rid]["update_time"] < stamp
    for did in result["deleted"]["deals"]:
        deal = data.records["deals"][did]
        assert deal["status"] == "deleted"
        assert deal["is_deleted"] is True
        assert not before["deals"][did]["is_deleted"]
        assert not before["deals"][did]["is_archived"]


def test_mutate_is_deterministic_and_successive_calls_move_on():
    a, b = generate(200, seed=9), generate(200, seed=9)
    first_a, first_b = mutate(a, updates=10, deletes=2), mutate(b, updates=10, deletes=2)
    assert first_a == first_b
    assert a.records == b.records
    second = mutate(a, updates=10)
    assert second["now"] > first_a["now"]


def test_mutate_adds_renames_and_extends_deal_fields():
    data = generate(300, seed=4)
    codes_before = {f["field_code"]: dict(f) for f in data.fields["deal"]}
    result = mutate(data, add_field="deal", rename_field="deal", add_option="deal")
    added = result["field_added"]
    assert HASH.match(added["field_code"])
    assert added["field_code"] not in codes_before
    new_item = next(f for f in data.fields["deal"] if f["field_code"] == added["field_code"])
    assert new_item["field_name"] == added["field_name"]
    assert new_item["is_custom_field"]
    assert added["field_code"] in {f["key"] for f in data.fields["lead"]}
    touched = set(added["record_ids"])
    assert touched
    stamp = result["now"]
    for did, deal in data.records["deals"].items():
        value = deal["custom_fields"][added["field_code"]]
        assert (value is not None) == (did in touched)
        if did in touched:
            assert deal["update_time"] == stamp
            check_v2_value(added["field_type"], value, new_item, data)

    renamed = result["field_renamed"]
    assert renamed["field_code"] in codes_before
    assert codes_before[renamed["field_code"]]["field_name"] == renamed["old_name"]
    item = next(f for f in data.fields["deal"] if f["field_code"] == renamed["field_code"])
    assert item["field_name"] == renamed["new_name"] != renamed["old_name"]

    option = result["option_added"]
    item = next(f for f in data.fields["deal"] if f["field_code"] == option["field_code"])
    assert item["field_type"] in ("enum", "set")
    assert item["options"][-1] == option["option"]
    all_ids = [o["id"] for f in data.fields["deal"] for o in f["options"] or [] if isinstance(o["id"], int)]
    assert len(all_ids) == len(set(all_ids))


@pytest.mark.parametrize("entity", ["person", "organization", "product", "activity"])
def test_mutate_adds_fields_to_other_entities(entity):
    data = generate(100, seed=2)
    result = mutate(data, add_field=entity, rename_field=entity)
    code = result["field_added"]["field_code"]
    assert code in {f["field_code"] for f in data.fields[entity]}
    assert all(code in r["custom_fields"] for r in data.records[FIELD_ENTITY[entity]].values())


def test_mutate_rejects_unknown_entities_and_negative_counts():
    data = generate(50, seed=1)
    with pytest.raises(ValueError, match="add_field"):
        mutate(data, add_field="pipeline")
    with pytest.raises(ValueError, match=">= 0"):
        mutate(data, updates=-1)
