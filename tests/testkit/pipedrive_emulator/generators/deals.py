"""Deals in the v2 list-item shape: open/won/lost, recently deleted, archived."""

from __future__ import annotations

from .account import DEAL_CURRENCIES
from .context import DAY, GenContext, format_date, format_v2
from .custom_fields import custom_values
from .field_metadata import builtin_option_ids

_TITLE_WORDS = ("Renewal", "Expansion", "Pilot", "Migration", "Licence", "Rollout", "Upgrade", "Support plan")
_LOST_REASONS = ("Price", "Went with competitor", "No budget", "Timing", "", "Unresponsive")
_ORIGINS = ("ManuallyCreated", "ManuallyCreated", "API", "Import", "WebForms", "LeadsInbox")


def deals(
    ctx: GenContext,
    count: int,
    custom_fields: list[dict],
    stages: list[dict],
    person_org: dict[int, int | None],
    lead_ids: list[str],
) -> tuple[list[dict], list[int]]:
    """Generate v2 deals.

    Status mix: ~55 % open, ~24 % won, ~15 % lost, ~3 % deleted (is_deleted, deleted within the last 30 days),
    and ~5 % of the won/lost ones archived (is_archived, archive_time).

    Args:
        ctx: Generation context (users, persons and organizations already in ``ctx.ids``).
        count: Number of deals.
        custom_fields: The deal custom-field items.
        stages: Live stages (each deal's pipeline_id is its stage's pipeline).
        person_org: Person id -> that person's org id.
        lead_ids: Ids of leads a deal may have been converted from.

    Returns:
        The deal records and, parallel to them, each deal's add_time in epoch seconds.
    """
    rng = ctx.rng
    labels = builtin_option_ids("deal", "label_ids")
    channels = builtin_option_ids("deal", "channel")
    person_ids = ctx.ids["persons"]
    org_ids = ctx.ids["organizations"]
    out, added_list = [], []
    for did in range(1, count + 1):
        stage = rng.choice(stages)
        added = ctx.add_time()
        r = rng.random()
        status = "open" if r < 0.55 else "won" if r < 0.79 else "lost" if r < 0.97 else "deleted"
        if status == "deleted":
            # Deleted within the last 29 days: a day before Pipedrive's 30-day purge would erase them.
            updated = rng.randint(max(added, ctx.now - 29 * DAY), ctx.now)
        else:
            updated = ctx.update_time(added)
        closed = rng.randint(added, updated) if status in ("won", "lost") else None
        archived = closed is not None and rng.random() < 0.07
        archive_time = rng.randint(closed, updated) if archived and closed is not None else None
        person_id = rng.choice(person_ids) if rng.random() < 0.85 else None
        if person_id is not None and rng.random() < 0.8:
            org_id = person_org[person_id]
        else:
            org_id = rng.choice(org_ids) if rng.random() < 0.7 else None
        stage_changed = rng.randint(added, updated) if rng.random() < 0.8 else None
        if stage_changed is not None and closed is not None:
            stage_changed = min(stage_changed, closed)  # a closed deal's last move came before it closed
        if stage_changed == added:
            stage_changed = None  # a deal that never left the stage it was created in
        value = rng.choice((0, rng.randint(100, 250_000), round(rng.uniform(10, 99_999), 2)))
        recurring = rng.random() < 0.15
        won = closed if status == "won" else None
        lost = closed if status == "lost" else None
        out.append(
            {
                "id": did,
                "title": f"{rng.choice(_TITLE_WORDS)} {did}" if did % 53 else "",
                "creator_user_id": ctx.pick("users"),
                "owner_id": ctx.pick("users"),
                "person_id": person_id,
                "org_id": org_id,
                "pipeline_id": stage["pipeline_id"],
                "stage_id": stage["id"],
                "value": value,
                "currency": rng.choice(DEAL_CURRENCIES),
                "add_time": format_v2(added),
                "update_time": format_v2(updated),
                "stage_change_time": format_v2(stage_changed) if stage_changed is not None else None,
                "status": status,
                "is_deleted": status == "deleted",
                "is_archived": archived,
                "archive_time": format_v2(archive_time) if archive_time is not None else None,
                "probability": rng.choice((None, None, 10, 50, 90)),
                "lost_reason": rng.choice(_LOST_REASONS) if status == "lost" else None,
                "visible_to": rng.choice((3, 3, 3, 1, 7)),
                "close_time": format_v2(closed) if closed is not None else None,
                "won_time": format_v2(won) if won is not None else None,
                "lost_time": format_v2(lost) if lost is not None else None,
                "local_won_date": format_date(won) if won is not None else None,
                "local_lost_date": format_date(lost) if lost is not None else None,
                "local_close_date": format_date(closed) if closed is not None else None,
                "expected_close_date": format_date(added + rng.randint(7, 180) * DAY)
                if rng.random() < 0.7
                else None,
                "label_ids": rng.sample(labels, rng.choice((0, 0, 1, 2))),
                "origin": rng.choice(_ORIGINS),
                "origin_id": None,
                "channel": rng.choice((None, None, *channels)),
                "channel_id": rng.choice((None, None, "Jun26 Billboards", "")),
                "source_lead_id": rng.choice(lead_ids) if lead_ids and rng.random() < 0.04 else None,
                "acv": round(value * 1.0, 2) if recurring else None,
                "arr": round(value * 1.0, 2) if recurring else None,
                "mrr": round(value / 12, 2) if recurring else None,
                "custom_fields": custom_values(ctx, custom_fields, 0.35),
            }
        )
        added_list.append(added)
    return out, added_list
