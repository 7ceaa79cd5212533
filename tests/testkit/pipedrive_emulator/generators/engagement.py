"""Leads (v1), activities (v2) and notes (v1): the records that hang off deals, persons and organizations."""

from __future__ import annotations

from typing import Any

from .context import DAY, GenContext, format_date, format_hms, format_iso_ms, format_v1, format_v2
from .custom_fields import address_value, custom_value, custom_values, v1_flat
from .field_metadata import builtin_option_ids

_LEAD_SOURCES = (("Manually created", "ManuallyCreated"), ("API", "API"), ("Web forms", "WebForms"))
_SUBJECTS = ("Intro call", "Follow-up", "Demo", "Send proposal", "Contract review", "Check-in", "Kick-off")
_NOTE_BODIES = (
    "<p>Discussed pricing &amp; timeline.</p>",
    "Customer asked for a <b>discount</b>.\nWill revert next week.",
    "Met at the fair — very interested 🚀",
    "",
    'Quote: "we need it by Q3"',
)


def leads(
    ctx: GenContext,
    count: int,
    deal_fields: list[dict],
    person_org: dict[int, int | None],
    label_ids: list[str],
) -> list[dict]:
    """v1 leads (ISO-8601 ms timestamps); ~10 % archived; deal custom fields flat at top level when set."""
    rng = ctx.rng
    custom = [f for f in deal_fields if f["is_custom_field"]]
    out = []
    for _ in range(count):
        added = ctx.add_time(500)
        person_id = rng.choice(ctx.ids["persons"]) if rng.random() < 0.8 else None
        org_id = person_org[person_id] if person_id is not None else rng.choice(ctx.ids["organizations"])
        source_name, origin = rng.choice(_LEAD_SOURCES)
        owner = ctx.pick("users")
        lead: dict[str, Any] = {
            "id": ctx.uuid(),
            "title": f"{rng.choice(('Inbound', 'Referral', 'Webinar'))} lead {len(out) + 1}",
            "owner_id": owner,
            "creator_id": rng.choice((owner, ctx.pick("users"))),
            "label_ids": rng.sample(label_ids, rng.choice((0, 1, 1, 2))),
            "person_id": person_id,
            "organization_id": org_id,
            "source_name": source_name,
            "origin": origin,
            "origin_id": None,
            "channel": rng.choice((None, None, 52, 53)),
            "channel_id": rng.choice((None, "Newsletter Q3")),
            "source_deal_id": None,
            "is_archived": rng.random() < 0.1,
            "was_seen": rng.random() < 0.7,
            "value": {"amount": rng.randint(100, 50_000), "currency": rng.choice(("EUR", "USD"))}
            if rng.random() < 0.6
            else None,
            "expected_close_date": format_date(added + rng.randint(10, 200) * DAY)
            if rng.random() < 0.4
            else None,
            "next_activity_id": None,
            "add_time": format_iso_ms(added),
            "update_time": format_iso_ms(ctx.update_time(added)),
            "visible_to": rng.choice(("3", "3", "1", "5", "7")),
            "cc_email": f"pipeboard-demo+lead{len(out) + 1}@pipedrivemail.example",
        }
        for field in custom:
            lead.update(v1_flat(field, custom_value(ctx, field, 0.6)))
        out.append(lead)
    return out


