"""The served API: which path maps to which spec operation; how each list is filtered, paged and shaped.

Handlers return bodies that share objects with the dataset (no copies): the server serialises them while it
still holds the dataset lock, and nothing here mutates a record. Large lists are paged through the request's
``ListIndex`` (presorted views, memoised v1 orders), which gives the same pages as filtering and sorting the
whole collection on every request.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipedrive_emulator.changelog import serve_changelog
from pipedrive_emulator.data import FIELD_OPTIONAL_KEYS, Dataset
from pipedrive_emulator.deletes import listed
from pipedrive_emulator.errors import ApiError, bad_request
from pipedrive_emulator.listindex import ListIndex
from pipedrive_emulator.movements import serve_movement_statistics
from pipedrive_emulator.pagination import (
    cursor_page,
    indexed_cursor_page,
    offset_page,
    parse_timestamp,
    sort_v1,
)
from pipedrive_emulator.related_counts import deal_counter
from pipedrive_emulator.spec_facts import OperationFacts, load_operations
from pipedrive_emulator.summary import deals_summary

Record = dict[str, Any]
Params = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """A validated API request: its operation, parsed query parameters, path parameters and the views cache
    of the dataset it is answered from (a fresh, empty one unless the server passes its own)."""

    operation: OperationFacts
    params: Params
    path_params: dict[str, str]
    index: ListIndex = field(default_factory=ListIndex)


@dataclass(frozen=True)
class Route:
    """One served operation: the spec operation, a regex over the versioned path, and its handler."""

    operation: OperationFacts
    pattern: re.Pattern[str]
    handler: Callable[[Dataset, Request], dict[str, Any]]


# Query parameters that select records by plain equality with the same-named record property (v2), and their
# v1 counterparts where the record property has another name.
_EQUALITY_FILTERS = (
    "owner_id",
    "person_id",
    "org_id",
    "pipeline_id",
    "stage_id",
    "deal_id",
    "lead_id",
    "done",
)
_V1_EQUALITY_FILTERS = {
    "owner_id": "owner_id",
    "person_id": "person_id",
    "organization_id": "organization_id",
    "user_id": "user_id",
    "lead_id": "lead_id",
    "deal_id": "deal_id",
    "org_id": "org_id",
    "project_id": "project_id",
    "task_id": "task_id",
}
_PINNED_FLAGS = tuple(
    f"pinned_to_{what}_flag" for what in ("lead", "deal", "organization", "person", "project", "task")
)
_FIELD_ENTITY = {"deals": "deal", "persons": "person", "organizations": "organization", "products": "product"}


# --------------------------------------------------------------------------------------------- shared steps


def _lister(ds: Dataset, entity: str) -> Callable[[Record], bool]:
    """Which records of ``entity`` a list answer may include: soft-deleted ones only when the dataset's
    ``list_deleted`` says so (REFERENCE §11 q1 is UNVERIFIED; both behaviours are served)."""
    return lambda record: listed(ds, entity, record)


def _no_filter_id(params: Params) -> None:
    if "filter_id" in params:
        raise ApiError(404, "Filter not found", "Object was not found.")


def _in_window(record: Record, since: datetime | None, until: datetime | None) -> bool:
    raw = record.get("update_time")
    stamp = parse_timestamp(raw) if isinstance(raw, str) else None
    if stamp is None:
        return False
    return (since is None or stamp >= since) and (until is None or stamp < until)


def _time_window(records: Iterable[Record], params: Params) -> list[Record]:
    since: datetime | None = params.get("updated_since")
    until: datetime | None = params.get("updated_until")
    if since is None and until is None:
        return list(records)
    return [record for record in records if _in_window(record, since, until)]


def _equality(records: Iterable[Record], params: Params, names: dict[str, str]) -> list[Record]:
    chosen = {prop: params[name] for name, prop in names.items() if name in params}
    return [r for r in records if all(r.get(prop) == value for prop, value in chosen.items())]


def _record_filter(
    params: Params, names: dict[str, str], base: Callable[[Record], bool]
) -> Callable[[Record], bool]:
    """One predicate for ``base``, the equality filters in ``names`` and the update_time window."""
    chosen = {prop: params[name] for name, prop in names.items() if name in params}
    since: datetime | None = params.get("updated_since")
    until: datetime | None = params.get("updated_until")
    windowed = since is not None or until is not None

    def keep(record: Record) -> bool:
        return (
            base(record)
            and all(record.get(prop) == value for prop, value in chosen.items())
            and (not windowed or _in_window(record, since, until))
        )

    return keep


def _sort_spec(request: Request) -> tuple[str, str]:
    params = request.params
    declared = request.operation.params.get("sort_by")
    sort_by = params.get("sort_by", declared.default if declared is not None and declared.default else "id")
    return sort_by, params.get("sort_direction", "asc")


def _window_bounds(keys: list[tuple[Any, ...]], params: Params) -> tuple[int, int] | None:
    """View positions (in ``update_time`` order) outside which no record is in the request's time window.

    A second of slack on each side keeps the bounds conservative; the window itself is still checked per
    record. Records without a timestamp sort last and are never in a window.
    """
    since: datetime | None = params.get("updated_since")
    until: datetime | None = params.get("updated_until")
    if since is None and until is None:
        return None
    low = 0 if since is None else bisect.bisect_left(keys, (0, since.timestamp() - 1.0))
    high = (
        bisect.bisect_left(keys, (1,))
        if until is None
        else bisect.bisect_right(keys, (0, until.timestamp() + 1.0))
    )
    return low, max(low, high)


def _indexed_v2_page(
    ds: Dataset, entity: str, keep: Callable[[Record], bool], request: Request
) -> dict[str, Any]:
    """Answer a v2 list over all of ``ds.records[entity]`` restricted to ``keep``, paged via the sorted view.

    Falls back to filtering and sorting the whole collection when its values (or the cursor's) cannot be
    ordered, so errors stay exactly those of ``cursor_page``.
    """
    params = request.params
    sort_by, direction = _sort_spec(request)
    records = ds.records[entity]
    answer = None
    try:
        view = request.index.sorted_view(entity, records, sort_by)
        bounds = _window_bounds(view.keys, params) if sort_by == "update_time" else None
        answer = indexed_cursor_page(
            view, keep, sort_by, direction, params.get("cursor"), params["limit"], bounds
        )
    except TypeError:
        answer = None
    if answer is None:
        return _v2_page([r for r in records.values() if keep(r)], request)
    page, next_cursor = answer
    return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}


def _freeze(value: Any) -> Any:
    return tuple(_freeze(item) for item in value) if isinstance(value, list) else value


def _memo_key(name: str, params: Params) -> tuple[Any, ...]:
    """A cache key for a v1 list's full (unpaged) answer: the handler and every non-paging parameter."""
    chosen = sorted((k, _freeze(v)) for k, v in params.items() if k not in ("start", "limit"))
    return (name, *chosen)


def _ids(records: Iterable[Record], params: Params) -> list[Record]:
    if "ids" not in params:
        return list(records)
    wanted = set(params["ids"])
    return [r for r in records if r.get("id") in wanted]


def _v2_page(records: list[Record], request: Request) -> dict[str, Any]:
    params = request.params
    sort_by, direction = _sort_spec(request)
    page, next_cursor = cursor_page(records, sort_by, direction, params.get("cursor"), params["limit"])
    return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}


