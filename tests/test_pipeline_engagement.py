"""Installments, variations, participants, call logs, mail threads, files and filters through the real tap and
target into PostgreSQL, then the transform's deal_engagement and product prices.

A full sync loads exactly what Pipedrive lists to the token; after ``mutate`` deletes records of each of them
and a run whose complete reads are due, exactly those rows are marked deleted (``is_deleted`` or
``_sdc_deleted_at``) and none is removed; deal_engagement then counts per deal what is still there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

BIN = Path(sys.executable).parent
DBT = Path(os.environ.get("PIPEBOARD_DBT_VENV") or Path(__file__).resolve().parents[1] / ".venv-dbt")
SCHEMA = "pipedrive"
STREAMS = (
    "deal_installments",
    "product_variations",
    "deal_participants",
    "call_logs",
    "mail_threads",
    "files",
    "filters",
)
DELETES = {"deal_installments": 3, "product_variations": 2, "deal_participants": 3, "files": 2, "filters": 1}

pytestmark = pytest.mark.slow


def run_pipeline(tmp: Path, config: dict[str, Any], state: dict[str, Any] | None, url: str) -> dict[str, Any]:
    """tap-pipedrive | target-pipeboard-postgres; the last STATE."""
    (tmp / "tap.json").write_text(json.dumps(config))
    (tmp / "target.json").write_text(json.dumps({"database_url": url, "default_target_schema": SCHEMA}))
    command = [str(BIN / "tap-pipedrive"), "--config", str(tmp / "tap.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp / "state.json")]
    tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    target = subprocess.run(
        [str(BIN / "target-pipeboard-postgres"), "--config", str(tmp / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr[-3000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    assert states
    return states[-1]


def rows(url: str, table: str) -> dict[Any, bool]:
    """id → marked deleted, for every row of a loaded table."""
    query = sql.SQL("SELECT id, coalesce(is_deleted, false) OR _sdc_deleted_at IS NOT NULL FROM {}").format(
        sql.Identifier(SCHEMA, table)
    )
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        found = {rid: marked for rid, marked in cur.fetchall()}
    conn.close()
    return found


def listed(emulator: Any, stream: str) -> set[Any]:
    """What Pipedrive lists to the token: its user's call logs and mail, live files and filters."""
    me = emulator.dataset.company["me_user_id"]
    records = emulator.records(stream)
    if stream in ("call_logs", "mail_threads"):
        records = [r for r in records if r["user_id"] == me]
    if stream in ("files", "filters"):
        records = [r for r in records if r["active_flag"]]
    return {r["id"] for r in records}


def build_transform(url: str, tmp: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBT_", "PIPEBOARD_", "TARGET_PIPEBOARD_POSTGRES_", "PG"))
        and key not in ("DATABASE_URL", "VIRTUAL_ENV")
    }
    environment.update(
        {"DATABASE_URL": url, "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}
    )
    done = subprocess.run(
        [str(DBT / "bin" / "pipeboard-dbt"), "build"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement)
        found = cur.fetchall()
    conn.close()
    return found


def test_new_streams_load_whole_mark_deletes_and_feed_deal_engagement(make_emulator, make_database, tmp_path):
    emulator = make_emulator(deals=150, seed=17, rate_limits=False)
    url = make_database()
    config = {
        "api_token": emulator.token,
        "api_url": emulator.base_url,
        "deal_history": "off",
        "reconcile_interval_hours": 0,
    }

    state = run_pipeline(tmp_path, config, None, url)

    for stream in STREAMS:
        loaded = rows(url, stream)
        assert set(loaded) == listed(emulator, stream), stream
        assert not any(loaded.values()), stream

    deleted = emulator.mutate(delete=DELETES)["deleted"]
    me = emulator.dataset.company["me_user_id"]
    with emulator.lock:  # the token's user deletes a call log and a mail thread (they are gone at once)
        for stream in ("call_logs", "mail_threads"):
            rid = min(r["id"] for r in emulator.dataset.records[stream].values() if r["user_id"] == me)
            del emulator.dataset.records[stream][rid]
            deleted[stream] = [rid]
        emulator.index.invalidate()
    before = {stream: rows(url, stream) for stream in STREAMS}

    run_pipeline(tmp_path, config, state, url)

    for stream in STREAMS:
        loaded = rows(url, stream)
        assert set(before[stream]) <= set(loaded), f"{stream}: no row is ever removed"
        assert {rid for rid, marked in loaded.items() if marked} == set(deleted[stream]), stream
        assert {rid for rid, marked in loaded.items() if not marked} == listed(emulator, stream), stream
    assert {r.status for r in emulator.request_log} == {200}

    build_transform(url, tmp_path)

    engagement = {
        row[0]: row[1:]
        for row in query(
            url,
            "SELECT deal_id, installments_count, installments_amount, participants_count, call_logs_count, "
            "mail_threads_count, files_count FROM pipedrive.deal_engagement",
        )
    }
    assert set(engagement) == {d["id"] for d in emulator.records("deals")}
    installments = Counter(r["deal_id"] for r in emulator.records("deal_installments"))
    amounts: Counter[int] = Counter()
    for r in emulator.records("deal_installments"):
        amounts[r["deal_id"]] += r["amount"]
    participants = {
        deal: len({r["person_id"] for r in emulator.records("deal_participants") if r["deal_id"] == deal})
        for deal in {r["deal_id"] for r in emulator.records("deal_participants")}
    }
    calls = Counter(r.get("deal_id") for r in emulator.records("call_logs") if r["user_id"] == me)
    threads = Counter(r["deal_id"] for r in emulator.records("mail_threads") if r["user_id"] == me)
    files = Counter(r["deal_id"] for r in emulator.records("files") if r["active_flag"])
    for deal_id, (n_inst, amount, n_part, n_calls, n_threads, n_files) in engagement.items():
        assert n_inst == installments[deal_id], deal_id
        assert float(amount or 0) == pytest.approx(amounts[deal_id])
        assert n_part == participants.get(deal_id, 0)
        assert n_calls == calls[deal_id]
        assert n_threads == threads[deal_id]
        assert n_files == files[deal_id]

    prices = query(
        url,
        "SELECT product_id, product_variation_id, currency, price FROM pipedrive.product_prices "
        "ORDER BY 1, 2 NULLS FIRST, 3",
    )
    live = [p for p in emulator.records("products") if not p["is_deleted"]]
    expected = [(p["id"], None, price["currency"], price["price"]) for p in live for price in p["prices"]]
    expected += [
        (v["product_id"], v["id"], price["currency"], price["price"])
        for v in emulator.records("product_variations")
        for price in v["prices"]
    ]
    assert [(a, b, c, float(d)) for a, b, c, d in prices] == sorted(
        expected, key=lambda row: (row[0], row[1] is not None, row[1] or 0, row[2])
    )
    attendees = query(
        url, "SELECT count(*) FROM pipedrive.activity_participants WHERE attendee_status IS NOT NULL"
    )
    assert attendees[0][0] > 0
