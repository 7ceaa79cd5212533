"""Synthetic Pipedrive-deal-shaped Singer input for the target benchmark (about 60 properties per record)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

STREAM = "deals"

_TS = {"type": ["string", "null"], "format": "date-time"}
_DATE = {"type": ["string", "null"], "format": "date"}
_INT = {"type": ["integer", "null"]}
_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}
_BOOL = {"type": ["boolean", "null"]}

PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "title": _STR,
    "creator_user_id": _INT,
    "owner_id": _INT,
    "value": _NUM,
    "currency": _STR,
    "person_id": _INT,
    "org_id": _INT,
    "stage_id": _INT,
    "pipeline_id": _INT,
    "status": _STR,
    "probability": _NUM,
    "add_time": _TS,
    "update_time": _TS,
    "stage_change_time": _TS,
    "won_time": _TS,
    "lost_time": _TS,
    "close_time": _TS,
    "expected_close_date": _DATE,
    "lost_reason": _STR,
    "visible_to": _INT,
    "is_deleted": _BOOL,
    "is_archived": _BOOL,
    "archive_time": _TS,
    "label_ids": {"type": ["array", "null"], "items": {"type": "integer"}},
    "origin": _STR,
    "origin_id": _STR,
    "channel": _INT,
    "channel_id": _STR,
    "acv": _NUM,
    "arr": _NUM,
    "mrr": _NUM,
    "first_won_time": _TS,
    "local_won_date": _DATE,
    "local_lost_date": _DATE,
    "local_close_date": _DATE,
    "source_lead_id": _STR,
    "custom_fields": {"type": ["object", "null"]},
}
for n in range(6):
    PROPERTIES[f"cf_text_{n}"] = _STR
for n in range(4):
    PROPERTIES[f"cf_amount_{n}"] = _NUM
    PROPERTIES[f"cf_amount_{n}_currency"] = _STR
for n in range(3):
    PROPERTIES[f"cf_date_{n}"] = _DATE
PROPERTIES["cf_region"] = _INT
PROPERTIES["cf_tags"] = {"type": ["array", "null"], "items": {"type": "integer"}}
PROPERTIES["cf_address"] = _STR
PROPERTIES["cf_address_locality"] = _STR
PROPERTIES["cf_address_country"] = _STR

SCHEMA_MESSAGE = {
    "type": "SCHEMA",
    "stream": STREAM,
    "schema": {"type": "object", "properties": PROPERTIES},
    "key_properties": ["id"],
}


def _ts(rng: random.Random) -> str:
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def _date(rng: random.Random) -> str:
    return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def deal(i: int, rng: random.Random) -> dict[str, Any]:
    """One deal record."""
    won = rng.random() < 0.3
    record: dict[str, Any] = {
        "id": i + 1,
        "title": f"Deal {i} with Company {rng.randint(1, 5000)} — renewal",
        "creator_user_id": rng.randint(1, 50),
        "owner_id": rng.randint(1, 50),
        "value": round(rng.uniform(0, 100_000), 2),
        "currency": rng.choice(["EUR", "USD", "GBP"]),
        "person_id": rng.randint(1, 40_000),
        "org_id": rng.randint(1, 10_000),
        "stage_id": rng.randint(1, 12),
        "pipeline_id": rng.randint(1, 3),
        "status": "won" if won else rng.choice(["open", "lost"]),
        "probability": rng.choice([None, 10, 50, 90]),
        "add_time": _ts(rng),
        "update_time": _ts(rng),
        "stage_change_time": _ts(rng),
        "won_time": _ts(rng) if won else None,
        "lost_time": None,
        "close_time": _ts(rng) if won else None,
        "expected_close_date": _date(rng),
        "lost_reason": None,
        "visible_to": 3,
        "is_deleted": False,
        "is_archived": rng.random() < 0.05,
        "archive_time": None,
        "label_ids": rng.sample(range(1, 20), rng.randint(0, 3)),
        "origin": "ManuallyCreated",
        "origin_id": None,
        "channel": rng.choice([None, 1, 2]),
        "channel_id": None,
        "acv": None,
        "arr": None,
        "mrr": None,
        "first_won_time": None,
        "local_won_date": None,
        "local_lost_date": None,
        "local_close_date": None,
        "source_lead_id": None,
        "custom_fields": {
            "a1b2c3": {"type": "monetary", "value": rng.randint(1, 9999), "currency": "EUR"},
            "d4e5f6": {"type": "set", "value": [rng.randint(1, 9), rng.randint(10, 19)]},
            "g7h8i9": {"type": "varchar", "value": f"note {i}"},
            "j0k1l2": {
                "type": "address",
                "value": {"value": "Main St 1, Berlin", "locality": "Berlin", "country": "Germany"},
            },
        },
        "cf_region": rng.randint(1, 8),
        "cf_tags": rng.sample(range(100, 140), 2),
        "cf_address": "Main St 1, Berlin",
        "cf_address_locality": "Berlin",
        "cf_address_country": "Germany",
    }
    for n in range(6):
        record[f"cf_text_{n}"] = f"text value {n} for deal {i}" if rng.random() < 0.7 else None
    for n in range(4):
        record[f"cf_amount_{n}"] = round(rng.uniform(0, 5000), 2)
        record[f"cf_amount_{n}_currency"] = "EUR"
    for n in range(3):
        record[f"cf_date_{n}"] = _date(rng)
    return record


def write_singer(path: Path, records: int, *, seed: int = 7) -> None:
    """A Singer file: SCHEMA, the deals, a STATE every 10 000 records and at the end."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(SCHEMA_MESSAGE) + "\n")
        for i in range(records):
            out.write(json.dumps({"type": "RECORD", "stream": STREAM, "record": deal(i, rng)}) + "\n")
            if (i + 1) % 10_000 == 0 or i + 1 == records:
                out.write(
                    json.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"n": i + 1}}}}) + "\n"
                )


def write_csv(path: Path, records: int, *, seed: int = 7) -> list[str]:
    """The same records as CSV (objects/arrays as JSON text); returns the column order."""
    rng = random.Random(seed)
    columns = list(PROPERTIES)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for i in range(records):
            record = deal(i, rng)
            writer.writerow(
                [
                    ""
                    if record[c] is None
                    else json.dumps(record[c])
                    if isinstance(record[c], dict | list)
                    else record[c]
                    for c in columns
                ]
            )
    return columns
