"""The emulator's ground-truth dataset: what exists in the fake Pipedrive account, generated from a seed."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import extra_records
from .changelog import DealChangelogs
from .clock import Clock
from .generators import account, contacts, engagement, products
from .generators import deals as deal_gen
from .generators.context import GenContext, format_iso_ms, format_v1, format_v2
from .generators.custom_fields import USER_CREATABLE_TYPES
from .generators.field_metadata import build_fields
from .generators.v1_fields import lead_fields, note_fields

V2_ENTITIES = (
    "deals",
    "persons",
    "organizations",
    "activities",
    "products",
    "pipelines",
    "stages",
    "deal_products",
    "boards",
    "phases",
    "projects",
    "tasks",
)
V1_ENTITIES = (
    "users",
    "activity_types",
    "leads",
    "lead_labels",
    "notes",
    "currencies",
    "roles",
    "permission_sets",
    "legacy_teams",
    "goals",
    "organization_relationships",
)
V1_ENTITIES = ("users", "activity_types", "leads", "lead_labels", "notes", "currencies")
V1_ENTITIES += ("deal_participants", "files", "filters")

V2_FIELD_ENTITIES = ("deal", "person", "organization", "product", "activity")
"""Keys of ``Dataset.fields`` served by ``/api/v2/<x>Fields`` (v2 field items)."""
V1_FIELD_ENTITIES = ("lead", "note")
"""Keys of ``Dataset.fields`` served by ``/v1/leadFields`` and ``/v1/noteFields`` (v1 field items)."""

FIELD_OPTIONAL_KEYS = ("ui_visibility", "important_fields", "required_fields")
"""Keys of v2 field items that Pipedrive returns only when asked for with ``include_fields``."""

ISO_MS_ENTITIES = frozenset({"leads", "lead_labels"})

NULLABLE_IN_PRACTICE: dict[str, frozenset[str]] = {
    "files": frozenset(
        {"deal_id", "person_id", "org_id", "product_id", "activity_id", "lead_id", "project_id"}
    ),
    "deals": frozenset(
        {"person_id", "org_id", "stage_change_time", "won_time", "lost_time", "expected_close_date"}
    ),
    "persons": frozenset({"org_id", "picture_id", "postal_address", "notes", "birthday", "job_title"}),
    "organizations": frozenset({"address"}),
    "activities": frozenset(
        {
            "deal_id",
            "lead_id",
            "person_id",
            "org_id",
            "project_id",
            "due_time",
            "duration",
            "marked_as_done_time",
            "location",
            "conference_meeting_client",
            "conference_meeting_url",
            "conference_meeting_id",
            "public_description",
            "priority",
            "note",
        }
    ),
    "notes": frozenset(
        {
            "deal_id",
            "lead_id",
            "person_id",
            "org_id",
            "project_id",
            "task_id",
            "last_update_user_id",
            "deal",
            "organization",
            "person",
            "project",
            "task",
        }
    ),
}
"""Properties the real API returns as null although the OpenAPI schema does not mark them ``nullable``.

