"""Names with ``%``, quotes, backslashes, spaces, emoji, past 63 bytes: every path the target writes by.

psycopg2 %-formats every statement run with parameters (``execute_values`` always): a ``%`` in a quoted name
must never reach it as a placeholder. Schema, table and column names are all hostile here, through the
multi-row INSERT, staging COPY straight into the table, the staging merge, hard deletes by key, the
bookkeeping tables (names, rejects, load log), ACTIVATE_VERSION and an overwrite's swap.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql
from target_pipeboard_postgres.connector import pg_identifier

LONG = "a_custom_field_whose_name_runs_on_past_the_sixty_three_bytes_postgres_keeps_"
KEY = "%(id)s"
PROPERTIES = {
    KEY: {"type": "integer"},
    "rate %": {"type": "number"},
    "%s": {"type": "string"},
    "%(x)s": {"type": "string"},
    "100%%": {"type": "string"},
    'quo"te': {"type": "string"},
    "it's": {"type": "string"},
    "back\\slash": {"type": "string"},
    "with space": {"type": "string"},
    "🚀 launch": {"type": "string"},
    LONG + "one": {"type": "string"},
    LONG + "two": {"type": "string"},
}
STREAM = 'deals %s "q" \\ 🚀 %(x)s ' + "é" * 30


@pytest.fixture
def hostile(warehouse) -> Iterator:
    """A warehouse whose schema name is hostile too."""
    schema = f't_{uuid.uuid4().hex[:8]} %s %(y)s "q" 100%'
    yield dataclasses.replace(warehouse, schema=schema)
    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()


def record(i: int, tag: str, **extra) -> dict:
    values = {name: f"{tag}-{name}-{i}" for name in PROPERTIES}
    return {**values, KEY: i, "rate %": i / 2, **extra}


def columns() -> list[str]:
    return [pg_identifier(name) for name in PROPERTIES]


def expected(i: int, tag: str) -> tuple:
    return tuple(record(i, tag)[name] for name in PROPERTIES)


def test_every_write_path_takes_hostile_names(hostile, singer):
    schema = singer.schema(STREAM, {**PROPERTIES, "_sdc_deleted_at": {"type": ["null", "string"]}}, key=[KEY])
    table = pg_identifier(STREAM)
    # multi-row INSERT (below staging_threshold), a new table
    hostile.load([schema, *(singer.record(STREAM, record(i, "a")) for i in range(3))])
    # multi-row INSERT again: an upsert of those keys
    hostile.load([schema, *(singer.record(STREAM, record(i, "b")) for i in range(2))])
    # staging COPY and merge (keys already there), then hard deletes by key in the run's second batch
    at = "2024-01-01T00:00:00Z"
    hostile.load(
        [
            schema,
            *(singer.record(STREAM, record(i, "c")) for i in range(1, 5)),
            singer.record(STREAM, record(0, "c", _sdc_deleted_at=at)),
            singer.record(STREAM, record(4, "c", _sdc_deleted_at=at)),
        ],
        staging_threshold=1,
        batch_size_rows=4,
        hard_delete=True,
    )
    assert hostile.rows(table, columns(), order=KEY) == [expected(i, "c") for i in (1, 2, 3)]
    long_columns = {pg_identifier(LONG + "one"), pg_identifier(LONG + "two")}
    assert len(long_columns) == 2
    assert all(len(name.encode()) <= 63 for name in long_columns)
    # staging COPY straight into a new table; a quarantined record in _pipeboard_rejects
    other = STREAM + " %(other)s"
    hostile.load(
        [
            singer.schema(other, PROPERTIES, key=[KEY]),
            *(singer.record(other, record(i, "d")) for i in range(3)),
            singer.record(other, {**record(9, "d"), "rate %": "not a number"}),
        ],
        staging_threshold=1,
        on_invalid_record="quarantine",
    )
    assert hostile.rows(pg_identifier(other), columns(), order=KEY) == [expected(i, "d") for i in range(3)]
    rejects = hostile.query(
        sql.SQL("SELECT stream, field FROM {}").format(sql.Identifier(hostile.schema, "_pipeboard_rejects"))
    )
    assert rejects == [(other, "rate %")]
    loads = hostile.query(
        sql.SQL("SELECT DISTINCT stream, table_name FROM {} ORDER BY 1").format(
            sql.Identifier(hostile.schema, "_pipeboard_loads")
        )
    )
    assert loads == [(STREAM, table), (other, pg_identifier(other))]


def test_activate_version_and_overwrite_take_hostile_names(hostile, singer):
    table = pg_identifier(STREAM)
    messages = [
        singer.schema(STREAM, PROPERTIES, key=[KEY]),
        {"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 1},
        *(singer.record(STREAM, record(i, "v1"), version=1) for i in range(3)),
        {"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 1},
    ]
    hostile.load(messages, hard_delete=True)
    hostile.load(
        [
            singer.schema(STREAM, PROPERTIES, key=[KEY]),
            *(singer.record(STREAM, record(i, "v2"), version=2) for i in range(1, 3)),
            {"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 2},
        ],
        hard_delete=True,
    )
    assert hostile.rows(table, columns(), order=KEY) == [expected(i, "v2") for i in (1, 2)]
    hostile.load(
        [
            singer.schema(STREAM, PROPERTIES, key=[KEY]),
            *(singer.record(STREAM, record(i, "o")) for i in (5, 6)),
        ],
        load_method="overwrite",
        staging_threshold=1,
    )
    assert hostile.rows(table, columns(), order=KEY) == [expected(i, "o") for i in (5, 6)]
    assert hostile.tables() == {table, "_pipeboard_identifiers", "_pipeboard_rejects", "_pipeboard_loads"}
