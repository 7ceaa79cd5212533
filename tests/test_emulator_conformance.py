"""Conformance of the emulator's HTTP answers with Pipedrive's OpenAPI documents, and its paging.

Every served endpoint is fetched over HTTP for several pages and each whole response body is validated against
that operation's 200 schema in v2.yaml / v1.yaml; the committed spec_facts.json must equal a fresh extraction.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from functools import cache
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from pipeboard_testkit.openapi import inline_refs, load_spec, spec_dir
from pipedrive_emulator import Emulator
from pipedrive_emulator.data import NULLABLE_IN_PRACTICE, V1_TIMESTAMPS_DESPITE_DATE_TIME
from pipedrive_emulator.pagination import parse_timestamp
from pipedrive_emulator.spec_facts import FACTS_PATH, SERVED_OPERATIONS, generate_facts, render_facts

PAGES = 3

# Which dataset entity the list items of an operation are (for the data layer's documented spec gaps).
ITEM_ENTITY = {
    "/deals": "deals",
    "/deals/archived": "deals",
    "/persons": "persons",
    "/organizations": "organizations",
    "/activities": "activities",
    "/notes": "notes",
    "/activityTypes": "activity_types",
    "/leadFields": "lead_fields",
    "/files": "files",
}


def parts(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *(p for part in schema.get("allOf", []) for p in parts(part))]


def patch_documented_gaps(schema: dict[str, Any], entity: str | None) -> None:
    """Apply only the documented gaps.

    ``next_cursor`` is null on the last page (the spec's own description says so); the data layer's
    NULLABLE_IN_PRACTICE / V1_TIMESTAMPS_DESPITE_DATE_TIME pairs.
    """
    nullable = NULLABLE_IN_PRACTICE.get(entity or "", frozenset())
    no_format = V1_TIMESTAMPS_DESPITE_DATE_TIME.get(entity or "", frozenset())
    for part in parts(schema):
        properties = part.get("properties", {})
        additional = properties.get("additional_data")
        if additional:
            for sub in parts(additional):
                if "next_cursor" in sub.get("properties", {}):
                    sub["properties"]["next_cursor"]["nullable"] = True
        data = properties.get("data")
        if not data:
            continue
        item = data.get("items", data)
        for item_part in parts(item):
            for name, prop in item_part.get("properties", {}).items():
                if name in nullable:
                    prop["nullable"] = True
                if name in no_format:
                    prop.pop("format", None)


@cache
def response_validator(api: str, path: str) -> OAS30ReadValidator:
    spec = load_spec(api)
    schema = copy.deepcopy(
        inline_refs(
            spec, spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        )
    )
    patch_documented_gaps(schema, ITEM_ENTITY.get(path))
    return OAS30ReadValidator(schema, format_checker=oas30_format_checker)


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(deals=1200, seed=11)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def session(emulator):
    with requests.Session() as http:
        http.headers["x-api-token"] = emulator.token
        yield http


def _role_counts(emulator: Emulator) -> Counter[int]:
    return Counter(u["role_id"] for u in emulator.records("users") if not u["is_deleted"])


def _busiest_role(emulator: Emulator) -> str:
    return f"/roles/{_role_counts(emulator).most_common(1)[0][0]}/assignments"


def _role_paging(emulator: Emulator) -> dict[str, str]:
    """Pages of one assignment when the busiest role has two (few users in a small dataset)."""
    return {"limit": "1"} if _role_counts(emulator).most_common(1)[0][1] > 1 else {}


def _busiest_permission_set(emulator: Emulator) -> str:
    sets = Counter(
        a["permission_set_id"] for u in emulator.records("users") if not u["is_deleted"] for a in u["access"]
    )
    return f"/permissionSets/{sets.most_common(1)[0][0]}/assignments"


def _goal_results_path(emulator: Emulator) -> str:
    return f"/goals/{emulator.records('goals')[0]['id']}/results"


def _goal_period(emulator: Emulator) -> dict[str, str]:
    duration = emulator.records("goals")[0]["duration"]
    return {"period.start": duration["start"], "period.end": duration["end"] or duration["start"]}


def _related_org(emulator: Emulator) -> dict[str, str]:
    owners = Counter(r["rel_owner_org_id"] for r in emulator.records("organization_relationships"))
    return {"org_id": str(owners.most_common(1)[0][0])}


# Organisation, targets and post-sale endpoints (routes_org.py): their path ids and first parameters.
ORG_PATHS = {
    "/roles/{id}/assignments": _busiest_role,
    "/permissionSets/{id}/assignments": _busiest_permission_set,
    "/goals/{id}/results": _goal_results_path,
}
ORG_PARAMS = {
    "/roles/{id}/assignments": _role_paging,
    "/permissionSets/{id}/assignments": lambda emulator: {"limit": "1"},
    "/roles": lambda emulator: {"limit": "2"},
    "/permissionSets": lambda emulator: {},
    "/legacyTeams": lambda emulator: {},
    "/goals/find": lambda emulator: {"assignee.type": "person"},
    "/goals/{id}/results": _goal_period,
    "/leadSources": lambda emulator: {},
    "/organizationRelationships": _related_org,
    "/boards": lambda emulator: {},
    "/phases": lambda emulator: {"board_id": "1"},
}

RICH_LISTS = ("/deals", "/persons", "/organizations", "/activities", "/leads", "/notes")


def url_for(api: str, path: str, emulator: Emulator) -> str:
    if path == "/deals/{id}/products":
        deal_id = Counter(r["deal_id"] for r in emulator.records("deal_products")).most_common(1)[0][0]
        path = f"/deals/{deal_id}/products"
    if path == "/deals/{id}/changelog":
        deal_id = max(
            (d["id"] for d in emulator.records("deals")[:200]), key=lambda i: len(emulator.changelog(i))
        )
        path = f"/deals/{deal_id}/changelog"
    if path == "/pipelines/{id}/movement_statistics":
        path = "/pipelines/1/movement_statistics"
    if path == "/deals/{id}/participants":
        deal_id = Counter(r["deal_id"] for r in emulator.records("deal_participants")).most_common(1)[0][0]
        path = f"/deals/{deal_id}/participants"
    if path == "/products/{id}/variations":
        product_id = Counter(r["product_id"] for r in emulator.records("product_variations")).most_common(1)[
            0
        ][0]
        path = f"/products/{product_id}/variations"
    if path in ORG_PATHS:
        path = ORG_PATHS[path](emulator)
    prefix = "/api/v2" if api == "v2" else "/api/v1"
    return emulator.base_url + prefix + path


def first_params(api: str, path: str, emulator: Emulator) -> dict[str, str]:
    if path == "/deals/products":
        deal_ids = sorted({r["deal_id"] for r in emulator.records("deal_products")})[:100]
        return {"deal_ids": ",".join(map(str, deal_ids)), "limit": "40"}
    if path == "/deals/installments":
        deal_ids = sorted({r["deal_id"] for r in emulator.records("deal_installments")})[:100]
        return {"deal_ids": ",".join(map(str, deal_ids)), "limit": "40"}
    if path == "/mailbox/mailThreads":
        return {"folder": "inbox", "limit": "5"}
    if path == "/files":
        return {"limit": "50", "sort": "update_time DESC"}
    if path in (
        "/filters",
        "/users",
        "/users/me",
        "/deals/summary",
        "/activityTypes",
        "/leadLabels",
        "/currencies",
        "/noteFields",
    ):
        return {}
    if path in ORG_PARAMS:
        return ORG_PARAMS[path](emulator)
    if path == "/pipelines/{id}/movement_statistics":
        owner = Counter(d["owner_id"] for d in emulator.records("deals")).most_common(1)[0][0]
        return {"start_date": "2024-01-01", "end_date": "2026-12-31", "user_id": str(owner)}
    return {"limit": "50" if path in RICH_LISTS else "2"}


def fetch_pages(
    session: requests.Session, url: str, params: dict[str, str], api: str
) -> list[dict[str, Any]]:
    """Fetch up to PAGES pages, following next_cursor (v2) or next start (v1)."""
    bodies = []
    params = dict(params)
    for _ in range(PAGES):
        response = session.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        additional = body.get("additional_data") or {}
        if "next_cursor" in additional:
            if not additional.get("next_cursor"):
                break
            params["cursor"] = additional["next_cursor"]
        else:
            pagination = additional.get("pagination", additional)
            if "limit" not in params or not pagination.get("more_items_in_collection"):
                break
            params["start"] = str(int(params.get("start", 0)) + int(params["limit"]))
    return bodies


@pytest.mark.parametrize(("api", "path"), SERVED_OPERATIONS, ids=[f"{a}{p}" for a, p in SERVED_OPERATIONS])
def test_every_endpoint_answers_pages_that_validate_against_its_spec_response_schema(
    emulator, session, api, path
):
    validator = response_validator(api, path)
    bodies = fetch_pages(session, url_for(api, path, emulator), first_params(api, path, emulator), api)
    assert bodies[0]["success"] is True
    if path not in ("/users/me",):
        assert bodies[0]["data"], f"{path} served no records"
    if "limit" in first_params(api, path, emulator):
        assert len(bodies) > 1, f"{path} did not page"
    for body in bodies:
        errors = [f"{list(e.absolute_path)}: {e.message}"[:300] for e in validator.iter_errors(body)]
        assert not errors, errors[:5]


@pytest.mark.parametrize(
    "params",
    [
        {
            "include_fields": "products_count,source_lead_id,email_messages_count,notes_count",
            "include_option_labels": "true",
        },
        {"status": "open,won,lost,deleted", "sort_by": "update_time", "sort_direction": "desc"},
    ],
    ids=["include-fields-and-option-labels", "all-statuses-by-update-time-desc"],
)
def test_deals_with_optional_parameters_still_validate(emulator, session, params):
    validator = response_validator("v2", "/deals")
    bodies = fetch_pages(session, emulator.base_url + "/api/v2/deals", {"limit": "100", **params}, "v2")
    for body in bodies:
        errors = [f"{list(e.absolute_path)}: {e.message}"[:300] for e in validator.iter_errors(body)]
        assert not errors, errors[:5]
    if "include_fields" in params:
        assert all("products_count" in deal for deal in bodies[0]["data"])
    else:
        assert "products_count" not in bodies[0]["data"][0]


def page_all(session: requests.Session, url: str, params: dict[str, str]) -> list[list[dict[str, Any]]]:
    pages, params = [], dict(params)
    while True:
        response = session.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return pages
        params["cursor"] = cursor


def test_paging_deals_with_limit_500_returns_every_listed_deal_exactly_once(emulator, session):
    truth = emulator.records("deals")
    assert len(truth) >= 1200
    listed = {d["id"] for d in truth if d["status"] != "deleted" and not d["is_archived"]}
    pages = page_all(session, emulator.base_url + "/api/v2/deals", {"limit": "500"})
    ids = [deal["id"] for page in pages for deal in page]
    assert len(pages) == -(-len(listed) // 500)
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == listed


def test_paging_with_deleted_status_adds_the_deleted_deals_and_never_the_archived_ones(emulator, session):
    truth = emulator.records("deals")
    deleted = {d["id"] for d in truth if d["status"] == "deleted" and not d["is_archived"]}
    assert deleted
    pages = page_all(
        session, emulator.base_url + "/api/v2/deals", {"limit": "500", "status": "open,won,lost,deleted"}
    )
    ids = [deal["id"] for page in pages for deal in page]
    assert len(ids) == len(set(ids))
    assert set(ids) == {d["id"] for d in truth if not d["is_archived"]}
    archived = page_all(session, emulator.base_url + "/api/v2/deals/archived", {"limit": "500"})
    archived_ids = [deal["id"] for page in archived for deal in page]
    assert set(archived_ids) == {d["id"] for d in truth if d["is_archived"] and d["status"] != "deleted"}


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_by_update_time_visits_each_deal_once_across_same_second_groups(emulator, session, direction):
    truth = {
        d["id"]: d for d in emulator.records("deals") if d["status"] != "deleted" and not d["is_archived"]
    }
    pages = page_all(
        session,
        emulator.base_url + "/api/v2/deals",
        {"limit": "100", "sort_by": "update_time", "sort_direction": direction},
    )
    ids = [deal["id"] for page in pages for deal in page]
    assert sorted(ids) == sorted(truth)
    stamps = [parse_timestamp(truth[i]["update_time"]) for i in ids]
    assert stamps == sorted(stamps, reverse=direction == "desc")
    straddling = [
        (before[-1]["update_time"], after[0]["update_time"])
        for before, after in itertools.pairwise(pages)
        if before[-1]["update_time"] == after[0]["update_time"]
    ]
    assert straddling, "expected a same-second update_time group across a page boundary"


def test_updated_since_is_inclusive_and_updated_until_exclusive(emulator, session):
    truth = [d for d in emulator.records("deals") if d["status"] != "deleted" and not d["is_archived"]]
    busiest, count = Counter(d["update_time"] for d in truth).most_common(1)[0]
    assert count > 1
    since = parse_timestamp(busiest)
    params = {"limit": "500", "sort_by": "update_time", "updated_since": busiest}
    got = [d["id"] for page in page_all(session, emulator.base_url + "/api/v2/deals", params) for d in page]
    assert sorted(got) == sorted(d["id"] for d in truth if parse_timestamp(d["update_time"]) >= since)
    params = {"limit": "500", "updated_until": busiest}
    got = [d["id"] for page in page_all(session, emulator.base_url + "/api/v2/deals", params) for d in page]
    assert sorted(got) == sorted(d["id"] for d in truth if parse_timestamp(d["update_time"]) < since)


def test_v1_offset_paging_of_leads_returns_every_unarchived_lead_once(emulator, session):
    leads, start = [], 0
    while True:
        params = {"start": str(start), "limit": "100", "sort": "update_time ASC"}
        body = session.get(emulator.base_url + "/v1/leads", params=params, timeout=10).json()
        leads.extend(body["data"])
        assert body["additional_data"]["start"] == start
        if not body["additional_data"]["more_items_in_collection"]:
            break
        start += 100
    assert Counter(lead["id"] for lead in leads).most_common(1)[0][1] == 1
    assert {lead["id"] for lead in leads} == {
        r["id"] for r in emulator.records("leads") if not r["is_archived"]
    }


def test_committed_spec_facts_equal_a_fresh_extraction_from_the_specs():
    assert FACTS_PATH.read_text(encoding="utf-8") == render_facts(generate_facts(spec_dir()))


def test_deals_summary_totals_listed_deals_per_currency_converted_into_the_users_currency(
    make_emulator, session
):
    emu = make_emulator(deals=200, seed=5)
    with emu.lock:  # one deal in the account's custom currency, which has no exchange rate
        custom = next(d for d in emu.dataset.records["deals"].values() if d["status"] == "open")
        custom.update(currency="PTS", value=500, is_archived=False, is_deleted=False)
    me = session.get(emu.base_url + "/v1/users/me", headers={"x-api-token": emu.token}, timeout=10).json()
    target = me["data"]["default_currency"]
    counted = [d for d in emu.records("deals") if not d["is_archived"] and not d["is_deleted"]]

    body = session.get(
        emu.base_url + "/v1/deals/summary", headers={"x-api-token": emu.token}, timeout=10
    ).json()["data"]

    assert body["total_count"] == len(counted)
    expected = {}
    for deal in counted:
        expected[deal["currency"]] = expected.get(deal["currency"], 0) + float(deal["value"])
    assert {code: group["value"] for code, group in body["values_total"].items()} == pytest.approx(expected)
    assert body["values_total"][target]["value_converted"] == pytest.approx(expected[target])
    assert body["values_total"]["USD"]["value_converted"] == pytest.approx(expected["USD"] * 0.92, abs=0.01)
    assert body["values_total"]["PTS"] == {
        "value": 500,
        "count": 1,
        "value_converted": 0,
        "value_formatted": "pts500",
        "value_converted_formatted": "€0.00",
    }
    won_in_sales = session.get(
        emu.base_url + "/v1/deals/summary",
        params={"status": "won", "pipeline_id": "1"},
        headers={"x-api-token": emu.token},
        timeout=10,
    ).json()["data"]
    assert won_in_sales["total_count"] == sum(
        1 for d in counted if d["status"] == "won" and d["pipeline_id"] == 1
    )
