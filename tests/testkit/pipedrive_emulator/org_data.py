"""Organisation, targets and post-sale records in the dataset: generated once, changed by ``mutate``.

``add_to(ds)`` fills ``roles``, ``permission_sets``, ``legacy_teams``, ``goals``,
``organization_relationships``, ``boards``, ``phases``, ``projects`` and ``tasks`` (and ``fields["project"]``)
from a random source of their own, so the rest of the dataset stays what the seed always gave.
``change(ds, {entity: n}, …)`` updates n records of these entities the way editing them in Pipedrive would
(the record's timestamp moves when it has one), ``add(ds, {entity: n}, …)`` creates new ones; deletions go
through ``deletes.STYLES``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .data import Dataset
from .generators import org_targets, projects
from .generators.context import GenContext, format_v1, format_v2
from .generators.custom_fields import custom_value

ENTITIES = (
    "roles",
    "permission_sets",
    "legacy_teams",
    "goals",
    "organization_relationships",
    "boards",
    "phases",
    "projects",
    "tasks",
)
"""Records keys this module adds."""

CHANGEABLE = (
    "roles",
    "role_assignments",
    "permission_set_assignments",
    "legacy_teams",
    "goals",
    "organization_relationships",
    "boards",
    "phases",
    "projects",
    "archive_projects",
    "tasks",
)
"""What ``change`` accepts: entities, plus users moved to another role or permission set, and projects
archived."""

ADDABLE = ("roles", "goals", "organization_relationships", "boards", "phases", "projects", "tasks")


def _context(ds: Dataset, rng: random.Random, now: int) -> GenContext:
    ctx = GenContext(rng=rng, now=now, deals=len(ds.records["deals"]))
    ctx.ids["users"] = [uid for uid, u in ds.records["users"].items() if u["active_flag"]]
    ctx.ids["organizations"] = list(ds.records["organizations"])
    ctx.ids["persons"] = list(ds.records["persons"])
    ctx.option_seq = 10_000 + len(ds.records.get("projects", {}))
    return ctx


def add_to(ds: Dataset) -> None:
    """Generate this module's entities into a freshly generated dataset."""
    now = int(ds.clock.now().timestamp())
    ctx = _context(ds, random.Random(f"{ds.seed}:org_targets"), now)
    users = list(ds.records["users"].values())
    role_rows = org_targets.roles(ctx)
    sets = org_targets.permission_sets(ctx)
    org_targets.assign_users(ctx.rng, users, role_rows, sets)
    teams = org_targets.legacy_teams(ctx, users)
    pipeline_ids = [p["id"] for p in ds.records["pipelines"].values() if not p.get("is_deleted")]
    goal_rows = org_targets.goals(ctx, max(6, 2 * len(users)), users, teams, pipeline_ids)
    org_ids = [o for o, row in ds.records["organizations"].items() if not row.get("is_deleted")]
    relations = org_targets.org_relationships(ctx, max(3, len(org_ids) // 10), org_ids)
    ds.fields["project"] = projects.project_fields(ctx)
    custom = [f for f in ds.fields["project"] if f["is_custom_field"]]
    boards, phases = projects.boards_and_phases(ctx)
    project_rows = projects.projects(
        ctx, max(4, len(ds.records["deals"]) // 40), custom, phases, list(ds.records["deals"].values())
    )
    task_rows = projects.tasks(ctx, project_rows, 3)

    def by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        return {row["id"]: row for row in rows}

    ds.records.update(
        roles=by_id(role_rows),
        permission_sets=by_id(sets),
        legacy_teams=by_id(teams),
        goals=by_id(goal_rows),
        organization_relationships=by_id(relations),
        boards=by_id(boards),
        phases=by_id(phases),
        projects=by_id(project_rows),
        tasks=by_id(task_rows),
    )


def _pick(rng: random.Random, ids: list[Any], count: int) -> list[Any]:
    ordered = sorted(ids, key=lambda rid: (isinstance(rid, str), rid))
    return sorted(rng.sample(ordered, min(count, len(ordered))), key=lambda rid: (isinstance(rid, str), rid))


def change(ds: Dataset, counts: Mapping[str, int], rng: random.Random, now: int) -> dict[str, list[Any]]:
    """Edit ``counts[entity]`` records of each entity; returns entity → changed ids (user ids for
    ``role_assignments``/``permission_set_assignments``)."""
    changed: dict[str, list[Any]] = {}
    records = ds.records
    for entity, count in sorted(counts.items()):
        if entity not in CHANGEABLE:
            raise ValueError(f"change: entity must be one of {sorted(CHANGEABLE)}, got {entity!r}")
        if entity in ("role_assignments", "permission_set_assignments"):
            changed[entity] = _reassign(ds, entity, count, rng)
            continue
        if entity == "archive_projects":
            live = [
                p
                for p, r in records["projects"].items()
                if r["archive_time"] is None and r["status"] != "deleted"
            ]
            ids = _pick(rng, live, count)
            for pid in ids:
                records["projects"][pid].update(archive_time=format_v2(now), update_time=format_v2(now))
            changed[entity] = ids
            continue
        live = [rid for rid, r in records[entity].items() if not _gone(entity, r)]
        ids = _pick(rng, live, count)
        for rid in ids:
            _edit(ds, entity, records[entity][rid], rng, now)
        changed[entity] = ids
    return changed


def _gone(entity: str, record: dict[str, Any]) -> bool:
    return record.get("status") == "deleted" or record.get("deleted_flag") in (1, True)


def _edit(ds: Dataset, entity: str, record: dict[str, Any], rng: random.Random, now: int) -> None:
    v2 = format_v2(now)
    if entity == "roles":
        record["name"] = f"{record['name']} *"
    elif entity == "legacy_teams":
        record["description"] = f"{record['description']} (edited)"
    elif entity == "goals":
        record["expected_outcome"]["target"] = record["expected_outcome"]["target"] + rng.randint(1, 9)
    elif entity == "organization_relationships":
        record.update(type="related" if record["type"] == "parent" else "parent", update_time=format_v1(now))
    elif entity in ("boards", "phases"):
        record.update(name=f"{record['name']} *", update_time=v2)
    elif entity == "projects":
        custom = [f for f in ds.fields["project"] if f["is_custom_field"]]
        if rng.random() < 0.5 and custom:
            item = rng.choice(custom)
            ctx = _context(ds, rng, now)
            record["custom_fields"][item["field_code"]] = custom_value(ctx, item, p_null=0.0)
        else:
            record["title"] = f"{record['title']} *"
        record["update_time"] = v2
    elif entity == "tasks":
        record["is_done"] = not record["is_done"]
        record.update(marked_as_done_time=v2 if record["is_done"] else None, update_time=v2)


def _reassign(ds: Dataset, entity: str, count: int, rng: random.Random) -> list[Any]:
    users = [u for u in ds.records["users"].values() if not u.get("is_deleted")]
    chosen = _pick(rng, [u["id"] for u in users], count)
    roles = sorted(ds.records["roles"])
    sets = list(ds.records["permission_sets"].values())
    for uid in chosen:
        user = ds.records["users"][uid]
        if entity == "role_assignments":
            user["role_id"] = rng.choice([r for r in roles if r != user.get("role_id")] or roles)
        else:
            access = (user.get("access") or [{}])[0]
            fitting = [
                s["id"]
                for s in sets
                if s["app"] == access.get("app") and s["id"] != access.get("permission_set_id")
            ]
            if fitting:
                access["permission_set_id"] = rng.choice(fitting)
    recount(ds)
    return chosen


def recount(ds: Dataset) -> None:
    """Refresh the roles' and permission sets' assignment counts from the users."""
    org_targets.recount(
        list(ds.records["users"].values()),
        list(ds.records["roles"].values()),
        list(ds.records["permission_sets"].values()),
    )


def add(ds: Dataset, counts: Mapping[str, int], rng: random.Random, now: int) -> dict[str, list[Any]]:
    """Create ``counts[entity]`` new records of each entity; returns entity → new ids."""
    ctx = _context(ds, rng, now)
    added: dict[str, list[Any]] = {}
    records = ds.records
    for entity, count in sorted(counts.items()):
        if entity not in ADDABLE:
            raise ValueError(f"add: entity must be one of {sorted(ADDABLE)}, got {entity!r}")
        rows = records[entity]
        new: list[dict[str, Any]] = []
        for _ in range(count):
            next_id = max((rid for rid in rows if isinstance(rid, int)), default=0) + 1
            row = _new_record(ds, ctx, entity, next_id)
            if row is None:
                break
            rows[row["id"]] = row
            new.append(row)
        added[entity] = [row["id"] for row in new]
    recount(ds)
    return added


def _new_record(ds: Dataset, ctx: GenContext, entity: str, next_id: int) -> dict[str, Any] | None:
    records = ds.records
    v2 = format_v2(ctx.now)
    if entity == "roles":
        return {
            "id": next_id,
            "parent_role_id": 1,
            "name": f"New role {next_id}",
            "active_flag": True,
            "assignment_count": "0",
            "sub_role_count": "0",
            "level": 2,
        }
    if entity == "goals":
        users = list(records["users"].values())
        pipelines = [p for p, r in records["pipelines"].items() if not r.get("is_deleted")]
        row = org_targets.goal(ctx, users, list(records["legacy_teams"].values()), pipelines)
        row["is_active"] = True
        return row
    if entity == "organization_relationships":
        orgs = [o for o, r in records["organizations"].items() if not r.get("is_deleted")]
        taken = {
            (
                min(r["rel_owner_org_id"], r["rel_linked_org_id"]),
                max(r["rel_owner_org_id"], r["rel_linked_org_id"]),
            )
            for r in records[entity].values()
        }
        for _ in range(50):
            owner, linked = ctx.rng.sample(orgs, 2)
            if (min(owner, linked), max(owner, linked)) not in taken:
                row = org_targets.org_relationship(ctx, next_id, owner, linked)
                row.update(add_time=format_v1(ctx.now), update_time=format_v1(ctx.now))
                return row
        return None
    if entity == "boards":
        return {
            "id": next_id,
            "name": f"Board {next_id}",
            "order_nr": next_id,
            "add_time": v2,
            "update_time": v2,
        }
    if entity == "phases":
        board = min(records["boards"])
        order = 1 + sum(1 for p in records["phases"].values() if p["board_id"] == board)
        return {
            "id": next_id,
            "name": f"Phase {next_id}",
            "board_id": board,
            "order_nr": order,
            "add_time": v2,
            "update_time": v2,
        }
    custom = [f for f in ds.fields["project"] if f["is_custom_field"]]
    if entity == "projects":
        won = [d for d in records["deals"].values() if d.get("status") == "won"]
        row = projects.project(ctx, next_id, custom, list(records["phases"].values()), won)
        row.update(status="open", archive_time=None, add_time=v2, update_time=v2, status_change_time=v2)
        return row
    live = [p for p in records["projects"].values() if p["status"] != "deleted"]
    row = projects.task(ctx, next_id, ctx.rng.choice(live), None)
    row.update(add_time=v2, update_time=v2, marked_as_done_time=v2 if row["is_done"] else None)
    return row


def after_mutation(
    ds: Dataset,
    result: dict[str, Any],
    changes: Mapping[str, int] | None,
    additions: Mapping[str, int] | None,
    rng: random.Random,
    now: int,
) -> None:
    """``mutate``'s part for these entities: users of deleted roles fall back to the root role, a deleted
    board takes its phases with it, then the asked changes and additions (``result["changed"]``,
    ``result["added"]``)."""
    if "boards" in ds.records:
        orphans = sorted(
            pid for pid, p in ds.records["phases"].items() if p["board_id"] not in ds.records["boards"]
        )
        for pid in orphans:
            del ds.records["phases"][pid]
        if orphans:
            result["deleted"]["phases"] = sorted({*result["deleted"].get("phases", []), *orphans})
    if "roles" in ds.records:
        root = min(
            (rid for rid, r in ds.records["roles"].items() if r["parent_role_id"] is None), default=None
        )
        for user in ds.records["users"].values():
            if user.get("role_id") not in ds.records["roles"]:
                user["role_id"] = root
        recount(ds)
    if changes:
        result["changed"] = change(ds, changes, rng, now)
    if additions:
        result.setdefault("added", {}).update(add(ds, additions, rng, now))
