"""Organisation, targets and post-sale streams in real syncs against the emulator: requests per parent,
what a second run reads, refused endpoints (plan, permissions) skipped and logged once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from tap_pipedrive.tap import TapPipedrive

TAP = Path(sys.executable).with_name("tap-pipedrive")
ORG_STREAMS = (
    "roles",
    "role_assignments",
    "permission_sets",
    "permission_set_assignments",
    "legacy_teams",
    "goals",
    "goal_results",
    "lead_sources",
)
PROJECT_STREAMS = ("boards", "phases", "projects", "project_fields", "tasks")


def only(config: dict[str, Any], streams: tuple[str, ...]) -> dict[str, Any]:
    """The discovered catalog with just ``streams`` selected."""
    catalog = TapPipedrive(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def paths(emulator: Any) -> Counter[str]:
    """Requests per path template (ids replaced by ``{id}``), all of which the emulator must have answered."""
    assert {r.status for r in emulator.request_log} == {200}, [
        (r.path, r.status) for r in emulator.request_log if r.status != 200
    ][:5]
    counted: Counter[str] = Counter()
    for record in emulator.request_log:
        parts = record.path.split("/")
        if len(parts) > 5 and parts[3] in ("roles", "permissionSets", "goals"):
            parts[4] = "{id}"
        counted["/".join(parts)] += 1
    return counted


def running_goals(emulator: Any, today: date) -> set[str]:
    return {
        g["id"]
        for g in emulator.records("goals")
        if g["is_active"]
        and date.fromisoformat(g["duration"]["start"]) <= today <= date.fromisoformat(g["duration"]["end"])
    }


def test_per_parent_streams_read_each_parent_once_and_a_second_run_reads_running_goals_only(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=300, seed=31)
    config = tap_config(emulator, goal_results_refresh_hours=0)
    catalog = only(config, ORG_STREAMS)
    emulator.clear_log()
    first = run_tap(config, catalog=catalog)
    sent = paths(emulator)
    roles, sets, goals = (emulator.records(e) for e in ("roles", "permission_sets", "goals"))
    assert sent["/api/v1/roles"] == 1
    assert sent["/api/v1/roles/{id}/assignments"] == len(roles)
    assert sent["/api/v1/permissionSets"] == 1
    assert sent["/api/v1/permissionSets/{id}/assignments"] == len(sets)
    assert sent["/api/v1/goals/find"] == 6  # 3 assignee types x active/inactive: everyone's goals
    assert sent["/api/v1/goals/{id}/results"] == len(goals)
    assert sorted(r["id"] for r in first.records["goals"]) == sorted(g["id"] for g in goals)

    today = datetime.now(UTC).date()
    changed = emulator.mutate(change={"goals": 1})["changed"]["goals"]
    emulator.clear_log()
    second = run_tap(config, state=first.state, catalog=catalog)
    sent = paths(emulator)
    read = {r.path.split("/")[4] for r in emulator.request_log if r.path.endswith("/results")}
    assert read == running_goals(emulator, today) | set(changed)
    assert read < {g["id"] for g in goals}, "every goal was read again"
    results = {r["goal_id"]: r for r in second.records["goal_results"]}
    assert set(results) == {g["id"] for g in goals}
    target = {g["id"]: g["expected_outcome"]["target"] for g in emulator.records("goals")}
    assert {gid: r["expected_outcome_target"] for gid, r in results.items()} == target
    assert all(m["stream"] in ORG_STREAMS for m in second.messages if m["type"] == "ACTIVATE_VERSION")
    assert {m["stream"] for m in second.messages if m["type"] == "ACTIVATE_VERSION"} == set(ORG_STREAMS)


def test_without_the_parent_stream_a_per_parent_stream_lists_the_parents_itself(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=100, seed=32)
    config = tap_config(emulator)
    emulator.clear_log()
    out = run_tap(config, catalog=only(config, ("role_assignments", "phases")))
    sent = paths(emulator)
    assert sent["/api/v1/roles"] == 1
    assert sent["/api/v2/boards"] == 1
    assert sent["/api/v2/phases"] == len(emulator.records("boards"))
    users = [u for u in emulator.records("users") if not u["is_deleted"]]
    assert sorted((r["role_id"], r["user_id"]) for r in out.records["role_assignments"]) == sorted(
        (u["role_id"], u["id"]) for u in users
    )
    assert "roles" not in out.records


def test_organization_relationships_are_off_by_default_and_then_read_for_changed_organizations_only(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=200, seed=33)
    streams = ("organizations", "organization_relationships")
    off = run_tap(tap_config(emulator), catalog=only(tap_config(emulator), streams))
    assert not off.records["organization_relationships"]
    assert not [r for r in emulator.request_log if r.path.endswith("/organizationRelationships")]

    config = tap_config(emulator, organization_relationships=True)
    catalog = only(config, streams)
    emulator.clear_log()
    first = run_tap(config, catalog=catalog)
    live = {o["id"] for o in emulator.records("organizations") if not o["is_deleted"]}
    assert paths(emulator)["/api/v1/organizationRelationships"] == len(live)
    orgs = {o["id"]: o for o in emulator.records("organizations")}
    expected = {
        r["id"]
        for r in emulator.records("organization_relationships")
        if not (orgs[r["rel_owner_org_id"]]["is_deleted"] and orgs[r["rel_linked_org_id"]]["is_deleted"])
    }
    assert sorted(r["id"] for r in first.records["organization_relationships"]) == sorted(expected)
    assert "organization_relationships" in {
        m["stream"] for m in first.messages if m["type"] == "ACTIVATE_VERSION"
    }

    updated = emulator.mutate(updates=40)["updated"].get("organizations", [])
    assert updated
    emulator.clear_log()
    second = run_tap(config, state=first.state, catalog=catalog)
    asked = sorted(int(r.params["org_id"]) for r in emulator.request_log if "org_id" in r.params)
    emitted = {o["id"] for o in second.records["organizations"] if not o["is_deleted"]}
    assert asked == sorted(emitted)  # the changed ones (and those at the inclusive bookmark)
    assert set(updated) & live <= emitted
    assert len(emitted) < len(live) / 2
    rel_ids = {r["id"] for r in second.records["organization_relationships"]}
    touching = {
        r["id"]
        for r in emulator.records("organization_relationships")
        if {r["rel_owner_org_id"], r["rel_linked_org_id"]} & emitted
    }
    assert rel_ids == touching
    assert "organization_relationships" not in {
        m["stream"] for m in second.messages if m["type"] == "ACTIVATE_VERSION"
    }


def test_projects_custom_fields_are_flattened_and_archived_projects_marked(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=300, seed=34)
    config = tap_config(emulator)
    out = run_tap(config, catalog=only(config, PROJECT_STREAMS))
    columns = {
        f["field_code"]: f["column_name"] for f in out.records["project_fields"] if f["is_custom_field"]
    }
    fields = {f["field_code"]: f for f in emulator.fields("project")}
    assert columns
    assert set(columns) == {code for code, f in fields.items() if f["is_custom_field"]}
    projects = {r["id"]: r for r in out.records["projects"]}
    truth = {p["id"]: p for p in emulator.records("projects") if p["status"] != "deleted"}
    assert set(projects) == set(truth)
    for pid, project in truth.items():
        row = projects[pid]
        assert row["is_archived"] is (project["archive_time"] is not None)
        for code, column in columns.items():
            value = project["custom_fields"][code]
            kind = fields[code]["field_type"]
            labels = {o["id"]: o["label"] for o in fields[code]["options"] or ()}
            if kind == "monetary":
                assert row[f"{column}_currency"] == (value or {}).get("currency")
                value = (value or {}).get("value")
            elif kind == "enum" and value is not None:
                value = labels[value]
            elif kind == "set" and value is not None:
                value = [labels[option] for option in value]
            assert row[column] == value, (pid, fields[code]["field_name"])
    assert sorted(r["id"] for r in out.records["tasks"]) == sorted(t["id"] for t in emulator.records("tasks"))


GATES = [
    ("/api/v1/permissionSets", 403, {"permission_sets", "permission_set_assignments"}),
    ("/api/v1/goals/find", 403, {"goals", "goal_results"}),
    ("/api/v1/roles", 403, {"roles", "role_assignments"}),
    ("/api/v2/boards", 403, {"boards", "phases"}),
    ("/api/v2/projectFields", 402, {"projects", "project_fields"}),
]


@pytest.mark.parametrize(("path", "status", "skipped"), GATES, ids=[f"{p}-{s}" for p, s, _ in GATES])
def test_a_refused_endpoint_skips_its_streams_and_their_dependents_with_one_warning(
    make_emulator: Any, tmp_path: Path, path: str, status: int, skipped: set[str]
) -> None:
    emulator = make_emulator(deals=40, seed=2, gates={path: status})
    config = {"api_token": emulator.token, "api_url": emulator.base_url}
    (tmp_path / "tap.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(only(config, ORG_STREAMS + PROJECT_STREAMS)))
    sync = subprocess.run(
        [str(TAP), "--config", str(tmp_path / "tap.json"), "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert sync.returncode == 0, sync.stderr[-2000:]
    lines = [json.loads(line) for line in sync.stdout.splitlines() if line.strip()]
    emitted = {m["stream"] for m in lines if m["type"] == "RECORD"}
    assert emitted == set(ORG_STREAMS + PROJECT_STREAMS) - skipped
    assert not {m["stream"] for m in lines if m["type"] == "ACTIVATE_VERSION"} & skipped
    warnings = [line for line in sync.stderr.splitlines() if "WARNING" in line and "Skipping" in line]
    assert len(warnings) == 1, warnings
    assert f"HTTP {status} on {path}" in warnings[0]


def test_on_the_lite_plan_projects_and_legacy_teams_are_skipped_and_the_rest_synced(
    make_emulator: Any, run_tap: Any, tap_config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = make_emulator(deals=40, seed=3, plan="lite", seats=1)
    config = tap_config(emulator)
    catalog = only(config, ORG_STREAMS + PROJECT_STREAMS)  # discovery says it too, in its own run
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = run_tap(config, catalog=catalog)
    refused = {"legacy_teams", *PROJECT_STREAMS}
    assert set(out.records) == set(ORG_STREAMS) - refused
    skips = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert len(skips) == 4, (
        skips
    )  # projects + project_fields (their fields), boards (and phases), tasks, teams
    assert {r.status for r in emulator.request_log} <= {200, 403}


def test_running_goals_are_read_again_only_after_the_refresh_interval_and_changed_ones_at_once(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=300, seed=35)
    config = tap_config(emulator)  # goal_results_refresh_hours: 6
    catalog = only(config, ("goals", "goal_results"))
    first = run_tap(config, catalog=catalog)
    assert running_goals(emulator, datetime.now(UTC).date())
    changed = emulator.mutate(change={"goals": 2})["changed"]["goals"]
    emulator.clear_log()
    second = run_tap(config, state=first.state, catalog=catalog)
    read = {r.path.split("/")[4] for r in emulator.request_log if r.path.endswith("/results")}
    assert read == set(changed)
    assert {r["goal_id"] for r in second.records["goal_results"]} == {
        g["id"] for g in emulator.records("goals")
    }


def test_with_the_users_stream_assignments_cost_no_request_and_match_the_per_parent_endpoints(
    make_emulator: Any, run_tap: Any, tap_config: Any
) -> None:
    emulator = make_emulator(deals=400, seed=36)
    config = tap_config(emulator)
    streams = ("roles", "role_assignments", "permission_sets", "permission_set_assignments")
    emulator.clear_log()
    derived = run_tap(config, catalog=only(config, ("users", *streams)))
    sent = paths(emulator)
    assert sent["/api/v1/roles/{id}/assignments"] == 0
    assert sent["/api/v1/permissionSets/{id}/assignments"] == 0
    per_parent = run_tap(config, catalog=only(config, streams))

    def keyed(out: Any, stream: str, keys: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        return {
            tuple(r[k] for k in keys): (r["name"], r.get("parent_role_id"), r.get("active_flag"))
            for r in out.records[stream]
        }

    for stream, keys in (
        ("role_assignments", ("role_id", "user_id")),
        ("permission_set_assignments", ("permission_set_id", "user_id")),
    ):
        assert keyed(derived, stream, keys)
        assert keyed(derived, stream, keys) == keyed(per_parent, stream, keys)
