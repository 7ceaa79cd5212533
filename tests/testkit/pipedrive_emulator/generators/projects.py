"""Post-sale: project boards, phases, projects (custom fields; some archived) and their tasks (v2 shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .context import DAY, GenContext, format_date, format_v2
from .custom_fields import custom_values
from .field_metadata import field_item, make_option

_BOARDS = (
    ("Onboarding", ("Kick-off", "Configuration", "Training", "Go-live")),
    ("Implementation", ("Discovery", "Build", "Review")),
)
_BUILTIN = (
    ("title", "Title", "varchar"),
    ("description", "Description", "text"),
    ("status", "Status", "status"),
    ("board_id", "Board", "projects_board"),
    ("phase_id", "Phase", "projects_phase"),
    ("owner_id", "Owner", "user"),
    ("start_date", "Start date", "date"),
    ("end_date", "End date", "date"),
    ("deal_ids", "Deals", "deals"),
    ("person_ids", "People", "people"),
    ("org_ids", "Organizations", "org"),
    ("label_ids", "Labels", "set"),
    ("health_status", "Health", "enum"),
    ("add_time", "Created", "date"),
    ("update_time", "Updated", "date"),
)
_LABELS = [(31, "Priority"), (32, "At risk"), (33, "Upsell")]
_HEALTH = [(1, "On track"), (2, "At risk"), (3, "Off track")]
_CUSTOM = (
    ("Go-live Date", "date", ()),
    ("Implementation Fee", "monetary", ()),
    ("Complexity", "enum", ("Low", "Medium", "High")),
    ("Modules", "set", ("CRM", "Billing", "Analytics", "Support")),
    ("Customer Success Manager", "user", ()),
    ("Kick-off Notes", "text", ()),
)
PROJECT_STATUSES = ("open", "open", "open", "completed", "canceled")


def project_fields(ctx: GenContext) -> list[dict[str, Any]]:
    """v2 ``/projectFields`` items: the built-in fields, then custom ones (40-hex codes)."""
    items = []
    for code, name, ftype in _BUILTIN:
        options = None
        if code in ("label_ids", "health_status"):
            pairs = _LABELS if code == "label_ids" else _HEALTH
            options = [
                {"id": oid, "label": label, "color": None, "add_time": None, "update_time": None}
                for oid, label in pairs
            ]
        items.append(field_item("project", code, name, ftype, custom=False, options=options))
    for name, ftype, labels in _CUSTOM:
        created = ctx.past(500, 300)
        options = [make_option(ctx, label, created) for label in labels] if labels else None
        items.append(field_item("project", ctx.hash40(), name, ftype, custom=True, options=options))
    return items


def boards_and_phases(ctx: GenContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Boards and their phases (``order_nr`` from 1 within each)."""
    boards, phases = [], []
    for bid, (name, phase_names) in enumerate(_BOARDS, start=1):
        added = ctx.past(800, 600)
        boards.append(
            {
                "id": bid,
                "name": name,
                "order_nr": bid,
                "add_time": format_v2(added),
                "update_time": format_v2(ctx.rng.randint(added, ctx.now - DAY)),
            }
        )
        for order, phase_name in enumerate(phase_names, start=1):
            phases.append(
                {
                    "id": len(phases) + 1,
                    "name": phase_name,
                    "board_id": bid,
                    "order_nr": order,
                    "add_time": format_v2(added),
                    "update_time": format_v2(added),
                }
            )
    return boards, phases


def project(
    ctx: GenContext,
    pid: int,
    custom: list[dict],
    phases: list[dict],
    won_deals: list[dict],
) -> dict[str, Any]:
    """One project, usually started from a won deal (its person and organization linked)."""
    rng = ctx.rng
    phase = rng.choice(phases)
    deal = rng.choice(won_deals) if won_deals and rng.random() < 0.8 else None
    added = ctx.past(500, 1)
    updated = rng.randint(added, ctx.now)
    status = rng.choice(PROJECT_STATUSES)
    archived = status != "open" and rng.random() < 0.4
    start = added + rng.randint(0, 10) * DAY
    return {
        "id": pid,
        "title": f"{deal['title']} rollout" if deal else f"Internal project {pid}",
        "description": rng.choice(("", "Post-sale rollout")),
        "status": status,
        "board_id": phase["board_id"],
        "phase_id": phase["id"],
        "owner_id": ctx.pick("users"),
        "start_date": format_date(start),
        "end_date": format_date(start + rng.randint(20, 200) * DAY),
        "deal_ids": [deal["id"]] if deal else [],
        "person_ids": [deal["person_id"]] if deal and deal.get("person_id") else [],
        "org_ids": [deal["org_id"]] if deal and deal.get("org_id") else [],
        "label_ids": rng.sample([oid for oid, _ in _LABELS], rng.choice((0, 0, 1, 2))),
        "health_status": rng.choice((None, 1, 1, 2, 3)),
        "add_time": format_v2(added),
        "update_time": format_v2(updated),
        "status_change_time": format_v2(rng.randint(added, updated)),
        "archive_time": format_v2(updated) if archived else None,
        "custom_fields": custom_values(ctx, custom, 0.3),
    }


def projects(
    ctx: GenContext, count: int, custom: list[dict], phases: list[dict], deals: list[dict]
) -> list[dict[str, Any]]:
    """``count`` projects."""
    won = [d for d in deals if d.get("status") == "won" and not d.get("is_deleted")]
    return [project(ctx, pid, custom, phases, won) for pid in range(1, count + 1)]


def task(ctx: GenContext, tid: int, project_row: dict[str, Any], parent: int | None) -> dict[str, Any]:
    """One task of a project (a subtask when ``parent`` is given)."""
    rng = ctx.rng
    added = rng.randint(
        int(_epoch(project_row["add_time"])), max(int(_epoch(project_row["add_time"])), ctx.now - 60)
    )
    updated = rng.randint(added, ctx.now)
    done = rng.random() < 0.5
    return {
        "id": tid,
        "title": f"Task {tid}: {rng.choice(('Set up', 'Review', 'Train', 'Migrate', 'Sign off'))}",
        "creator_id": ctx.pick("users"),
        "description": rng.choice((None, "See the project plan")),
        "project_id": project_row["id"],
        "is_done": done,
        "is_milestone": parent is None and rng.random() < 0.15,
        "due_date": rng.choice((None, format_date(added + rng.randint(1, 60) * DAY))),
        "start_date": rng.choice((None, format_date(added))),
        "parent_task_id": parent,
        "assignee_ids": sorted({ctx.pick("users") for _ in range(rng.choice((0, 1, 1, 2)))}),
        "priority": rng.choice((None, 1, 2, 3)),
        "add_time": format_v2(added),
        "update_time": format_v2(updated),
        "marked_as_done_time": format_v2(updated) if done else None,
    }


def tasks(ctx: GenContext, project_rows: list[dict], per_project: int) -> list[dict[str, Any]]:
    """About ``per_project`` tasks per project, a third of them subtasks of the project's first task."""
    out: list[dict[str, Any]] = []
    for row in project_rows:
        first: int | None = None
        for _ in range(ctx.rng.randint(0, 2 * per_project)):
            parent = first if first is not None and ctx.rng.random() < 0.33 else None
            item = task(ctx, len(out) + 1, row, parent)
            out.append(item)
            first = first or item["id"]
    return out


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
