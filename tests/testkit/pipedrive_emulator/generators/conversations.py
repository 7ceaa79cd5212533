"""Call logs, deal participants, mail threads, files, filters and activity attendees, consistent with the
deals, persons, organizations and activities of the dataset.

Each has a random source of its own (``<seed>:<entity>``), so adding them left every other record the seed
always gave unchanged. Call logs and mail threads belong to users: Pipedrive serves a token only its own
user's (``/v1/callLogs`` "Returns all call logs assigned to a particular user"; the mailbox is the user's).
"""

from __future__ import annotations

import random
from typing import Any

from .context import DAY, format_v1

_OUTCOMES = ("connected", "no_answer", "left_message", "left_voicemail", "wrong_number", "busy")
_CALL_SUBJECTS = ("Discovery call", "Pricing call", "Check-in", "Renewal call", "Cold call")
_MAIL_SUBJECTS = ("Proposal", "Re: pricing", "Contract draft", "Meeting notes", "Intro")
_FOLDERS = ("inbox", "sent", "archive", "drafts")
_FILE_KINDS = (("pdf", "proposal"), ("img", "whiteboard"), ("xls", "pricing"), ("doc", "contract"))
_FILTER_TYPES = ("deals", "leads", "org", "people", "products", "activity")
_ATTENDEE_STATUSES = ("accepted", "declined", "tentative", "noreply")


def iso_ms(epoch: int) -> str:
    """``2022-12-12T01:01:01.000Z`` (call logs' and mail threads' timestamps in the spec examples)."""
    return format_v1(epoch).replace(" ", "T") + ".000Z"


def call_logs(
    seed: int, count: int, users: list[int], me: int, company_id: int, activities: list[dict], now: int
) -> list[dict]:
    """Call logs (v1 shape, string ids): ~30 % the token's user's, the rest other users'; most tied to an
    activity with its deal, person and organization. Absent links are left out, as the spec's example does."""
    rng = random.Random(f"{seed}:call_logs")
    linked = [a for a in activities if a.get("person_id") is not None and not a.get("is_deleted")]
    out: list[dict] = []
    for number in range(count):
        start = now - rng.randint(1, 700) * DAY + rng.randint(0, DAY)
        duration = rng.choice((0, rng.randint(10, 3_600)))
        outcome = "connected" if duration else rng.choice(_OUTCOMES[1:])
        record: dict[str, Any] = {
            "id": f"CA{rng.getrandbits(112):028x}{number:x}",
            "user_id": me if rng.random() < 0.3 else rng.choice(users),
            "company_id": company_id,
            "subject": rng.choice(_CALL_SUBJECTS),
            "duration": str(duration),
            "outcome": outcome,
            "from_phone_number": f"+4930{rng.randint(1_000_000, 9_999_999)}",
            "to_phone_number": f"+372{rng.randint(10_000_000, 99_999_999)}",
            "has_recording": bool(duration) and rng.random() < 0.3,
            "start_time": iso_ms(start),
            "end_time": iso_ms(start + duration),
            "note": rng.choice(("", "Call back next week", "Interested in the Pro tier")),
        }
        if linked and rng.random() < 0.85:
            activity = rng.choice(linked)
            record["activity_id"] = activity["id"]
            for key in ("person_id", "org_id", "deal_id"):
                if activity.get(key) is not None:
                    record[key] = activity[key]
        out.append(record)
    return out


def deal_participants(
    seed: int, deals: list[dict], persons: list[int], users: list[int], epoch_of: dict[int, int]
) -> list[dict]:
    """Participants of ~20 % of the deals (1-3 persons other than the deal's own person), kept compact:
    ``{id, deal_id, person_id, add_time, active_flag, added_by_user_id}``; the route shapes them (v1)."""
    rng = random.Random(f"{seed}:deal_participants")
    out: list[dict] = []
    for deal in deals:
        if rng.random() >= 0.2 or not persons:
            continue
        chosen = [p for p in rng.sample(persons, min(len(persons), 3)) if p != deal.get("person_id")]
        for person_id in chosen[: rng.randint(1, 3)]:
            out.append(
                {
                    "id": len(out) + 1,
                    "deal_id": deal["id"],
                    "person_id": person_id,
                    "add_time": format_v1(epoch_of[deal["id"]] + rng.randint(0, 20) * DAY),
                    "active_flag": True,
                    "added_by_user_id": rng.choice(users),
                }
            )
    return out


