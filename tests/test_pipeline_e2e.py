"""The whole pipeline through the real `meltano` CLI: emulator → tap → loaders → transform; `make demo`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg2
import pytest
import yaml
from pipedrive_emulator.summary import exchange_rate
from psycopg2 import sql

if TYPE_CHECKING:
    from conftest import Meltano

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
JOB = "pipedrive-to-postgres"


def job_tasks(job: str = JOB) -> list[str]:
    """The tasks of a job in meltano.yml, in order."""
    jobs = yaml.safe_load((ROOT / "meltano.yml").read_text())["jobs"]
    return next(entry["tasks"] for entry in jobs if entry["name"] == job)


PIPELINE = job_tasks()[-1].split()
"""The job's sync task: tap, target and the transform, whatever the transform step is called."""
DEALS = 120
SYNC_ORDER = [
    "/api/v1/users",
    "/api/v2/pipelines",
    "/api/v2/stages",
    "/api/v2/organizations",
    "/api/v2/persons",
    "/api/v2/deals",
    "/api/v2/activities",
    "/api/v1/activityTypes",
]
"""List endpoints in the order the entities must be synced (each one's first request comes in this order)."""
SEED = 11

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator(make_emulator: Callable[..., Any]) -> Any:
    """A small emulated Pipedrive account."""
    return make_emulator(deals=DEALS, seed=SEED)


def tap_env(emulator: Any, system_db: Path) -> dict[str, str]:
    """Point the tap at ``emulator`` and meltano at its own system database."""
    return {
        "TAP_PIPEDRIVE_API_URL": emulator.base_url,
        "TAP_PIPEDRIVE_API_TOKEN": emulator.token,
        "MELTANO_DATABASE_URI": f"sqlite:///{system_db}",
    }


