"""Deals come with the optional counts main_bi reports, asked for through include_fields at no extra cost."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tap_pipedrive import api_facts
from tap_pipedrive.tap import TapPipedrive


def _only_deals(catalog: dict[str, Any]) -> dict[str, Any]:
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "deals"
    return catalog


def test_deals_carry_their_email_note_activity_and_product_counts(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=150, seed=9, rate_limits=False)
    config = tap_config(emulator)
    catalog = _only_deals(TapPipedrive(config=config).catalog_dict)
    emulator.clear_log()

    out = run_tap(config, catalog=catalog)

    notes = Counter(n["deal_id"] for n in emulator.records("notes") if n.get("active_flag", True))
    live = [a for a in emulator.records("activities") if not a["is_deleted"]]
    activities = Counter(a["deal_id"] for a in live)
    done = Counter(a["deal_id"] for a in live if a["done"])
    products = Counter(line["deal_id"] for line in emulator.records("deal_products"))
    truth = {d["id"]: d for d in emulator.records("deals")}
    deals = {d["id"]: d for d in out.records["deals"]}
    assert deals.keys() == truth.keys()
    for deal_id, deal in deals.items():
        assert {
            "email_messages_count": deal["email_messages_count"],
            "notes_count": deal["notes_count"],
            "activities_count": deal["activities_count"],
            "done_activities_count": deal["done_activities_count"],
            "undone_activities_count": deal["undone_activities_count"],
            "products_count": deal["products_count"],
            "source_lead_id": deal["source_lead_id"],
        } == {
            "email_messages_count": truth[deal_id]["email_messages_count"],
            "notes_count": notes[deal_id],
            "activities_count": activities[deal_id],
            "done_activities_count": done[deal_id],
            "undone_activities_count": activities[deal_id] - done[deal_id],
            "products_count": products[deal_id],
            "source_lead_id": truth[deal_id]["source_lead_id"],
        }, deal_id
    assert any(d["email_messages_count"] for d in deals.values())
    assert any(d["source_lead_id"] for d in deals.values())
    requests = [r for r in emulator.request_log if r.path.startswith("/api/v2/deals")]
    assert {r.path for r in requests} == {"/api/v2/deals", "/api/v2/deals/archived"}
    for request in requests:
        assert request.params["include_fields"].split(",") == list(api_facts.DEAL_INCLUDE_FIELDS)
        assert request.token_cost == (10 if request.path == "/api/v2/deals" else 20)
