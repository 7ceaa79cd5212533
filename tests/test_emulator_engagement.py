"""The emulator's installments, variations, call logs, participants, mail threads, files and filters:
consistent with the rest of the account, served as the specs say (whose records, which order, 400s), changed
by ``mutate``."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pipedrive_emulator import Emulator


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(deals=400, seed=13, rate_limits=False)
    emu.start()
    yield emu
    emu.stop()


def get(emu: Emulator, path: str, **params: Any) -> requests.Response:
    prefix = "/api/v2" if path.startswith(("/deals/installments", "/products")) else "/api/v1"
    return requests.get(
        emu.base_url + prefix + path, params=params, headers={"x-api-token": emu.token}, timeout=10
    )


def test_the_new_records_point_at_records_of_the_account(emulator):
    deals = {d["id"]: d for d in emulator.records("deals")}
    products = {p["id"] for p in emulator.records("products")}
    persons = {p["id"] for p in emulator.records("persons")}
    activities = {a["id"] for a in emulator.records("activities")}
    assert all(r["deal_id"] in deals for r in emulator.records("deal_installments"))
    assert all(r["product_id"] in products for r in emulator.records("product_variations"))
    for participant in emulator.records("deal_participants"):
        assert participant["deal_id"] in deals
        assert participant["person_id"] in persons
        assert participant["person_id"] != deals[participant["deal_id"]]["person_id"]
    for call in emulator.records("call_logs"):
        assert call.get("deal_id") is None or call["deal_id"] in deals
        assert call.get("activity_id") is None or call["activity_id"] in activities
    assert all(f["deal_id"] is None or f["deal_id"] in deals for f in emulator.records("files"))
    for deal_id, deal in deals.items():
        amounts = [r["amount"] for r in emulator.records("deal_installments") if r["deal_id"] == deal_id]
        if amounts and float(deal["value"] or 0):
            assert sum(amounts) == pytest.approx(float(deal["value"]), abs=0.05 * len(amounts))


def test_call_logs_and_mail_threads_are_only_the_token_users(emulator):
    me = emulator.dataset.company["me_user_id"]
    others = {r["id"] for r in emulator.records("call_logs") if r["user_id"] != me}
    assert others
    served, start = [], 0
    while True:
        body = get(emulator, "/callLogs", start=start, limit=50).json()
        served += body["data"]
        if not body["additional_data"]["pagination"]["more_items_in_collection"]:
            break
        start += 50
    assert {r["id"] for r in served} == {r["id"] for r in emulator.records("call_logs") if r["user_id"] == me}
    for folder in ("inbox", "sent", "archive", "drafts"):
        threads = get(emulator, "/mailbox/mailThreads", folder=folder, limit=500).json()["data"]
        assert all(t["user_id"] == me and folder in t["folders"] for t in threads)
        stamps = [t["last_message_timestamp"] for t in threads]
        assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/callLogs", {"limit": 51}, '"limit" must be between 1 and 50.'),
        ("/files", {"limit": 101}, '"limit" must be between 1 and 100.'),
        ("/files", {"sort": "file_name ASC"}, 'cannot sort by "file_name"'),
        ("/mailbox/mailThreads", {"folder": "spam"}, "folder"),
        ("/deals/installments", {}, "deal_ids"),
        ("/deals/installments", {"deal_ids": ",".join(str(i) for i in range(1, 102))}, "deal_ids"),
        ("/filters", {"type": "nothing"}, "type"),
    ],
    ids=[
        "call-logs-limit",
        "files-limit",
        "files-sort",
        "folder",
        "no-deal-ids",
        "101-deal-ids",
        "filter-type",
    ],
)
def test_invalid_parameters_get_a_400_naming_the_parameter(emulator, path, params, message):
    emulator.clear_log()
    response = get(emulator, path, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert [r.status for r in emulator.request_log] == [400]


def test_a_missing_parent_answers_404(emulator):
    assert get(emulator, "/deals/999999/participants").status_code == 404
    assert get(emulator, "/products/999999/variations").status_code == 404


def test_each_endpoint_costs_its_spec_tokens(emulator):
    emulator.clear_log()
    get(emulator, "/deals/installments", deal_ids="1,2")
    get(emulator, "/products/1/variations")
    get(emulator, "/callLogs")
    get(emulator, "/deals/1/participants")
    get(emulator, "/mailbox/mailThreads", folder="inbox")
    get(emulator, "/files")
    get(emulator, "/filters")
    assert [r.token_cost for r in emulator.request_log] == [10, 10, 20, 10, 20, 20, 20]


def test_mutate_adds_and_edits_moving_the_parents_update_time(make_emulator):
    emu = make_emulator(deals=120, seed=6, rate_limits=False)
    changes = emu.mutate(
        add={"deal_installments": 1, "deal_participants": 1, "product_variations": 1, "call_logs": 1},
        edit={"files": 1, "mail_threads": 1, "filters": 1},
    )
    now = changes["now"]
    installment = emu.dataset.records["deal_installments"][changes["added"]["deal_installments"][0]]
    assert emu.dataset.records["deals"][installment["deal_id"]]["update_time"] == now
    participant = emu.dataset.records["deal_participants"][changes["added"]["deal_participants"][0]]
    assert emu.dataset.records["deals"][participant["deal_id"]]["update_time"] == now
    variation = emu.dataset.records["product_variations"][changes["added"]["product_variations"][0]]
    assert emu.dataset.records["products"][variation["product_id"]]["update_time"] == now
    call = emu.dataset.records["call_logs"][changes["added"]["call_logs"][0]]
    assert call["user_id"] == emu.dataset.company["me_user_id"]
    edited_file = emu.dataset.records["files"][changes["edited"]["files"][0]]
    assert edited_file["update_time"] == now.replace("T", " ").replace("Z", "")
    thread = emu.dataset.records["mail_threads"][changes["edited"]["mail_threads"][0]]
    assert thread["update_time"].startswith(now[:19])
    with pytest.raises(ValueError, match="edit: entity must be one of"):
        emu.mutate(edit={"call_logs": 1})


def test_a_purged_deal_takes_its_installments_and_participants(make_emulator):
    emu = make_emulator(deals=200, seed=9, rate_limits=False)
    with_both = sorted(
        {r["deal_id"] for r in emu.records("deal_installments")}
        & {r["deal_id"] for r in emu.records("deal_participants")}
    )
    deal_id = with_both[0]
    with emu.lock:
        emu.dataset.records["deals"][deal_id].update(status="deleted", is_deleted=True)
    result = emu.mutate(advance_days=31)
    assert deal_id in result["purged"]["deals"]
    assert not [r for r in emu.records("deal_installments") if r["deal_id"] == deal_id]
    assert not [r for r in emu.records("deal_participants") if r["deal_id"] == deal_id]