def _v1_list(records: list[Record], request: Request, keep_order: bool = False) -> dict[str, Any]:
    """Answer a v1 list: sorted (by ``sort``, else id) unless ``keep_order``, then offset-paged when the
    operation pages, with the spec's additional_data shape."""
    params = request.params
    ordered = records if keep_order else sort_v1(records, params.get("sort", []))
    operation = request.operation
    if operation.pagination != "offset":
        body: dict[str, Any] = {"success": True, "data": ordered}
        if operation.additional_data == "flat":
            body["additional_data"] = {"start": 0, "limit": len(ordered), "more_items_in_collection": False}
        return body
    start, limit = params.get("start", 0), params["limit"]
    page, more = offset_page(ordered, start, limit)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if operation.additional_data == "flat":
        return {"success": True, "data": page, "additional_data": pagination}
    if more:
        pagination["next_start"] = start + limit
    return {"success": True, "data": page, "additional_data": {"pagination": pagination}}


def _shape_v2(ds: Dataset, entity: str, records: list[Record], request: Request) -> list[Record]:
    """Copy records and apply ``include_fields``, ``custom_fields``, ``include_option_labels``."""
    params = request.params
    declared = request.operation.params.get("include_fields")
    optional = set(declared.enum or ()) if declared is not None else set()
    requested = set(params.get("include_fields", ()))
    keep_custom = set(params["custom_fields"]) if "custom_fields" in params else None
    labels = _option_labels(ds, entity) if params.get("include_option_labels") else None
    counts = deal_counter(ds, request.index, requested) if entity == "deals" and requested else None
    shaped = []
    for record in records:
        out = {key: value for key, value in record.items() if key not in optional or key in requested}
        if counts is not None:
            out.update(counts(record))
        for key in requested - out.keys():
            out[key] = 0 if key.endswith("_count") else None
        custom = out.get("custom_fields")
        if isinstance(custom, dict) and (keep_custom is not None or labels):
            custom = {k: v for k, v in custom.items() if keep_custom is None or k in keep_custom}
            if labels:
                custom = {k: _label_value(v, labels.get(k)) for k, v in custom.items()}
            out["custom_fields"] = custom
        shaped.append(out)
    return shaped