def mail_threads(
    seed: int, count: int, users: list[int], me: int, deals: list[dict], persons: list[dict], now: int
) -> list[dict]:
    """Mail threads (v1 shape) of the users' mailboxes, ~40 % the token's user's; each in one folder."""
    rng = random.Random(f"{seed}:mail_threads")
    out: list[dict] = []
    for number in range(1, count + 1):
        first = now - rng.randint(1, 400) * DAY + rng.randint(0, DAY)
        last = first + rng.randint(0, 20) * DAY
        folder = rng.choice(_FOLDERS)
        person = rng.choice(persons)
        deal = rng.choice(deals) if deals and rng.random() < 0.5 else None
        sent = folder == "sent"
        party = {
            "id": number * 2,
            "name": person["name"],
            "latest_sent": sent,
            "email_address": f"person{person['id']}@example.com",
            "message_time": last * 1000,
            "linked_person_id": person["id"],
            "linked_person_name": person["name"],
            "mail_message_party_id": number * 10,
            "linked_organization_id": person.get("org_id"),
        }
        out.append(
            {
                "id": number,
                "account_id": f"acct{rng.getrandbits(48):012x}",
                "user_id": me if rng.random() < 0.4 else rng.choice(users),
                "subject": rng.choice(_MAIL_SUBJECTS),
                "snippet": "Hello, following up on our conversation",
                "read_flag": rng.choice((0, 1)),
                "mail_tracking_status": rng.choice((None, "opened", "not opened")),
                "has_attachments_flag": 0,
                "has_inline_attachments_flag": 0,
                "has_real_attachments_flag": 0,
                "deleted_flag": 0,
                "synced_flag": 1,
                "smart_bcc_flag": 0,
                "mail_link_tracking_enabled_flag": 0,
                "parties": {"to": [] if sent else [party], "from": [party] if not sent else []},
                "drafts_parties": [],
                "folders": [folder],
                "version": 1,
                "snippet_draft": None,
                "snippet_sent": "Thanks!" if sent else "",
                "message_count": rng.randint(1, 6),
                "has_draft_flag": int(folder == "drafts"),
                "has_sent_flag": int(sent),
                "archived_flag": int(folder == "archive"),
                "shared_flag": rng.choice((0, 1)),
                "external_deleted_flag": 0,
                "first_message_to_me_flag": int(not sent),
                "last_message_timestamp": iso_ms(last),
                "first_message_timestamp": iso_ms(first),
                "last_message_sent_timestamp": iso_ms(last) if sent else None,
                "last_message_received_timestamp": iso_ms(first),
                "add_time": iso_ms(first),
                "update_time": iso_ms(last + 60),
                "deal_id": deal["id"] if deal else None,
                "deal_status": deal["status"] if deal else None,
                "lead_id": None,
                "all_messages_sent_flag": int(sent),
            }
        )
    return out


def files(
    seed: int, count: int, users: list[int], deals: list[dict], persons: dict[int, str], now: int
) -> list:
    """File metadata (v1 shape) attached to deals and their persons; ~2 % deleted (``active_flag``)."""
    rng = random.Random(f"{seed}:files")
    out: list[dict] = []
    for number in range(1, count + 1):
        deal = rng.choice(deals)
        kind, word = rng.choice(_FILE_KINDS)
        added = now - rng.randint(1, 600) * DAY + rng.randint(0, DAY)
        updated = min(now, added + rng.choice((0, 0, rng.randint(1, 30) * DAY)))
        active = rng.random() >= 0.02
        if not active:  # deleted within Pipedrive's 30 days (older ones would be purged)
            updated = max(added, now - rng.randint(1, 20) * DAY)
        on_deal = rng.random() >= 0.2  # the others are attached to a person only
        person_id = deal.get("person_id") if on_deal else rng.choice(list(persons))
        name = f"{word}_{number}.{kind}"
        out.append(
            {
                "id": number,
                "user_id": rng.choice(users),
                "deal_id": deal["id"] if on_deal else None,
                "person_id": person_id,
                "org_id": deal.get("org_id") if on_deal else None,
                "product_id": None,
                "activity_id": None,
                "lead_id": None,
                "project_id": None,
                "log_id": None,
                "add_time": format_v1(added),
                "update_time": format_v1(updated),
                "file_name": name,
                "file_type": kind,
                "file_size": rng.randint(1_000, 9_000_000),
                "active_flag": active,
                "inline_flag": False,
                "remote_location": rng.choice(("s3", "googledocs")),
                "remote_id": f"{rng.getrandbits(64):016x}",
                "cid": "",
                "s3_bucket": "",
                "mail_message_id": "",
                "mail_template_id": "",
                "deal_name": deal["title"] if on_deal else "",
                "person_name": persons.get(person_id, "") if person_id else "",
                "org_name": "",
                "product_name": "",
                "lead_name": "",
                "project_name": "",
                "url": f"https://pipeboard-demo.pipedrive.com/v1/files/{number}/download",
                "name": name,
                "description": rng.choice(("", "signed copy", "v2")),
            }
        )
    return out


def filters(seed: int, users: list[int], now: int) -> list[dict]:
    """Saved filters (v1 shape), a few per type."""
    rng = random.Random(f"{seed}:filters")
    out: list[dict] = []
    for kind in _FILTER_TYPES:
        for number in range(rng.randint(2, 4)):
            added = now - rng.randint(10, 900) * DAY
            out.append(
                {
                    "id": len(out) + 1,
                    "name": f"My {kind} {number + 1}",
                    "filter_code": None,
                    "is_editable": True,
                    "active_flag": True,
                    "type": kind,
                    "temporary_flag": None,
                    "user_id": rng.choice(users),
                    "add_time": format_v1(added),
                    "update_time": format_v1(added + rng.randint(0, 5) * DAY),
                    "visible_to": rng.choice(("1", "3", "7")),
                    "last_used_time": rng.choice((None, format_v1(now - rng.randint(1, 9) * DAY))),
                    "custom_view_id": None,
                }
            )
    return out


def add_attendees(seed: int, activities: list[dict], users: list[int], person_names: dict[int, str]) -> None:
    """Give every activity ``attendees`` (v2): meetings (those with a conference link) list their persons and
    the owner as organizer; the others an empty list."""
    rng = random.Random(f"{seed}:attendees")
    for activity in activities:
        if not activity.get("conference_meeting_url"):
            activity["attendees"] = []
            continue
        attendees: list[dict[str, Any]] = [
            {
                "email": f"user{activity['owner_id']}@pipeboard-demo.example",
                "name": "Organizer",
                "status": "accepted",
                "is_organizer": True,
                "user_id": activity["owner_id"],
            }
        ]
        for participant in activity.get("participants") or []:
            person_id = participant["person_id"]
            attendees.append(
                {
                    "email": f"person{person_id}@example.com",
                    "name": person_names.get(person_id, ""),
                    "status": rng.choice(_ATTENDEE_STATUSES),
                    "is_organizer": False,
                    "person_id": person_id,
                }
            )
        activity["attendees"] = attendees
