"""deal_changes against the emulator: each deal_history setting, incremental runs, kills, the token budget."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from tap_pipedrive.history_state import HistoryProgress, epoch_of
from tap_pipedrive.tap import TapPipedrive

HISTORY = ("deals", "deal_changes", "deal_history_coverage")
CHANGELOG = "/changelog"


def only(catalog: dict[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """The catalog with just ``streams`` selected."""
    chosen = set(streams)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in chosen
    return catalog


def history_catalog(config: dict[str, Any], streams: Iterable[str] = HISTORY) -> dict[str, Any]:
    return only(TapPipedrive(config=config).catalog_dict, streams)


def content(deal_id: int, entry: dict[str, Any]) -> tuple[Any, ...]:
    """A change as the emulator states it, in the record's terms (written independently of the tap)."""
    time = entry["time"]
    return (
        deal_id,
        f"{time[:10]}T{time[11:19]}Z",
        entry["field_key"],
        entry["old_value"],
        entry["new_value"],
        entry["actor_user_id"],
        entry["change_source"],
        entry["change_source_user_agent"],
        entry["is_bulk_update_flag"],
    )


def record_content(record: dict[str, Any]) -> tuple[Any, ...]:
    names = ("deal_id", "time", "field_key", "old_value", "new_value", "actor_user_id", "change_source")
    return (*(record[n] for n in names), record["change_source_user_agent"], record["is_bulk_update_flag"])