def _option_labels(ds: Dataset, entity: str) -> dict[str, tuple[str, dict[Any, str]]]:
    items = ds.fields.get(_FIELD_ENTITY.get(entity, ""), [])
    return {
        item["field_code"]: (item["field_type"], {o["id"]: o["label"] for o in item.get("options") or []})
        for item in items
        if item.get("is_custom_field") and item.get("field_type") in ("enum", "set")
    }


def _label_value(value: Any, field: tuple[str, dict[Any, str]] | None) -> Any:
    if field is None or value is None:
        return value
    field_type, options = field
    if field_type == "set" and isinstance(value, list):
        return [{"id": option, "label": options.get(option)} for option in value]
    return {"id": value, "label": options.get(value)}


def _strip_field_namespaces(items: list[Record], request: Request) -> list[Record]:
    requested: set[str] = set()
    for value in request.params.get("include_fields", ()):
        requested.update(value.split(","))
    return [
        {k: v for k, v in item.items() if k not in FIELD_OPTIONAL_KEYS or k in requested} for item in items
    ]


# --------------------------------------------------------------------------------------------- v2 handlers


def _v2_entity_list(entity: str) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        params = request.params
        _no_filter_id(params)
        names = {name: name for name in _EQUALITY_FILTERS if name in request.operation.params}
        if entity == "persons":
            names.pop("deal_id", None)
        live = _lister(ds, entity)
        if "ids" in params or (entity == "persons" and "deal_id" in params):
            records = [r for r in ds.records[entity].values() if live(r)]
            records = _equality(_ids(records, params), params, names)
            if entity == "persons" and "deal_id" in params:
                deal = ds.records["deals"].get(params["deal_id"])
                records = [r for r in records if deal is not None and r["id"] == deal.get("person_id")]
            body = _v2_page(_time_window(records, params), request)
        else:
            body = _indexed_v2_page(ds, entity, _record_filter(params, names, live), request)
        body["data"] = _shape_v2(ds, entity, body["data"], request)
        return body

    return handler


