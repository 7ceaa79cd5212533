"""Deletes in real syncs: child streams survive an interrupted run, removed line items, reconciliation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tap_pipedrive.tap import TapPipedrive

TAP = Path(sys.executable).with_name("tap-pipedrive")
FAIL_FAST = {
    "retry_backoff_seconds": 0.01,
    "retry_backoff_max_seconds": 0.05,
    "max_retries": 1,
    "breaker_failures": 2,
}


def run_cli(
    config: dict[str, Any],
    state: dict[str, Any] | None,
    tmp_path: Path,
    *,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Run the tap CLI; hand every message to ``on_message`` as it comes (e.g. to take the API down)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [str(TAP), "--config", str(tmp_path / "config.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "state.json")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    messages = []
    assert process.stdout is not None
    for line in process.stdout:
        message = json.loads(line)
        messages.append(message)
        if on_message is not None:
            on_message(message)
    return messages, process.wait(timeout=300)


def records(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m["value"] for m in reversed(messages) if m["type"] == "STATE")


def activations(messages: list[dict[str, Any]], stream: str) -> list[int]:
    return [m["version"] for m in messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream]


def has_deals_bookmark(message: dict[str, Any]) -> bool:
    deals = message["value"].get("bookmarks", {}).get("deals", {}) if message["type"] == "STATE" else {}
    return any(p.get("replication_key_value") for p in deals.get("partitions") or [deals])


@pytest.mark.parametrize("activate_version", [True, False], ids=["with-activate-version", "pending-ids-only"])
def test_a_run_that_dies_after_the_deals_bookmark_moved_is_resumed_with_every_deal_product(
    make_emulator: Any, run_tap: Any, tmp_path: Path, activate_version: bool
) -> None:
    """#12.2: the API goes down mid-sync; the resumed run must still read the line items of earlier deals."""
    emulator = make_emulator(deals=1500, seed=9)
    config = {
        "api_token": emulator.token,
        "api_url": emulator.base_url,
        "page_size": 100,
        "activate_version": activate_version,
        **FAIL_FAST,
    }

    def go_down(message: dict[str, Any]) -> None:
        if has_deals_bookmark(message):
            emulator.set_faults("down")

    died, code = run_cli(config, None, tmp_path, on_message=go_down)
    assert code != 0
    assert has_deals_bookmark({"type": "STATE", "value": last_state(died)})
    assert len(records(died, "deals")) < 1500

    emulator.set_faults(None)
    resumed = run_tap(config, state=last_state(died))

    got = {r["id"] for r in records(died, "deal_products")} | set(resumed.ids("deal_products"))
    assert got == {r["id"] for r in emulator.records("deal_products")}
    assert {r["id"] for r in records(died, "deals")} | set(resumed.ids("deals")) == {
        d["id"] for d in emulator.records("deals")
    }
    assert len(resumed.records["deals"]) < 1500  # resumed from the bookmark, not started over


def test_a_line_item_removed_from_an_unchanged_deal_is_left_out_of_a_complete_versioned_read(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=250, seed=14)
    config = tap_config(emulator)
    first = run_tap(config)
    # Line items read while deals synced (100 deals at a time) carry the version the run activates.
    (first_version,) = activations(first.messages, "deal_products")
    read_early = [m for m in first.messages if m["type"] == "RECORD" and m["stream"] == "deal_products"]
    assert {m["version"] for m in read_early} == {first_version}
    deals_at = [i for i, m in enumerate(first.messages) if m["type"] == "RECORD" and m["stream"] == "deals"]
    first_line = next(
        i for i, m in enumerate(first.messages) if m["type"] == "RECORD" and m["stream"] == "deal_products"
    )
    assert deals_at[0] < first_line < deals_at[-1]
    removed = emulator.mutate(remove_line_items=3)["line_items_removed"]
    emulator.clear_log()

    second = run_tap(config, state=first.state)

    versions = activations(second.messages, "deal_products")
    assert len(versions) == 1
    last_line = max(i for i, m in enumerate(second.messages) if m.get("stream") == "deal_products")
    assert second.messages[last_line]["type"] == "ACTIVATE_VERSION"
    emitted = [m for m in second.messages if m["type"] == "RECORD" and m["stream"] == "deal_products"]
    assert {m["record"]["id"] for m in emitted} == {r["id"] for r in emulator.records("deal_products")}
    assert all(m["version"] == versions[0] for m in emitted)
    assert not set(removed["deal_products"]) & {m["record"]["id"] for m in emitted}
    assert not set(removed["deals"]) & set(second.ids("deals"))

    emulator.clear_log()
    third = run_tap(config, state=second.state)
    assert activations(third.messages, "deal_products") == []
    asked = [r.params["deal_ids"] for r in emulator.request_log if r.path == "/api/v2/deals/products"]
    assert {int(i) for ids in asked for i in ids.split(",")} <= set(third.ids("deals"))  # bookmark's second
    scans = [r for r in emulator.request_log if r.path == "/api/v2/deals" and "updated_since" not in r.params]
    assert scans
    assert all(r.params["include_fields"] == "products_count" for r in scans)