def table(*runs: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """What an upserting target holds after loading the runs' deal_changes in order."""
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for run in runs:
        for record in run.records["deal_changes"]:
            key = (record["deal_id"], record["time"], record["field_key"], record["change_hash"])
            rows[key] = record_content(record)
    return rows


def expected(logs: dict[int, list[dict[str, Any]]]) -> Counter[tuple[Any, ...]]:
    return Counter(content(deal_id, entry) for deal_id, log in logs.items() for entry in log)


def changelog_requests(emulator: Any) -> list[tuple[int, str | None]]:
    """(deal id, cursor) of every changelog request, in order."""
    return [
        (int(r.path.split("/")[-2]), r.params.get("cursor"))
        for r in emulator.request_log
        if r.path.endswith(CHANGELOG)
    ]


def coverage_row(out: Any) -> dict[str, Any]:
    [row] = out.records["deal_history_coverage"]
    return row


def test_stages_reads_the_moved_deals_then_only_those_that_moved_again(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=150, seed=21)
    config = tap_config(emulator)
    catalog = history_catalog(config)
    emulator.clear_log()

    first = run_tap(config, catalog=catalog)

    moved_before = {d["id"] for d in emulator.records("deals") if d["stage_change_time"]}
    read = {deal_id: emulator.changelog(deal_id) for deal_id in moved_before}
    assert Counter(table(first).values()) == expected(read)
    assert sorted(deal for deal, _ in changelog_requests(emulator)) == sorted(moved_before)
    assert len(moved_before) < len(emulator.records("deals"))
    row = coverage_row(first)
    assert (row["mode"], row["deals_complete"], row["deals_pending"]) == ("stages", len(moved_before), 0)
    assert row["is_complete"] is True

    change = emulator.mutate(updates=25, deletes=3, stage_moves=8, wins=3, losses=2)
    emulator.clear_log()
    second = run_tap(config, state=first.state, catalog=catalog)

    moved = set(change["moved"]["deals"])
    assert {deal for deal, _ in changelog_requests(emulator)} == moved
    assert len(changelog_requests(emulator)) == len(moved)
    listed_through = epoch_of(first.state["bookmarks"]["deal_changes"]["listed_through"])
    for deal_id in moved:
        emitted = Counter(
            record_content(r) for r in second.records["deal_changes"] if r["deal_id"] == deal_id
        )
        new = [e for e in emulator.changelog(deal_id) if e not in read.get(deal_id, [])]
        recent = [e for e in emulator.changelog(deal_id) if epoch_of(e["time"]) >= listed_through]
        assert Counter(content(deal_id, e) for e in new) <= emitted <= expected({deal_id: recent})
    now = {d["id"] for d in emulator.records("deals") if d["stage_change_time"]}
    truth = {deal_id: read[deal_id] for deal_id in now - moved} | {d: emulator.changelog(d) for d in moved}
    assert Counter(table(first, second).values()) == expected(truth)
    assert coverage_row(second)["deals_complete"] == len(now)


def test_all_reads_every_deal_whose_update_time_moved(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=120, seed=22)
    config = tap_config(emulator, deal_history="all")
    catalog = history_catalog(config)
    before = {d["id"]: d["update_time"] for d in emulator.records("deals")}

    first = run_tap(config, catalog=catalog)
    change = emulator.mutate(updates=25, deletes=3, stage_moves=5, wins=2, add_field="deal")
    emulator.clear_log()
    second = run_tap(config, state=first.state, catalog=catalog)

    updated = {d["id"] for d in emulator.records("deals") if d["update_time"] != before[d["id"]]}
    assert set(change["moved"]["deals"]) <= updated
    assert sorted(deal for deal, _ in changelog_requests(emulator)) == sorted(updated)
    every = {d["id"]: emulator.changelog(d["id"]) for d in emulator.records("deals")}
    assert Counter(table(first, second).values()) == expected(every)
    assert any(r["field_key"] == change["field_added"]["field_code"] for r in second.records["deal_changes"])
    assert coverage_row(second)["mode"] == "all"


def test_off_reads_no_history_and_says_so(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=40, seed=23)
    config = tap_config(emulator, deal_history="off")
    out = run_tap(config, catalog=history_catalog(config))
    assert changelog_requests(emulator) == []
    assert out.records["deal_changes"] == []
    row = coverage_row(out)
    assert (row["mode"], row["coverage"], row["is_complete"]) == ("off", None, False)


def test_an_invalid_deal_history_setting_is_refused_by_name() -> None:
    from singer_sdk.exceptions import ConfigValidationError

    with pytest.raises(ConfigValidationError) as raised:
        TapPipedrive(config={"api_token": "0" * 40, "api_url": "http://127.0.0.1:9", "deal_history": "some"})
    assert any("deal_history" in error for error in raised.value.errors), raised.value.errors


def test_without_the_deals_stream_the_history_lists_deals_itself(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=80, seed=24)
    config = tap_config(emulator)
    # An installation that synced deals before deal_changes existed: the deals bookmark is far ahead.
    synced = run_tap(config, catalog=history_catalog(config, ["deals"]))
    emulator.clear_log()

    out = run_tap(config, state=synced.state, catalog=history_catalog(config, ["deal_changes"]))

    listings = [r for r in emulator.request_log if r.path in ("/api/v2/deals", "/api/v2/deals/archived")]
    assert listings
    assert all("updated_since" not in r.params for r in listings)
    moved = {d["id"] for d in emulator.records("deals") if d["stage_change_time"]}
    assert Counter(table(out).values()) == expected({d: emulator.changelog(d) for d in moved})


def test_switching_from_stages_to_all_reads_what_stages_left_out(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=80, seed=25)
    stages = tap_config(emulator)
    catalog = history_catalog(stages)
    first = run_tap(stages, catalog=catalog)
    emulator.mutate(updates=30)  # value edits, no stage moves: nothing for stages to read
    emulator.clear_log()
    second = run_tap(stages, state=first.state, catalog=catalog)
    assert changelog_requests(emulator) == []
    emulator.clear_log()

    third = run_tap(tap_config(emulator, deal_history="all"), state=second.state, catalog=catalog)

    every = {d["id"]: emulator.changelog(d["id"]) for d in emulator.records("deals")}
    assert Counter(table(first, second, third).values()) == expected(every)
    assert coverage_row(third)["is_complete"] is True


def test_a_deal_gone_from_pipedrive_is_dropped_and_a_stale_cursor_restarts_its_deal(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=40, seed=26)
    config = tap_config(emulator)
    catalog = history_catalog(config)
    first = run_tap(config, catalog=catalog)
    deal_id = max(d["id"] for d in emulator.records("deals") if d["stage_change_time"])
    progress = HistoryProgress.load(first.state["bookmarks"]["deal_changes"])
    progress.pending[987_654] = None  # purged since it was queued
    progress.done.pop(deal_id)
    progress.pending[deal_id] = None
    state = json.loads(json.dumps(first.state))
    state["bookmarks"]["deal_changes"] = progress.dump()
    state["bookmarks"]["deal_changes"]["reading"] = {
        "deal_id": deal_id,
        "cursor": "bm90LWEtY3Vyc29y",
        "since": None,
        "started": state["bookmarks"]["deal_changes"]["listed_through"],
    }
    emulator.clear_log()

    out = run_tap(config, state=state, catalog=catalog)

    asked = changelog_requests(emulator)
    assert asked == [(deal_id, "bm90LWEtY3Vyc29y"), (deal_id, None), (987_654, None)]
    assert Counter(table(out).values()) == expected({deal_id: emulator.changelog(deal_id)})
    row = coverage_row(out)
    assert (row["deals_pending"], row["is_complete"]) == (0, True)
    final = HistoryProgress.load(out.state["bookmarks"]["deal_changes"])
    assert 987_654 not in final.done
    assert deal_id in final.done


def test_a_run_killed_during_the_changelogs_resumes_and_ends_with_every_change(
    make_emulator, run_tap, tap_config, singer_output, tmp_path
) -> None:
    emulator = make_emulator(deals=400, seed=27)
    config = tap_config(emulator)
    catalog = history_catalog(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_pipedrive.tap", "--config", str(tmp_path / "config.json"),
         "--catalog", str(tmp_path / "catalog.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        message = json.loads(line)
        history = message.get("value", {}).get("bookmarks", {}).get("deal_changes", {})
        if message["type"] == "STATE" and history.get("done") and history.get("pending"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = singer_output("".join(lines))
    done_before = set(HistoryProgress.load(killed.state["bookmarks"]["deal_changes"]).done)
    assert done_before
    emulator.clear_log()

    resumed = run_tap(config, state=killed.state, catalog=catalog)

    moved = {d["id"] for d in emulator.records("deals") if d["stage_change_time"]}
    assert not done_before & {deal for deal, _ in changelog_requests(emulator)}
    assert Counter(table(killed, resumed).values()) == expected({d: emulator.changelog(d) for d in moved})
    assert coverage_row(resumed)["is_complete"] is True


def test_the_backfill_spreads_over_runs_under_the_token_share_at_the_minimum_cost(
    make_emulator, run_tap, tap_config, redis_url
) -> None:
    emulator = make_emulator(deals=60, seed=28, plan="lite", seats=1)  # a 30,000-token day
    page, allowance = 2, 900
    config = tap_config(emulator, token_budget_share=0.03, page_size=page, redis_url=redis_url)
    catalog = history_catalog(config)
    emulator.clear_log()
    runs, asked_per_run, coverage = [], [], []
    while len(runs) < 20:
        seen = len(emulator.request_log)
        out = run_tap(config, state=runs[-1].state if runs else {}, catalog=catalog)
        runs.append(out)
        log = emulator.request_log[seen:]
        assert sum(r.token_cost for r in log) <= allowance
        asked_per_run.append(changelog_requests(emulator)[sum(len(run) for run in asked_per_run) :])
        row = coverage_row(out)
        coverage.append(row["deals_complete"])
        if row["is_complete"]:
            break

    assert len(runs) > 2  # the backfill did not fit one run
    assert coverage == sorted(coverage)
    moved = {d["id"] for d in emulator.records("deals") if d["stage_change_time"]}
    assert coverage[-1] == len(moved)
    logs = {d: emulator.changelog(d) for d in moved}
    asked = changelog_requests(emulator)
    assert len(asked) == len(set(asked))  # no page asked twice
    assert len(asked) == sum(max(1, -(-len(log) // page)) for log in logs.values())
    spent = sum(r.token_cost for r in emulator.request_log if r.path.endswith(CHANGELOG))
    assert spent == 20 * len(asked)
    assert any(run[0][1] is not None for run in asked_per_run[1:] if run)  # a read resumed mid-deal
    firsts = [run[0][0] for run in asked_per_run if run]
    assert max(logs) == firsts[0]  # newest deal first
    assert Counter(table(*runs).values()) == expected(logs)


def test_coverage_is_logged_and_exported_as_metrics(make_emulator, tap_config, caplog) -> None:
    emulator = make_emulator(deals=40, seed=29)
    config = tap_config(emulator)
    tap = TapPipedrive(config=config, catalog=history_catalog(config))
    with caplog.at_level("INFO"):
        tap.sync_all()
    moved = sum(1 for d in emulator.records("deals") if d["stage_change_time"])
    registry = tap.client.metrics.registry
    assert registry.get_sample_value("pipeboard_tap_deal_history_coverage_ratio", {"mode": "stages"}) == 1.0
    assert registry.get_sample_value("pipeboard_tap_deal_history_deals", {"status": "complete"}) == moved
    assert registry.get_sample_value("pipeboard_tap_deal_history_deals", {"status": "pending"}) == 0
    assert any(f"{moved} of {moved} deals have every change read" in r.getMessage() for r in caplog.records)
    changes = sum(
        len(emulator.changelog(d["id"])) for d in emulator.records("deals") if d["stage_change_time"]
    )
    assert registry.get_sample_value("pipeboard_tap_records_total", {"stream": "deal_changes"}) == changes
    assert registry.get_sample_value("pipeboard_tap_records_total", {"stream": "deal_history_coverage"}) == 1


class _CursorRefusingProxy(BaseHTTPRequestHandler):
    """Forwards GETs to the emulator, but answers 400 to any changelog page asked for with a cursor."""

    upstream = ""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.endswith(CHANGELOG) and "cursor" in parse_qs(url.query):
            status, headers = 400, {}
            body = json.dumps(
                {
                    "success": False,
                    "error": "Invalid cursor",
                    "error_info": "",
                    "data": None,
                    "additional_data": None,
                }
            ).encode()
        else:
            answer = requests.get(
                self.upstream + self.path, headers={"x-api-token": self.headers["x-api-token"]}, timeout=30
            )
            status, body = answer.status_code, answer.content
            headers = {k: v for k, v in answer.headers.items() if k.lower().startswith("x-")}
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_a_changelog_refusing_its_own_cursor_leaves_the_deal_queued_and_the_run_goes_on(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=40, seed=30)
    handler = type("Proxy", (_CursorRefusingProxy,), {"upstream": emulator.base_url})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        proxied = {
            **tap_config(emulator, page_size=2),
            "api_url": f"http://127.0.0.1:{proxy.server_address[1]}",
        }
        first = run_tap(proxied, catalog=history_catalog(proxied))
    finally:
        proxy.shutdown()
        proxy.server_close()

    moved = {
        d["id"]: emulator.changelog(d["id"]) for d in emulator.records("deals") if d["stage_change_time"]
    }
    long = {deal_id for deal_id, log in moved.items() if len(log) > 2}
    assert long
    row = coverage_row(first)
    assert (row["deals_pending"], row["deals_complete"]) == (len(long), len(moved) - len(long))
    assert set(HistoryProgress.load(first.state["bookmarks"]["deal_changes"]).pending) == long

    config = tap_config(emulator, page_size=2)
    second = run_tap(config, state=first.state, catalog=history_catalog(config))
    assert Counter(table(first, second).values()) == expected(moved)
    assert coverage_row(second)["is_complete"] is True
