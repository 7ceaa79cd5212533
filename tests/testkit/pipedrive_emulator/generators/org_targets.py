"""Organisation and targets: roles, permission sets, legacy teams, goals, lead sources, org relationships.

Generated after the rest of the dataset from a random source of their own (``<seed>:org_targets``), so every
other entity stays what the seed always gave. Users are tied in: each user's ``role_id`` names one of the
roles and their ``access[].permission_set_id`` one of the permission sets of the app (role and permission-set
assignments are read back from the users, as Pipedrive derives them).
"""

from __future__ import annotations

import random
from typing import Any

from .context import DAY, GenContext, format_date, format_v1

LEAD_SOURCES = (
    "Manually created",
    "Deal",
    "Web forms",
    "Prospector",
    "Leadbooster",
    "Live chat",
    "Import",
    "Website visitors",
    "Workflow automation",
    "API",
)
"""``GET /v1/leadSources``: "the list of lead sources is fixed, it cannot be modified" (v1 spec)."""

_ROLES = (("Company", None), ("Sales", 1), ("Sales EMEA", 2), ("Sales AMER", 2), ("Customer Success", 1))
_PERMISSION_SETS = (
    ("sales", "admin", "Sales admin"),
    ("sales", "regular", "Sales regular user"),
    ("sales", "manager", "Sales manager"),
    ("global", "admin", "Global admin"),
    ("global", "regular", "Global regular user"),
    ("projects", "regular", "Projects regular user"),
)
_TEAMS = ("Inside sales", "Field sales", "Key accounts", "Onboarding")
GOAL_TYPES = ("deals_won", "deals_progressed", "activities_completed", "activities_added", "deals_started")
GOAL_INTERVALS = ("weekly", "monthly", "quarterly", "yearly")


def roles(ctx: GenContext) -> list[dict[str, Any]]:
    """v1 roles: a root and sub-roles (``level`` = depth, counts filled in by ``assign_users``)."""
    out = []
    for rid, (name, parent) in enumerate(_ROLES, start=1):
        level = 1 if parent is None else (2 if parent == 1 else 3)
        out.append(
            {
                "id": rid,
                "parent_role_id": parent,
                "name": name,
                "active_flag": True,
                "assignment_count": "0",
                "sub_role_count": str(sum(1 for _, p in _ROLES if p == rid)),
                "level": level,
            }
        )
    return out


def permission_sets(ctx: GenContext) -> list[dict[str, Any]]:
    """v1 permission sets (uuid ids), ``assignment_count`` filled in by ``assign_users``."""
    return [
        {
            "id": ctx.uuid(),
            "name": name,
            "description": f"{name} (default set)",
            "app": app,
            "type": kind,
            "assignment_count": 0,
        }
        for app, kind, name in _PERMISSION_SETS
    ]


def assign_users(rng: random.Random, users: list[dict], role_rows: list[dict], sets: list[dict]) -> None:
    """Give every user a role and one permission set per app of their ``access``; count the assignments."""
    by_app: dict[str, list[dict]] = {}
    for pset in sets:
        by_app.setdefault(pset["app"], []).append(pset)
    role_cycle = [role["id"] for role in role_rows if role["parent_role_id"] is not None]
    role_cycle = [rid for rid in role_cycle[1:] for _ in (0, 1)] + role_cycle[:1]
    for position, user in enumerate(users):
        user["role_id"] = (
            role_rows[0]["id"] if position == 0 else role_cycle[(position - 1) % len(role_cycle)]
        )
        for access in user.get("access") or ():
            choices = by_app.get(access["app"]) or []
            wanted = "admin" if access.get("admin") else rng.choice(("regular", "regular", "manager"))
            fitting = [s for s in choices if s["type"] == wanted] or choices
            if fitting:
                access["permission_set_id"] = fitting[0]["id"]
    recount(users, role_rows, sets)


def recount(users: list[dict], role_rows: list[dict], sets: list[dict]) -> None:
    """Refresh roles' and permission sets' ``assignment_count`` from the users (deleted users left out)."""
    live = [u for u in users if not u.get("is_deleted")]
    for role in role_rows:
        role["assignment_count"] = str(sum(1 for u in live if u.get("role_id") == role["id"]))
    for pset in sets:
        pset["assignment_count"] = sum(
            1 for u in live for a in u.get("access") or () if a.get("permission_set_id") == pset["id"]
        )