def _v2_deals(archived: bool) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        params = request.params
        _no_filter_id(params)
        statuses = set(params.get("status") or ("open", "won", "lost"))

        def selected(r: Record) -> bool:
            return bool(r.get("is_archived")) == archived and r.get("status") in statuses

        names = {name: name for name in _EQUALITY_FILTERS if name in request.operation.params}
        if "ids" in params:
            records = _ids([r for r in ds.records["deals"].values() if selected(r)], params)
            body = _v2_page(_time_window(_equality(records, params, names), params), request)
        else:
            body = _indexed_v2_page(ds, "deals", _record_filter(params, names, selected), request)
        body["data"] = _shape_v2(ds, "deals", body["data"], request)
        return body

    return handler


def _v2_plain_list(entity: str) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        names = {name: name for name in _EQUALITY_FILTERS if name in request.operation.params}
        live = _lister(ds, entity)
        records = _equality((r for r in ds.records[entity].values() if live(r)), request.params, names)
        body = _v2_page(records, request)
        return body

    return handler


def _v2_deals_products(ds: Dataset, request: Request) -> dict[str, Any]:
    if "id" in request.path_params:
        deal_id = int(request.path_params["id"])
        if deal_id not in ds.records["deals"]:
            raise ApiError(404, "Deal not found", "Object was not found.")
        deal_ids = {deal_id}
    else:
        deal_ids = set(request.params["deal_ids"])
    by_deal = request.index.grouped("deal_products", ds.records["deal_products"], "deal_id")
    records = [r for deal_id in deal_ids for r in by_deal.get(deal_id, ())]
    return _v2_page(records, request)


def _v2_fields(entity: str) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        items = [dict(item, id=position) for position, item in enumerate(ds.fields[entity])]
        body = _v2_page(items, request)
        page = [{k: v for k, v in item.items() if k != "id"} for item in body["data"]]
        body["data"] = _strip_field_namespaces(page, request)
        return body

    return handler


# --------------------------------------------------------------------------------------------- v1 handlers


def _v1_plain(entity: str) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        records = list(ds.records[entity].values())
        if entity == "currencies" and "term" in request.params:
            term = request.params["term"].lower()
            records = [r for r in records if term in r["name"].lower() or term in r["code"].lower()]
        return _v1_list(records, request)

    return handler


def _v1_me(ds: Dataset, request: Request) -> dict[str, Any]:
    extras = {k: v for k, v in ds.company.items() if k != "me_user_id"}
    user = ds.records["users"][ds.company["me_user_id"]]
    return {"success": True, "data": {**user, "is_you": True, **extras}}


def _v1_deals_summary(ds: Dataset, request: Request) -> dict[str, Any]:
    return deals_summary(ds, request.params)


def _v1_leads(archived: bool) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        _no_filter_id(request.params)

        def ordered() -> list[Record]:
            records = [r for r in ds.records["leads"].values() if bool(r.get("is_archived")) == archived]
            records = _equality(records, request.params, _V1_EQUALITY_FILTERS)
            return sort_v1(_time_window(records, request.params), request.params.get("sort", []))

        key = _memo_key(f"leads:{archived}", request.params)
        return _v1_list(request.index.memo(key, ordered), request, keep_order=True)

    return handler


def _v1_notes(ds: Dataset, request: Request) -> dict[str, Any]:
    ordered = request.index.memo(_memo_key("notes", request.params), lambda: _v1_notes_ordered(ds, request))
    return _v1_list(ordered, request, keep_order=True)


def _v1_notes_ordered(ds: Dataset, request: Request) -> list[Record]:
    """Every note the request selects, in its ``sort`` order (400 for a sort field notes do not have)."""
    params = request.params
    records = [r for r in ds.records["notes"].values() if listed(ds, "notes", r)]
    known = set().union(*(r.keys() for r in records)) if records else set()
    for key in params.get("sort", []):
        if key.field not in known:
            raise bad_request(f'Query parameter "sort" cannot sort by "{key.field}".')
    records = _equality(records, params, _V1_EQUALITY_FILTERS)
    for flag in _PINNED_FLAGS:
        if flag in params:
            records = [r for r in records if bool(r.get(flag)) == bool(params[flag])]
    if "start_date" in params or "end_date" in params:
        records = [r for r in records if _note_day_in_range(r, params)]
    records = _time_window(records, params)
    return sort_v1(records, params.get("sort", []))


