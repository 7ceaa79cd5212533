"""Field metadata: built-in and custom field items (v2 ``/<x>Fields`` shape) with their options."""

from __future__ import annotations

from typing import Any

from .context import GenContext, format_v2

_CUSTOM: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "deal": [
        ("Deal Score", "double", ()),
        ("deal score!", "varchar", ()),
        ("Lead Source", "varchar_auto", ()),
        ("Internal Notes", "text", ()),
        ("Contract Value", "monetary", ()),
        ("Product Interests", "set", ("Analytics", "CRM", "Billing", "Support", "Hosting", "Training")),
        ("Deal Type", "enum", ("New business", "Upsell", "Renewal", "Cross-sell")),
        ("Technical Contact", "user", ()),
        ("Partner Organization", "org", ()),
        ("Decision Maker", "people", ()),
        ("Hotline", "phone", ()),
        ("Preferred Call Time", "time", ()),
        ("Meeting Window", "timerange", ()),
        ("Kick-off Date", "date", ()),
        ("Contract Period", "daterange", ()),
        ("Delivery Address", "address", ()),
        (
            "Estimated annual recurring revenue after the first renewal cycle, in the account currency",
            "double",
            (),
        ),
        ("Größe des Geschäfts — 見込み", "varchar", ()),
        ("2nd Currency Value", "monetary", ()),
        ("Order", "enum", ("Low", "Medium", "High")),
    ],
    "person": [
        ("Customer Tier", "enum", ("Bronze", "Silver", "Gold", "Platinum")),
        ("Interests", "set", ("Webinars", "Newsletter", "Events", "Case studies")),
        ("LinkedIn Profile", "varchar", ()),
        ("Date of First Contact", "date", ()),
        ("Mobile (Work)", "phone", ()),
        ("Account Manager", "user", ()),
        ("Lifetime Value", "monetary", ()),
        ("Home Address", "address", ()),
        ("Référence client", "varchar_auto", ()),
    ],
    "organization": [
        ("Segment", "enum", ("SMB", "Mid-market", "Enterprise")),
        ("Tech Stack", "set", ("AWS", "GCP", "Azure", "On-prem")),
        ("VAT Number", "varchar", ()),
        ("Credit Score", "double", ()),
        ("Billing Address", "address", ()),
        ("Main Contact", "people", ()),
        ("Customer Since", "date", ()),
        ("Parent Company", "org", ()),
    ],
    "product": [
        ("Product Line", "enum", ("Core", "Add-on", "Service")),
        ("Regions", "set", ("EMEA", "AMER", "APAC")),
        ("SKU Alias", "varchar", ()),
        ("Weight (kg)", "double", ()),
        ("Spec Sheet", "text", ()),
    ],
    "activity": [
        ("Outcome", "enum", ("Positive", "Neutral", "Negative")),
        ("Agenda", "text", ()),
        ("Follow-up Date", "date", ()),
        ("Call Score", "double", ()),
        ("Local Time", "time", ()),
    ],
}

_OPTION_COLORS = (None, "green", "yellow", "red", "blue", "purple", "gray")

