"""The emulator's organisation, targets and post-sale endpoints: parameters the specs require or reject, what
each answer holds, token costs, and ``mutate``'s changes, additions and deletions of these entities."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pipeboard_testkit.openapi import spec_dir
from pipedrive_emulator import Emulator
from pipedrive_emulator.data import generate
from pipedrive_emulator.mutations import mutate
from pipedrive_emulator.routes_org import HANDLERS


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = Emulator(deals=300, seed=17).start()
    yield emu
    emu.stop()


def get(emulator: Emulator, path: str, **params: str) -> requests.Response:
    return requests.get(
        emulator.base_url + path, params=params, headers={"x-api-token": emulator.token}, timeout=10
    )


def token_costs() -> dict[tuple[str, str], int]:
    with (Path(spec_dir()) / "token-costs.csv").open(encoding="utf-8") as handle:
        return {
            (row["api"], row["path"]): int(row["x_token_cost"])
            for row in csv.DictReader(handle)
            if row["method"] == "GET"
        }


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/organizationRelationships", {}),
        ("/api/v2/phases", {}),
        ("/api/v1/goals/find", {"period.start": "2026-01-01"}),
        ("/api/v2/projects", {"status": "archived"}),
        ("/api/v2/tasks", {"parent_task_id": "first"}),
        ("/api/v2/projects", {"sort_by": "title"}),
        ("/api/v2/boards", {"limit": "5"}),
        ("/api/v1/roles", {"limit": "501"}),
    ],
    ids=[
        "org-id-required",
        "board-id-required",
        "period-pair",
        "status",
        "parent-task",
        "unknown",
        "no-paging",
        "limit",
    ],
)
def test_invalid_parameters_are_refused_with_400(
    emulator: Emulator, path: str, params: dict[str, str]
) -> None:
    answer = get(emulator, path, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False


def test_goal_results_refuse_a_period_outside_the_goal_and_count_it_within(emulator: Emulator) -> None:
    goal = emulator.records("goals")[0]
    start, end = goal["duration"]["start"], goal["duration"]["end"]
    path = f"/api/v1/goals/{goal['id']}/results"
    assert get(emulator, path, **{"period.start": "2000-01-01", "period.end": end}).status_code == 400
    assert get(emulator, path, **{"period.start": start}).status_code == 400
    body = get(emulator, path, **{"period.start": start, "period.end": start}).json()
    assert body["data"]["goal"]["id"] == goal["id"]
    assert isinstance(body["data"]["progress"], int)
    assert (
        get(emulator, "/api/v1/goals/0123/results", **{"period.start": start, "period.end": end}).status_code
        == 404
    )


def test_goals_find_answers_only_the_token_users_goals_without_a_filter(emulator: Emulator) -> None:
    me = next(u["id"] for u in emulator.records("users") if u["is_you"])
    mine = get(emulator, "/api/v1/goals/find").json()["data"]["goals"]
    assert mine
    assert {g["owner_id"] for g in mine} == {me}
    everyone = [
        g
        for kind in ("person", "team", "company")
        for active in ("true", "false")
        for g in get(emulator, "/api/v1/goals/find", **{"assignee.type": kind, "is_active": active}).json()[
            "data"
        ]["goals"]
    ]
    assert sorted(g["id"] for g in everyone) == sorted(g["id"] for g in emulator.records("goals"))


def test_projects_leave_deleted_and_archived_ones_to_their_own_answers() -> None:
    with Emulator(deals=300, seed=18) as emu:
        deleted = emu.mutate(delete={"projects": 2})["deleted"]["projects"]
        listed = {p["id"] for p in get(emu, "/api/v2/projects", limit="500").json()["data"]}
        archived = {p["id"] for p in get(emu, "/api/v2/projects/archived", limit="500").json()["data"]}
        with_deleted = get(
            emu, "/api/v2/projects", limit="500", status="open,completed,canceled,deleted"
        ).json()
        truth = emu.records("projects")
    assert listed == {p["id"] for p in truth if p["archive_time"] is None and p["status"] != "deleted"}
    assert archived == {p["id"] for p in truth if p["archive_time"] is not None and p["status"] != "deleted"}
    assert set(deleted) - archived <= {p["id"] for p in with_deleted["data"]}
    assert not set(deleted) & listed


def test_every_endpoint_charges_its_token_cost(emulator: Emulator) -> None:
    costs = token_costs()
    emulator.clear_log()
    goal = emulator.records("goals")[0]
    pset = emulator.records("permission_sets")[0]["id"]
    rel = emulator.records("organization_relationships")[0]
    calls = {
        "/api/v1/roles": {},
        "/api/v1/roles/1/assignments": {},
        "/api/v1/permissionSets": {},
        f"/api/v1/permissionSets/{pset}/assignments": {},
        "/api/v1/legacyTeams": {},
        "/api/v1/goals/find": {},
        f"/api/v1/goals/{goal['id']}/results": {
            "period.start": goal["duration"]["start"],
            "period.end": goal["duration"]["start"],
        },
        "/api/v1/leadSources": {},
        "/api/v1/organizationRelationships": {"org_id": str(rel["rel_owner_org_id"])},
        "/api/v2/projects": {},
        "/api/v2/projects/archived": {},
        "/api/v2/tasks": {},
        "/api/v2/boards": {},
        "/api/v2/phases": {"board_id": "1"},
        "/api/v2/projectFields": {},
    }
    for path, params in calls.items():
        assert get(emulator, path, **params).status_code == 200, path
    assert len(calls) == len(HANDLERS)
    charged = [record.token_cost for record in emulator.request_log]
    prefix = {"v1": "/v1", "v2": "/api/v2"}
    expected = [costs[(api, prefix[api] + path)] for api, path in HANDLERS]
    assert charged == expected


def test_mutate_changes_adds_and_deletes_these_entities_and_nothing_else() -> None:
    data = generate(300, seed=19)
    deals_before = {rid: dict(r) for rid, r in data.records["deals"].items()}
    result = mutate(
        data,
        change={"projects": 2, "tasks": 2, "goals": 1, "role_assignments": 1, "archive_projects": 1},
        add={"projects": 1, "tasks": 2, "organization_relationships": 1},
        delete={"tasks": 1, "legacy_teams": 1, "roles": 1},
    )
    now = result["now"]
    for pid in result["changed"]["projects"] + result["added"]["projects"]:
        assert data.records["projects"][pid]["update_time"] == now
    for tid in result["changed"]["tasks"] + result["added"]["tasks"]:
        assert data.records["tasks"][tid]["update_time"] == now
    assert data.records["projects"][result["changed"]["archive_projects"][0]]["archive_time"] == now
    assert result["deleted"]["tasks"][0] not in data.records["tasks"]
    assert data.records["legacy_teams"][result["deleted"]["legacy_teams"][0]]["deleted_flag"] == 1
    gone_role = result["deleted"]["roles"][0]
    assert gone_role not in data.records["roles"]
    assert all(u["role_id"] in data.records["roles"] for u in data.records["users"].values())
    counts = {r["id"]: int(r["assignment_count"]) for r in data.records["roles"].values()}
    live = [u for u in data.records["users"].values() if not u["is_deleted"]]
    assert sum(counts.values()) == len(live)
    assert data.records["deals"] == deals_before
    with pytest.raises(ValueError, match="change: entity must be one of"):
        mutate(data, change={"deals": 1})


def test_the_lite_plan_refuses_projects_and_legacy_teams_but_not_roles_or_goals(make_emulator: Any) -> None:
    emulator = make_emulator(deals=20, seed=1, plan="lite")
    for path in ("/api/v2/projects", "/api/v2/tasks", "/api/v2/boards", "/api/v1/legacyTeams"):
        assert get(emulator, path).status_code == 403, path
    for path in ("/api/v1/roles", "/api/v1/goals/find", "/api/v1/leadSources"):
        assert get(emulator, path).status_code == 200, path
    emulator.set_plan("premium")
    assert get(emulator, "/api/v2/projects").status_code == 200
