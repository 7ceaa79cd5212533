"""The account's small entities: company, users, currencies, activity types, pipelines/stages, lead labels."""

from __future__ import annotations

from typing import Any

from .context import DAY, GenContext, format_iso_ms, format_v1, format_v2

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloé",
    "David",
    "Eva",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kateřina",
    "Liam",
)
LAST_NAMES = (
    "Smith",
    "Müller",
    "García",
    "Tamm",
    "O'Brien",
    "Kowalski",
    "Nguyen",
    "Rossi",
    "Sato",
    "Ivanova",
)

_CURRENCIES = (
    ("EUR", "Euro", 2, "€", False),
    ("USD", "US Dollar", 2, "$", False),
    ("GBP", "British Pound", 2, "£", False),
    ("JPY", "Japanese Yen", 0, "¥", False),
    ("SEK", "Swedish Krona", 2, "kr", False),
    ("CHF", "Swiss Franc", 2, "CHF", False),
    ("PLN", "Polish Zloty", 2, "zł", False),
    ("PTS", "Reward points", 0, "pts", True),
)

DEAL_CURRENCIES = ("EUR", "EUR", "EUR", "USD", "USD", "GBP", "JPY", "SEK")
"""Currencies deals are priced in (weighted; all exist in ``currencies``)."""

_ACTIVITY_TYPES = (
    # name, key_string, icon_key, is_custom, active
    ("Call", "call", "call", False, True),
    ("Meeting", "meeting", "meeting", False, True),
    ("Task", "task", "task", False, True),
    ("Deadline", "deadline", "deadline", False, True),
    ("Email", "email", "email", False, True),
    ("Lunch", "lunch", "lunch", False, True),
    ("Product demo", "product_demo", "presentation", True, True),
    ("Site visit", "site_visit", "car", True, False),
)

_LEAD_LABELS = (
    ("Hot", "red"),
    ("Warm", "orange"),
    ("Cold", "blue"),
    ("Qualified", "green"),
    ("Needs follow-up", "yellow"),
    ("Partner referral", "purple"),
)

_PIPELINES = (
    (
        "Sales",
        ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Negotiations started", "Closing"),
    ),
    ("Renewals", ("Upcoming", "In review", "Quote sent", "Verbal yes", "Signed")),
    ("Partnerships", ("Intro", "Evaluation", "Terms", "Contract")),
)

_TIMEZONES = (("Europe/Berlin", "+01:00"), ("Europe/London", "+00:00"), ("America/New_York", "-05:00"))


def company(ctx: GenContext, me_user_id: int) -> dict[str, Any]:
    """The company fields that ``/v1/users/me`` adds to the user, plus ``me_user_id``."""
    suffix = f"{ctx.rng.getrandbits(24):06x}"
    return {
        "company_id": 7_000_000 + ctx.rng.randint(1, 999_999),
        "company_name": "Pipeboard Demo GmbH",
        "company_domain": f"pipeboard-demo-{suffix}",
        "company_country": "DE",
        "company_industry": "Software",
        "language": {"language_code": "en", "country_code": "US"},
        "me_user_id": me_user_id,
    }


def users(ctx: GenContext, count: int) -> list[dict]:
    """v1 users (GET /v1/users item shape); the first one is the token owner (``is_you``)."""
    out = []
    for i in range(count):
        uid = 1_000_001 + i
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
        created = ctx.now - (1_500 - i * 3) * DAY + ctx.rng.randint(0, DAY)
        active = i == 0 or ctx.rng.random() > 0.1
        tz_name, tz_offset = ctx.rng.choice(_TIMEZONES)
        admin = i == 0 or ctx.rng.random() < 0.2
        out.append(
            {
                "id": uid,
                "name": f"{first} {last}",
                "default_currency": "EUR",
                "locale": "en_US",
                "lang": 1,
                "email": f"{first.lower().encode('ascii', 'ignore').decode()}.{i}@pipeboard-demo.example",
                "phone": ctx.rng.choice((None, f"+49 30 {ctx.rng.randint(100000, 999999)}")),
                "activated": active,
                "last_login": format_v1(ctx.past(20, 0.1) if active else created + DAY),
                "created": format_v1(created),
                "modified": ctx.rng.choice((None, format_v1(ctx.past(100, 0.5)))),
                "has_created_company": i == 0,
                "access": [
                    {"app": "sales", "admin": admin, "permission_set_id": ctx.uuid()},
                    {"app": "global", "admin": admin, "permission_set_id": ctx.uuid()},
                ],
                "active_flag": active,
                "timezone_name": tz_name,
                "timezone_offset": tz_offset,
                "role_id": 1,
                "icon_url": f"https://cdn.pipeboard-demo.example/profile_120x120_{uid}.jpg",
                "is_you": i == 0,
                "is_deleted": not active and ctx.rng.random() < 0.5,
            }
        )
    return out