def query(url: str, statement: str | sql.Composable, params: tuple = ()) -> list[tuple]:
    """Rows of one statement."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def query_autocommit(url: str, statement: str) -> None:
    """Run one statement (DDL) in autocommit."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def main_bi(url: str) -> dict[int, dict[str, Any]]:
    """``pipedrive.main_bi`` as deal id → row."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM pipedrive.main_bi")
            names = [c.name for c in cur.description]
            return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    finally:
        conn.close()


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 / ISO timestamp as an aware datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def deals_stream_requests(emulator: Any) -> list[Any]:
    """The deals stream's requests to /api/v2/deals (sorted by update_time), not deal_products' count scan.

    deal_products lists every deal's ``products_count`` (no ``sort_by``, no ``updated_since``) to see line
    items removed from deals that did not change; the other requests to the path are the deals stream's own.
    """
    requests = [r for r in emulator.request_log if r.path == "/api/v2/deals"]
    scans = [r for r in requests if "sort_by" not in r.params]
    assert all(r.params.get("include_fields") == "products_count" for r in scans)
    return [r for r in requests if "sort_by" in r.params]


def loaded_history(url: str) -> Counter[tuple[Any, ...]]:
    """The rows of ``pipedrive.deal_changes``, keyed by what each change says."""
    return Counter(
        query(
            url,
            "SELECT deal_id, time, field_key, old_value, new_value, actor_user_id, change_source, "
            "change_source_user_agent, is_bulk_update_flag FROM pipedrive.deal_changes",
        )
    )


def expected_history(logs: dict[int, list[dict[str, Any]]]) -> Counter[tuple[Any, ...]]:
    """The emulator's changes of these deals, as rows (changelog times are UTC ``YYYY-MM-DD HH:MM:SS``)."""
    return Counter(
        (
            deal_id,
            dt.datetime.strptime(e["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC),
            e["field_key"],
            e["old_value"],
            e["new_value"],
            e["actor_user_id"],
            e["change_source"],
            e["change_source_user_agent"],
            e["is_bulk_update_flag"],
        )
        for deal_id, log in logs.items()
        for e in log
    )


def deal_bookmarks(singer_state: dict[str, Any]) -> list[dt.datetime]:
    """The deals stream's update_time bookmarks (one per partition, or the stream's own)."""
    deals = singer_state["bookmarks"]["deals"]
    entries = deals.get("partitions") or [deals]
    return [
        parse_time(entry["replication_key_value"]) for entry in entries if entry.get("replication_key_value")
    ]


# ------------------------------------------------------------------------------------------ ground truth


@dataclass
class Truth:
    """What main_bi should say about a deal, computed from the emulator's own records."""

    stage_name: str | None
    owner_name: str | None
    owner_email: str | None
    person_primary_email: str | None
    org_name: str | None
    activities_total: int
    activities_done: int
    products_count: int
    products_total_value: float
    emails_count: int | None


def ground_truth(emulator: Any) -> dict[int, Truth]:
    """Deal id → expected enrichment, straight from the emulator's records."""
    stages = {s["id"]: s for s in emulator.records("stages")}
    users = {u["id"]: u for u in emulator.records("users")}
    persons = {p["id"]: p for p in emulator.records("persons")}
    orgs = {o["id"]: o for o in emulator.records("organizations")}
    activities = [a for a in emulator.records("activities") if not a["is_deleted"]]
    lines = emulator.records("deal_products")
    truth = {}
    for deal in emulator.records("deals"):
        person = persons.get(deal["person_id"]) or {}
        primary = [e["value"] for e in person.get("emails") or [] if e.get("primary")]
        mine = [a for a in activities if a["deal_id"] == deal["id"]]
        products = [line for line in lines if line["deal_id"] == deal["id"]]
        owner = users.get(deal["owner_id"]) or {}
        truth[deal["id"]] = Truth(
            stage_name=(stages.get(deal["stage_id"]) or {}).get("name"),
            owner_name=owner.get("name"),
            owner_email=owner.get("email"),
            person_primary_email=primary[0] if primary else None,
            org_name=(orgs.get(deal["org_id"]) or {}).get("name"),
            activities_total=len(mine),
            activities_done=sum(1 for a in mine if a["done"]),
            products_count=len(products),
            products_total_value=round(sum(float(line["sum"]) for line in products), 2),
            emails_count=deal.get("email_messages_count"),
        )
    return truth


def spot_check_deals(emulator: Any) -> list[int]:
    """A few live deals covering persons with a primary email, organizations, activities and products."""
    truth = ground_truth(emulator)
    live = [d["id"] for d in emulator.records("deals") if not d["is_deleted"] and not d["is_archived"]]
    picks: list[int] = []
    for wanted in (
        lambda t: t.person_primary_email is not None,
        lambda t: t.org_name is not None,
        lambda t: t.activities_done > 0,
        lambda t: t.products_count > 1,
        lambda t: t.activities_total == 0,
    ):
        picks.extend([i for i in live if wanted(truth[i]) and i not in picks][:2])
    return picks


def assert_matches_truth(url: str, emulator: Any) -> None:
    rows = main_bi(url)
    truth = ground_truth(emulator)
    assert sorted(rows) == sorted(d["id"] for d in emulator.records("deals"))
    picks = spot_check_deals(emulator)
    assert len(picks) >= 8
    for deal_id in picks:
        row, expected = rows[deal_id], truth[deal_id]
        actual = Truth(
            stage_name=row["stage_name"],
            owner_name=row["owner_name"],
            owner_email=row["owner_email"],
            person_primary_email=row["person_primary_email"],
            org_name=row["org_name"],
            activities_total=row["activities_total"],
            activities_done=row["activities_done"],
            products_count=row["products_count"],
            products_total_value=round(float(row["products_total_value"]), 2),
            emails_count=row["emails_count"],
        )
        assert actual == expected, f"deal {deal_id}"


def assert_converted_and_typed(url: str, emulator: Any) -> None:
    """Values in the reporting currency (EUR, the token user's) at the emulator's own rates, read from
    Pipedrive's deals summary; custom time and time-range fields typed ``time`` with the emulator's values."""
    rows = main_bi(url)
    me = next(u for u in emulator.records("users") if u["is_you"])
    converted = 0
    for deal in emulator.records("deals"):
        row = rows[deal["id"]]
        assert row["reporting_currency"] == me["default_currency"] == "EUR"
        if deal["currency"] == "EUR":
            assert row["reporting_rate_source"] == "same_currency"
        elif row["reporting_rate_source"] == "pipedrive":
            rate = float(exchange_rate(deal["currency"], "EUR") or 0)
            assert float(row["value_reporting"]) == pytest.approx(
                float(deal["value"]) * rate, rel=1e-6, abs=0.01
            )
            converted += 1
        else:  # only a currency no listed deal uses has no rate from the summary
            listed = {
                d["currency"]
                for d in emulator.records("deals")
                if not d["is_deleted"] and not d["is_archived"]
            }
            assert deal["currency"] not in listed, deal["id"]
    assert converted > 0
    fields = {f["field_code"]: f for f in emulator.fields("deal") if f["field_type"] in ("time", "timerange")}
    columns = dict(
        query(
            url,
            "SELECT field_code, column_name FROM pipedrive.deal_fields "
            "WHERE field_type IN ('time', 'timerange')",
        )
    )
    assert set(columns) == set(fields)
    for code, column in columns.items():
        names = [column, column + "_until"] if fields[code]["field_type"] == "timerange" else [column]
        for name in names:
            types = query(
                url,
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'pipedrive' "
                "AND table_name = 'main_bi' AND column_name = %s",
                (name,),
            )
            assert types == [("time without time zone",)], name
        for deal in emulator.records("deals"):
            value = deal["custom_fields"].get(code)
            expected = dt.time.fromisoformat(value["value"]) if value else None
            assert rows[deal["id"]][column] == expected, (deal["id"], column)


def listed_ids(emulator: Any) -> dict[str, set[Any]]:
    """Per table, the ids Pipedrive lists: everything but soft-deleted contacts/items and inactive notes."""
    listed = {
        stream: emulator.records(stream)
        for stream in (
            "deals",
            "deal_products",
            "leads",
            "users",
            "activity_types",
            "lead_labels",
            "currencies",
        )
    }
    listed["notes"] = [r for r in emulator.records("notes") if r.get("active_flag", True)]
    for stream in ("organizations", "persons", "activities", "products", "pipelines", "stages"):
        listed[stream] = [r for r in emulator.records(stream) if not r.get("is_deleted")]
    return {stream: {r["id"] for r in records} for stream, records in listed.items()}


def assert_every_table_loaded_completely(url: str, emulator: Any) -> None:
    """Each entity table holds exactly the account's records, each once."""
    for table, expected in listed_ids(emulator).items():
        loaded = [
            row[0]
            for row in query(url, sql.SQL("SELECT id FROM {}").format(sql.Identifier("pipedrive", table)))
        ]
        assert len(loaded) == len(set(loaded)), f"{table} has duplicate ids"
        assert set(loaded) == expected, table


# ------------------------------------------------------------------------------------------ the tests


def test_meltano_run_builds_main_bi_and_the_second_run_is_incremental(
    meltano: Meltano, emulator: Any, make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    env = {**tap_env(emulator, tmp_path / "meltano.db"), "DATABASE_URL": url}

    meltano.run("--environment=dev", "run", *PIPELINE, env=env)

    assert_every_table_loaded_completely(url, emulator)
    assert_matches_truth(url, emulator)
    assert_converted_and_typed(url, emulator)
    first_seen = list(dict.fromkeys(r.path for r in emulator.request_log))
    order = [first_seen.index(path) for path in SYNC_ORDER]
    assert order == sorted(order), [first_seen[i] for i in order]
    state = json.loads(
        meltano.run(
            "--environment=dev", "state", "get", "dev:tap-pipedrive-to-target-pipeboard-postgres", env=env
        ).stdout
    )
    bookmarks = deal_bookmarks(state["singer_state"])
    columns_before = set(next(iter(main_bi(url).values())))
    history = {
        d["id"]: emulator.changelog(d["id"]) for d in emulator.records("deals") if d["stage_change_time"]
    }
    assert loaded_history(url) == expected_history(history)
    # a user's view on main_bi survives the next run (the swap recreates it)
    query_autocommit(
        url, "CREATE VIEW public.my_open_deals AS SELECT id, title FROM pipedrive.main_bi WHERE is_open"
    )

    changes = emulator.mutate(updates=25, deletes=3, add_field="deal", stage_moves=6)
    emulator.clear_log()
    meltano.run("--environment=dev", "run", *PIPELINE, env=env)

    deal_requests = deals_stream_requests(emulator)
    assert deal_requests
    for request in deal_requests:
        since = parse_time(request.params["updated_since"])
        assert any(mark - dt.timedelta(days=1) <= since <= mark for mark in bookmarks), (since, bookmarks)
    assert_every_table_loaded_completely(url, emulator)
    assert_matches_truth(url, emulator)
    rows = main_bi(url)
    for deal_id in changes["deleted"]["deals"]:
        assert (rows[deal_id]["status"], rows[deal_id]["is_deleted"]) == ("deleted", True)
    current = {d["id"]: d for d in emulator.records("deals")}
    for deal_id in changes["updated"].get("deals", []):
        assert float(rows[deal_id]["value"]) == pytest.approx(float(current[deal_id]["value"]))
    new_columns = set(next(iter(rows.values()))) - columns_before
    assert any(column.startswith("added_field") for column in new_columns), new_columns
    history |= {deal_id: emulator.changelog(deal_id) for deal_id in changes["moved"]["deals"]}
    assert loaded_history(url) == expected_history(history)
    assert query(url, "SELECT is_complete, deals_pending FROM pipedrive.deal_history_coverage") == [(True, 0)]
    types = dict(
        query(
            url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'pipedrive' AND table_name = 'deal_changes'",
        )
    )
    assert (types["time"], types["deal_id"], types["is_bulk_update_flag"]) == (
        "timestamp with time zone",
        "bigint",
        "boolean",
    )
    live_open = {d["id"] for d in emulator.records("deals") if d["status"] == "open" and not d["is_deleted"]}
    assert {row[0] for row in query(url, "SELECT id FROM public.my_open_deals")} == live_open
    undescribed = query(
        url,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'pipedrive.main_bi'::regclass AND attnum > 0 "
        "AND coalesce(col_description(attrelid, attnum), '') = ''",
    )
    assert undescribed == []


def test_the_tap_writes_the_same_records_to_target_jsonl(
    meltano: Meltano, emulator: Any, tmp_path: Path
) -> None:
    out = tmp_path / "jsonl"
    out.mkdir()
    env = {**tap_env(emulator, tmp_path / "meltano.db"), "TARGET_JSONL_DESTINATION_PATH": str(out)}

    meltano.run("--environment=dev", "run", "tap-pipedrive", "target-jsonl", env=env)

    deals = [json.loads(line) for line in (out / "deals.jsonl").read_text().splitlines()]
    expected = {d["id"]: d for d in emulator.records("deals")}
    assert sorted(d["id"] for d in deals) == sorted(expected)
    for deal in deals:
        assert (deal["title"], deal["status"]) == (
            expected[deal["id"]]["title"],
            expected[deal["id"]]["status"],
        )
    users = [json.loads(line) for line in (out / "users.jsonl").read_text().splitlines()]
    assert {u["email"] for u in users} == {u["email"] for u in emulator.records("users")}


def test_the_tap_feeds_meltanolabs_target_postgres(
    meltano: Meltano, emulator: Any, make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    parts = urlsplit(url)
    env = {
        **tap_env(emulator, tmp_path / "meltano.db"),
        "TARGET_POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "TARGET_POSTGRES_PORT": str(parts.port or 5432),
        "TARGET_POSTGRES_USER": parts.username or "postgres",
        "TARGET_POSTGRES_PASSWORD": parts.password or "",
        "TARGET_POSTGRES_DATABASE": parts.path.lstrip("/"),
    }

    meltano.run("--environment=dev", "run", "tap-pipedrive", "target-postgres", env=env)

    loaded = query(url, "SELECT id, title FROM pipedrive_meltanolabs.deals ORDER BY id")
    assert loaded == [(d["id"], d["title"]) for d in emulator.records("deals")]
    persons = query(url, "SELECT count(*) FROM pipedrive_meltanolabs.persons")[0][0]
    assert persons > 0


@pytest.fixture(autouse=True)
def _no_leftover_output() -> Iterator[None]:
    """target-jsonl writes relative to the project root unless told otherwise; keep the work tree clean."""
    before = (ROOT / "output").exists()
    yield
    assert before or not (ROOT / "output").exists()


def test_demo_script_with_a_token_and_a_database_syncs_that_account(
    meltano: Meltano, emulator: Any, make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    env = {
        **meltano.base_env,
        "PIPEDRIVE_API_TOKEN": emulator.token,
        "TAP_PIPEDRIVE_API_URL": emulator.base_url,  # stands in for https://<company>.pipedrive.com
        "DATABASE_URL": url,
        "PIPEBOARD_DEMO_DIR": str(tmp_path / "demo"),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "syncing your Pipedrive account (environment prod)" in done.stdout
    assert query(url, "SELECT count(*) FROM pipedrive.main_bi") == [(DEALS,)]
    assert any(r.path == "/api/v2/deals" for r in emulator.request_log)
    assert not (tmp_path / "demo" / "pgdata").exists()
    explore = next(line for line in done.stdout.splitlines() if line.startswith("Explore:"))
    assert '"$DATABASE_URL"' in explore
    assert url not in done.stdout, "the URL (and any password in it) stays in the environment"
    pasted = subprocess.run(
        ["bash", "-c", explore.removeprefix("Explore:").strip()],
        env={**env, "PAGER": "cat"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    assert f"({min(DEALS, 10)} rows)" in pasted.stdout


def test_the_pipeline_builds_main_bi_when_optional_streams_are_not_selected(
    meltano: Meltano, emulator: Any, make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    only = ["users.*", "pipelines.*", "stages.*", "deals.*"]
    env = {
        **tap_env(emulator, tmp_path / "meltano.db"),
        "DATABASE_URL": url,
        "TAP_PIPEDRIVE__SELECT": json.dumps(only),
    }

    meltano.run("--environment=dev", "run", *PIPELINE, env=env)

    tables = {t for (t,) in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'pipedrive'")}
    assert {"persons", "activities", "deal_products"}.isdisjoint(tables)
    rows = main_bi(url)
    truth = ground_truth(emulator)
    assert sorted(rows) == sorted(truth)
    for deal_id, row in rows.items():
        assert row["stage_name"] == truth[deal_id].stage_name
        assert row["owner_name"] == truth[deal_id].owner_name
        assert row["person_name"] is None
        # activities and deal products are not loaded: Pipedrive's own counts of each deal stand in
        assert (
            row["activities_total"],
            row["activities_done"],
            row["products_count"],
            row["emails_count"],
        ) == (
            truth[deal_id].activities_total,
            truth[deal_id].activities_done,
            truth[deal_id].products_count,
            truth[deal_id].emails_count,
        )
