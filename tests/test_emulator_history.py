"""The emulator's deal histories: changelogs consistent with each deal, paged as the spec says, grown by
mutate; stage visits and movement statistics computed from them."""

from __future__ import annotations

import base64
import itertools
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from pipedrive_emulator import Emulator

V1 = "%Y-%m-%d %H:%M:%S"


def v1(stamp: str | None) -> str | None:
    """A v2 timestamp in the changelog's v1 form."""
    return None if stamp is None else f"{stamp[:10]} {stamp[11:19]}"


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def at(stamp: str) -> datetime:
    return datetime.strptime(stamp, V1).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(deals=400, seed=31)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def http(emulator):
    with requests.Session() as session:
        session.headers["x-api-token"] = emulator.token
        yield session


def changelog_url(emulator: Emulator, deal_id: int) -> str:
    return f"{emulator.base_url}/v1/deals/{deal_id}/changelog"


def read_all(http: requests.Session, url: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every entry, following next_cursor; and the number of requests."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    calls = 0
    while True:
        body = http.get(url, params=params, timeout=10).json()
        calls += 1
        entries.extend(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return entries, calls
        params["cursor"] = cursor


def check_consistent(deal: dict[str, Any], log: list[dict[str, Any]]) -> None:
    """What a deal's changelog must say about its present."""
    times = [at(e["time"]) for e in log]
    assert times == sorted(times), deal["id"]
    if log:
        assert v1(deal["add_time"]) < log[0]["time"], deal["id"]  # creating a deal is not a change
        assert log[-1]["time"] <= v1(deal["update_time"])
    moves = [e for e in log if e["field_key"] == "stage_id"]
    if deal["stage_change_time"] is None:
        assert moves == [], deal["id"]
    else:
        assert moves, deal["id"]
        assert moves[-1]["new_value"] == str(deal["stage_id"])
        assert moves[-1]["time"] == v1(deal["stage_change_time"])
        for before, after in itertools.pairwise(moves):
            assert before["new_value"] == after["old_value"], deal["id"]
    statuses = [e for e in log if e["field_key"] == "status"]
    closed_at = {"won": deal["won_time"], "lost": deal["lost_time"], "deleted": deal["update_time"]}
    closed = closed_at.get(deal["status"])
    if closed is None or closed == deal["add_time"]:  # open, or created closed (no change to log)
        assert all(e["new_value"] == "open" for e in statuses[-1:]), deal["id"]
    else:
        assert statuses, deal["id"]
        assert statuses[-1]["new_value"] == deal["status"], deal["id"]
        if deal["status"] != "deleted":
            assert statuses[-1]["time"] == v1(closed)
            assert not moves or moves[-1]["time"] <= statuses[-1]["time"]
    for key, current in (("value", deal["value"]), ("user_id", deal["owner_id"])):
        edits = [e for e in log if e["field_key"] == key]
        if edits:
            assert edits[-1]["new_value"] == as_text(current), (deal["id"], key)


def test_every_deals_changelog_ends_in_its_current_state(emulator):
    deals = emulator.records("deals")
    logs = {d["id"]: emulator.changelog(d["id"]) for d in deals}
    for deal in deals:
        check_consistent(deal, logs[deal["id"]])
    kinds = Counter(e["field_key"] for log in logs.values() for e in log)
    assert {"stage_id", "status", "value", "user_id", "won_time", "lost_time", "pipeline_id"} <= set(kinds)
    assert any(e["is_bulk_update_flag"] for log in logs.values() for e in log)
    assert sum(d["stage_change_time"] is None for d in deals) > 20
    assert max(len(log) for log in logs.values()) >= 6


def test_changelog_pages_newest_first_and_every_page_costs_20_tokens(emulator, http):
    deal_id = max((d["id"] for d in emulator.records("deals")), key=lambda i: len(emulator.changelog(i)))
    truth = emulator.changelog(deal_id)
    emulator.clear_log()

    entries, calls = read_all(http, changelog_url(emulator, deal_id), limit=2)

    assert entries == list(reversed(truth))
    assert calls == -(-len(truth) // 2)
    costs = [r.token_cost for r in emulator.request_log]
    assert costs == [20] * calls
    whole = http.get(changelog_url(emulator, deal_id), timeout=10).json()
    assert whole["data"] == list(reversed(truth))
    assert whole["additional_data"] == {"next_cursor": None}


def test_a_cursor_still_pages_on_after_new_changes_are_added_on_top(make_emulator):
    emulator = make_emulator(deals=60, seed=8)
    deal_id = next(
        d["id"]
        for d in emulator.records("deals")
        if d["status"] == "open" and not d["is_archived"] and len(emulator.changelog(d["id"])) >= 3
    )
    with requests.Session() as http:
        http.headers["x-api-token"] = emulator.token
        url = changelog_url(emulator, deal_id)
        first = http.get(url, params={"limit": 1}, timeout=10).json()
        old = emulator.changelog(deal_id)
        emulator.mutate(stage_moves=60)  # moves every open deal
        assert len(emulator.changelog(deal_id)) > len(old)
        rest, _ = read_all_from(http, url, first["additional_data"]["next_cursor"])
    assert first["data"] + rest == list(reversed(old))


def read_all_from(http: requests.Session, url: str, cursor: str) -> tuple[list[dict[str, Any]], int]:
    entries: list[dict[str, Any]] = []
    calls = 0
    while cursor:
        body = http.get(url, params={"limit": 1, "cursor": cursor}, timeout=10).json()
        calls += 1
        entries.extend(body["data"])
        cursor = body["additional_data"]["next_cursor"]
    return entries, calls


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"cursor": "not-a-cursor!"},
        {"cursor": base64.urlsafe_b64encode(b"id:99999").decode()},
        {"cursor": base64.urlsafe_b64encode(b"offset:2").decode()},
        {"start": "0"},
    ],
    ids=[
        "limit-0",
        "limit-501",
        "limit-text",
        "cursor-garbage",
        "cursor-out-of-range",
        "cursor-other",
        "start",
    ],
)
def test_invalid_changelog_parameters_answer_400(emulator, http, params):
    deal_id = next(d["id"] for d in emulator.records("deals") if emulator.changelog(d["id"]))
    response = http.get(changelog_url(emulator, deal_id), params=params, timeout=10)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_changelog_of_an_unknown_deal_is_404(emulator, http):
    response = http.get(changelog_url(emulator, 10_000_000), timeout=10)
    assert response.status_code == 404


