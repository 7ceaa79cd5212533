"""Changes between runs: advance the clock and update, delete or re-shape records and fields of a Dataset."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from . import deletes as deletions
from . import mutations_engagement, org_data
from .changelog import log_changes, snapshot
from .data import Dataset
from .deal_moves import close_deals, move_stages
from .generators.context import DAY, GenContext, format_v1, format_v2
from .generators.custom_fields import USER_CREATABLE_TYPES, custom_value
from .generators.field_metadata import field_item, make_option
from .generators.v1_fields import lead_field_for

ADVANCE_SECONDS = 60
"""How far each ``mutate`` call moves the clock before changing anything."""

UPDATE_WEIGHTS = (("deals", 50), ("activities", 20), ("persons", 15), ("organizations", 10), ("products", 5))
"""Which entities ``updates`` touch, and how often relative to each other."""

_FIELD_ENTITY_RECORDS = {
    "deal": "deals",
    "person": "persons",
    "organization": "organizations",
    "product": "products",
    "activity": "activities",
}

_RECORDS_FIELD_ENTITY = {records: entity for entity, records in _FIELD_ENTITY_RECORDS.items()}


def _editable(record: dict) -> bool:
    """Whether a record can still be edited (not deleted; archived deals are read-only)."""
    return not record.get("is_deleted") and not record.get("is_archived")


def _candidates(ds: Dataset, entity: str, exclude: set) -> list:
    return [rid for rid, rec in ds.records[entity].items() if rid not in exclude and _editable(rec)]


def _context(ds: Dataset, rng: random.Random, now: int) -> GenContext:
    """A generation context over the existing dataset (for new custom-field values and options)."""
    ctx = GenContext(rng=rng, now=now, deals=len(ds.records["deals"]))
    ctx.ids["users"] = [uid for uid, u in ds.records["users"].items() if u["active_flag"]]
    ctx.ids["organizations"] = list(ds.records["organizations"])
    ctx.ids["persons"] = list(ds.records["persons"])
    max_option = max(
        (
            o["id"]
            for items in ds.fields.values()
            for f in items
            for o in (f.get("options") or [])
            if isinstance(o["id"], int)
        ),
        default=100,
    )
    ctx.option_seq = max_option
    ctx.field_seq = max((f["id"] for key in ("lead", "note") for f in ds.fields[key]), default=0)
    return ctx


def _change_custom_field(ctx: GenContext, record: dict, custom: list[dict]) -> None:
    """Give one custom field of ``record`` a new (different) value."""
    field = ctx.rng.choice(custom)
    old = record["custom_fields"].get(field["field_code"])
    for _ in range(20):
        new = custom_value(ctx, field, p_null=0.0)
        if new != old:
            record["custom_fields"][field["field_code"]] = new
            return
    record["custom_fields"][field["field_code"]] = None if old is not None else custom_value(ctx, field, 0.0)


def _change(ctx: GenContext, ds: Dataset, entity: str, record: dict) -> None:
    """Change one visible value of ``record`` (a built-in field or a custom field)."""
    rng = ctx.rng
    custom = [f for f in ds.fields[_RECORDS_FIELD_ENTITY[entity]] if f["is_custom_field"]]
    if custom and rng.random() < 0.4:
        _change_custom_field(ctx, record, custom)
        return
    if entity == "deals":
        record["value"] = round(float(record["value"]) + rng.randint(1, 5_000) + 0.5, 2)
    elif entity == "activities":
        record["done"] = not record["done"]
        record["marked_as_done_time"] = format_v2(ctx.now) if record["done"] else None
    elif entity == "products":
        record["name"] = f"{record['name']} (rev {rng.randint(2, 99)})"
    else:
        record["name"] = f"{record['name']} *"


def _pick_updates(rng: random.Random, ds: Dataset, count: int, exclude: dict[str, set]) -> dict[str, list]:
    pools = {entity: _candidates(ds, entity, exclude.get(entity, set())) for entity, _ in UPDATE_WEIGHTS}
    chosen: dict[str, list] = {entity: [] for entity, _ in UPDATE_WEIGHTS}
    for _ in range(count):
        live = [(entity, weight) for entity, weight in UPDATE_WEIGHTS if pools[entity]]
        if not live:
            break
        entity = rng.choices([e for e, _ in live], weights=[w for _, w in live])[0]
        pool = pools[entity]
        idx = rng.randrange(len(pool))
        pool[idx], pool[-1] = pool[-1], pool[idx]
        chosen[entity].append(pool.pop())
    return {entity: sorted(ids) for entity, ids in chosen.items() if ids}


def _check_entity(kind: str, entity: str | None) -> None:
    if entity is not None and entity not in _FIELD_ENTITY_RECORDS:
        raise ValueError(f"{kind} must be one of {sorted(_FIELD_ENTITY_RECORDS)}, got {entity!r}")


def _add_field(ctx: GenContext, ds: Dataset, entity: str, now: int) -> dict[str, Any]:
    rng = ctx.rng
    existing = [f for f in ds.fields[entity] if f["is_custom_field"]]
    ftype = USER_CREATABLE_TYPES[len(existing) % len(USER_CREATABLE_TYPES)]
    name = f"Added field {len(existing) + 1} ({ftype})"
    options = None
    if ftype in ("enum", "set"):
        options = [make_option(ctx, label, now) for label in ("One", "Two", "Three")]
    item = field_item(entity, ctx.hash40(), name, ftype, custom=True, options=options)
    ds.fields[entity].append(item)
    if entity == "deal":
        ds.fields["lead"].append(lead_field_for(ctx, len(ds.fields["lead"]) + 1, item))
    records_key = _FIELD_ENTITY_RECORDS[entity]
    stamp = format_v2(now)
    touched = []
    for rid, record in ds.records[records_key].items():
        value = None
        if _editable(record) and rng.random() < 0.1:
            value = custom_value(ctx, item, p_null=0.0)
            record["update_time"] = stamp
            touched.append(rid)
        record["custom_fields"][item["field_code"]] = value
    return {
        "entity": entity,
        "field_code": item["field_code"],
        "field_name": name,
        "field_type": ftype,
        "record_ids": touched,
    }


def _rename_field(ctx: GenContext, ds: Dataset, entity: str) -> dict[str, Any]:
    custom = [f for f in ds.fields[entity] if f["is_custom_field"]]
    if not custom:
        raise ValueError(f"{entity} has no custom field to rename")
    item = ctx.rng.choice(custom)
    old = item["field_name"]
    item["field_name"] = f"{old} (renamed {ctx.rng.randint(2, 999)})"
    if entity == "deal":
        for twin in ds.fields["lead"]:
            if twin["key"] == item["field_code"]:
                twin["name"] = item["field_name"]
                twin["update_time"] = format_v1(ctx.now)
    return {
        "entity": entity,
        "field_code": item["field_code"],
        "old_name": old,
        "new_name": item["field_name"],
    }


def _add_option(ctx: GenContext, ds: Dataset, entity: str, now: int) -> dict[str, Any]:
    choosable = [f for f in ds.fields[entity] if f["is_custom_field"] and f["field_type"] in ("enum", "set")]
    if not choosable:
        raise ValueError(f"{entity} has no custom enum/set field to extend")
    item = ctx.rng.choice(choosable)
    option = make_option(ctx, f"Option {len(item['options']) + 1}", now)
    item["options"].append(option)
    if entity == "deal":
        for twin in ds.fields["lead"]:
            if twin["key"] == item["field_code"]:
                twin["options"] = [*(twin["options"] or []), {"id": option["id"], "label": option["label"]}]
                twin["update_time"] = format_v1(now)
    return {"entity": entity, "field_code": item["field_code"], "option": dict(option)}


def mutate(
    ds: Dataset,
    *,
    updates: int = 0,
    deletes: int = 0,
    add_field: str | None = None,
    rename_field: str | None = None,
    add_option: str | None = None,
    delete: Mapping[str, int] | None = None,
    remove_line_items: int = 0,
    advance_days: float = 0,
    stage_moves: int = 0,
    wins: int = 0,
    losses: int = 0,
    add: Mapping[str, int] | None = None,
    edit: Mapping[str, int] | None = None,
    change: Mapping[str, int] | None = None,
) -> dict:
    """Apply one batch of changes "between runs", deterministically for a given dataset state.

    The clock advances by ``ADVANCE_SECONDS`` (plus ``advance_days``) first, and records soft-deleted at
    least ``ds.purge_after_days`` before the new instant are purged (gone from every answer, as Pipedrive
    erases them); then every touched record gets the new instant as update_time.

    Args:
        ds: The dataset to change in place.
        updates: Number of distinct editable records (deals, activities, persons, organizations, products;
            weighted to deals) that get one changed value.
        deletes: Number of editable deals marked deleted (status ``deleted``, ``is_deleted``), disjoint from
            the updated ones.
        add_field: Field entity (``deal``, ``person``, ...) that gets a new custom field; ~10 % of its
            editable records get a value (and a fresh update_time), the rest null.
        rename_field: Field entity one of whose custom fields gets a new ``field_name`` (same hash).
        add_option: Field entity one of whose custom enum/set fields gets a new option.
        delete: Entity → number of live records to delete the way Pipedrive does (``deletes.STYLES``: a flag,
            ``active_flag: false``, ``status: deleted`` or gone), disjoint from the updated ones.
        remove_line_items: Number of line items taken off live deals; the deals themselves do not change.
        advance_days: Extra days the clock moves before the changes (to reach Pipedrive's purge age).
        stage_moves: Number of open deals moved to another stage of their pipeline (``stage_change_time``).
        wins: Number of open deals won.
        losses: Number of open deals lost. These three pick distinct deals no other change touched.
        add: Entity → number of new records: engagement (``mutations_engagement.ADDABLE``: installments,
            variations, call logs, participants, mail threads, files, filters) and organisation/post-sale
            (``org_data.ADDABLE``); result ``added``.
        edit: Entity → number of records changed (``mutations_engagement.EDITABLE``).
        change: Organisation/post-sale entity → number of records edited (``org_data.CHANGEABLE``: roles,
            goals, projects, tasks…, ``role_assignments``/``permission_set_assignments`` move users,
            ``archive_projects`` archives projects); result ``changed``.

    Every change to a deal is appended to its changelog (``/v1/deals/{id}/changelog``) at this instant.

    Returns:
        ``{"updated": {entity: [ids]}, "deleted": {"deals": [ids]}, "now": <v2 timestamp>}`` plus
        ``field_added`` (entity, field_code, field_name, field_type, record_ids), ``field_renamed``
        (entity, field_code, old_name, new_name) and ``option_added`` (entity, field_code, option) if asked;
        ``deleted`` also names the entities of ``delete``, ``purged`` (entity → ids erased by this call's
        clock advance) and ``line_items_removed`` (``{"deal_products": ids, "deals": deal ids}``) when any;
        ``moved``/``won``/``lost`` (``{"deals": [ids]}``) when those counts are given.
    """
    if min(updates, deletes, remove_line_items, advance_days, stage_moves, wins, losses) < 0:
        raise ValueError(
            "updates, deletes, remove_line_items, advance_days, stage_moves, wins and losses must be >= 0, "
            f"got {updates}, {deletes}, {remove_line_items}, {advance_days}, {stage_moves}, {wins} and "
            f"{losses}"
        )
    unknown = sorted(set(add or {}) - set(mutations_engagement.ADDABLE) - set(org_data.ADDABLE))
    if unknown:
        allowed = sorted({*mutations_engagement.ADDABLE, *org_data.ADDABLE})
        raise ValueError(f"add: entity must be one of {allowed}, got {unknown[0]!r}")
    add_engagement = {k: v for k, v in (add or {}).items() if k in mutations_engagement.ADDABLE}
    add_org = {k: v for k, v in (add or {}).items() if k in org_data.ADDABLE}
    mutations_engagement.check(add_engagement, edit)
    for entity in delete or {}:
        if entity not in deletions.STYLES:
            raise ValueError(f"delete: entity must be one of {sorted(deletions.STYLES)}, got {entity!r}")
    for kind, entity in (
        ("add_field", add_field),
        ("rename_field", rename_field),
        ("add_option", add_option),
    ):
        _check_entity(kind, entity)
    moment = ds.clock.advance(ADVANCE_SECONDS + round(advance_days * DAY))
    now = int(moment.timestamp())
    rng = random.Random(f"{ds.seed}:{now}")
    stamp = format_v2(now)
    result: dict[str, Any] = {"updated": {}, "deleted": {}, "now": stamp}
    purged = deletions.purge_expired(ds, moment)
    if purged:
        result["purged"] = purged
    ctx = _context(ds, rng, now)
    deals_before = snapshot(ds)

    if deletes:
        pool = _candidates(ds, "deals", set())
        doomed = sorted(rng.sample(pool, min(deletes, len(pool))))
        for did in doomed:
            deal = ds.records["deals"][did]
            deal.update({"status": "deleted", "is_deleted": True, "update_time": stamp})
        result["deleted"]["deals"] = doomed

    for entity, count in sorted((delete or {}).items()):
        before = result["deleted"].get(entity, [])
        done = deletions.delete_records(ds, entity, count, rng, moment, set(before))
        result["deleted"][entity] = sorted({*before, *done}, key=lambda rid: (isinstance(rid, str), rid))

    untouched_deals: set[Any] = set()
    if remove_line_items:
        owner = {rid: line["deal_id"] for rid, line in ds.records["deal_products"].items()}
        removed = deletions.delete_records(ds, "deal_products", remove_line_items, rng, moment)
        untouched_deals = {owner[rid] for rid in removed}
        result["line_items_removed"] = {"deal_products": removed, "deals": sorted(untouched_deals)}

    if updates:
        exclude = {entity: set(ids) for entity, ids in result["deleted"].items()}
        exclude["deals"] = exclude.get("deals", set()) | untouched_deals
        chosen = _pick_updates(rng, ds, updates, exclude)
        for entity, ids in chosen.items():
            for rid in ids:
                record = ds.records[entity][rid]
                _change(ctx, ds, entity, record)
                record["update_time"] = stamp
        result["updated"] = chosen

    # Rename and extend fields that existed before this call; the new field comes last.
    if rename_field is not None:
        result["field_renamed"] = _rename_field(ctx, ds, rename_field)
    if add_option is not None:
        result["option_added"] = _add_option(ctx, ds, add_option, now)
    if add_field is not None:
        result["field_added"] = _add_field(ctx, ds, add_field, now)
    _move_deals(ds, result, now, stage_moves, wins, losses)
    if add_engagement or edit:
        result.update(mutations_engagement.apply(ds, add_engagement, edit, now, result["deleted"]))
    log_changes(ds, deals_before, now)
    org_data.after_mutation(ds, result, change, add_org, random.Random(f"{ds.seed}:{now}:org"), now)
    return result


def _move_deals(ds: Dataset, result: dict[str, Any], now: int, moves: int, wins: int, losses: int) -> None:
    """Stage moves, wins and losses on deals nothing else in this mutation touched (their own randomness)."""
    touched = set(result["deleted"].get("deals", [])) | set(result["updated"].get("deals", []))
    touched |= set(result.get("line_items_removed", {}).get("deals", []))
    added = result.get("field_added")
    if added is not None and added["entity"] == "deal":
        touched |= set(added["record_ids"])
    rng = random.Random(f"{ds.seed}:{now}:moves")
    if moves:
        result["moved"] = {"deals": move_stages(ds, rng, moves, touched, now)}
    if wins:
        result["won"] = {"deals": close_deals(ds, rng, wins, "won", touched, now)}
    if losses:
        result["lost"] = {"deals": close_deals(ds, rng, losses, "lost", touched, now)}
