"""``mutate(add=…, edit=…)`` for installments, variations, call logs, participants, mail threads, files and
filters: new records and changed ones, the way Pipedrive would show them.

Adding or changing a deal's installments or participants, or a product's variations, moves the deal's or
product's ``update_time`` here (Pipedrive does not document whether it does — UNVERIFIED; the tap's
reconciliation pass finds what an incremental run would miss either way). Call logs cannot be edited through
the API (there is no update operation), so ``edit`` does not take them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from .data import Dataset
from .generators.context import format_date, format_v1, format_v2
from .generators.conversations import iso_ms

ADDABLE = (
    "deal_installments",
    "product_variations",
    "call_logs",
    "deal_participants",
    "mail_threads",
    "files",
    "filters",
)
EDITABLE = ("deal_installments", "product_variations", "mail_threads", "files", "filters")

Record = dict[str, Any]


def check(add: Mapping[str, int] | None, edit: Mapping[str, int] | None) -> None:
    """Raise ValueError for an entity ``add``/``edit`` cannot change or a negative count."""
    for kind, chosen, allowed in (("add", add, ADDABLE), ("edit", edit, EDITABLE)):
        for entity, count in (chosen or {}).items():
            if entity not in allowed:
                raise ValueError(f"{kind}: entity must be one of {sorted(allowed)}, got {entity!r}")
            if count < 0:
                raise ValueError(f"{kind}: count for {entity} must be >= 0, got {count}")


def _next_id(ds: Dataset, entity: str) -> int:
    return max((rid for rid in ds.records[entity] if isinstance(rid, int)), default=0) + 1


def _live_deals(ds: Dataset) -> list[Record]:
    return [
        d
        for d in ds.records["deals"].values()
        if not d.get("is_archived") and d.get("status") != "deleted" and not d.get("is_deleted")
    ]


def _touch(record: Record, now: int) -> None:
    record["update_time"] = format_v2(now)


def _add_one(ds: Dataset, entity: str, rng: random.Random, now: int) -> Any:
    records = ds.records[entity]
    me = int(ds.company["me_user_id"])
    deal = rng.choice(_live_deals(ds))
    if entity == "deal_installments":
        rid = _next_id(ds, entity)
        records[rid] = {
            "id": rid,
            "amount": float(rng.randint(100, 5_000)),
            "billing_date": format_date(now + rng.randint(1, 90) * 86_400),
            "description": "Added installment",
            "deal_id": deal["id"],
        }
        _touch(deal, now)
    elif entity == "product_variations":
        products = [p for p in ds.records["products"].values() if not p.get("is_deleted")]
        product = rng.choice(products)
        rid = _next_id(ds, entity)
        records[rid] = {
            "id": rid,
            "name": f"New variation {rid}",
            "product_id": product["id"],
            "prices": [
                {**{k: v for k, v in price.items() if k != "product_id"}, "product_variation_id": rid}
                for price in product["prices"]
            ],
        }
        _touch(product, now)
    elif entity == "call_logs":
        rid = f"CA{rng.getrandbits(112):028x}n{now:x}"
        records[rid] = {
            "id": rid,
            "user_id": me,
            "company_id": ds.company["company_id"],
            "subject": "Added call",
            "duration": "120",
            "outcome": "connected",
            "from_phone_number": "+4930555000",
            "to_phone_number": "+372555000",
            "has_recording": False,
            "start_time": iso_ms(now - 120),
            "end_time": iso_ms(now),
            "note": "",
            "deal_id": deal["id"],
        }
    elif entity == "deal_participants":
        rid = _next_id(ds, entity)
        records[rid] = {
            "id": rid,
            "deal_id": deal["id"],
            "person_id": rng.choice(list(ds.records["persons"])),
            "add_time": format_v1(now),
            "active_flag": True,
            "added_by_user_id": me,
        }
        _touch(deal, now)
    elif entity == "mail_threads":
        rid = _next_id(ds, entity)
        template = dict(ds.records[entity][rng.choice(list(ds.records[entity]))])
        records[rid] = {
            **template,
            "id": rid,
            "user_id": me,
            "folders": ["inbox"],
            "subject": "Added thread",
            "add_time": iso_ms(now),
            "update_time": iso_ms(now),
            "first_message_timestamp": iso_ms(now),
            "last_message_timestamp": iso_ms(now),
            "deal_id": deal["id"],
            "deal_status": deal["status"],
        }
    elif entity == "files":
        rid = _next_id(ds, entity)
        template = dict(ds.records[entity][rng.choice(list(ds.records[entity]))])
        records[rid] = {
            **template,
            "id": rid,
            "deal_id": deal["id"],
            "deal_name": deal["title"],
            "add_time": format_v1(now),
            "update_time": format_v1(now),
            "active_flag": True,
            "name": f"added_{rid}.pdf",
            "file_name": f"added_{rid}.pdf",
        }
    else:  # filters
        rid = _next_id(ds, entity)
        records[rid] = {
            **dict(ds.records[entity][1]),
            "id": rid,
            "name": f"Added filter {rid}",
            "active_flag": True,
            "add_time": format_v1(now),
            "update_time": format_v1(now),
        }
    return rid


def _edit_one(ds: Dataset, entity: str, record: Record, rng: random.Random, now: int) -> None:
    if entity == "deal_installments":
        record["amount"] = round(float(record["amount"]) + rng.randint(1, 500), 2)
        deal = ds.records["deals"].get(record["deal_id"])
        if deal is not None:
            _touch(deal, now)
    elif entity == "product_variations":
        record["name"] = f"{record['name']} (rev {rng.randint(2, 99)})"
        product = ds.records["products"].get(record["product_id"])
        if product is not None:
            _touch(product, now)
    elif entity == "mail_threads":
        record.update(
            message_count=record["message_count"] + 1,
            last_message_timestamp=iso_ms(now),
            last_message_received_timestamp=iso_ms(now),
            update_time=iso_ms(now),
        )
    else:  # files, filters
        record["name"] = f"{record['name']} (edited)"
        record["update_time"] = format_v1(now)


def _editable(ds: Dataset, entity: str) -> Callable[[Record], bool]:
    if entity == "deal_installments":
        live = {d["id"] for d in _live_deals(ds)}
        return lambda r: r["deal_id"] in live
    if entity == "product_variations":
        return lambda r: not (ds.records["products"].get(r["product_id"]) or {}).get("is_deleted", True)
    if entity in ("files", "filters"):
        return lambda r: r.get("active_flag", True) is not False
    return lambda r: not r.get("deleted_flag")


def apply(
    ds: Dataset,
    add: Mapping[str, int] | None,
    edit: Mapping[str, int] | None,
    now: int,
    exclude: Mapping[str, list[Any]],
) -> dict[str, dict[str, list[Any]]]:
    """Add and edit records at ``now`` (epoch); ``exclude`` (entity → ids deleted in the same call) is left
    alone. Returns ``{"added": {entity: ids}, "edited": {entity: ids}}`` for the entities asked for."""
    rng = random.Random(f"{ds.seed}:{now}:engagement")
    result: dict[str, dict[str, list[Any]]] = {"added": {}, "edited": {}}
    for entity, count in sorted((edit or {}).items()):
        keep = _editable(ds, entity)
        skip = set(exclude.get(entity, ()))
        pool = sorted(rid for rid, r in ds.records[entity].items() if rid not in skip and keep(r))
        chosen = sorted(rng.sample(pool, min(count, len(pool))))
        for rid in chosen:
            _edit_one(ds, entity, ds.records[entity][rid], rng, now)
        result["edited"][entity] = chosen
    for entity, count in sorted((add or {}).items()):
        result["added"][entity] = [_add_one(ds, entity, rng, now) for _ in range(count)]
    return result