def test_a_reconciliation_pass_reads_every_record_under_one_version_and_then_activates_it(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=200, seed=15, purge_after_days=30)
    first = run_tap(tap_config(emulator))
    assert first.state["bookmarks"]["organizations"]["reconciled_at"]
    gone = emulator.mutate(delete={"organizations": 2, "persons": 2})["deleted"]
    purged = emulator.mutate(advance_days=31)["purged"]
    assert set(gone["organizations"]) <= set(purged["organizations"])

    between = run_tap(tap_config(emulator), state=first.state)
    assert activations(between.messages, "organizations") == []
    assert activations(between.messages, "users")  # full-table streams are complete every run

    emulator.clear_log()
    passed = run_tap(tap_config(emulator, reconcile_interval_hours=0), state=between.state)

    orgs = [m for m in passed.messages if m["type"] == "RECORD" and m["stream"] == "organizations"]
    (version,) = activations(passed.messages, "organizations")
    assert {m["version"] for m in orgs} == {version}
    assert {m["record"]["id"] for m in orgs} == {r["id"] for r in emulator.records("organizations")}
    assert not set(gone["organizations"]) & {m["record"]["id"] for m in orgs}
    last_org = max(i for i, m in enumerate(passed.messages) if m.get("stream") == "organizations")
    assert passed.messages[last_org] == {
        "type": "ACTIVATE_VERSION",
        "stream": "organizations",
        "version": version,
    }
    org_requests = [r for r in emulator.request_log if r.path == "/api/v2/organizations"]
    assert all("updated_since" not in r.params for r in org_requests)
    organizations_state = passed.state["bookmarks"]["organizations"]
    assert "reconciliation" not in organizations_state
    assert organizations_state["reconciled_at"] > first.state["bookmarks"]["organizations"]["reconciled_at"]


def test_an_interrupted_pass_carries_on_from_its_bookmark_under_the_same_version(
    make_emulator: Any, run_tap: Any, tmp_path: Path
) -> None:
    emulator = make_emulator(deals=400, seed=16)
    config = {"api_token": emulator.token, "api_url": emulator.base_url, "page_size": 100, **FAIL_FAST}
    first = run_tap(config)
    emulator.mutate(updates=5)

    def go_down(message: dict[str, Any]) -> None:
        activities = message["value"]["bookmarks"].get("activities", {}) if message["type"] == "STATE" else {}
        if "reconciliation" in activities and activities.get("replication_key_value"):
            emulator.set_faults("down")

    died, code = run_cli({**config, "reconcile_interval_hours": 0}, first.state, tmp_path, on_message=go_down)
    assert code != 0
    interrupted = last_state(died)["bookmarks"]["activities"]
    version = interrupted["reconciliation"]["version"]
    assert activations(died, "activities") == []

    emulator.set_faults(None)
    emulator.clear_log()
    resumed = run_tap(config, state=last_state(died))

    assert activations(resumed.messages, "activities") == [version]
    emitted = [m for m in resumed.messages if m["type"] == "RECORD" and m["stream"] == "activities"]
    assert {m["version"] for m in emitted} == {version}
    listed = {r["id"] for r in emulator.records("activities") if not r["is_deleted"]}
    assert {r["id"] for r in records(died, "activities")} | {m["record"]["id"] for m in emitted} == listed
    assert len(emitted) < len(listed)
    assert all("updated_since" in r.params for r in emulator.request_log if r.path == "/api/v2/activities")
    assert "reconciliation" not in resumed.state["bookmarks"]["activities"]


def test_a_stream_the_plan_refuses_never_sends_activate_version(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(
        deals=40, seed=3, gates={"/api/v1/leadLabels": 403, "/api/v2/organizations": 402}
    )
    out = run_tap(tap_config(emulator))
    assert activations(out.messages, "lead_labels") == []
    assert activations(out.messages, "organizations") == []
    assert "reconciliation" in out.state["bookmarks"]["organizations"]
    assert activations(out.messages, "currencies")
    assert activations(out.messages, "persons")


@pytest.mark.parametrize("activate_version", [True, False])
def test_without_the_deals_stream_deal_products_reads_every_deals_line_items_each_run(
    make_emulator: Any, run_tap: Any, tap_config: Any, activate_version: bool
) -> None:
    emulator = make_emulator(deals=120, seed=17)
    config = tap_config(emulator, activate_version=activate_version)
    catalog = TapPipedrive(config=config).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "deals":
            next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] = False
    first = run_tap(config, catalog=catalog)
    emulator.mutate(remove_line_items=2)
    second = run_tap(config, state=first.state, catalog=catalog)

    assert "deals" not in second.records
    assert set(second.ids("deal_products")) == {r["id"] for r in emulator.records("deal_products")}
    assert len(activations(second.messages, "deal_products")) == int(activate_version)
