"""Served endpoints of organisation and targets (roles, permission sets, legacy teams, goals, lead sources,
organization relationships) and post-sale (projects, archived projects, tasks, boards, phases, project
fields).

Handlers follow the specs: v1 offset paging where the operation has ``start``/``limit``, v2 cursors where it
has ``cursor``, single answers otherwise. Role and permission-set assignments are read from the users
(``role_id``, ``access[].permission_set_id``), goal results are counted from the deals and activities.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from pipedrive_emulator.data import Dataset
from pipedrive_emulator.errors import ApiError, bad_request
from pipedrive_emulator.generators.org_targets import LEAD_SOURCES
from pipedrive_emulator.pagination import parse_timestamp
from pipedrive_emulator.routes import Request, Route, _no_filter_id, _v1_list, _v2_fields, _v2_page
from pipedrive_emulator.spec_facts import load_operations

Record = dict[str, Any]
Handler = Callable[[Dataset, Request], dict[str, Any]]

NOT_FOUND = "Object was not found."
PROJECT_LIVE_STATUSES = ("open", "completed", "canceled")
"""``status`` of /projects when not given: "By default ``deleted`` projects are not returned" (v2 spec)."""
EVERYONES_GOALS = (
    "type.name",
    "assignee.type",
    "expected_outcome.target",
    "expected_outcome.tracking_metric",
    "expected_outcome.currency_id",
    "type.params.pipeline_id",
    "type.params.stage_id",
    "type.params.activity_type_id",
)
"""``/v1/goals/find`` parameters after which "everyone's goals will be returned" (else only the caller's)."""


def _user_name(ds: Dataset, user_id: int) -> str | None:
    user = ds.records["users"].get(user_id)
    return user["name"] if user else None


# --------------------------------------------------------------------------------------------- roles, sets


def _roles(ds: Dataset, request: Request) -> dict[str, Any]:
    return _v1_list(list(ds.records["roles"].values()), request)


def _role_assignments(ds: Dataset, request: Request) -> dict[str, Any]:
    raw = request.path_params["id"]
    role = ds.records["roles"].get(int(raw)) if raw.isdigit() else None
    if role is None:
        raise ApiError(404, "Role not found", NOT_FOUND)
    rows = [
        {
            "user_id": user["id"],
            "role_id": role["id"],
            "parent_role_id": role["parent_role_id"],
            "name": user["name"],
            "active_flag": bool(user["active_flag"]),
            "type": "user",
        }
        for user in ds.records["users"].values()
        if user.get("role_id") == role["id"] and not user.get("is_deleted")
    ]
    return _v1_list(sorted(rows, key=lambda r: r["user_id"]), request, keep_order=True)


def _permission_sets(ds: Dataset, request: Request) -> dict[str, Any]:
    rows = list(ds.records["permission_sets"].values())
    if "app" in request.params:
        rows = [r for r in rows if r["app"] == request.params["app"]]
    return {"success": True, "data": rows}


def _permission_set_assignments(ds: Dataset, request: Request) -> dict[str, Any]:
    set_id = request.path_params["id"]
    pset = ds.records["permission_sets"].get(set_id)
    if pset is None:
        raise ApiError(404, "Permission set not found", NOT_FOUND)
    rows = [
        {"user_id": user["id"], "permission_set_id": set_id, "name": pset["name"]}
        for user in ds.records["users"].values()
        if not user.get("is_deleted")
        and any(a.get("permission_set_id") == set_id for a in user.get("access") or ())
    ]
    return _v1_list(sorted(rows, key=lambda r: r["user_id"]), request, keep_order=True)


def _legacy_teams(ds: Dataset, request: Request) -> dict[str, Any]:
    order_by = request.params.get("order_by", "id")
    rows = sorted(
        ds.records["legacy_teams"].values(), key=lambda r: (r.get(order_by) is None, r.get(order_by))
    )
    if request.params.get("skip_users") == 1:
        rows = [{k: v for k, v in r.items() if k != "users"} for r in rows]
    return {"success": True, "data": rows}


def _lead_sources(ds: Dataset, request: Request) -> dict[str, Any]:
    return {"success": True, "data": [{"name": name} for name in LEAD_SOURCES]}


# --------------------------------------------------------------------------------------------- goals


def _goal_matches(goal: Record, params: dict[str, Any]) -> bool:
    checks = {
        "type.name": goal["type"]["name"],
        "title": goal["title"],
        "assignee.id": goal["assignee"]["id"],
        "assignee.type": goal["assignee"]["type"],
        "expected_outcome.target": goal["expected_outcome"]["target"],
        "expected_outcome.tracking_metric": goal["expected_outcome"]["tracking_metric"],
        "expected_outcome.currency_id": goal["expected_outcome"].get("currency_id"),
        "type.params.stage_id": goal["type"]["params"].get("stage_id"),
    }
    for name, value in checks.items():
        if name in params and params[name] != value:
            return False
    for name, key in (
        ("type.params.pipeline_id", "pipeline_id"),
        ("type.params.activity_type_id", "activity_type_id"),
    ):
        if name in params and set(params[name]) != set(goal["type"]["params"].get(key) or ()):
            return False
    return True


def _period(params: dict[str, Any]) -> tuple[date, date] | None:
    start, end = params.get("period.start"), params.get("period.end")
    if (start is None) != (end is None):
        raise bad_request("When providing period.start, period.end must also be provided and vice versa.")
    if start is None or end is None:
        return None
    if end < start:
        raise bad_request("period.end must not be before period.start.")
    return start, end


def _goals_find(ds: Dataset, request: Request) -> dict[str, Any]:
    params = request.params
    period = _period(params)
    active = params.get("is_active", True)
    everyone = any(name in params for name in EVERYONES_GOALS) or "assignee.id" in params
    me = ds.company["me_user_id"]
    rows = []
    for goal in ds.records["goals"].values():
        if goal["is_active"] != active or not _goal_matches(goal, params):
            continue
        if not everyone and goal["owner_id"] != me:
            continue
        if period is not None and not _overlaps(goal, *period):
            continue
        rows.append(goal)
    return {"success": True, "data": {"goals": rows}}


def _overlaps(goal: Record, start: date, end: date) -> bool:
    first = date.fromisoformat(goal["duration"]["start"])
    last = date.fromisoformat(goal["duration"]["end"]) if goal["duration"]["end"] else date.max
    return first <= end and start <= last


def _goal_results(ds: Dataset, request: Request) -> dict[str, Any]:
    goal = ds.records["goals"].get(request.path_params["id"])
    if goal is None:
        raise ApiError(404, "Goal not found", NOT_FOUND)
    period = _period(request.params)
    if period is None:
        raise bad_request('Query parameter "period.start" is required.')
    start, end = period
    first = date.fromisoformat(goal["duration"]["start"])
    last = date.fromisoformat(goal["duration"]["end"]) if goal["duration"]["end"] else None
    if start < first or (last is not None and end > last):
        raise bad_request("The period must lie within the goal's duration.")
    return {"success": True, "data": {"progress": goal_progress(ds, goal, start, end), "goal": goal}}


def goal_progress(ds: Dataset, goal: Record, start: date, end: date) -> int:
    """What a goal reached from ``start`` to ``end`` (inclusive): deals or activities counted (or deal
    values summed, rounded) for its assignee (a user, a legacy team's users, or the whole company)."""
    kind = goal["type"]["name"]
    params = goal["type"]["params"]
    owners = _assignee_users(ds, goal["assignee"])

    def day_in(stamp: Any) -> bool:
        moment = parse_timestamp(stamp) if isinstance(stamp, str) else None
        return moment is not None and start <= moment.date() <= end

    if kind.startswith("deals"):
        stamp_key = {
            "deals_won": "won_time",
            "deals_started": "add_time",
            "deals_progressed": "stage_change_time",
        }
        pipelines = set(params.get("pipeline_id") or ())
        chosen = [
            d
            for d in ds.records["deals"].values()
            if d.get("status") != "deleted"
            and (kind != "deals_won" or d.get("status") == "won")
            and (not pipelines or d.get("pipeline_id") in pipelines)
            and (owners is None or d.get("owner_id") in owners)
            and day_in(d.get(stamp_key[kind]))
        ]
        if goal["expected_outcome"]["tracking_metric"] == "sum":
            return round(sum(float(d.get("value") or 0) for d in chosen))
        return len(chosen)
    keys = {t["id"]: t["key_string"] for t in ds.records["activity_types"].values()}
    types = {keys[i] for i in params.get("activity_type_id") or () if i in keys}
    stamp_key = "marked_as_done_time" if kind == "activities_completed" else "add_time"
    return sum(
        1
        for a in ds.records["activities"].values()
        if not a.get("is_deleted")
        and (kind != "activities_completed" or a.get("done"))
        and (not types or a.get("type") in types)
        and (owners is None or a.get("owner_id") in owners)
        and day_in(a.get(stamp_key))
    )


def _assignee_users(ds: Dataset, assignee: Record) -> set[int] | None:
    if assignee["type"] == "person":
        return {assignee["id"]}
    if assignee["type"] == "team":
        team = ds.records["legacy_teams"].get(assignee["id"])
        return set(team["users"]) if team else set()
    return None


# --------------------------------------------------------------------------------------------- relationships


def _org_object(ds: Dataset, org_id: int) -> Record:
    org = ds.records["organizations"].get(org_id) or {}
    address = org.get("address")
    people = sum(1 for p in ds.records["persons"].values() if p.get("org_id") == org_id)
    return {
        "name": org.get("name"),
        "people_count": people,
        "owner_id": org.get("owner_id"),
        "address": address.get("value") if isinstance(address, dict) else address,
        "cc_email": None,
        "value": org_id,
    }


def _org_relationships(ds: Dataset, request: Request) -> dict[str, Any]:
    org_id = request.params["org_id"]
    if org_id not in ds.records["organizations"]:
        raise ApiError(404, "Organization not found", NOT_FOUND)
    rows, related = [], {}
    for rel in sorted(ds.records["organization_relationships"].values(), key=lambda r: r["id"]):
        owner, linked = rel["rel_owner_org_id"], rel["rel_linked_org_id"]
        if org_id not in (owner, linked):
            continue
        other = linked if org_id == owner else owner
        calculated = "related"
        if rel["type"] == "parent":
            calculated = "daughter" if org_id == owner else "parent"
        rows.append(
            {
                **rel,
                "rel_owner_org_id": _org_object(ds, owner),
                "rel_linked_org_id": _org_object(ds, linked),
                "calculated_type": calculated,
                "calculated_related_org_id": other,
                "related_organization_name": (ds.records["organizations"].get(other) or {}).get("name"),
            }
        )
        for oid in (owner, linked):
            related[str(oid)] = {"id": oid, **_org_object(ds, oid)}
    body = _v1_list(rows, request, keep_order=True)
    body["related_objects"] = {"organization": related}
    return body


# --------------------------------------------------------------------------------------------- projects


def _projects(archived: bool) -> Handler:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        params = request.params
        _no_filter_id(params)
        statuses = set(str(params["status"]).split(",")) if "status" in params else set(PROJECT_LIVE_STATUSES)
        unknown = statuses - {*PROJECT_LIVE_STATUSES, "deleted"}
        if unknown:
            raise bad_request(f'Query parameter "status" has an unknown value "{sorted(unknown)[0]}".')
        rows = []
        for project in ds.records["projects"].values():
            if (project.get("archive_time") is not None) != archived or project["status"] not in statuses:
                continue
            if "phase_id" in params and project["phase_id"] != params["phase_id"]:
                continue
            for name in ("deal_id", "person_id", "org_id"):
                if name in params and params[name] not in project[name.replace("_id", "_ids")]:
                    break
            else:
                rows.append(project)
        return _v2_page(rows, request)

    return handler


def _tasks(ds: Dataset, request: Request) -> dict[str, Any]:
    params = request.params
    parent = params.get("parent_task_id")
    if parent is not None and parent != "null" and not re.fullmatch(r"\d+", str(parent)):
        raise bad_request('Query parameter "parent_task_id" must be null or a task id.')
    rows = []
    for task in ds.records["tasks"].values():
        if any(
            name in params and task[name] != params[name]
            for name in ("is_done", "is_milestone", "project_id")
        ):
            continue
        if "assignee_id" in params and params["assignee_id"] not in task["assignee_ids"]:
            continue
        if parent == "null" and task["parent_task_id"] is not None:
            continue
        if parent not in (None, "null") and task["parent_task_id"] != int(str(parent)):
            continue
        rows.append(task)
    return _v2_page(rows, request)


def _boards(ds: Dataset, request: Request) -> dict[str, Any]:
    rows = sorted(ds.records["boards"].values(), key=lambda r: r["order_nr"])
    return {"success": True, "data": rows, "additional_data": None}


def _phases(ds: Dataset, request: Request) -> dict[str, Any]:
    board_id = request.params["board_id"]
    if board_id not in ds.records["boards"]:
        raise ApiError(404, "Board not found", NOT_FOUND)
    rows = sorted(
        (p for p in ds.records["phases"].values() if p["board_id"] == board_id), key=lambda r: r["order_nr"]
    )
    return {"success": True, "data": rows, "additional_data": None}


HANDLERS: dict[tuple[str, str], Handler] = {
    ("v1", "/roles"): _roles,
    ("v1", "/roles/{id}/assignments"): _role_assignments,
    ("v1", "/permissionSets"): _permission_sets,
    ("v1", "/permissionSets/{id}/assignments"): _permission_set_assignments,
    ("v1", "/legacyTeams"): _legacy_teams,
    ("v1", "/goals/find"): _goals_find,
    ("v1", "/goals/{id}/results"): _goal_results,
    ("v1", "/leadSources"): _lead_sources,
    ("v1", "/organizationRelationships"): _org_relationships,
    ("v2", "/projects"): _projects(archived=False),
    ("v2", "/projects/archived"): _projects(archived=True),
    ("v2", "/tasks"): _tasks,
    ("v2", "/boards"): _boards,
    ("v2", "/phases"): _phases,
    ("v2", "/projectFields"): _v2_fields("project"),
}
"""(api, spec path) → handler of every endpoint this module serves."""


def _pattern(path: str) -> re.Pattern[str]:
    """Path parameters match any segment (permission set ids are uuids, goal ids 32 hex digits)."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


def build_routes() -> list[Route]:
    """The routes of this module, the fixed paths first (``/projects/archived`` before any ``{id}``)."""
    operations = load_operations()
    ordered = sorted(HANDLERS.items(), key=lambda item: "{" in item[0][1])
    return [Route(operations[key], _pattern(key[1]), handler) for key, handler in ordered]