def _note_day_in_range(record: Record, params: Params) -> bool:
    stamp = parse_timestamp(record.get("add_time") or "")
    if stamp is None:
        return False
    day = stamp.date()
    return params.get("start_date", day) <= day <= params.get("end_date", day)


def _v1_fields(entity: str) -> Callable[[Dataset, Request], dict[str, Any]]:
    def handler(ds: Dataset, request: Request) -> dict[str, Any]:
        return _v1_list(list(ds.fields[entity]), request, keep_order=True)

    return handler


# --------------------------------------------------------------------------------------------- the table

_HANDLERS: dict[tuple[str, str], Callable[[Dataset, Request], dict[str, Any]]] = {
    ("v2", "/deals"): _v2_deals(archived=False),
    ("v2", "/deals/archived"): _v2_deals(archived=True),
    ("v2", "/persons"): _v2_entity_list("persons"),
    ("v2", "/organizations"): _v2_entity_list("organizations"),
    ("v2", "/activities"): _v2_entity_list("activities"),
    ("v2", "/products"): _v2_entity_list("products"),
    ("v2", "/pipelines"): _v2_plain_list("pipelines"),
    ("v2", "/stages"): _v2_plain_list("stages"),
    ("v2", "/deals/products"): _v2_deals_products,
    ("v2", "/deals/{id}/products"): _v2_deals_products,
    ("v2", "/dealFields"): _v2_fields("deal"),
    ("v2", "/personFields"): _v2_fields("person"),
    ("v2", "/organizationFields"): _v2_fields("organization"),
    ("v2", "/productFields"): _v2_fields("product"),
    ("v2", "/activityFields"): _v2_fields("activity"),
    ("v1", "/users"): _v1_plain("users"),
    ("v1", "/users/me"): _v1_me,
    ("v1", "/deals/summary"): _v1_deals_summary,
    ("v1", "/activityTypes"): _v1_plain("activity_types"),
    ("v1", "/leads"): _v1_leads(archived=False),
    ("v1", "/leads/archived"): _v1_leads(archived=True),
    ("v1", "/leadLabels"): _v1_plain("lead_labels"),
    ("v1", "/notes"): _v1_notes,
    ("v1", "/currencies"): _v1_plain("currencies"),
    ("v1", "/leadFields"): _v1_fields("lead"),
    ("v1", "/noteFields"): _v1_fields("note"),
    ("v1", "/deals/{id}/changelog"): serve_changelog,
    ("v1", "/pipelines/{id}/movement_statistics"): serve_movement_statistics,
}


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\d+)", re.escape(path)) + "$")


def build_routes() -> list[Route]:
    """Pair every served spec operation with its handler."""
    from pipedrive_emulator import routes_org  # it builds on this module's helpers
    from pipedrive_emulator.routes_engagement import HANDLERS as ENGAGEMENT_HANDLERS  # imports this module

    operations = load_operations()
    handlers = {**_HANDLERS, **ENGAGEMENT_HANDLERS}
    routes = [Route(operations[key], _pattern(key[1]), handler) for key, handler in handlers.items()]
    return [*routes, *routes_org.build_routes()]


def api_version_and_path(url_path: str) -> tuple[str, str] | None:
    """Split ``/api/v2/deals`` → (``v2``, ``/deals``); ``/v1/x`` (or ``/api/v1/x``) → (``v1``, ``/x``)."""
    for prefix, api in (("/api/v2/", "v2"), ("/api/v1/", "v1"), ("/v1/", "v1")):
        if url_path.startswith(prefix):
            return api, "/" + url_path[len(prefix) :].rstrip("/")
    return None


def match_route(routes: list[Route], api: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """Find the route serving (api, path) and its path parameters."""
    for route in routes:
        if route.operation.api != api:
            continue
        match = route.pattern.match(path)
        if match:
            return route, match.groupdict()
    return None
