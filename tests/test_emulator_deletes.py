"""The emulator deletes as Pipedrive does: soft deletes per entity, both listing behaviours, purges after a
configurable age, line items taken off unchanged deals, endpoints a plan or permission leaves out."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from pipeboard_testkit.openapi import inline_refs, load_spec
from pipedrive_emulator import Emulator
from pipedrive_emulator.data import (
    NULLABLE_IN_PRACTICE,
    V1_TIMESTAMPS_DESPITE_DATE_TIME,
    generate,
    timestamp_for,
)
from pipedrive_emulator.deletes import STYLES, is_deleted
from pipedrive_emulator.gating import PLAN_GATES
from pipedrive_emulator.mutations import mutate

LIST_PATHS = {
    "persons": ("v2", "/persons"),
    "organizations": ("v2", "/organizations"),
    "activities": ("v2", "/activities"),
    "products": ("v2", "/products"),
    "pipelines": ("v2", "/pipelines"),
    "stages": ("v2", "/stages"),
    "notes": ("v1", "/notes"),
    "users": ("v1", "/users"),
    "activity_types": ("v1", "/activityTypes"),
    "leads": ("v1", "/leads"),
    "lead_labels": ("v1", "/leadLabels"),
    "currencies": ("v1", "/currencies"),
    "files": ("v1", "/files"),
    "filters": ("v1", "/filters"),
}
HIDEABLE = sorted(entity for entity, style in STYLES.items() if style.hideable)


def fetch_all(emulator: Emulator, api: str, path: str, **params: str) -> list[dict[str, Any]]:
    """Every record a list endpoint answers, following its pagination."""
    url = emulator.base_url + ("/api/v2" if api == "v2" else "/api/v1") + path
    headers = {"x-api-token": emulator.token}
    records: list[dict[str, Any]] = []
    params = dict(params)
    while True:
        body = requests.get(url, params=params, headers=headers, timeout=10).json()
        assert body["success"] is True, body
        records.extend(body["data"] or [])
        extra = body.get("additional_data") or {}
        if api == "v2" and extra.get("next_cursor"):
            params["cursor"] = extra["next_cursor"]
        elif api == "v1" and (extra.get("pagination") or {}).get("more_items_in_collection"):
            params["start"] = str(extra["pagination"]["next_start"])
        else:
            return records


# --- soft and hard deletes, per entity -----------------------------------------------------------------


@pytest.mark.parametrize("entity", sorted(STYLES))
def test_mutate_deletes_each_entity_the_way_pipedrive_marks_it_and_changes_nothing_else(entity: str) -> None:
    data = generate(200, seed=4)
    before = copy.deepcopy(data.records)
    count = (
        1 if entity in ("pipelines", "users", "boards") else 3
    )  # a small account: two pipelines, three users
    result = mutate(data, delete={entity: count})
    now = data.clock.now()

    doomed = result["deleted"][entity]
    assert len(doomed) == count
    style = STYLES[entity]
    for rid in doomed:
        assert not is_deleted(entity, before[entity][rid])
        if style.kind == "remove":
            assert rid not in data.records[entity]
            continue
        record = data.records[entity][rid]
        assert is_deleted(entity, record)
        if style.stamp is not None:
            assert record[style.stamp] == timestamp_for(entity, now)
        expected = {
            "flag": {"is_deleted": True},
            "status": {"is_deleted": True, "status": "deleted"},
            "inactive": {"active_flag": False},
            "user": {"is_deleted": True, "active_flag": False},
            "team": {"deleted_flag": 1, "active_flag": 0},
            "project": {"status": "deleted"},
        }[style.kind]
        assert {key: record[key] for key in expected} == expected
        changed = {key for key in record if record[key] != before[entity][rid][key]}
        assert changed <= {*expected, style.stamp}
    purged = result.get("purged", {})
    for name, records in data.records.items():
        for rid in purged.get(name, []):  # records deleted long before this call, erased as the clock moved
            assert name == "deal_products" or is_deleted(name, before[name][rid])
        # (a deleted board takes its phases: they are among the call's deletions)
        gone = {*purged.get(name, []), *(doomed if name == entity else []), *result["deleted"].get(name, [])}
        untouched = {rid: r for rid, r in before[name].items() if rid not in gone}
        if entity == "users" and name in (
            "roles",
            "permission_sets",
        ):  # a deleted user's roles count one less
            records = {rid: {**r, "assignment_count": None} for rid, r in records.items()}
            untouched = {rid: {**r, "assignment_count": None} for rid, r in untouched.items()}
        assert {rid: records[rid] for rid in untouched} == untouched, name


def test_the_token_users_own_account_and_archived_deals_are_never_chosen_for_deletion() -> None:
    data = generate(300, seed=6)
    me = data.company["me_user_id"]
    result = mutate(data, delete={"users": len(data.records["users"]), "deals": 300})
    assert me not in result["deleted"]["users"]
    assert not any(data.records["deals"][did]["is_archived"] for did in result["deleted"]["deals"])


def test_mutate_rejects_an_entity_it_cannot_delete() -> None:
    with pytest.raises(ValueError, match="delete: entity must be one of"):
        mutate(generate(20, seed=1), delete={"deal_fields": 1})


@pytest.mark.parametrize("entity", HIDEABLE)
@pytest.mark.parametrize("list_deleted", [False, True], ids=["hidden", "listed"])
def test_lists_show_soft_deleted_records_only_when_the_setting_says_so(
    make_emulator: Any, entity: str, list_deleted: bool
) -> None:
    emulator = make_emulator(deals=60, seed=5, list_deleted=list_deleted)
    doomed = set(emulator.mutate(delete={entity: 2})["deleted"][entity])
    listed = {r["id"]: r for r in fetch_all(emulator, *LIST_PATHS[entity], limit="100")}
    if list_deleted:
        assert doomed <= set(listed)
        assert all(is_deleted(entity, listed[rid]) for rid in doomed)
    else:
        assert not doomed & set(listed)
        assert not any(is_deleted(entity, r) for r in listed.values())


@pytest.mark.parametrize("entity", ["users", "activity_types"])
def test_deactivated_users_and_deleted_activity_types_stay_listed(make_emulator: Any, entity: str) -> None:
    emulator = make_emulator(deals=30, seed=2)
    doomed = emulator.mutate(delete={entity: 1})["deleted"][entity]
    listed = {r["id"]: r for r in fetch_all(emulator, *LIST_PATHS[entity])}
    assert is_deleted(entity, listed[doomed[0]])


@pytest.mark.parametrize("entity", ["leads", "lead_labels", "currencies"])
def test_entities_without_a_deletion_flag_vanish_from_their_list(make_emulator: Any, entity: str) -> None:
    emulator = make_emulator(deals=40, seed=2)
    doomed = set(emulator.mutate(delete={entity: 2})["deleted"][entity])
    listed = {r["id"] for r in fetch_all(emulator, *LIST_PATHS[entity])}
    assert doomed
    assert not doomed & listed


def _list_item_validator(api: str, path: str, entity: str) -> OAS30ReadValidator:
    spec = load_spec(api)
    response = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    schema = copy.deepcopy(inline_refs(spec, response))
    parts = [schema, *schema.get("allOf", [])]
    data = next(part["properties"]["data"] for part in parts if "data" in part.get("properties", {}))
    item = data.get("items", data)
    for part in [item, *item.get("allOf", [])]:
        for name, prop in part.get("properties", {}).items():
            if name in NULLABLE_IN_PRACTICE.get(entity, ()):
                prop["nullable"] = True
            if name in V1_TIMESTAMPS_DESPITE_DATE_TIME.get(entity, ()):
                prop.pop("format", None)
    return OAS30ReadValidator(item, format_checker=oas30_format_checker)


@pytest.mark.parametrize("entity", [*HIDEABLE, "users", "activity_types"])
def test_deleted_records_in_list_answers_validate_against_the_spec(make_emulator: Any, entity: str) -> None:
    emulator = make_emulator(deals=60, seed=8, list_deleted=True)
    doomed = set(emulator.mutate(delete={entity: 2})["deleted"][entity])
    api, path = LIST_PATHS[entity]
    validator = _list_item_validator(api, path, entity)
    deleted = [r for r in fetch_all(emulator, api, path) if r["id"] in doomed]
    assert len(deleted) == 2
    for record in deleted:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, errors[:5]


# --- purges ---------------------------------------------------------------------------------------------


def test_soft_deleted_records_are_purged_once_the_configured_age_is_reached(make_emulator: Any) -> None:
    emulator = make_emulator(deals=80, seed=3, purge_after_days=30, list_deleted=True)
    deleted = emulator.mutate(delete={"persons": 2, "deals": 2, "notes": 2})["deleted"]
    lines_of_deleted_deals = {
        r["id"] for r in emulator.records("deal_products") if r["deal_id"] in set(deleted["deals"])
    }

    almost = emulator.mutate(advance_days=29.9)
    assert "purged" not in almost or not {*deleted["persons"], *deleted["deals"]} & {
        rid for ids in almost["purged"].values() for rid in ids
    }
    assert set(deleted["persons"]) <= {r["id"] for r in emulator.records("persons")}

    later = emulator.mutate(advance_days=0.2)
    assert set(deleted["persons"]) <= set(later["purged"]["persons"])
    assert set(deleted["deals"]) <= set(later["purged"]["deals"])
    assert lines_of_deleted_deals <= set(later["purged"].get("deal_products", []))
    assert not set(deleted["persons"]) & {r["id"] for r in emulator.records("persons")}
    assert not set(deleted["persons"]) & {r["id"] for r in fetch_all(emulator, "v2", "/persons")}
    every_deal = fetch_all(emulator, "v2", "/deals", status="open,won,lost,deleted")
    assert not set(deleted["deals"]) & {r["id"] for r in every_deal}
    assert not lines_of_deleted_deals & {r["id"] for r in emulator.records("deal_products")}
    # Notes are not among the entities Pipedrive purges.
    assert set(deleted["notes"]) <= {r["id"] for r in emulator.records("notes")}


def test_a_purge_age_of_zero_erases_at_the_next_mutation() -> None:
    data = generate(50, seed=9)
    data.purge_after_days = 0
    doomed = mutate(data, delete={"organizations": 2})["deleted"]["organizations"]
    assert set(doomed) <= set(data.records["organizations"])
    assert set(doomed) <= set(mutate(data)["purged"]["organizations"])


# --- line items -----------------------------------------------------------------------------------------


def test_removed_line_items_leave_their_deal_unchanged_but_lower_its_products_count(
    make_emulator: Any,
) -> None:
    emulator = make_emulator(deals=120, seed=4)
    deals_before = {d["id"]: d for d in emulator.records("deals")}
    counts_before = Counter(r["deal_id"] for r in emulator.records("deal_products"))

    change = emulator.mutate(remove_line_items=4)

    removed = change["line_items_removed"]
    assert len(removed["deal_products"]) == 4
    assert not set(removed["deal_products"]) & {r["id"] for r in emulator.records("deal_products")}
    assert {d["id"]: d for d in emulator.records("deals")} == deals_before
    served = fetch_all(emulator, "v2", "/deals", include_fields="products_count", limit="500")
    counts = {d["id"]: d["products_count"] for d in served}
    after = Counter(r["deal_id"] for r in emulator.records("deal_products"))
    assert counts == {deal_id: after[deal_id] for deal_id in counts}
    assert sum(counts_before[d] - counts[d] for d in removed["deals"]) == 4
    for deal_id in removed["deals"]:
        assert not deals_before[deal_id]["is_deleted"]
        assert not deals_before[deal_id]["is_archived"]
        ids = {r["id"] for r in fetch_all(emulator, "v2", "/deals/products", deal_ids=str(deal_id))}
        assert not ids & set(removed["deal_products"])


# --- plan and permission gates --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [402, 403])
def test_a_gated_endpoint_answers_pipedrives_error_envelope_and_others_still_work(
    make_emulator: Any, status: int
) -> None:
    emulator = make_emulator(deals=20, seed=1, gates={"/api/v2/productFields": status})
    headers = {"x-api-token": emulator.token}
    refused = requests.get(emulator.base_url + "/api/v2/productFields", headers=headers, timeout=10)
    assert refused.status_code == status
    body = refused.json()
    assert (body["success"], body["data"], body["additional_data"]) == (False, None, None)
    assert body["error"]
    assert (
        requests.get(emulator.base_url + "/api/v2/products", headers=headers, timeout=10).status_code == 200
    )

    emulator.set_gates({})
    lifted = requests.get(emulator.base_url + "/api/v2/productFields", headers=headers, timeout=10)
    assert lifted.status_code == 200


def test_gates_name_path_templates_and_the_v1_prefixes_alike(make_emulator: Any) -> None:
    emulator = make_emulator(deals=20, seed=1, gates={"/api/v2/deals/{id}/products": 403, "/v1/notes": 402})
    headers = {"x-api-token": emulator.token}
    for path, status in (
        ("/api/v2/deals/3/products", 403),
        ("/api/v2/deals/products?deal_ids=3", 200),
        ("/api/v1/notes", 402),
        ("/v1/notes", 402),
    ):
        assert requests.get(emulator.base_url + path, headers=headers, timeout=10).status_code == status, path


def test_the_plan_table_gates_what_a_plan_leaves_out_and_follows_plan_changes(make_emulator: Any) -> None:
    assert PLAN_GATES["lite"]
    emulator = make_emulator(deals=20, seed=1, plan="lite")
    headers = {"x-api-token": emulator.token}
    path, status = next(iter(PLAN_GATES["lite"].items()))
    assert requests.get(emulator.base_url + path, headers=headers, timeout=10).status_code == status
    emulator.set_plan("growth")
    assert requests.get(emulator.base_url + path, headers=headers, timeout=10).status_code != status


def test_admin_endpoints_set_gates_and_the_deleted_behaviour(make_emulator: Any) -> None:
    emulator = make_emulator(deals=40, seed=2)
    admin = emulator.base_url + "/_emulator/"
    answer = requests.post(admin + "plan", json={"gates": {"/api/v1/leads": 403}}, timeout=10).json()
    assert answer["data"]["gates"]["/api/v1/leads"] == 403
    leads = requests.get(
        emulator.base_url + "/api/v1/leads", headers={"x-api-token": emulator.token}, timeout=10
    )
    assert leads.status_code == 403
    bad = requests.post(admin + "plan", json={"gates": {"/api/v1/leads": 500}}, timeout=10)
    assert bad.status_code == 400

    setting = requests.post(admin + "deleted", json={"list_deleted": True, "purge_after_days": 7}, timeout=10)
    assert setting.json()["data"] == {"list_deleted": True, "purge_after_days": 7.0}
    doomed = requests.post(admin + "mutate", json={"delete": {"persons": 1}}, timeout=10).json()["data"]
    listed = {r["id"] for r in fetch_all(emulator, "v2", "/persons")}
    assert doomed["deleted"]["persons"][0] in listed
    purged = requests.post(admin + "mutate", json={"advance_days": 7}, timeout=10).json()["data"]
    assert doomed["deleted"]["persons"][0] in purged["purged"]["persons"]


def test_cli_takes_gates_and_the_deleted_behaviour() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipedrive_emulator",
            "--port",
            "0",
            "--deals",
            "10",
            "--list-deleted",
            "--purge-after-days",
            "3",
            "--gate",
            "/api/v2/productFields=402",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        values = dict(process.stdout.readline().strip().split("=", 1) for _ in range(2))
        headers = {"x-api-token": values["token"]}
        gated = requests.get(values["base_url"] + "/api/v2/productFields", headers=headers, timeout=10)
        assert gated.status_code == 402
        deleted = requests.get(values["base_url"] + "/_emulator/deleted", timeout=10).json()["data"]
        assert deleted == {"list_deleted": True, "purge_after_days": 3.0}
    finally:
        process.terminate()
        process.wait(timeout=30)
