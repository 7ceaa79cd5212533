"""v1 field metadata of the v1-only entities: leadFields (built-ins + deal custom fields) and noteFields."""

from __future__ import annotations

from typing import Any

from .context import GenContext, format_v1
from .custom_fields import ADDRESS_PARTS

_LEAD_BUILTIN = (
    ("title", "Title", "varchar"),
    ("owner_id", "Owner", "user"),
    ("person_id", "Person", "people"),
    ("organization_id", "Organization", "org"),
    ("value", "Value", "monetary"),
    ("expected_close_date", "Expected close date", "date"),
    ("label_ids", "Labels", "set"),
    ("source_name", "Source", "varchar"),
    ("channel", "Source channel", "enum"),
    ("channel_id", "Source channel ID", "varchar"),
    ("visible_to", "Visible to", "visible_to"),
    ("add_time", "Lead created", "date"),
    ("update_time", "Update time", "date"),
)

_NOTE_FIELDS: tuple[tuple[str, str, str, list[dict] | None], ...] = (
    ("content", "Content", "text", None),
    ("user_id", "User", "user", None),
    ("person_id", "Person", "people", None),
    ("org_id", "Organization", "org", None),
    ("add_time", "Add time", "date", None),
    ("update_time", "Update time", "date", None),
    (
        "pinned_to_deal_flag",
        "Note is pinned to deal",
        "enum",
        [{"id": 1, "label": "Yes"}, {"id": 0, "label": "No"}],
    ),
    (
        "pinned_to_person_flag",
        "Note is pinned to person",
        "enum",
        [{"id": 1, "label": "Yes"}, {"id": 0, "label": "No"}],
    ),
    (
        "pinned_to_organization_flag",
        "Note is pinned to organization",
        "enum",
        [{"id": 1, "label": "Yes"}, {"id": 0, "label": "No"}],
    ),
)


def _v1_subfields(key: str, name: str, field_type: str) -> list[dict] | None:
    """The sibling keys a v1 composite field carries (``<key>_currency``, ``<key>_until``, address parts)."""
    if field_type == "monetary":
        return [{"key": f"{key}_currency", "name": f"Currency of {name}", "field_type": "varchar"}]
    if field_type in ("daterange", "timerange"):
        return [{"key": f"{key}_until", "name": f"End of {name}", "field_type": field_type[:4]}]
    if field_type == "address":
        return [
            {
                "key": f"{key}_{part}",
                "name": f"{part.replace('_', ' ').capitalize()} of {name}",
                "field_type": "varchar",
            }
            for part in ADDRESS_PARTS
            if part != "subpremise"
        ]
    return None


def _lead_field(
    ctx: GenContext,
    order_nr: int,
    key: str,
    name: str,
    field_type: str,
    options: list[dict] | None,
    custom: bool,
) -> dict[str, Any]:
    created = ctx.past(900, 400)
    item: dict[str, Any] = {
        "id": ctx.next_field_id(),
        "key": key,
        "name": name,
        "order_nr": order_nr,
        "field_type": field_type,
        "add_time": format_v1(created),
        "update_time": format_v1(ctx.rng.randint(created, ctx.now)) if custom else None,
        "last_updated_by_user_id": ctx.pick("users") if custom else None,
        "created_by_user_id": ctx.pick("users") if custom else None,
        "active_flag": True,
        "edit_flag": custom,
        "index_visible_flag": True,
        "details_visible_flag": True,
        "add_visible_flag": not custom,
        "important_flag": False,
        "bulk_edit_allowed": True,
        "searchable_flag": field_type in ("varchar", "text", "varchar_auto"),
        "filtering_allowed": True,
        "sortable_flag": True,
        "mandatory_flag": key == "title",
        "options": options,
        "options_deleted": [],
        "is_subfield": False,
    }
    subfields = _v1_subfields(key, name, field_type)
    if subfields is not None:
        item["subfields"] = subfields
    return item


def lead_fields(ctx: GenContext, deal_fields: list[dict]) -> list[dict]:
    """GET /v1/leadFields items: lead built-ins, then every deal custom field (leads share deal hashes)."""
    items = [
        _lead_field(ctx, order, key, name, ftype, None, custom=False)
        for order, (key, name, ftype) in enumerate(_LEAD_BUILTIN, start=1)
    ]
    items.extend(
        lead_field_for(ctx, len(_LEAD_BUILTIN) + n, field)
        for n, field in enumerate((f for f in deal_fields if f["is_custom_field"]), start=1)
    )
    return items


def lead_field_for(ctx: GenContext, order_nr: int, deal_field: dict) -> dict[str, Any]:
    """The /v1/leadFields twin of a deal custom field (same hash as ``key``, options without colours)."""
    options = deal_field["options"]
    return _lead_field(
        ctx,
        order_nr,
        deal_field["field_code"],
        deal_field["field_name"],
        deal_field["field_type"],
        [{"id": o["id"], "label": o["label"]} for o in options] if options else None,
        custom=True,
    )


def note_fields(ctx: GenContext) -> list[dict]:
    """GET /v1/noteFields items (no timestamps; ``options`` only on the enum flags)."""
    items = []
    for key, name, ftype, options in _NOTE_FIELDS:
        item: dict[str, Any] = {
            "id": ctx.next_field_id(),
            "key": key,
            "name": name,
            "field_type": ftype,
            "active_flag": True,
            "edit_flag": options is not None,
            "bulk_edit_allowed": key != "content",
            "mandatory_flag": key == "content",
        }
        if options is not None:
            item["options"] = options
        items.append(item)
    return items
