"""Organisation, targets and post-sale streams through the real tap and target into PostgreSQL.

One account, two pipeline runs: a full sync, then — after ``mutate`` changed, added and deleted records of
every one of these entities — a second run (with organizations' reconciliation pass due, which has every
organization's relationships read). After each run every table is compared with the account: its
live rows are exactly Pipedrive's records (with their values), a record Pipedrive deleted is marked deleted
(``is_deleted`` or ``_sdc_deleted_at``) and kept, and the emulator rejected no request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pipedrive_emulator import Emulator
from pipedrive_emulator.generators.org_targets import LEAD_SOURCES
from pipedrive_emulator.routes_org import goal_progress
from psycopg2 import sql
from tap_pipedrive.tap import TapPipedrive

BIN = Path(sys.executable).parent
DBT = BIN.parent.parent / ".venv-dbt" / "bin" / "pipeboard-dbt"
SCHEMA = "pipedrive"
STREAMS = (
    "organizations",
    "users",
    "deals",
    "roles",
    "role_assignments",
    "permission_sets",
    "permission_set_assignments",
    "legacy_teams",
    "goals",
    "goal_results",
    "lead_sources",
    "organization_relationships",
    "boards",
    "phases",
    "projects",
    "project_fields",
    "tasks",
)
KEYS = {
    "role_assignments": ("role_id", "user_id"),
    "permission_set_assignments": ("permission_set_id", "user_id"),
    "goal_results": ("goal_id",),
    "lead_sources": ("name",),
    "project_fields": ("field_code",),
}
CHANGES = {
    "roles": 1,
    "role_assignments": 1,
    "permission_set_assignments": 1,
    "legacy_teams": 1,
    "goals": 2,
    "organization_relationships": 2,
    "boards": 1,
    "phases": 1,
    "projects": 3,
    "archive_projects": 1,
    "tasks": 3,
}
ADDS = {"roles": 1, "goals": 1, "organization_relationships": 2, "phases": 1, "projects": 2, "tasks": 2}
DELETES = {
    "roles": 1,
    "legacy_teams": 1,
    "goals": 1,
    "organization_relationships": 1,
    "boards": 1,
    "phases": 1,
    "projects": 2,
    "tasks": 2,
}

pytestmark = pytest.mark.slow

Row = dict[str, Any]


@dataclass
class Scenario:
    emulator: Emulator
    snapshots: list[dict[str, dict[tuple[Any, ...], Row]]] = field(default_factory=list)
    truths: list[dict[str, dict[tuple[Any, ...], Row]]] = field(default_factory=list)
    statuses: list[set[int]] = field(default_factory=list)
    mutation: dict[str, Any] = field(default_factory=dict)
    marts: dict[str, dict[Any, Row]] = field(default_factory=dict)


def catalog(config: dict[str, Any]) -> dict[str, Any]:
    """The discovered catalog with only these streams selected."""
    data = TapPipedrive(config=config).catalog_dict
    for entry in data["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return data


def run_pipeline(tmp: Path, config: dict[str, Any], state: dict | None, url: str) -> dict | None:
    """tap-pipedrive | target-pipeboard-postgres; the last STATE."""
    (tmp / "tap.json").write_text(json.dumps(config))
    (tmp / "catalog.json").write_text(json.dumps(catalog(config)))
    (tmp / "target.json").write_text(json.dumps({"database_url": url, "default_target_schema": SCHEMA}))
    command = [
        str(BIN / "tap-pipedrive"),
        "--config",
        str(tmp / "tap.json"),
        "--catalog",
        str(tmp / "catalog.json"),
    ]
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
    return states[-1] if states else state


def snapshot(url: str) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Per table: key → row (every column)."""
    tables: dict[str, dict[tuple[Any, ...], Row]] = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table in STREAMS[3:]:
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(SCHEMA, table)))
            names = [column.name for column in cur.description or ()]
            keys = KEYS.get(table, ("id",))
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            tables[table] = {tuple(row[k] for k in keys): row for row in rows}
    conn.close()
    return tables