def test_mutate_logs_the_changes_it_makes(make_emulator):
    emulator = make_emulator(deals=200, seed=12)
    before = {d["id"]: emulator.changelog(d["id"]) for d in emulator.records("deals")}
    change = emulator.mutate(updates=30, deletes=3, stage_moves=5, wins=2, losses=2, add_field="deal")
    now = v1(change["now"])
    deals = {d["id"]: d for d in emulator.records("deals")}
    added = {
        deal_id: emulator.changelog(deal_id)[len(old) :]
        for deal_id, old in before.items()
        if emulator.changelog(deal_id)[: len(old)] == old
    }
    assert set(added) == set(deals)  # nothing rewritten, only appended
    touched = {deal_id for deal_id, new in added.items() if new}
    expected = set(change["updated"].get("deals", [])) | set(change["deleted"]["deals"])
    expected |= set(change["field_added"]["record_ids"]) | {
        i for kind in ("moved", "won", "lost") for i in change[kind]["deals"]
    }
    assert touched == expected
    for deal_id in touched:
        assert {e["time"] for e in added[deal_id]} == {now}
        check_consistent(deals[deal_id], emulator.changelog(deal_id))
    for deal_id in change["moved"]["deals"]:
        assert deals[deal_id]["stage_change_time"] == change["now"]
        assert [e["field_key"] for e in added[deal_id]] == ["stage_id"]
    for deal_id in change["won"]["deals"]:
        assert {e["field_key"]: e["new_value"] for e in added[deal_id]}["status"] == "won"
    for deal_id in change["deleted"]["deals"]:
        assert [(e["field_key"], e["new_value"]) for e in added[deal_id]] == [("status", "deleted")]
    code = change["field_added"]["field_code"]
    for deal_id in change["field_added"]["record_ids"]:
        assert code in [e["field_key"] for e in added[deal_id]]