def legacy_teams(ctx: GenContext, users: list[dict]) -> list[dict[str, Any]]:
    """v1 legacy teams (``active_flag``/``deleted_flag`` as 0/1 numbers, member ids in ``users``)."""
    rng = ctx.rng
    ids = [u["id"] for u in users if u["active_flag"]]
    out = []
    for tid, name in enumerate(_TEAMS, start=1):
        members = sorted(rng.sample(ids, min(len(ids), rng.randint(1, 4))))
        out.append(
            {
                "id": tid,
                "name": name,
                "description": f"The {name.lower()} team",
                "manager_id": members[0],
                "users": members,
                "active_flag": 1,
                "deleted_flag": 0,
                "add_time": format_v1(ctx.past(900, 30)),
                "created_by_user_id": ids[0],
            }
        )
    return out


def goal(ctx: GenContext, users: list[dict], teams: list[dict], pipeline_ids: list[int]) -> dict[str, Any]:
    """One v1 goal (32-hex id), assigned to a user, a team or the company."""
    rng = ctx.rng
    kind = rng.choice(GOAL_TYPES)
    assignee_type = rng.choice(("person", "person", "person", "team", "company"))
    user_ids = [u["id"] for u in users if u["active_flag"]]
    if assignee_type == "person":
        assignee_id = rng.choice(user_ids)
    elif assignee_type == "team":
        assignee_id = rng.choice(teams)["id"]
    else:
        assignee_id = 1
    start = ctx.now - rng.randint(20, 400) * DAY
    end = start + rng.choice((90, 180, 365, 730)) * DAY  # the v1 spec: duration.end is never null
    metric = "sum" if kind == "deals_won" and rng.random() < 0.5 else "quantity"
    params: dict[str, Any] = {"pipeline_id": sorted(rng.sample(pipeline_ids, 1))}
    if kind.startswith("activities"):
        params = {"activity_type_id": [rng.randint(1, 6)]}
    outcome: dict[str, Any] = {
        "target": rng.choice((5, 10, 20, 50)) if metric == "quantity" else rng.choice((50_000, 250_000)),
        "tracking_metric": metric,
    }
    if metric == "sum":
        outcome["currency_id"] = 1
    return {
        "id": f"{rng.getrandbits(128):032x}",
        "owner_id": user_ids[0] if rng.random() < 0.5 else rng.choice(user_ids),
        "title": f"{kind.replace('_', ' ').capitalize()} {rng.choice(GOAL_INTERVALS)} target",
        "type": {"name": kind, "params": params},
        "assignee": {"id": assignee_id, "type": assignee_type},
        "interval": rng.choice(GOAL_INTERVALS),
        "duration": {"start": format_date(start), "end": format_date(end)},
        "expected_outcome": outcome,
        "is_active": end >= ctx.now and rng.random() < 0.9,
        "report_ids": [f"{rng.getrandbits(64):016x}"],
    }


def goals(
    ctx: GenContext, count: int, users: list[dict], teams: list[dict], pipeline_ids: list[int]
) -> list[dict[str, Any]]:
    """``count`` goals."""
    return [goal(ctx, users, teams, pipeline_ids) for _ in range(count)]


def org_relationship(ctx: GenContext, rid: int, owner: int, linked: int) -> dict[str, Any]:
    """One organization relationship as stored (org ids plain; the answer expands them per v1 spec)."""
    stamp = ctx.past(600, 1)
    return {
        "id": rid,
        "type": ctx.rng.choice(("parent", "related", "related")),
        "rel_owner_org_id": owner,
        "rel_linked_org_id": linked,
        "add_time": format_v1(stamp),
        "update_time": format_v1(stamp),
        "active_flag": "true",
    }


def org_relationships(ctx: GenContext, count: int, org_ids: list[int]) -> list[dict[str, Any]]:
    """``count`` relationships between distinct organizations (no pair twice)."""
    out: list[dict[str, Any]] = []
    pairs: set[tuple[int, int]] = set()
    if len(org_ids) < 2:
        return out
    while len(out) < count and len(pairs) < len(org_ids) * (len(org_ids) - 1) // 2:
        owner, linked = ctx.rng.sample(org_ids, 2)
        pair = (min(owner, linked), max(owner, linked))
        if pair in pairs:
            continue
        pairs.add(pair)
        out.append(org_relationship(ctx, len(out) + 1, owner, linked))
    return out
