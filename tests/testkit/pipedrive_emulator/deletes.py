"""Deleting records the way Pipedrive does: soft deletes, hard deletes, purges, line items taken off deals.

Each entity's deletion is data (``STYLES``): what Pipedrive changes on the record, which timestamp moves,
whether list answers may leave the record out (REFERENCE.md §11 q1 is UNVERIFIED for the v2 lists and notes:
the dataset's ``list_deleted`` setting picks one behaviour), and whether Pipedrive purges it for good 30 days
later (deals, persons, organizations, activities, products and files — changelog "permanent deletion logic for
6 core entities").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .data import Dataset, timestamp_for
from .pagination import parse_timestamp

Record = dict[str, Any]

FLAG = "flag"
"""``is_deleted: true`` (v2 entities)."""
STATUS = "status"
"""Deals: ``status: deleted`` and ``is_deleted: true``."""
INACTIVE = "inactive"
"""``active_flag: false`` (v1 activity types, notes, files)."""
USER = "user"
"""Users: ``is_deleted: true`` and ``active_flag: false``."""
REMOVE = "remove"
"""Gone from every answer at once (leads, lead labels, currencies, deal products)."""
TEAM = "team"
"""Legacy teams: ``deleted_flag: 1`` and ``active_flag: 0`` (numbers, as the v1 spec types them)."""
PROJECT = "project"
"""Projects: ``status: deleted``; /projects leaves them out unless ``status`` names ``deleted``."""


@dataclass(frozen=True)
class DeleteStyle:
    """How Pipedrive deletes one entity's records.

    Attributes:
        kind: ``flag``, ``status``, ``inactive``, ``user`` or ``remove``.
        stamp: The timestamp property a deletion moves to "now" (None: none moves).
        purged: Pipedrive erases the record ``purge_after_days`` after its deletion.
        hideable: Whether list answers leave the deleted record out unless ``list_deleted`` is set (the
            UNVERIFIED part); False means it is always listed (until purged).
    """

    kind: str
    stamp: str | None = "update_time"
    purged: bool = False
    hideable: bool = False


STYLES: dict[str, DeleteStyle] = {
    "deals": DeleteStyle(STATUS, purged=True),
    "persons": DeleteStyle(FLAG, purged=True, hideable=True),
    "organizations": DeleteStyle(FLAG, purged=True, hideable=True),
    "activities": DeleteStyle(FLAG, purged=True, hideable=True),
    "products": DeleteStyle(FLAG, purged=True, hideable=True),
    "pipelines": DeleteStyle(FLAG, hideable=True),
    "stages": DeleteStyle(FLAG, hideable=True),
    "users": DeleteStyle(USER, stamp="modified"),
    "activity_types": DeleteStyle(INACTIVE),
    "notes": DeleteStyle(INACTIVE, hideable=True),
    "leads": DeleteStyle(REMOVE, stamp=None),
    "lead_labels": DeleteStyle(REMOVE, stamp=None),
    "currencies": DeleteStyle(REMOVE, stamp=None),
    "deal_products": DeleteStyle(REMOVE, stamp=None),
    "deal_installments": DeleteStyle(REMOVE, stamp=None),
    "product_variations": DeleteStyle(REMOVE, stamp=None),
    "call_logs": DeleteStyle(REMOVE, stamp=None),
    "deal_participants": DeleteStyle(REMOVE, stamp=None),
    "mail_threads": DeleteStyle(REMOVE, stamp=None),
    "files": DeleteStyle(INACTIVE, purged=True, hideable=True),
    "filters": DeleteStyle(INACTIVE),
    # organisation and targets, post-sale (org_data.py); what Pipedrive keeps of them is UNVERIFIED except
    # the documented ``deleted_flag`` of legacy teams and the ``deleted`` status of projects
    "roles": DeleteStyle(REMOVE, stamp=None),
    "legacy_teams": DeleteStyle(TEAM, stamp=None),
    "goals": DeleteStyle(REMOVE, stamp=None),
    "organization_relationships": DeleteStyle(REMOVE, stamp=None),
    "boards": DeleteStyle(REMOVE, stamp=None),
    "phases": DeleteStyle(REMOVE, stamp=None),
    "projects": DeleteStyle(PROJECT),
    "tasks": DeleteStyle(REMOVE, stamp=None),
}
"""Every entity ``mutate(delete=...)`` can delete, and how."""


def is_deleted(entity: str, record: Record) -> bool:
    """Whether ``record`` of ``entity`` carries Pipedrive's deletion mark."""
    kind = STYLES[entity].kind if entity in STYLES else FLAG
    if kind == INACTIVE:
        return record.get("active_flag") in (False, 0)
    if kind == STATUS:
        return bool(record.get("is_deleted")) or record.get("status") == "deleted"
    if kind == TEAM:
        return record.get("deleted_flag") in (1, True)
    if kind == PROJECT:
        return record.get("status") == "deleted"
    return bool(record.get("is_deleted"))


