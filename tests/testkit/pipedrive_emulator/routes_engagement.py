"""Served operations for installments, product variations, call logs, deal participants, mail threads, files
and filters (issue #16), in the same style as ``routes.py`` and registered in its table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipedrive_emulator.data import Dataset
from pipedrive_emulator.deletes import listed
from pipedrive_emulator.errors import ApiError, bad_request
from pipedrive_emulator.routes import Record, Request, _v1_list, _v2_page

FILE_SORT_FIELDS = ("id", "update_time")
"""``GET /v1/files`` ``sort``: "Supported fields: ``id``, ``update_time``"."""


def _me(ds: Dataset) -> int:
    return int(ds.company["me_user_id"])


def _v2_installments(ds: Dataset, request: Request) -> dict[str, Any]:
    wanted = set(request.params["deal_ids"])
    records = [r for r in ds.records["deal_installments"].values() if r["deal_id"] in wanted]
    return _v2_page(records, request)


def _v2_variations(ds: Dataset, request: Request) -> dict[str, Any]:
    product_id = int(request.path_params["id"])
    product = ds.records["products"].get(product_id)
    if product is None:
        raise ApiError(404, "Product not found", "Object was not found.")
    records = [r for r in ds.records["product_variations"].values() if r["product_id"] == product_id]
    return _v2_page(records, request)


def _v1_call_logs(ds: Dataset, request: Request) -> dict[str, Any]:
    """Only the token's user's call logs ("Returns all call logs assigned to a particular user")."""
    me = _me(ds)
    return _v1_list([r for r in ds.records["call_logs"].values() if r["user_id"] == me], request)


def _v1_deal_participants(ds: Dataset, request: Request) -> dict[str, Any]:
    deal_id = int(request.path_params["id"])
    deal = ds.records["deals"].get(deal_id)
    if deal is None:
        raise ApiError(404, "Deal not found", "Object was not found.")
    rows = [r for r in ds.records["deal_participants"].values() if r["deal_id"] == deal_id]
    return _v1_list([participant_shape(ds, deal, row) for row in rows], request)


def participant_shape(ds: Dataset, deal: Record, row: Record) -> Record:
    """A participant as ``/v1/deals/{id}/participants`` lists it, its person as the dataset has it now."""
    person = ds.records["persons"].get(row["person_id"]) or {"id": row["person_id"], "name": ""}
    user = ds.records["users"].get(row["added_by_user_id"]) or {}
    org = ds.records["organizations"].get(person.get("org_id"))
    emails = [dict(e) for e in person.get("emails") or []]
    phones = [dict(p) for p in person.get("phones") or []]
    return {
        "id": row["id"],
        "person_id": {
            "active_flag": not person.get("is_deleted"),
            "name": person.get("name") or "",
            "email": emails,
            "phone": phones,
            "owner_id": person.get("owner_id") or 0,
            "company_id": ds.company["company_id"],
            "value": person["id"],
        },
        "add_time": row["add_time"],
        "active_flag": row["active_flag"],
        "related_item_data": {"deal_id": deal["id"], "title": deal["title"]},
        "person": {
            "id": person["id"],
            "company_id": ds.company["company_id"],
            "active_flag": not person.get("is_deleted"),
            "phone": phones,
            "email": emails,
            "first_char": (person.get("name") or " ")[0].lower(),
            "add_time": _v1_stamp(person.get("add_time")),
            "update_time": _v1_stamp(person.get("update_time")),
            "visible_to": str(person.get("visible_to") or 3),
            "picture_id": None,
            "label": None,
            "label_ids": list(person.get("label_ids") or []),
            "org_name": org["name"] if org else None,
            "owner_name": (ds.records["users"].get(person.get("owner_id")) or {}).get("name", ""),
            "cc_email": None,
            "name": person.get("name") or "",
        },
        "added_by_user_id": {
            "id": user.get("id", row["added_by_user_id"]),
            "name": user.get("name", ""),
            "email": user.get("email", ""),
            "has_pic": 0,
            "pic_hash": None,
            "active_flag": bool(user.get("active_flag", True)),
            "value": row["added_by_user_id"],
        },
        "related_item_type": "deal",
        "related_item_id": deal["id"],
    }


def _v1_stamp(value: Any) -> str:
    """A v2 timestamp (``2026-01-01T00:00:00Z``) in v1 form (``2026-01-01 00:00:00``)."""
    return str(value or "").replace("T", " ").replace("Z", "")[:19]


def _v1_mail_threads(ds: Dataset, request: Request) -> dict[str, Any]:
    """The token's user's threads in one folder, most recent message first."""
    folder = request.params.get("folder", "inbox")
    me = _me(ds)
    records = [
        r
        for r in ds.records["mail_threads"].values()
        if r["user_id"] == me and folder in r["folders"] and not r["deleted_flag"]
    ]
    records.sort(key=lambda r: (r["last_message_timestamp"], r["id"]), reverse=True)
    return _v1_list(records, request, keep_order=True)


def _v1_files(ds: Dataset, request: Request) -> dict[str, Any]:
    for key in request.params.get("sort", []):
        if key.field not in FILE_SORT_FIELDS:
            raise bad_request(f'Query parameter "sort" cannot sort by "{key.field}".')
    records = [r for r in ds.records["files"].values() if listed(ds, "files", r)]
    return _v1_list(records, request)


def _v1_filters(ds: Dataset, request: Request) -> dict[str, Any]:
    kind = request.params.get("type")
    records = [
        r
        for r in ds.records["filters"].values()
        if listed(ds, "filters", r) and (kind is None or r["type"] == kind)
    ]
    return _v1_list(records, request)


HANDLERS: dict[tuple[str, str], Callable[[Dataset, Request], dict[str, Any]]] = {
    ("v2", "/deals/installments"): _v2_installments,
    ("v2", "/products/{id}/variations"): _v2_variations,
    ("v1", "/callLogs"): _v1_call_logs,
    ("v1", "/deals/{id}/participants"): _v1_deal_participants,
    ("v1", "/mailbox/mailThreads"): _v1_mail_threads,
    ("v1", "/files"): _v1_files,
    ("v1", "/filters"): _v1_filters,
}
"""(api, spec path) → handler, merged into ``routes.build_routes``'s table."""
