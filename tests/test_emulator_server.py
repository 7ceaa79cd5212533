"""Tests of the emulator's HTTP behaviour: validation 400s, auth, request log, admin, faults, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import requests
from pipedrive_emulator import Emulator, FaultProfile
from pipedrive_emulator.errors import ERROR_INFO
from pipedrive_emulator.faults import FaultInjector
from pipedrive_emulator.pagination import Cursor, cursor_page, decode_cursor, encode_cursor

TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(deals=300, seed=3, token=TOKEN)
    emu.start()
    yield emu
    emu.stop()


def get(emulator: Emulator, path: str, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"x-api-token": token} if token else {}
    return requests.get(emulator.base_url + path, params=params, headers=headers, timeout=10)


def assert_error_envelope(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["additional_data"] is None
    assert isinstance(body["error"], str)
    assert body["error"]
    return body


# --- validation from the spec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/deals", {"limit": "501"}),
        ("/api/v2/deals", {"limit": "0"}),
        ("/api/v2/deals", {"limit": "ten"}),
        ("/api/v2/deals", {"colour": "red"}),
        ("/api/v2/deals", {"sort_by": "title"}),
        ("/api/v2/deals", {"status": "open,pending"}),
        ("/api/v2/deals", {"updated_since": "2025-01-01"}),
        ("/api/v2/deals", {"updated_since": "yesterday"}),
        ("/api/v2/deals", {"cursor": "not-a-cursor"}),
        ("/api/v2/deals", {"ids": ",".join(str(i) for i in range(1, 102))}),
        ("/api/v2/products", {"updated_until": "2025-01-01T00:00:00Z"}),
        ("/api/v2/pipelines", {"updated_since": "2025-01-01T00:00:00Z"}),
        ("/api/v2/deals/products", {}),
        ("/api/v2/deals/products", {"deal_ids": ",".join(str(i) for i in range(1, 102))}),
        ("/api/v1/leads", {"limit": "501"}),
        ("/api/v1/leads", {"sort": "value ASC"}),
        ("/api/v1/leads/archived", {"updated_since": "2025-01-01T00:00:00Z"}),
        ("/api/v1/notes", {"start_date": "01/02/2025"}),
        ("/api/v1/users", {"start": "0"}),
    ],
    ids=lambda value: json.dumps(value)[:40] if isinstance(value, dict) else value,
)
def test_a_parameter_or_value_the_spec_does_not_allow_gets_pipedrives_400(emulator, path, params):
    body = assert_error_envelope(get(emulator, path, **params), 400)
    assert body["error_info"] == ERROR_INFO


def test_every_parameter_the_spec_defines_for_deals_is_accepted(emulator):
    params = {
        "owner_id": "1000001",
        "person_id": "1",
        "org_id": "1",
        "pipeline_id": "1",
        "stage_id": "1",
        "status": "open,won",
        "updated_since": "2025-01-01T00:00:00Z",
        "updated_until": "2030-01-01T00:00:00.000Z",
        "sort_by": "add_time",
        "sort_direction": "desc",
        "include_fields": "files_count",
        "custom_fields": "x",
        "include_option_labels": "false",
        "include_labels": "true",
        "ids": "1,2,3",
        "limit": "500",
    }
    assert get(emulator, "/api/v2/deals", **params).status_code == 200


def test_filters_select_exactly_the_matching_records(emulator):
    deals = [d for d in emulator.records("deals") if d["status"] == "open" and not d["is_archived"]]
    owner = deals[0]["owner_id"]
    body = get(emulator, "/api/v2/deals", owner_id=str(owner), status="open", limit="500").json()
    assert sorted(d["id"] for d in body["data"]) == sorted(d["id"] for d in deals if d["owner_id"] == owner)


def test_a_cursor_for_another_sort_order_is_refused(emulator):
    first = get(emulator, "/api/v2/deals", limit="10", sort_by="update_time").json()
    cursor = first["additional_data"]["next_cursor"]
    assert_error_envelope(get(emulator, "/api/v2/deals", limit="10", cursor=cursor), 400)
    follow = get(emulator, "/api/v2/deals", limit="10", sort_by="update_time", cursor=cursor)
    assert follow.status_code == 200


def test_unknown_paths_get_a_404_envelope(emulator):
    assert_error_envelope(get(emulator, "/api/v2/unicorns"), 404)


# --- auth ---------------------------------------------------------------------------------------------------


def test_requests_without_a_valid_token_get_401(emulator):
    assert_error_envelope(get(emulator, "/api/v2/deals", token=None), 401)
    assert_error_envelope(get(emulator, "/api/v2/deals", token="f" * 40), 401)


def test_the_api_token_query_parameter_authenticates_and_is_never_logged(emulator):
    emulator.clear_log()
    response = requests.get(emulator.base_url + "/v1/users/me", params={"api_token": TOKEN}, timeout=10)
    assert response.status_code == 200
    assert response.json()["data"]["id"] == emulator.dataset.company["me_user_id"]
    log = emulator.request_log
    assert [(r.path, r.params, r.status) for r in log] == [("/v1/users/me", {}, 200)]
    admin = requests.get(emulator.base_url + "/_emulator/requests", timeout=10).text
    assert TOKEN not in admin
    assert TOKEN not in repr(log)


# --- request log --------------------------------------------------------------------------------------------


def test_the_request_log_records_method_path_params_status_cost_and_timing(emulator):
    emulator.clear_log()
    before = time.time()
    get(emulator, "/api/v2/deals", limit="5", sort_by="update_time")
    get(emulator, "/api/v1/leads/archived", limit="5")
    get(emulator, "/api/v2/deals", limit="501")
    get(emulator, "/api/v2/deals", token=None)
    log = emulator.request_log
    assert [(r.method, r.path, r.params, r.status, r.token_cost) for r in log] == [
        ("GET", "/api/v2/deals", {"limit": "5", "sort_by": "update_time"}, 200, 10),
        ("GET", "/api/v1/leads/archived", {"limit": "5"}, 200, 40),
        ("GET", "/api/v2/deals", {"limit": "501"}, 400, 10),
        ("GET", "/api/v2/deals", {}, 401, 0),
    ]
    assert all(r.duration_s >= 0 and r.at >= before - 1 for r in log)
    over_http = requests.get(emulator.base_url + "/_emulator/requests", timeout=10).json()["data"]
    assert [entry["status"] for entry in over_http] == [200, 200, 400, 401]


# --- admin endpoints ----------------------------------------------------------------------------------------


def test_admin_mutate_changes_what_an_incremental_request_returns(emulator):
    start = emulator.dataset.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    response = requests.post(
        emulator.base_url + "/_emulator/mutate", json={"updates": 12, "deletes": 2}, timeout=10
    )
    assert response.status_code == 200, response.text
    summary = response.json()["data"]
    changed = [
        d["id"] for d in emulator.records("deals") if d["update_time"] > start and not d["is_archived"]
    ]
    assert changed
    body = get(
        emulator,
        "/api/v2/deals",
        updated_since=start,
        status="open,won,lost,deleted",
        sort_by="update_time",
        limit="500",
    ).json()
    assert sorted(d["id"] for d in body["data"]) == sorted(changed)
    assert summary["deleted"] or summary["updated"]


def test_admin_plan_and_faults_endpoints_switch_behaviour(emulator):
    plan = requests.post(
        emulator.base_url + "/_emulator/plan", json={"plan": "growth", "seats": 2}, timeout=10
    )
    assert plan.json()["data"]["daily_limit"] == 30_000 * 2 * 2
    assert get(emulator, "/api/v2/pipelines").headers["x-ratelimit-limit"] == "40"
    requests.post(emulator.base_url + "/_emulator/faults", json={"profile": "down"}, timeout=10)
    assert_error_envelope(get(emulator, "/api/v2/pipelines"), 503)
    requests.post(emulator.base_url + "/_emulator/faults", json={"profile": None}, timeout=10)
    assert get(emulator, "/api/v2/pipelines").status_code == 200
    requests.post(emulator.base_url + "/_emulator/plan", json={"plan": "ultimate", "seats": 5}, timeout=10)
    bad = requests.post(emulator.base_url + "/_emulator/plan", json={"plan": "platinum"}, timeout=10)
    assert bad.status_code == 400


def test_concurrent_paging_during_mutations_never_fails(make_emulator):
    emu = make_emulator(deals=300, seed=9)
    failures: list[str] = []

    def page_through() -> None:
        with requests.Session() as session:
            session.headers["x-api-token"] = emu.token
            for _ in range(3):
                params = {"limit": "50", "sort_by": "update_time"}
                while True:
                    response = session.get(emu.base_url + "/api/v2/deals", params=params, timeout=10)
                    if response.status_code != 200:
                        failures.append(response.text)
                        return
                    cursor = response.json()["additional_data"]["next_cursor"]
                    if cursor is None:
                        break
                    params["cursor"] = cursor

    threads = [threading.Thread(target=page_through) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        emu.mutate(updates=20, deletes=1, add_option="deal")
    for thread in threads:
        thread.join(timeout=600)  # a bound for a hung emulator, not a guess at how fast the machine is
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert {r.status for r in emu.request_log} == {200}


# --- faults -------------------------------------------------------------------------------------------------


def fetch_with_retries(session: requests.Session, url: str, params: dict[str, str], timeout: float) -> dict:
    """A minimal retrying client: any exception, non-JSON body, 429 or 5xx → try again."""
    for _ in range(20):
        try:
            response = session.get(url, params=params, timeout=timeout)
            if response.status_code == 200:
                return response.json()
        except (requests.RequestException, ValueError):
            pass
    raise AssertionError(f"no correct answer for {url} {params}")


def test_flaky_profile_injects_every_fault_kind_yet_retries_get_every_record_exactly_once(make_emulator):
    emu = make_emulator(deals=400, seed=5, faults=FaultProfile("flaky", rate=0.5))
    expected = {d["id"] for d in emu.records("deals") if d["status"] != "deleted" and not d["is_archived"]}
    ids: list[int] = []
    params = {"limit": "10", "sort_by": "update_time"}
    with requests.Session() as session:
        session.headers["x-api-token"] = emu.token
        while True:
            body = fetch_with_retries(session, emu.base_url + "/api/v2/deals", params, timeout=5)
            ids.extend(d["id"] for d in body["data"])
            if body["additional_data"]["next_cursor"] is None:
                break
            params["cursor"] = body["additional_data"]["next_cursor"]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    log = emu.request_log
    assert {r.fault for r in log} == {None, "500", "502", "503", "reset", "truncated", "empty", "429"}
    assert {r.status for r in log if r.fault == "reset"} == {0}
    assert len(log) > -(-len(ids) // 10)


def test_slow_profile_outlasts_a_client_timeout_and_a_retry_then_succeeds(make_emulator):
    emu = make_emulator(deals=50, faults=FaultProfile("slow", rate=1.0, slow_delay_s=1.0, max_consecutive=1))
    with pytest.raises(requests.Timeout):
        requests.get(emu.base_url + "/api/v2/stages", headers={"x-api-token": emu.token}, timeout=0.3)
    retry = requests.get(emu.base_url + "/api/v2/stages", headers={"x-api-token": emu.token}, timeout=5)
    assert retry.status_code == 200
    assert {s["id"] for s in retry.json()["data"]} == {
        s["id"] for s in emu.records("stages") if not s["is_deleted"]
    }


def test_fault_injector_never_hits_the_same_request_more_than_max_consecutive_times():
    injector = FaultInjector(FaultProfile("flaky", rate=1.0, max_consecutive=2), seed=1)
    draws = [injector.draw("GET /api/v2/deals?limit=1") for _ in range(6)]
    assert [fault is not None for fault in draws] == [True, True, False, True, True, False]
    assert FaultInjector(FaultProfile("down"), seed=1).draw("x").kind == "503"
    assert FaultInjector(None, seed=1).draw("x") is None


# --- pure paging functions ----------------------------------------------------------------------------------


def test_cursor_round_trips_and_rejects_garbage():
    cursor = Cursor("update_time", "2026-01-01T00:00:00Z", 42, "desc")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    with pytest.raises(Exception, match="cursor"):
        decode_cursor("%%%")


def test_cursor_page_breaks_ties_by_id_across_page_boundaries():
    records = [
        {"id": i, "update_time": "2026-01-01T00:00:00Z" if i % 2 else "2026-01-02T00:00:00Z"}
        for i in range(1, 12)
    ]
    seen, cursor = [], None
    while True:
        page, cursor = cursor_page(records, "update_time", "asc", cursor, 3)
        seen.extend(r["id"] for r in page)
        if cursor is None:
            break
    assert seen == [1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10]


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_prints_its_url_and_token_and_serves_until_terminated():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipedrive_emulator",
            "--port",
            "0",
            "--deals",
            "30",
            "--token",
            TOKEN,
            "--plan",
            "lite",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip().removeprefix("base_url=")
        token = process.stdout.readline().strip().removeprefix("token=")
        assert token == TOKEN
        response = requests.get(base_url + "/api/v2/deals", headers={"x-api-token": token}, timeout=10)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "20"
        assert response.json()["data"]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