def build_marts(url: str, tmp: Path) -> dict[str, dict[Any, Row]]:
    """``pipeboard-dbt build`` over the loaded tables; bi_projects and bi_goals by id."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "DATABASE_URL": url,
        "DBT_TARGET_PATH": str(tmp / "dbt-target"),
        "DBT_LOG_PATH": str(tmp / "dbt-logs"),
    }
    done = subprocess.run(
        [str(DBT), "build"], env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    marts: dict[str, dict[Any, Row]] = {}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for mart in ("bi_projects", "bi_goals"):
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(SCHEMA, mart)))
            names = [column.name for column in cur.description or ()]
            marts[mart] = {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    conn.close()
    return marts


def truth(emulator: Emulator, today: date) -> dict[str, dict[tuple[Any, ...], Row]]:
    """What Pipedrive has of each entity, live records only, in the tables' terms."""
    users = [u for u in emulator.records("users") if not u["is_deleted"]]
    orgs = {o["id"]: o for o in emulator.records("organizations")}
    goals = emulator.records("goals")
    ds = emulator.dataset
    results = {}
    for goal in goals:
        start = date.fromisoformat(goal["duration"]["start"])
        end = min(date.fromisoformat(goal["duration"]["end"]), today)
        if start <= end:
            results[(goal["id"],)] = {"progress": goal_progress(ds, goal, start, end), "period_end": end}
    return {
        "roles": {(r["id"],): {"name": r["name"]} for r in emulator.records("roles")},
        "role_assignments": {(u["role_id"], u["id"]): {} for u in users},
        "permission_sets": {(p["id"],): {"name": p["name"]} for p in emulator.records("permission_sets")},
        "permission_set_assignments": {
            (a["permission_set_id"], u["id"]): {} for u in users for a in u["access"]
        },
        "legacy_teams": {
            (t["id"],): {"description": t["description"]}
            for t in emulator.records("legacy_teams")
            if not t["deleted_flag"]
        },
        "goals": {(g["id"],): {"expected_outcome_target": g["expected_outcome"]["target"]} for g in goals},
        "goal_results": results,
        "lead_sources": {(name,): {} for name in LEAD_SOURCES},
        "organization_relationships": {
            (r["id"],): {"type": r["type"], "rel_owner_org_id": r["rel_owner_org_id"]}
            for r in emulator.records("organization_relationships")
            if not (orgs[r["rel_owner_org_id"]]["is_deleted"] and orgs[r["rel_linked_org_id"]]["is_deleted"])
        },
        "boards": {(b["id"],): {"name": b["name"]} for b in emulator.records("boards")},
        "phases": {
            (p["id"],): {"name": p["name"], "board_id": p["board_id"]} for p in emulator.records("phases")
        },
        "projects": {
            (p["id"],): {"title": p["title"], "is_archived": p["archive_time"] is not None}
            for p in emulator.records("projects")
            if p["status"] != "deleted"
        },
        "project_fields": {
            (f["field_code"],): {"field_name": f["field_name"]} for f in emulator.fields("project")
        },
        "tasks": {(t["id"],): {"is_done": t["is_done"]} for t in emulator.records("tasks")},
    }


@pytest.fixture(scope="module")
def scenario(database_server: Any, tmp_path_factory: pytest.TempPathFactory):
    emulator = Emulator(deals=400, seed=23).start()
    url = database_server.create_database()
    tmp = tmp_path_factory.mktemp("org-projects")
    config = {"api_token": emulator.token, "api_url": emulator.base_url, "organization_relationships": True}
    result = Scenario(emulator)
    try:
        state = run_pipeline(tmp, config, None, url)
        today = datetime.now(UTC).date()
        result.snapshots.append(snapshot(url))
        result.truths.append(truth(emulator, today))
        result.statuses.append({r.status for r in emulator.request_log})
        emulator.clear_log()
        result.mutation = emulator.mutate(updates=20, change=CHANGES, add=ADDS, delete=DELETES)
        # organizations' reconciliation pass reads every organization, so removed relationships are marked
        run_pipeline(tmp, {**config, "reconcile_interval_hours": 0}, state, url)
        result.snapshots.append(snapshot(url))
        result.truths.append(truth(emulator, today))
        result.statuses.append({r.status for r in emulator.request_log})
        result.marts = build_marts(url, tmp)
        yield result
    finally:
        emulator.stop()


def _deleted(row: Row) -> bool:
    return bool(row.get("is_deleted")) or row.get("_sdc_deleted_at") is not None


@pytest.mark.parametrize("run", [0, 1], ids=["full", "after-mutate"])
@pytest.mark.parametrize("table", STREAMS[3:])
def test_every_table_holds_exactly_pipedrives_live_records_and_marks_the_rest(
    scenario: Scenario, table: str, run: int
) -> None:
    rows, expected = scenario.snapshots[run][table], scenario.truths[run][table]
    live = {key: row for key, row in rows.items() if not _deleted(row)}
    assert expected, f"the account has no {table}"
    assert set(live) == set(expected)
    for key, values in expected.items():
        assert {name: live[key][name] for name in values} == values, (table, key)
    if run == 1:
        assert set(scenario.snapshots[0][table]) <= set(rows), f"{table}: rows were removed"