def test_stage_visits_chain_from_creation_to_the_current_stage(emulator):
    deals = {d["id"]: d for d in emulator.records("deals")}
    visits = defaultdict(list)
    for visit in emulator.stage_visits():
        visits[visit["deal_id"]].append(visit)
    assert set(visits) == set(deals)
    for deal_id, chain in visits.items():
        deal = deals[deal_id]
        assert chain[0]["entered_at"] == datetime.fromisoformat(deal["add_time"].replace("Z", "+00:00"))
        for before, after in itertools.pairwise(chain):
            assert (before["left_by"], before["next_stage_id"]) == ("stage", after["stage_id"])
            assert before["exited_at"] == after["entered_at"]
        last = chain[-1]
        assert last["stage_id"] == deal["stage_id"]
        closed = {"won": deal["won_time"], "lost": deal["lost_time"]}.get(deal["status"])
        if deal["status"] == "open":
            assert (last["exited_at"], last["left_by"]) == (None, None)
        else:
            assert last["left_by"] == deal["status"], deal_id
        if closed is not None:
            assert last["exited_at"] == datetime.fromisoformat(closed.replace("Z", "+00:00"))
        assert all(v["exited_at"] is None or v["exited_at"] >= v["entered_at"] for v in chain)


def test_movement_statistics_answer_from_the_emulators_own_visits(emulator, http):
    deals = emulator.records("deals")
    owner = Counter(d["owner_id"] for d in deals).most_common(1)[0][0]
    start, end = date(2025, 1, 1), date(2026, 6, 30)
    emulator.clear_log()
    response = http.get(
        f"{emulator.base_url}/v1/pipelines/1/movement_statistics",
        params={"start_date": start.isoformat(), "end_date": end.isoformat(), "user_id": owner},
        timeout=10,
    )
    assert response.status_code == 200
    assert [r.token_cost for r in emulator.request_log] == [40]
    data = response.json()["data"]
    assert data == emulator.movement_statistics(1, start, end, owner)

    # The same averages, computed here from the ground-truth visits.
    mine = {d["id"] for d in deals if d["owner_id"] == owner and d["status"] != "deleted"}
    low = datetime(2025, 1, 1, tzinfo=UTC)
    high = datetime(2026, 7, 1, tzinfo=UTC)
    ages = defaultdict(list)
    for v in emulator.stage_visits():
        moved_out = v["deal_id"] in mine and v["pipeline_id"] == 1 and v["left_by"] == "stage"
        if moved_out and low <= v["exited_at"] < high:
            ages[v["stage_id"]].append((v["exited_at"] - v["entered_at"]).total_seconds() / 86_400)
    assert ages
    expected = [{"stage_id": s, "value": int(sum(a) / len(a) + 0.5)} for s, a in sorted(ages.items())]
    assert data["average_age_in_days"]["by_stages"] == expected
    assert data["movements_between_stages"]["count"] >= sum(len(a) for a in ages.values())
    won = sorted(
        d["id"]
        for d in deals
        if d["id"] in mine
        and d["pipeline_id"] == 1
        and d["status"] == "won"
        and "2025-01-01" <= d["won_time"][:10] <= "2026-06-30"
    )
    assert data["won_deals"]["deals_ids"] == won


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/pipelines/1/movement_statistics", {"start_date": "2025-01-01"}, 400),
        ("/v1/pipelines/1/movement_statistics", {"start_date": "2025-02-01", "end_date": "2025-01-01"}, 400),
        ("/v1/pipelines/1/movement_statistics", {"start_date": "2025-02-30", "end_date": "2025-03-01"}, 400),
        (
            "/v1/pipelines/999/movement_statistics",
            {"start_date": "2025-01-01", "end_date": "2025-02-01"},
            404,
        ),
    ],
    ids=["missing-end", "end-before-start", "bad-date", "unknown-pipeline"],
)
def test_movement_statistics_refuse_bad_requests(emulator, http, path, params, status):
    response = http.get(emulator.base_url + path, params=params, timeout=10)
    assert response.status_code == status
    assert response.json()["success"] is False