def currencies() -> list[dict]:
    """v1 currencies (GET /v1/currencies item shape)."""
    return [
        {
            "id": i,
            "code": code,
            "name": name,
            "decimal_points": decimals,
            "symbol": symbol,
            "active_flag": True,
            "is_custom_flag": custom,
        }
        for i, (code, name, decimals, symbol, custom) in enumerate(_CURRENCIES, start=1)
    ]


def activity_types(ctx: GenContext) -> list[dict]:
    """v1 activity types (GET /v1/activityTypes item shape); activities use ``key_string`` as ``type``."""
    out = []
    for i, (name, key, icon, custom, active) in enumerate(_ACTIVITY_TYPES, start=1):
        added = ctx.past(1_400, 800)
        out.append(
            {
                "id": i,
                "name": name,
                "icon_key": icon,
                "color": f"{ctx.rng.getrandbits(24):06X}" if custom else "FFFFFF",
                "order_nr": i,
                "key_string": key,
                "active_flag": active,
                "is_custom_flag": custom,
                "add_time": format_v1(added),
                "update_time": format_v1(ctx.rng.randint(added, ctx.now - DAY)),
            }
        )
    return out


def pipelines_and_stages(ctx: GenContext) -> tuple[list[dict], list[dict]]:
    """v2 pipelines and their stages (2-3 pipelines, 4-6 stages each, plus one deleted stage)."""
    n_pipelines = 2 if ctx.deals < 1_000 else 3
    pipelines, stages = [], []
    stage_id = 0
    for p_idx in range(n_pipelines):
        name, stage_names = _PIPELINES[p_idx]
        added = ctx.past(1_300, 900)
        pipelines.append(
            {
                "id": p_idx + 1,
                "name": name,
                "order_nr": p_idx + 1,
                "is_deleted": False,
                "is_deal_probability_enabled": p_idx == 0,
                "add_time": format_v2(added),
                "update_time": format_v2(ctx.rng.randint(added, ctx.now - 30 * DAY)),
            }
        )
        for s_idx, stage_name in enumerate(stage_names, start=1):
            stage_id += 1
            s_added = added + s_idx * 60
            stages.append(
                {
                    "id": stage_id,
                    "order_nr": s_idx,
                    "name": stage_name,
                    "is_deleted": False,
                    "deal_probability": min(100, s_idx * 100 // len(stage_names)),
                    "pipeline_id": p_idx + 1,
                    "is_deal_rot_enabled": s_idx % 2 == 0,
                    "days_to_rotten": 14 if s_idx % 2 == 0 else None,
                    "add_time": format_v2(s_added),
                    "update_time": format_v2(ctx.rng.randint(s_added, ctx.now - 20 * DAY)),
                }
            )
    stage_id += 1
    removed = ctx.past(200, 60)
    stages.append(
        {
            "id": stage_id,
            "order_nr": 99,
            "name": "Old stage (removed)",
            "is_deleted": True,
            "deal_probability": 0,
            "pipeline_id": 1,
            "is_deal_rot_enabled": False,
            "days_to_rotten": None,
            "add_time": format_v2(removed - 300 * DAY),
            "update_time": format_v2(removed),
        }
    )
    return pipelines, stages


def lead_labels(ctx: GenContext) -> list[dict]:
    """v1 lead labels (GET /v1/leadLabels item shape; ISO-8601 ms timestamps)."""
    out = []
    for name, color in _LEAD_LABELS:
        added = ctx.past(1_000, 300)
        out.append(
            {
                "id": ctx.uuid(),
                "name": name,
                "color": color,
                "add_time": format_iso_ms(added),
                "update_time": format_iso_ms(ctx.rng.randint(added, ctx.now - DAY)),
            }
        )
    return out