@pytest.mark.parametrize("table", sorted(DELETES))
def test_records_mutate_deleted_are_marked_deleted_and_kept(scenario: Scenario, table: str) -> None:
    deleted = scenario.mutation["deleted"][table]
    assert deleted
    before, after = scenario.snapshots[0][table], scenario.snapshots[1][table]
    for rid in deleted:
        if (rid,) not in before:  # a relationship of deleted organizations only was never read
            continue
        assert _deleted(after[(rid,)]), (table, rid)
        assert after[(rid,)]["_sdc_deleted_at"] is not None


def test_changes_and_additions_arrive_in_the_second_run(scenario: Scenario) -> None:
    changed, added = scenario.mutation["changed"], scenario.mutation["added"]
    after = scenario.snapshots[1]
    for pid in changed["projects"]:
        if scenario.truths[1]["projects"].get((pid,)):
            assert after["projects"][(pid,)]["title"] == scenario.truths[1]["projects"][(pid,)]["title"]
    for pid in changed["archive_projects"]:
        assert after["projects"][(pid,)]["is_archived"] is True
    for entity, ids in added.items():
        for rid in ids:
            assert (rid,) in after[entity], (entity, rid)


@pytest.mark.parametrize("run", [0, 1], ids=["full", "after-mutate"])
def test_the_emulator_rejected_no_request(scenario: Scenario, run: int) -> None:
    assert scenario.statuses[run] == {200}


def test_bi_projects_sums_up_each_projects_tasks_with_its_board_and_phase(scenario: Scenario) -> None:
    emulator = scenario.emulator
    projects = scenario.marts["bi_projects"]
    phases = {p["id"]: p for p in emulator.records("phases")}
    boards = {b["id"]: b for b in emulator.records("boards")}
    live = {p["id"]: p for p in emulator.records("projects") if p["status"] != "deleted"}
    assert {pid for pid, row in projects.items() if not row["is_deleted"]} == set(live)
    for pid, project in live.items():
        tasks = [t for t in emulator.records("tasks") if t["project_id"] == pid]
        row = projects[pid]
        assert (row["tasks_total"], row["tasks_done"]) == (len(tasks), sum(t["is_done"] for t in tasks)), pid
        assert row["milestones_total"] == sum(t["is_milestone"] for t in tasks)
        # a deleted phase keeps its last name (as main_bi keeps a deleted owner's)
        loaded_phase = scenario.snapshots[1]["phases"][(project["phase_id"],)]
        assert row["phase_name"] == loaded_phase["name"]
        if project["phase_id"] in phases:
            assert loaded_phase["name"] == phases[project["phase_id"]]["name"]
        assert row["board_name"] == scenario.snapshots[1]["boards"][(project["board_id"],)]["name"]
        if project["board_id"] in boards:
            assert row["board_name"] == boards[project["board_id"]]["name"]
        assert row["first_deal_id"] == (project["deal_ids"][0] if project["deal_ids"] else None)
    for pid in scenario.mutation["deleted"]["projects"]:
        assert projects[pid]["is_deleted"] is True


def test_bi_goals_has_each_goals_progress_and_assignee(scenario: Scenario) -> None:
    emulator = scenario.emulator
    goals = scenario.marts["bi_goals"]
    truth = scenario.truths[1]["goal_results"]
    users = {u["id"]: u["name"] for u in emulator.records("users")}
    teams = {t["id"]: t["name"] for t in emulator.records("legacy_teams")}
    live = {g["id"]: g for g in emulator.records("goals")}
    assert {gid for gid, row in goals.items() if not row["is_deleted"]} == set(live)
    for gid, goal in live.items():
        row = goals[gid]
        assert row["progress"] == truth[(gid,)]["progress"], gid
        assert row["is_reached"] is (truth[(gid,)]["progress"] >= goal["expected_outcome"]["target"])
        kind, assignee = goal["assignee"]["type"], goal["assignee"]["id"]
        expected = {"person": users.get(assignee), "team": teams.get(assignee), "company": "Company"}[kind]
        assert row["assignee_name"] == expected
    for gid in scenario.mutation["deleted"]["goals"]:
        assert goals[gid]["is_deleted"] is True
        assert goals[gid]["progress"] is None  # its result is gone too