def listed(ds: Dataset, entity: str, record: Record) -> bool:
    """Whether a list answer includes ``record`` as far as deletion goes (purged records are gone anyway)."""
    style = STYLES.get(entity)
    if style is None or not style.hideable or ds.list_deleted:
        return True
    return not is_deleted(entity, record)


def _deletable(entity: str, record: Record) -> bool:
    return not is_deleted(entity, record) and not record.get("is_archived")


def _candidates(ds: Dataset, entity: str, exclude: set[Any]) -> list[Any]:
    records = ds.records[entity]
    if entity == "deal_products":
        return [rid for rid, r in records.items() if rid not in exclude and _line_item_editable(ds, r)]
    if entity == "users":  # the token's own user cannot be deleted
        exclude = exclude | {ds.company["me_user_id"]}
    if entity == "roles":  # the company's root role stays
        exclude = exclude | {rid for rid, r in records.items() if r.get("parent_role_id") is None}
    return [rid for rid, r in records.items() if rid not in exclude and _deletable(entity, r)]


def _line_item_editable(ds: Dataset, line: Record) -> bool:
    deal = ds.records["deals"].get(line["deal_id"])
    return deal is not None and _deletable("deals", deal)


def delete_records(
    ds: Dataset, entity: str, count: int, rng: random.Random, now: datetime, exclude: set[Any] | None = None
) -> list[Any]:
    """Delete ``count`` live records of ``entity`` chosen by ``rng``, the way Pipedrive marks them.

    Args:
        ds: The dataset to change in place.
        entity: A ``STYLES`` key.
        count: How many (fewer when fewer are deletable).
        rng: The mutation's random source.
        now: The deletion instant (the clock's current time).
        exclude: Ids that must not be chosen (e.g. records updated in the same call).

    Returns:
        The deleted ids, sorted.

    Raises:
        ValueError: For an entity Pipedrive's deletion is not modelled for.
    """
    if entity not in STYLES:
        raise ValueError(f"delete: entity must be one of {sorted(STYLES)}, got {entity!r}")
    if count < 0:
        raise ValueError(f"delete: count for {entity} must be >= 0, got {count}")
    pool = sorted(_candidates(ds, entity, exclude or set()), key=lambda rid: (isinstance(rid, str), rid))
    doomed = sorted(rng.sample(pool, min(count, len(pool))), key=lambda rid: (isinstance(rid, str), rid))
    style = STYLES[entity]
    for rid in doomed:
        if style.kind == REMOVE:
            del ds.records[entity][rid]
            continue
        record = ds.records[entity][rid]
        if style.kind == STATUS:
            record.update(status="deleted", is_deleted=True)
        elif style.kind == FLAG:
            record["is_deleted"] = True
        elif style.kind == INACTIVE:
            record["active_flag"] = False
        elif style.kind == USER:
            record.update(is_deleted=True, active_flag=False)
        elif style.kind == TEAM:
            record.update(deleted_flag=1, active_flag=0)
        elif style.kind == PROJECT:
            record["status"] = "deleted"
        if style.stamp is not None:
            record[style.stamp] = timestamp_for(entity, now)
    return doomed


def purge_expired(ds: Dataset, now: datetime) -> dict[str, list[Any]]:
    """Erase soft-deleted records whose deletion is ``ds.purge_after_days`` old or older.

    The deletion time is the record's ``update_time`` (a deletion moves it). A purged deal takes its line
    items with it. Records of entities Pipedrive does not purge are left alone.

    Returns:
        Entity → purged ids (entities with none are left out).
    """
    cutoff = now.astimezone(UTC) - timedelta(days=ds.purge_after_days)
    purged: dict[str, list[Any]] = {}
    for entity, style in STYLES.items():
        if not style.purged:
            continue
        records = ds.records[entity]
        gone = []
        for rid, record in records.items():
            if not is_deleted(entity, record):
                continue
            stamp = parse_timestamp(record.get("update_time") or "")
            if stamp is not None and stamp <= cutoff:
                gone.append(rid)
        for rid in gone:
            del records[rid]
        if gone:
            purged[entity] = sorted(gone)
    if "deals" in purged:
        doomed = set(purged["deals"])
        for child in ("deal_products", "deal_installments", "deal_participants"):
            lines = ds.records[child]
            orphans = sorted(rid for rid, line in lines.items() if line["deal_id"] in doomed)
            for rid in orphans:
                del lines[rid]
            if orphans:
                purged[child] = orphans
    return purged
