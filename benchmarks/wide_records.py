"""Wide Singer records for the memory benchmark: ~4 KB each, 65 columns (30 custom-field-like), arrays.

Shaped like a Pipedrive deal after the tap has flattened its custom fields: 35 standard properties (ids,
timestamps, dates, numbers, booleans, free text, arrays of integers and of objects, a nested object) and 30
custom-field columns named by 40-hex keys as Pipedrive names them (text, numbers, dates, option sets as
arrays). Deterministic (fixed seed); a pool of generated records is reused with a fresh id, so writing a
million records takes seconds rather than minutes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STREAM = "wide_deals"
POOL = 997  # records generated in full; record i reuses pool[i % POOL] with its own id

_TS = {"type": ["string", "null"], "format": "date-time"}
_DATE = {"type": ["string", "null"], "format": "date"}
_INT = {"type": ["integer", "null"]}
_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}
_BOOL = {"type": ["boolean", "null"]}
_INT_ARRAY = {"type": ["array", "null"], "items": {"type": "integer"}}
_OBJ_ARRAY = {"type": ["array", "null"], "items": {"type": "object"}}

STANDARD: dict[str, Any] = {
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
    "label_ids": _INT_ARRAY,
    "origin": _STR,
    "channel": _INT,
    "acv": _NUM,
    "arr": _NUM,
    "description": _STR,
    "emails": _OBJ_ARRAY,
    "phones": _OBJ_ARRAY,
    "participants": _OBJ_ARRAY,
    "followers": _INT_ARRAY,
    "owner": {"type": ["object", "null"]},
}
CUSTOM_KINDS = ("text", "text", "varchar", "double", "monetary", "date", "enum", "set", "address", "phone")
CUSTOM: dict[str, tuple[str, Any]] = {}
for _n in range(30):
    _kind = CUSTOM_KINDS[_n % len(CUSTOM_KINDS)]
    _key = hashlib.sha1(f"custom-{_n}".encode()).hexdigest()  # noqa: S324 - a field key, not security
    _schema = {"double": _NUM, "monetary": _NUM, "date": _DATE, "enum": _INT, "set": _INT_ARRAY}.get(
        _kind, _STR
    )
    CUSTOM[_key] = (_kind, _schema)

PROPERTIES: dict[str, Any] = {**STANDARD, **{key: schema for key, (_, schema) in CUSTOM.items()}}
assert len(PROPERTIES) == 65

SCHEMA_MESSAGE = {
    "type": "SCHEMA",
    "stream": STREAM,
    "schema": {"type": "object", "properties": PROPERTIES},
    "key_properties": ["id"],
}

_WORDS = [
    "renewal",
    "annual",
    "licence",
    "seats",
    "upgrade",
    "onboarding",
    "workshop",
    "support",
    "premium",
    "enterprise",
    "pilot",
    "expansion",
    "contract",
    "review",
    "legal",
    "procurement",
    "budget",
    "approval",
    "quarter",
    "forecast",
    "pipeline",
    "partner",
    "reseller",
    "discount",
    "Zürich",
    "Köln",
    "São",
    "Paulo",
    "Montréal",
    "東京",
]


def _ts(rng: random.Random) -> str:
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def _date(rng: random.Random) -> str:
    return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _custom_value(kind: str, rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return None
    if kind == "text":
        return _text(rng, rng.randint(15, 35))
    if kind == "varchar":
        return _text(rng, 6)
    if kind in ("double", "monetary"):
        return round(rng.uniform(0, 100_000), 2)
    if kind == "date":
        return _date(rng)
    if kind == "enum":
        return rng.randint(1, 40)
    if kind == "set":
        return rng.sample(range(1, 60), rng.randint(1, 6))
    if kind == "address":
        return f"{rng.randint(1, 200)} {rng.choice(_WORDS).title()} Street, {rng.choice(_WORDS).title()}"
    return f"+49 30 {rng.randint(1000000, 9999999)}"


def _record(i: int, rng: random.Random) -> dict[str, Any]:
    won = rng.random() < 0.3
    record: dict[str, Any] = {
        "id": i + 1,
        "title": f"Deal {i}: {_text(rng, 5)}",
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
        "label_ids": rng.sample(range(1, 20), rng.randint(0, 4)),
        "origin": "ManuallyCreated",
        "channel": rng.choice([None, 1, 2]),
        "acv": None,
        "arr": round(rng.uniform(0, 50_000), 2),
        "description": _text(rng, rng.randint(20, 60)),
        "emails": [
            {
                "label": rng.choice(["work", "home"]),
                "value": f"person{rng.randint(1, 99999)}@example.com",
                "primary": n == 0,
            }
            for n in range(rng.randint(1, 3))
        ],
        "phones": [
            {"label": "work", "value": f"+49 30 {rng.randint(1000000, 9999999)}", "primary": n == 0}
            for n in range(rng.randint(1, 2))
        ],
        "participants": [
            {"person_id": rng.randint(1, 40_000), "added_at": _ts(rng), "role": _text(rng, 2)}
            for _ in range(rng.randint(0, 4))
        ],
        "followers": rng.sample(range(1, 50), rng.randint(1, 5)),
        "owner": {
            "id": rng.randint(1, 50),
            "name": _text(rng, 2),
            "email": "owner@example.com",
            "active_flag": True,
        },
    }
    for key, (kind, _) in CUSTOM.items():
        record[key] = _custom_value(kind, rng)
    return record


def records(count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` wide records, ids 1…count (distinct)."""
    rng = random.Random(seed)
    pool = [_record(i, rng) for i in range(min(POOL, count))]
    for i in range(count):
        record = pool[i % POOL]
        record["id"] = i + 1
        yield record


def write_singer(path: Path, count: int, *, seed: int = 7) -> None:
    """A Singer file: SCHEMA, the records, a STATE every 10 000 records and at the end."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(SCHEMA_MESSAGE) + "\n")
        for n, record in enumerate(records(count, seed=seed), start=1):
            out.write('{"type":"RECORD","stream":"' + STREAM + '","record":' + dumps(record) + "}\n")
            if n % 10_000 == 0 or n == count:
                out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: {"n": n}}}}) + "\n")


def write_csv(path: Path, count: int, *, seed: int = 7) -> list[str]:
    """The same records as CSV (objects and arrays as JSON text); returns the column order."""
    columns = list(PROPERTIES)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for record in records(count, seed=seed):
            writer.writerow(
                [
                    ""
                    if (value := record[c]) is None
                    else dumps(value)
                    if isinstance(value, dict | list)
                    else value
                    for c in columns
                ]
            )
    return columns