Pipedrive sends ``"won_time": null`` for an open deal, ``"deal_id": null`` for an activity on a person,
and so on. A conformance check should treat exactly these (entity, property) pairs as nullable; everything
else follows the spec's ``nullable`` flags.
"""

V1_TIMESTAMPS_DESPITE_DATE_TIME: dict[str, frozenset[str]] = {
    "activity_types": frozenset({"add_time", "update_time"}),
    "lead_fields": frozenset({"add_time", "update_time"}),
}
"""Properties the v1 spec types ``format: date-time`` that the API (and the spec's example) send in v1 form
``YYYY-MM-DD HH:MM:SS``; a conformance check should not apply the date-time format check to them."""


def apply_spec_gaps(entity: str, item_schema: dict) -> dict:
    """Return a copy of a spec list-item schema relaxed by exactly the documented gaps for ``entity``.

    Marks the ``NULLABLE_IN_PRACTICE`` properties nullable and drops ``format`` from the
    ``V1_TIMESTAMPS_DESPITE_DATE_TIME`` ones, on the item's own properties (including ``allOf`` parts).

    Args:
        entity: A records key (``deals``, ``notes``, ...) or ``lead_fields``.
        item_schema: The resolved (no ``$ref``) schema of one list item.
    """
    schema = copy.deepcopy(item_schema)
    nullable = NULLABLE_IN_PRACTICE.get(entity, frozenset())
    no_format = V1_TIMESTAMPS_DESPITE_DATE_TIME.get(entity, frozenset())
    for part in [schema, *schema.get("allOf", [])]:
        for name, prop in part.get("properties", {}).items():
            if name in nullable:
                prop["nullable"] = True
            if name in no_format:
                prop.pop("format", None)
    return schema


@dataclass
class Dataset:
    """Everything the emulated Pipedrive account contains.

    Attributes:
        seed: The seed it was generated from.
        clock: The account's clock (``mutate`` advances it).
        records: Entity (``V2_ENTITIES`` + ``V1_ENTITIES``) -> id -> record in the API's list-item shape.
            ``deals`` holds archived deals (``is_archived``; served by /deals/archived only) and deleted ones;
            ``leads`` holds archived leads (``is_archived``; served by /v1/leads/archived).
        fields: ``deal``/``person``/``organization``/``product``/``activity`` -> v2 field items;
            ``lead``/``note`` -> v1 field items.
        company: What ``/v1/users/me`` adds to the user (company_id, company_name, ...) plus ``me_user_id``.
        list_deleted: List answers include soft-deleted persons, organizations, activities, products,
            pipelines, stages and inactive notes (REFERENCE.md §11 q1, UNVERIFIED); False leaves them out.
        purge_after_days: Age of a soft deletion at which Pipedrive erases the record for good (30 days for
            deals, persons, organizations, activities, products and files); ``mutate`` applies it.
        changelogs: Each deal's field-change history (``/v1/deals/{id}/changelog``), made up on first use.
    """

    seed: int
    clock: Clock
    records: dict[str, dict[int | str, dict]]
    fields: dict[str, list[dict]]
    company: dict
    list_deleted: bool = False
    purge_after_days: float = 30.0
    changelogs: DealChangelogs = field(default_factory=DealChangelogs, compare=False, repr=False)


def scale(deals_count: int) -> dict[str, int]:
    """Entity counts for a dataset of ``deals_count`` deals (the one scaling knob)."""
    n = max(0, int(deals_count))
    return {
        "users": min(60, max(3, n // 400)),
        "organizations": max(5, n // 4),
        "persons": max(10, n // 2),
        "products": max(10, n // 50),
        "leads": max(5, n // 5),
        "deals": n,
        "deal_products": n * 3 // 2,
        "activities": n * 3,
        "notes": n,
    }


def generate(deals: int, seed: int = 7) -> Dataset:
    """Generate a referentially consistent dataset.

    Args:
        deals: Number of deals; every other entity scales from it (see ``scale``).
        seed: Same seed (and ``deals``) gives an identical dataset.

    Returns:
        The dataset; its clock stands at ``Clock.for_seed(seed)`` and no timestamp is later than that.
    """
    if deals < 0:
        raise ValueError(f"deals must be >= 0, got {deals}")
    counts = scale(deals)
    clock = Clock.for_seed(seed)
    ctx = GenContext(rng=random.Random(seed), now=int(clock.now().timestamp()), deals=deals)

    users = account.users(ctx, counts["users"])
    ctx.ids["users"] = [u["id"] for u in users if u["active_flag"]]
    company = account.company(ctx, users[0]["id"])
    currencies = account.currencies()
    activity_types = account.activity_types(ctx)
    pipelines, stages = account.pipelines_and_stages(ctx)
    labels = account.lead_labels(ctx)

    fields = {entity: build_fields(ctx, entity) for entity in V2_FIELD_ENTITIES}
    custom = {entity: [f for f in items if f["is_custom_field"]] for entity, items in fields.items()}

    # Ids are 1..n per entity; known up front so custom org/people fields can point forwards.
    ctx.ids["organizations"] = list(range(1, counts["organizations"] + 1))
    ctx.ids["persons"] = list(range(1, counts["persons"] + 1))
    orgs = contacts.organizations(ctx, counts["organizations"], custom["organization"])
    persons = contacts.persons(ctx, counts["persons"], custom["person"], ctx.ids["organizations"])
    person_org = {p["id"]: p["org_id"] for p in persons}

    product_rows = products.products(ctx, counts["products"], custom["product"])
    lead_rows = engagement.leads(
        ctx, counts["leads"], fields["deal"], person_org, [lb["id"] for lb in labels]
    )
    live_stages = [s for s in stages if not s["is_deleted"]]
    archived_leads = [lead["id"] for lead in lead_rows if lead["is_archived"]]
    deal_rows, deal_added = deal_gen.deals(
        ctx, counts["deals"], custom["deal"], live_stages, person_org, archived_leads
    )
    ctx.ids["deals"] = [d["id"] for d in deal_rows]
    # Emails linked to each deal (served only through include_fields); a generator of their own, so the
    # rest of the dataset stays what the seed always gave.
    mail_rng = random.Random(f"{seed}:email_messages_count")
    for deal in deal_rows:
        deal["email_messages_count"] = mail_rng.choice((0, 0, 0, 1, 2, 3, 5, 8, 13))
    line_items = products.deal_products(ctx, counts["deal_products"], deal_rows, deal_added, product_rows)
    type_keys = [t["key_string"] for t in activity_types]
    activity_rows = engagement.activities(
        ctx, counts["activities"], custom["activity"], deal_rows, lead_rows, type_keys
    )
    engagement.link_next_activities(lead_rows, activity_rows)
    users_by_id = {u["id"]: u for u in users}
    person_names = {p["id"]: p["name"] for p in persons}
    org_names = {o["id"]: o["name"] for o in orgs}
    note_rows = engagement.notes(
        ctx, counts["notes"], users_by_id, deal_rows, lead_rows, person_names, org_names
    )

    fields["lead"] = lead_fields(ctx, fields["deal"])
    fields["note"] = note_fields(ctx)

    def by_id(rows: list[dict]) -> dict[int | str, dict]:
        return {row["id"]: row for row in rows}

    records = {
        "deals": by_id(deal_rows),
        "persons": by_id(persons),
        "organizations": by_id(orgs),
        "activities": by_id(activity_rows),
        "products": by_id(product_rows),
        "pipelines": by_id(pipelines),
        "stages": by_id(stages),
        "deal_products": by_id(line_items),
        "users": by_id(users),
        "activity_types": by_id(activity_types),
        "leads": by_id(lead_rows),
        "lead_labels": by_id(labels),
        "notes": by_id(note_rows),
        "currencies": by_id(currencies),
    }
    extra_records.add_records(records, seed, ctx.now, company, deal_added)
    dataset = Dataset(seed=seed, clock=clock, records=records, fields=fields, company=company)
    from .org_data import add_to as add_org_and_projects  # builds on this module

    add_org_and_projects(dataset)
    return dataset


def timestamp_for(entity: str, dt: datetime) -> str:
    """Format an instant the way the API formats timestamps of ``entity``.

    Args:
        entity: A ``V2_ENTITIES``/``V1_ENTITIES`` name (also ``lead_fields``/``note_fields`` style v1 names).
        dt: An aware datetime (naive ones are taken as UTC); sub-second parts are dropped.

    Returns:
        v2: ``2026-10-03T12:00:05Z``; leads and lead labels: ``2026-10-03T12:00:05.123Z``;
        other v1: ``2026-10-03 12:00:05``.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    epoch = int(dt.timestamp())
    if entity in ISO_MS_ENTITIES:
        return format_iso_ms(epoch)
    if entity in V2_ENTITIES:
        return format_v2(epoch)
    return format_v1(epoch)


__all__ = [
    "FIELD_OPTIONAL_KEYS",
    "NULLABLE_IN_PRACTICE",
    "USER_CREATABLE_TYPES",
    "V1_ENTITIES",
    "V1_TIMESTAMPS_DESPITE_DATE_TIME",
    "V2_ENTITIES",
    "Dataset",
    "apply_spec_gaps",
    "generate",
    "scale",
    "timestamp_for",
]
