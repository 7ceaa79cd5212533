"""``overwrite`` is atomic for readers: the old table until the swap commits, then the new one, never half."""

from __future__ import annotations

import json
import signal

import psycopg2
from pipeboard_testkit.processes import wait_until
from psycopg2 import sql
from target_pipeboard_postgres.overwrite import shadow_name

SCHEMA = {"id": {"type": "integer"}, "title": {"type": "string"}}


def ddl(warehouse, statement: str) -> None:
    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(statement).format(schema=sql.Identifier(warehouse.schema)))
    conn.close()


def count(warehouse, table: str) -> int:
    exists = warehouse.query(
        "SELECT to_regclass(quote_ident(%s) || '.' || quote_ident(%s))", (warehouse.schema, table)
    )
    if exists[0][0] is None:
        return 0
    return warehouse.query(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(warehouse.schema, table))
    )[0][0]


def overwritten_so_far(warehouse) -> int:
    """Rows committed by overwrite batches, as the load log tells."""
    return warehouse.query(
        sql.SQL(
            "SELECT coalesce(sum(rows_inserted + rows_updated), 0) FROM {} WHERE load_method = 'overwrite'"
        ).format(sql.Identifier(warehouse.schema, "_pipeboard_loads"))
    )[0][0]


def test_readers_see_the_old_table_until_the_swap_then_the_new_one_with_what_users_added(
    warehouse, singer, spawn_target, tmp_path
):
    warehouse.load(
        [singer.schema("s", SCHEMA), *(singer.record("s", {"id": i, "title": "old"}) for i in range(5))]
    )
    ddl(warehouse, "CREATE INDEX by_title ON {schema}.s (title)")
    ddl(warehouse, "COMMENT ON TABLE {schema}.s IS 'deals, loaded'")
    ddl(warehouse, "GRANT SELECT ON {schema}.s TO PUBLIC")
    ddl(warehouse, "CREATE VIEW {schema}.titles AS SELECT id, title FROM {schema}.s")
    ddl(
        warehouse,
        "CREATE FUNCTION {schema}.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
    )
    ddl(
        warehouse,
        "CREATE TRIGGER touched BEFORE UPDATE ON {schema}.s FOR EACH ROW EXECUTE FUNCTION {schema}.touch()",
    )
    config = warehouse.config(load_method="overwrite", batch_size_rows=10, staging_threshold=1)
    shadow = shadow_name("s")

    # A run stopped half-way: the readers never saw anything but the old rows.
    first = spawn_target(config)
    first.send(
        [
            singer.schema("s", SCHEMA),
            *(singer.record("s", {"id": i, "title": "new"}) for i in range(100, 125)),
        ]
    )
    first.send([singer.state({"done": 124})])
    wait_until(lambda: overwritten_so_far(warehouse) >= 20)  # two batches committed (where readers may look)
    assert warehouse.rows("s", ["id", "title"]) == [(i, "old") for i in range(5)]
    assert warehouse.rows("titles", ["id"]) == [(i,) for i in range(5)]
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 143, first.stderr
    assert first.states == []  # STATE of an overwrite comes with the swap
    assert warehouse.rows("s", ["id", "title"]) == [(i, "old") for i in range(5)]

    # The next run drops the leftover shadow, loads anew and swaps at the end.
    data = tmp_path / "run.singer"
    messages = [
        singer.schema("s", SCHEMA),
        *(singer.record("s", {"id": i, "title": "new"}) for i in range(100, 125)),
    ]
    messages.append(singer.state({"done": 124}))
    data.write_text("".join(json.dumps(m) + "\n" for m in messages), encoding="utf-8")
    second = spawn_target(config, input_path=data)
    assert second.wait(timeout=120) == 0, second.stderr
    assert second.states == [{"done": 124}]
    assert warehouse.rows("s", ["id", "title"]) == [(i, "new") for i in range(100, 125)]
    assert warehouse.rows("titles", ["id"]) == [(i,) for i in range(100, 125)]
    assert shadow not in warehouse.tables()
    assert set(
        warehouse.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 's'", (warehouse.schema,)
        )
    ) == {("s_pkey",), ("by_title",)}
    assert warehouse.query(
        "SELECT obj_description(c.oid, 'pg_class'), has_table_privilege('public', c.oid, 'SELECT'), "
        "(SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'touched') "
        "FROM pg_class c WHERE c.oid = to_regclass(quote_ident(%s) || '.s')",
        (warehouse.schema,),
    ) == [("deals, loaded", True, 1)]


def test_a_shadow_left_by_an_interrupted_overwrite_is_dropped_by_the_next_run(warehouse, singer):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "title": "a"})])
    ddl(warehouse, f'CREATE TABLE {{schema}}."{shadow_name("s")}" (id bigint)')  # what a killed run leaves
    warehouse.load([singer.schema("other", SCHEMA), singer.record("other", {"id": 1, "title": "a"})])
    assert shadow_name("s") not in warehouse.tables()
    assert warehouse.rows("s", ["id"]) == [(1,)]


def test_an_overwrite_with_a_changed_key_and_a_new_table_swaps_cleanly(warehouse, singer):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "title": "a"})])
    run = warehouse.load(
        [
            singer.schema("s", SCHEMA, key=["title"]),
            singer.record("s", {"id": 7, "title": "x"}),
            singer.schema("fresh", SCHEMA),
            singer.record("fresh", {"id": 1, "title": "f"}),
            singer.state({"at": 1}),
        ],
        load_method="overwrite",
    )
    assert warehouse.rows("s", ["id", "title"]) == [(7, "x")]
    assert warehouse.rows("fresh", ["id", "title"]) == [(1, "f")]
    keys = warehouse.query(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s AND c.contype = 'p' ORDER BY 2",
        (warehouse.schema,),
    )
    assert [(name, definition) for _, name, definition in keys if name in ("s_pkey", "fresh_pkey")] == [
        ("fresh_pkey", "PRIMARY KEY (id)"),
        ("s_pkey", "PRIMARY KEY (title)"),
    ]
    assert run.states == [{"at": 1}]
    assert not [table for table in warehouse.tables() if table.startswith("_pipeboard_new_")]
