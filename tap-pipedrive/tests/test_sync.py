"""Full and incremental syncs against the emulator: exactly its records, named custom columns, resumable."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tap_pipedrive.errors import TokenRejected
from tap_pipedrive.tap import TapPipedrive

INCREMENTAL = ("organizations", "persons", "deals", "activities", "products", "leads", "notes")
V1_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _expected_ids(emulator: Any) -> dict[str, set[Any]]:
    """What the API lists per stream: soft-deleted persons/orgs/… and inactive notes are not listed."""
    listed = {
        "deals": emulator.records("deals"),
        "deal_products": emulator.records("deal_products"),
        "leads": emulator.records("leads"),
        "notes": [r for r in emulator.records("notes") if r.get("active_flag", True)],
    }
    for stream in ("organizations", "persons", "activities", "products", "pipelines", "stages"):
        listed[stream] = [r for r in emulator.records(stream) if not r.get("is_deleted")]
    for stream in ("users", "activity_types", "lead_labels", "currencies"):
        listed[stream] = emulator.records(stream)
    return {stream: {r["id"] for r in records} for stream, records in listed.items()}


def _as_emitted(value: Any) -> Any:
    if isinstance(value, str) and V1_STAMP.match(value):
        return value.replace(" ", "T") + "Z"
    return value


def _expected_custom(field: dict[str, Any], column: str, value: Any) -> dict[str, Any]:
    """The columns a custom value must land in (written independently of the tap's code)."""
    kind = field["field_type"]
    labels = {o["id"]: o["label"] for o in field.get("options") or []}
    if kind == "enum":
        return {column: labels.get(value) if value is not None else None}
    if kind == "set":
        return {column: [labels[v] for v in value] if value else None}
    if kind == "monetary":
        value = value or {}
        return {column: value.get("value"), f"{column}_currency": value.get("currency")}
    if kind in ("daterange", "timerange"):
        value = value or {}
        return {column: value.get("value"), f"{column}_until": value.get("until")}
    if kind == "time":
        return {column: (value or {}).get("value")}
    if kind == "address":
        value = value or {}
        return {
            column: value.get("value"),
            f"{column}_locality": value.get("locality"),
            f"{column}_country": value.get("country"),
            f"{column}_postal_code": value.get("postal_code"),
        }
    return {column: value}


def _rejected(emulator: Any) -> list[Any]:
    return [r for r in emulator.request_log if r.status >= 400]


def test_full_sync_emits_exactly_the_emulator_records(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=300, seed=5, rate_limits=False)
    out = run_tap(tap_config(emulator))

    for stream, ids in _expected_ids(emulator).items():
        emitted = out.ids(stream)
        assert len(emitted) == len(set(emitted)), f"{stream} emitted duplicates"
        assert set(emitted) == ids, stream
    assert not _rejected(emulator)

    deals = {r["id"]: r for r in out.records["deals"]}
    truth = {r["id"]: r for r in emulator.records("deals")}
    assert any(d["is_deleted"] for d in deals.values())
    assert any(d["is_archived"] for d in deals.values())
    for deal_id, expected in truth.items():
        emitted = deals[deal_id]
        for key in (
            "title",
            "value",
            "currency",
            "status",
            "stage_id",
            "owner_id",
            "org_id",
            "update_time",
            "won_time",
            "expected_close_date",
            "is_deleted",
            "is_archived",
        ):
            assert emitted[key] == expected[key], (deal_id, key)

    columns = {r["field_code"]: r["column_name"] for r in out.records["deal_fields"] if r["is_custom_field"]}
    custom = [f for f in emulator.fields("deal") if f["is_custom_field"]]
    assert set(columns) == {f["field_code"] for f in custom}
    assert len(set(columns.values())) == len(columns)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", c) and len(c) <= 63 for c in columns.values())
    for deal_id, expected in truth.items():
        for field in custom:
            shaped = _expected_custom(
                field, columns[field["field_code"]], expected["custom_fields"].get(field["field_code"])
            )
            for column, value in shaped.items():
                assert deals[deal_id][column] == value, (deal_id, field["field_name"], column)
        assert "custom_fields" not in deals[deal_id]

    schema = out.schemas["deals"]["properties"]
    by_type = {f["field_type"]: columns[f["field_code"]] for f in custom}
    assert "number" in schema[by_type["double"]]["type"]
    assert schema[by_type["date"]]["format"] == "date"
    assert schema[by_type["set"]]["items"] == {"type": "string"}
    assert "string" in schema[by_type["monetary"] + "_currency"]["type"]
    assert "integer" in schema[by_type["user"]]["type"]

    persons = {r["id"]: r for r in out.records["persons"]}
    for person in emulator.records("persons"):
        if person["id"] in persons:
            primary = next(
                (e["value"] for e in person["emails"] if e.get("primary")),
                person["emails"][0]["value"] if person["emails"] else None,
            )
            assert persons[person["id"]]["primary_email"] == primary
            assert persons[person["id"]]["emails"] == person["emails"]
    orgs = {r["id"]: r for r in out.records["organizations"]}
    for org in emulator.records("organizations"):
        if org["id"] in orgs and org.get("address"):
            assert orgs[org["id"]]["address_locality"] == (org["address"].get("locality") or None)
    notes = {r["id"]: r for r in out.records["notes"]}
    for note in emulator.records("notes"):
        if note["id"] in notes:
            assert notes[note["id"]]["update_time"] == _as_emitted(note["update_time"])
            assert notes[note["id"]]["update_time"].endswith("Z")


def _bookmarks(state: dict[str, Any], stream: str) -> list[str]:
    entry = state["bookmarks"].get(stream, {})
    parts = entry.get("partitions") or [entry]
    return [p["replication_key_value"] for p in parts if p.get("replication_key_value")]


def test_incremental_run_emits_the_changes_and_only_boundary_records(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=300, seed=6, rate_limits=False)
    config = tap_config(emulator, page_size=10)  # the 42 changes share one second across pages
    first = run_tap(config)
    change = emulator.mutate(updates=37, deletes=5)
    emulator.clear_log()
    second = run_tap(config, state=first.state)

    changed = {(stream, rid) for stream, ids in change["updated"].items() for rid in ids}
    changed |= {("deals", rid) for rid in change["deleted"]["deals"]}
    assert len(changed) == 42
    emitted = {(stream, rid) for stream in INCREMENTAL for rid in second.ids(stream)}
    assert changed <= emitted
    deals = {r["id"]: r for r in second.records["deals"]}
    assert all(deals[rid]["is_deleted"] for rid in change["deleted"]["deals"])

    boundary = set()
    for stream in INCREMENTAL:
        marks = {m[:19] for m in _bookmarks(first.state, stream)}
        boundary |= {(stream, r["id"]) for r in first.records[stream] if r["update_time"][:19] in marks}
    assert emitted - changed <= boundary
    assert len(emitted - changed) <= 15
    assert not _rejected(emulator)


def test_renamed_field_keeps_its_column_and_new_field_gets_one(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=200, seed=8, rate_limits=False)
    config = tap_config(emulator)
    first = run_tap(config)
    before = {r["field_code"]: r["column_name"] for r in first.records["deal_fields"] if r["is_custom_field"]}
    change = emulator.mutate(rename_field="deal", add_field="deal")
    renamed, added = change["field_renamed"], change["field_added"]

    # Meltano discovers without state (so the catalog names the new slug), then syncs with catalog + state.
    catalog = TapPipedrive(config=config).catalog_dict
    second = run_tap(config, state=first.state, catalog=catalog)
    after = {r["field_code"]: r["column_name"] for r in second.records["deal_fields"] if r["is_custom_field"]}

    assert {code: after[code] for code in before} == before
    assert after[renamed["field_code"]] == before[renamed["field_code"]]
    new_column = after[added["field_code"]]
    assert new_column not in before.values()
    schema = second.schemas["deals"]["properties"]
    assert set(before.values()) <= set(schema)
    assert new_column in schema
    names = {r["field_code"]: r["field_name"] for r in second.records["deal_fields"]}
    assert names[renamed["field_code"]] == renamed["new_name"]
    deal = next(r for r in second.records["deals"] if r["id"] in set(added["record_ids"]))
    assert new_column in deal


def test_killed_run_resumed_from_last_state_ends_with_the_complete_set(
    make_emulator, run_tap, tap_config, singer_output, tmp_path
) -> None:
    emulator = make_emulator(deals=1500, seed=9, rate_limits=False)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(tap_config(emulator, page_size=100)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_pipedrive.tap", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        message = json.loads(line)
        if message["type"] == "STATE" and _bookmarks(message["value"], "deals"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = singer_output("".join(lines))
    assert len(killed.records["deals"]) < 1500

    resumed = run_tap(json.loads(config_file.read_text()), state=killed.state)
    got = set(killed.ids("deals")) | set(resumed.ids("deals"))
    assert got == {d["id"] for d in emulator.records("deals")}
    assert len(resumed.records["deals"]) < len(emulator.records("deals"))


def test_cli_output_loads_through_target_jsonl(make_emulator, tap_config, tmp_path) -> None:
    venv = Path(os.environ.get("PIPEBOARD_TARGET_JSONL_VENV", "/work/main/.venv-target-jsonl"))
    target = venv / "bin" / "target-jsonl"
    if not target.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "target-jsonl"], check=True)
    emulator = make_emulator(deals=50, seed=3, rate_limits=False)
    (tmp_path / "tap.json").write_text(json.dumps(tap_config(emulator)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (tmp_path / "target.json").write_text(json.dumps({"destination_path": str(out_dir)}))
    tap_cli = Path(sys.executable).with_name("tap-pipedrive")
    tap = subprocess.Popen([str(tap_cli), "--config", str(tmp_path / "tap.json")], stdout=subprocess.PIPE)
    result = subprocess.run(
        [str(target), "--config", str(tmp_path / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        check=False,
    )
    assert tap.wait() == 0
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    files = {p.name.split("-")[0]: p for p in out_dir.glob("*.jsonl")}
    assert {"deals", "persons", "deal_fields", "users"} <= set(files)
    deal_rows = [json.loads(line) for line in files["deals"].read_text().splitlines()]
    assert {row["id"] for row in deal_rows} == {d["id"] for d in emulator.records("deals")}


def test_spent_budget_share_stops_cleanly_and_the_next_run_completes(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=1500, seed=4, rate_limits=False)
    share = 0.0003  # of the ultimate plan's 1,050,000 daily tokens: 315
    stopped = run_tap(tap_config(emulator, token_budget_share=share, page_size=50))
    spent = sum(r.token_cost for r in emulator.request_log if r.status < 400)
    assert spent <= 315
    assert len(stopped.records["deals"]) < 1500

    emulator.reset_daily_budget()
    resumed = run_tap(tap_config(emulator, page_size=500), state=stopped.state)
    got = set(stopped.ids("deals")) | set(resumed.ids("deals"))
    assert got == {d["id"] for d in emulator.records("deals")}
    assert not _rejected(emulator)


def test_unreadable_field_metadata_fails_discovery_loudly(make_emulator) -> None:
    emulator = make_emulator(deals=10, seed=1, rate_limits=False)
    with pytest.raises(TokenRejected, match=r"^Pipedrive rejected the API token \(HTTP 401\)"):
        TapPipedrive(config={"api_token": "f" * 40, "api_url": emulator.base_url, "max_retries": 0})


def _deselect(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == stream:
            for item in entry["metadata"]:
                if item["breadcrumb"] == []:
                    item["metadata"]["selected"] = False
    return catalog


def test_deal_products_without_the_deals_stream_lists_every_deal_first(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=250, seed=12, rate_limits=False)
    config = tap_config(emulator)
    catalog = _deselect(TapPipedrive(config=config).catalog_dict, "deals")
    out = run_tap(config, catalog=catalog)
    assert "deals" not in out.records
    assert set(out.ids("deal_products")) == {r["id"] for r in emulator.records("deal_products")}
    chunks = [r for r in emulator.request_log if r.path == "/api/v2/deals/products"]
    assert len(chunks) == 3  # 250 deals, 100 per request
    assert not _rejected(emulator)


def test_field_metadata_comes_from_redis_on_the_next_run(
    make_emulator, run_tap, tap_config, redis_url
) -> None:
    emulator = make_emulator(deals=30, seed=13, rate_limits=False)
    config = tap_config(emulator, redis_url=redis_url, cache_ttl=60)
    first = run_tap(config)
    emulator.clear_log()
    second = run_tap(config, state=first.state)
    field_paths = [r.path for r in emulator.request_log if r.path.endswith("Fields")]
    assert field_paths == []
    assert {r["field_code"] for r in second.records["deal_fields"]} == {
        f["field_code"] for f in emulator.fields("deal")
    }


def test_without_redis_the_cache_is_announced_once_per_sync_and_not_in_discovery(
    make_emulator, tap_config, tmp_path: Path
) -> None:
    emulator = make_emulator(deals=30, seed=4, rate_limits=False)
    config = {key: value for key, value in tap_config(emulator).items() if key != "redis_url"}
    (tmp_path / "tap.json").write_text(json.dumps(config), encoding="utf-8")
    tap_cli = Path(sys.executable).with_name("tap-pipedrive")
    announcement = "No redis_url set"

    discovery = subprocess.run(
        [str(tap_cli), "--config", str(tmp_path / "tap.json"), "--discover"], capture_output=True, check=True
    )
    (tmp_path / "catalog.json").write_bytes(discovery.stdout)
    sync = subprocess.run(
        [str(tap_cli), "--config", str(tmp_path / "tap.json"), "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True,
        check=True,
    )

    assert announcement not in discovery.stderr.decode()
    assert sync.stderr.decode().count(announcement) == 1
    assert b'"type":"RECORD"' in sync.stdout.replace(b" ", b"")