_BUILTIN: dict[str, list[tuple[str, str, str]]] = {
    # (field_code, field_name, field_type)
    "deal": [
        ("id", "ID", "int"),
        ("title", "Title", "varchar"),
        ("creator_user_id", "Creator", "user"),
        ("owner_id", "Owner", "user"),
        ("value", "Value", "monetary"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("pipeline_id", "Pipeline", "int"),
        ("stage_id", "Stage", "stage"),
        ("status", "Status", "status"),
        ("probability", "Probability", "double"),
        ("lost_reason", "Lost reason", "varchar_options"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
        ("stage_change_time", "Last stage change", "date"),
        ("close_time", "Deal closed on", "date"),
        ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"),
        ("expected_close_date", "Expected close date", "date"),
        ("label_ids", "Label", "set"),
        ("origin", "Source origin", "varchar"),
        ("channel", "Source channel", "enum"),
        ("channel_id", "Source channel ID", "varchar"),
        ("acv", "ACV", "monetary"),
        ("arr", "ARR", "monetary"),
        ("mrr", "MRR", "monetary"),
    ],
    "person": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("org_id", "Organization", "org"),
        ("emails", "Email", "varchar"),
        ("phones", "Phone", "phone"),
        ("label_ids", "Labels", "set"),
        ("visible_to", "Visible to", "visible_to"),
        ("picture_id", "Profile picture", "picture"),
        ("add_time", "Person created", "date"),
        ("update_time", "Update time", "date"),
        ("postal_address", "Postal address", "address"),
        ("notes", "Notes", "text"),
        ("birthday", "Birthday", "date"),
        ("job_title", "Job title", "varchar"),
    ],
    "organization": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("address", "Address", "address"),
        ("label_ids", "Labels", "set"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Organization created", "date"),
        ("update_time", "Update time", "date"),
        ("website", "Website", "varchar"),
        ("linkedin", "LinkedIn profile", "varchar"),
        ("industry", "Industry", "enum"),
        ("annual_revenue", "Annual revenue", "monetary"),
        ("employee_count", "Number of employees", "int"),
    ],
    "product": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("code", "Product code", "varchar"),
        ("description", "Description", "text"),
        ("unit", "Unit", "varchar"),
        ("tax", "Tax", "double"),
        ("category", "Category", "enum"),
        ("is_linkable", "Linkable", "boolean"),
        ("owner_id", "Owner", "user"),
        ("visible_to", "Visible to", "visible_to"),
        ("prices", "Unit prices", "price_list"),
        ("billing_frequency", "Billing frequency", "billing_frequency"),
        ("billing_frequency_cycles", "Billing cycles", "int"),
        ("add_time", "Product created", "date"),
        ("update_time", "Update time", "date"),
    ],
    "activity": [
        ("id", "ID", "int"),
        ("subject", "Subject", "varchar"),
        ("type", "Type", "varchar"),
        ("owner_id", "Assigned to user", "user"),
        ("creator_user_id", "Creator", "user"),
        ("deal_id", "Deal", "deal"),
        ("lead_id", "Lead", "lead"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("project_id", "Project", "project"),
        ("due_date", "Due date", "date"),
        ("due_time", "Due time", "time"),
        ("duration", "Duration", "time"),
        ("busy", "Free/busy", "boolean"),
        ("done", "Done", "boolean"),
        ("marked_as_done_time", "Marked as done time", "date"),
        ("location", "Location", "address"),
        ("participants", "Participants", "people"),
        ("public_description", "Public description", "text"),
        ("priority", "Priority", "enum"),
        ("note", "Note", "text"),
        ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"),
    ],
}

_BUILTIN_OPTIONS: dict[tuple[str, str], list[tuple[int | str, str]]] = {
    ("deal", "status"): [("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")],
    ("deal", "visible_to"): [("1", "Owner & followers"), ("3", "Entire company")],
    ("person", "visible_to"): [("1", "Owner & followers"), ("3", "Entire company")],
    ("organization", "visible_to"): [("1", "Owner & followers"), ("3", "Entire company")],
    ("product", "visible_to"): [("1", "Owner & followers"), ("3", "Entire company")],
    ("deal", "label_ids"): [(1, "Hot"), (2, "Warm"), (3, "Cold"), (4, "Strategic")],
    ("person", "label_ids"): [(5, "Customer"), (6, "Prospect"), (7, "Partner")],
    ("organization", "label_ids"): [(8, "Customer"), (9, "Prospect"), (10, "Vendor")],
    ("deal", "channel"): [(51, "Organic"), (52, "Paid search"), (53, "Events"), (54, "Referral")],
    ("organization", "industry"): [
        (1, "Software"),
        (2, "Manufacturing"),
        (3, "Retail"),
        (4, "Finance"),
        (5, "Healthcare"),
    ],
    ("product", "category"): [(11, "Licences"), (12, "Services"), (13, "Hardware")],
    ("activity", "priority"): [(261, "Low"), (262, "Medium"), (263, "High")],
}
"""Options of built-in enum/set fields; records refer to these ids (e.g. ``deal.label_ids``)."""

_OPTIONAL_RESPONSE = {
    "deal": ("next_activity_id", "last_activity_id", "products_count", "notes_count", "activities_count"),
    "person": ("next_activity_id", "open_deals_count", "activities_count"),
    "organization": ("next_activity_id", "people_count", "open_deals_count"),
    "product": (),
    "activity": (),
}

_ADDRESS_SUBFIELD_NAMES = {
    "value": "Address value",
    "street_number": "House number",
    "route": "Street/road name",
    "subpremise": "Apartment/suite",
    "sublocality": "District",
    "locality": "City/town/village",
    "admin_area_level_1": "State/province",
    "admin_area_level_2": "County",
    "country": "Country",
    "postal_code": "Postal code",
    "formatted_address": "Formatted address",
}


def builtin_option_ids(entity: str, code: str) -> list[int | str]:
    """The option ids of a built-in enum/set field (what records may reference)."""
    return [oid for oid, _ in _BUILTIN_OPTIONS[(entity, code)]]


def subfields_for(field_type: str, field_name: str) -> list[dict] | None:
    """The ``subfields`` of a composite field (monetary, address, ranges), else None."""
    if field_type == "monetary":
        return [
            {"field_code": "value", "field_name": f"Amount of {field_name}", "field_type": "double"},
            {"field_code": "currency", "field_name": f"Currency of {field_name}", "field_type": "varchar"},
        ]
    if field_type == "address":
        return [
            {"field_code": code, "field_name": f"{label} of {field_name}", "field_type": "varchar"}
            for code, label in _ADDRESS_SUBFIELD_NAMES.items()
        ]
    if field_type in ("daterange", "timerange"):
        base = "date" if field_type == "daterange" else "time"
        return [
            {"field_code": "value", "field_name": f"Start of {field_name}", "field_type": base},
            {"field_code": "until", "field_name": f"End of {field_name}", "field_type": base},
        ]
    return None


def _ui_visibility(entity: str) -> dict:
    """The ``ui_visibility`` block of a field item (shape differs per entity, as in the v2 spec)."""
    block: dict[str, Any] = {"add_visible_flag": True, "details_visible_flag": True}
    if entity == "deal":
        block["projects_detail_visible_flag"] = False
        block["show_in_pipelines"] = {"show_in_all": True, "pipeline_ids": []}
    elif entity == "person":
        block["show_in_add_deal_dialog"] = {"show": False, "order": None}
    elif entity == "organization":
        block.update(
            {
                "org_detail_visible_flag": True,
                "person_detail_visible_flag": False,
                "deal_detail_visible_flag": False,
                "show_in_add_deal_dialog": {"show": False, "order": None},
                "show_in_add_person_dialog": {"show": False, "order": None},
            }
        )
    return block


def field_item(
    entity: str,
    code: str,
    name: str,
    field_type: str,
    *,
    custom: bool,
    options: list[dict] | None = None,
    optional_response: bool = False,
    description: str = "",
) -> dict:
    """One v2 field-metadata item (GET /api/v2/<entity>Fields list-item shape)."""
    item: dict[str, Any] = {
        "field_name": name,
        "field_code": code,
        "description": description,
        "field_type": field_type,
        "options": options,
        "subfields": subfields_for(field_type, name),
        "is_custom_field": custom,
        "is_optional_response_field": optional_response,
        "ui_visibility": _ui_visibility(entity),
    }
    if entity in ("deal", "person", "organization"):
        item["important_fields"] = {"enabled": False, "stage_ids": []}
        item["required_fields"] = {"enabled": False}
        if entity == "deal":
            item["required_fields"] = {"enabled": False, "stage_ids": [], "statuses": {}}
    return item


def make_option(ctx: GenContext, label: str, created: int) -> dict:
    """A custom enum/set option with an integer id and v2 timestamps."""
    return {
        "id": ctx.next_option_id(),
        "label": label,
        "color": ctx.rng.choice(_OPTION_COLORS),
        "add_time": format_v2(created),
        "update_time": format_v2(created),
    }


def build_fields(ctx: GenContext, entity: str) -> list[dict]:
    """Built-in plus custom v2 field items of one entity (``deal``, ``person``, ...)."""
    items: list[dict] = []
    for code, name, ftype in _BUILTIN[entity]:
        opts = None
        if (entity, code) in _BUILTIN_OPTIONS:
            opts = [
                {"id": oid, "label": label, "color": None, "add_time": None, "update_time": None}
                for oid, label in _BUILTIN_OPTIONS[(entity, code)]
            ]
        items.append(field_item(entity, code, name, ftype, custom=False, options=opts))
    for code in _OPTIONAL_RESPONSE[entity]:
        name = code.replace("_", " ").capitalize()
        ftype = "activity" if code.endswith("activity_id") else "int"
        items.append(field_item(entity, code, name, ftype, custom=False, optional_response=True))
    for name, ftype, labels in _CUSTOM[entity]:
        created = ctx.past(900, 420)
        opts = [make_option(ctx, label, created) for label in labels] if labels else None
        items.append(
            field_item(
                entity,
                ctx.hash40(),
                name,
                ftype,
                custom=True,
                options=opts,
                description=ctx.rng.choice(("", f"{name} (maintained by sales ops)")),
            )
        )
    return items
