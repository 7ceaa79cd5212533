"""Organizations and persons in their v2 list-item shapes."""

from __future__ import annotations

from typing import Any

from .account import FIRST_NAMES, LAST_NAMES
from .context import GenContext, format_date, format_v2
from .custom_fields import address_value, custom_values
from .field_metadata import builtin_option_ids

_ORG_WORDS = (
    "Acme",
    "Nordic",
    "Blue",
    "Quantum",
    "Atlas",
    "Vertex",
    "Müller &",
    "Sakura",
    "Orbit",
    "Pioneer",
)
_ORG_SUFFIX = ("GmbH", "Ltd", "Inc.", "OÜ", "S.A.", "AB", "Group", "Labs")
_VISIBLE_TO = (3, 3, 3, 1, 7)
_EMAIL_LABELS = ("work", "home", "other")
_PHONE_LABELS = ("work", "mobile", "home", "other")


def organizations(ctx: GenContext, count: int, custom_fields: list[dict]) -> list[dict]:
    """v2 organizations; ~1 % soft-deleted, some without address, website or industry."""
    rng = ctx.rng
    industries = builtin_option_ids("organization", "industry")
    labels = builtin_option_ids("organization", "label_ids")
    out = []
    for oid in range(1, count + 1):
        added = ctx.add_time()
        name = f"{rng.choice(_ORG_WORDS)} {rng.choice(_ORG_WORDS)} {rng.choice(_ORG_SUFFIX)}"
        slug = f"org{oid}"
        address = address_value(ctx, formatted=False) if rng.random() < 0.7 else None
        out.append(
            {
                "id": oid,
                "name": name if oid % 97 else f"{name} #{oid}",
                "owner_id": ctx.pick("users"),
                "add_time": format_v2(added),
                "update_time": format_v2(ctx.update_time(added)),
                "is_deleted": rng.random() < 0.01,
                "visible_to": rng.choice(_VISIBLE_TO),
                "address": address,
                "label_ids": rng.sample(labels, rng.choice((0, 0, 1, 2))),
                "website": rng.choice((None, "", f"https://www.{slug}.example")),
                "linkedin": rng.choice((None, f"https://www.linkedin.com/company/{slug}")),
                "industry": rng.choice((None, *industries)),
                "annual_revenue": rng.choice((None, 0, rng.randint(10_000, 90_000_000))),
                "employee_count": rng.choice((None, rng.randint(1, 20_000))),
                "custom_fields": custom_values(ctx, custom_fields, 0.4),
            }
        )
    return out


def _contacts(ctx: GenContext, make: Any, labels: tuple[str, ...]) -> list[dict]:
    """0-3 ``{value, primary, label}`` items with exactly one primary (or none at all)."""
    rng = ctx.rng
    n = rng.choice((0, 1, 1, 1, 2, 3))
    return [{"value": make(i), "primary": i == 0, "label": rng.choice(labels)} for i in range(n)]


def persons(ctx: GenContext, count: int, custom_fields: list[dict], org_ids: list[int]) -> list[dict]:
    """v2 persons; several emails/phones for some, none for others; ~25 % without an organization."""
    rng = ctx.rng
    labels = builtin_option_ids("person", "label_ids")
    out = []
    for pid in range(1, count + 1):
        added = ctx.add_time()
        first = rng.choice(FIRST_NAMES)
        last = rng.choice((*LAST_NAMES, ""))
        name = f"{first} {last}".strip()
        mail_user = f"{first.lower().encode('ascii', 'ignore').decode()}{pid}"
        contact_synced = rng.random() < 0.1
        out.append(
            {
                "id": pid,
                "name": name,
                "first_name": first,
                "last_name": last,
                "owner_id": ctx.pick("users"),
                "org_id": rng.choice(org_ids) if rng.random() < 0.75 else None,
                "add_time": format_v2(added),
                "update_time": format_v2(ctx.update_time(added)),
                "emails": _contacts(
                    ctx, lambda i, u=mail_user: f"{u}@{('work', 'mail', 'home')[i]}.example", _EMAIL_LABELS
                ),
                "phones": _contacts(ctx, lambda i, p=pid: f"+372 5{p:07d}{i}", _PHONE_LABELS),
                "is_deleted": rng.random() < 0.01,
                "visible_to": rng.choice(_VISIBLE_TO),
                "label_ids": rng.sample(labels, rng.choice((0, 0, 1))),
                "picture_id": rng.randint(1, 10**6) if rng.random() < 0.1 else None,
                "postal_address": address_value(ctx, formatted=False) if contact_synced else None,
                "notes": "Synced from phone contacts" if contact_synced else None,
                "im": [{"value": f"{mail_user}.im", "primary": True, "label": "skype"}]
                if contact_synced
                else [],
                "birthday": format_date(ctx.past(20_000, 7_000)) if contact_synced else None,
                "job_title": rng.choice(("CEO", "Buyer", "CTO", "")) if contact_synced else None,
                "custom_fields": custom_values(ctx, custom_fields, 0.45),
            }
        )
    return out