def activities(
    ctx: GenContext,
    count: int,
    custom_fields: list[dict],
    deals: list[dict],
    leads_: list[dict],
    type_keys: list[str],
) -> list[dict]:
    """v2 activities: ~70 % on deals, ~8 % on leads, the rest on persons or organizations; ~60 % done."""
    rng = ctx.rng
    priorities = builtin_option_ids("activity", "priority")
    person_ids = ctx.ids["persons"]
    out = []
    for aid in range(1, count + 1):
        added = ctx.add_time()
        updated = ctx.update_time(added)
        r = rng.random()
        deal_id = lead_id = person_id = org_id = None
        if r < 0.7:
            deal = rng.choice(deals)
            deal_id, person_id, org_id = deal["id"], deal["person_id"], deal["org_id"]
        elif r < 0.78 and leads_:
            lead = rng.choice(leads_)
            lead_id, person_id, org_id = lead["id"], lead["person_id"], lead["organization_id"]
        elif r < 0.93:
            person_id = rng.choice(person_ids)
        else:
            org_id = ctx.pick("organizations")
        done = rng.random() < 0.6
        marked = rng.randint(added, updated) if done else None
        has_time = rng.random() < 0.6
        meeting = rng.random() < 0.2
        owner = ctx.pick("users")
        participants = [{"person_id": person_id, "primary": True}] if person_id is not None else []
        if person_id is not None and rng.random() < 0.1:
            participants.append({"person_id": rng.choice(person_ids), "primary": False})
        out.append(
            {
                "id": aid,
                "subject": f"{rng.choice(_SUBJECTS)} #{aid}",
                "type": rng.choice(type_keys),
                "owner_id": owner,
                "creator_user_id": rng.choice((owner, ctx.pick("users"))),
                "is_deleted": rng.random() < 0.01,
                "add_time": format_v2(added),
                "update_time": format_v2(updated),
                "deal_id": deal_id,
                "lead_id": lead_id,
                "person_id": person_id,
                "org_id": org_id,
                "project_id": None,
                "due_date": format_date(added + rng.randint(-2, 30) * DAY),
                "due_time": format_hms(rng.randint(7 * 4, 18 * 4) * 900) if has_time else None,
                "duration": format_hms(rng.randint(1, 12) * 900) if has_time else None,
                "busy": rng.random() < 0.5,
                "done": done,
                "marked_as_done_time": format_v2(marked) if marked is not None else None,
                "location": address_value(ctx, formatted=False) if meeting else None,
                "participants": participants,
                "conference_meeting_client": "google_meet" if meeting else None,
                "conference_meeting_url": f"https://meet.example/{aid:x}" if meeting else None,
                "conference_meeting_id": f"{aid:x}" if meeting else None,
                "public_description": rng.choice((None, "", "Agenda attached")),
                "priority": rng.choice((None, None, *priorities)),
                "note": rng.choice((None, "", "<p>Bring the contract</p>")),
                "custom_fields": custom_values(ctx, custom_fields, 0.5),
            }
        )
    return out


def link_next_activities(leads_: list[dict], activities_: list[dict]) -> None:
    """Set each lead's ``next_activity_id`` to its earliest-due open activity (if any)."""
    best: dict[str, tuple[str, int]] = {}
    for act in activities_:
        lead_id = act["lead_id"]
        if lead_id is None or act["done"] or act["is_deleted"]:
            continue
        key = (act["due_date"], act["id"])
        if lead_id not in best or key < best[lead_id]:
            best[lead_id] = key
    for lead in leads_:
        if lead["id"] in best:
            lead["next_activity_id"] = best[lead["id"]][1]


def notes(
    ctx: GenContext,
    count: int,
    users: dict[int, dict],
    deals: list[dict],
    leads_: list[dict],
    person_names: dict[int, str],
    org_names: dict[int, str],
) -> list[dict]:
    """v1 notes on deals (~60 %), leads (~10 %), persons (~20 %) and organizations; ~2 % inactive."""
    rng = ctx.rng
    out = []
    for nid in range(1, count + 1):
        added = ctx.add_time()
        updated = ctx.update_time(added, bulk_share=0.1)
        r = rng.random()
        deal_id = lead_id = person_id = org_id = None
        if r < 0.6:
            deal = rng.choice(deals)
            deal_id = deal["id"]
            if rng.random() < 0.5:
                person_id, org_id = deal["person_id"], deal["org_id"]
        elif r < 0.7 and leads_:
            lead_id = rng.choice(leads_)["id"]
        elif r < 0.9:
            person_id = rng.choice(ctx.ids["persons"])
        else:
            org_id = ctx.pick("organizations")
        user_id = ctx.pick("users")
        user = users[user_id]
        out.append(
            {
                "id": nid,
                "active_flag": rng.random() > 0.02,
                "add_time": format_v1(added),
                "update_time": format_v1(updated),
                "content": rng.choice(_NOTE_BODIES),
                "user_id": user_id,
                "deal_id": deal_id,
                "lead_id": lead_id,
                "person_id": person_id,
                "org_id": org_id,
                "project_id": None,
                "task_id": None,
                "last_update_user_id": rng.choice((None, user_id)),
                "pinned_to_deal_flag": deal_id is not None and rng.random() < 0.05,
                "pinned_to_organization_flag": False,
                "pinned_to_person_flag": person_id is not None and rng.random() < 0.05,
                "pinned_to_project_flag": False,
                "pinned_to_task_flag": False,
                "deal": {"title": deals[deal_id - 1]["title"]} if deal_id else None,
                "organization": {"name": org_names[org_id]} if org_id else None,
                "person": {"name": person_names[person_id]} if person_id else None,
                "project": None,
                "task": None,
                "user": {
                    "email": user["email"],
                    "icon_url": user["icon_url"],
                    "is_you": user["is_you"],
                    "name": user["name"],
                },
            }
        )
    return out
