"""Users' views on loaded tables: a type widening recreates them (views of views, materialized views too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql
from target_pipeboard_postgres.errors import SchemaEvolutionError

NARROW = {"id": {"type": "integer"}, "n": {"type": "integer"}, "note": {"type": "string"}}
WIDE = {"id": {"type": "integer"}, "n": {"type": "string"}, "note": {"type": "string"}}


@pytest.fixture
def bi_role(database_url: str) -> Iterator[str]:
    """A role of the test's own (roles belong to the whole server), dropped afterwards."""
    role = f"bi_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    conn.close()
    yield role
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    conn.close()


def run(warehouse, statement: str, **names: str) -> None:
    """Run DDL as the user would, with {schema} and other names filled in as identifiers."""
    identifiers = {key: sql.Identifier(value) for key, value in {"schema": warehouse.schema, **names}.items()}
    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(statement).format(**identifiers))
    conn.close()


def test_views_views_of_views_and_materialized_views_survive_a_widening(warehouse, singer, bi_role):
    warehouse.load(
        [singer.schema("s", NARROW), *(singer.record("s", {"id": i, "n": i, "note": "a"}) for i in range(3))]
    )
    run(warehouse, "CREATE VIEW {schema}.big_n AS SELECT id, n, note FROM {schema}.s WHERE id > 0")
    run(
        warehouse,
        "CREATE VIEW {schema}.big_n_ids WITH (security_barrier) AS SELECT id, n FROM {schema}.big_n",
    )
    run(
        warehouse,
        "CREATE MATERIALIZED VIEW {schema}.n_by_note AS "
        "SELECT note, count(*) AS c FROM {schema}.s GROUP BY note",
    )
    run(warehouse, "CREATE UNIQUE INDEX n_by_note_note ON {schema}.n_by_note (note)")
    run(warehouse, "COMMENT ON VIEW {schema}.big_n IS 'deals past the first'")
    run(warehouse, "COMMENT ON COLUMN {schema}.big_n.n IS 'the n'")
    run(
        warehouse,
        "GRANT SELECT ON {schema}.big_n, {schema}.big_n_ids, {schema}.n_by_note TO {role}",
        role=bi_role,
    )
    run(warehouse, "ALTER VIEW {schema}.big_n_ids OWNER TO {role}", role=bi_role)
    run(warehouse, "GRANT USAGE ON SCHEMA {schema} TO {role}", role=bi_role)

    warehouse.load([singer.schema("s", WIDE), singer.record("s", {"id": 3, "n": "three", "note": "b"})])

    assert warehouse.column_types("s")["n"] == "text"
    assert warehouse.column_types("big_n")["n"] == "text"
    assert warehouse.query(
        sql.SQL("SELECT id, n FROM {} ORDER BY id").format(sql.Identifier(warehouse.schema, "big_n_ids"))
    ) == [
        (1, "1"),
        (2, "2"),
        (3, "three"),
    ]
    # recreated with its data as of the change (a materialized view is refreshed by its owner, not the load)
    assert warehouse.query(
        sql.SQL("SELECT note, c FROM {}").format(sql.Identifier(warehouse.schema, "n_by_note"))
    ) == [("a", 3)]
    catalog = warehouse.query(
        "SELECT c.relname, pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'), c.reloptions, "
        "has_table_privilege(%s, c.oid, 'SELECT') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname IN ('big_n', 'big_n_ids', 'n_by_note') ORDER BY 1",
        (bi_role, warehouse.schema),
    )
    assert [
        (name, owner == bi_role, comment, options, granted)
        for name, owner, comment, options, granted in catalog
    ] == [
        ("big_n", False, "deals past the first", None, True),
        ("big_n_ids", True, None, ["security_barrier=true"], True),
        ("n_by_note", False, None, None, True),
    ]
    assert warehouse.query(
        "SELECT col_description(to_regclass(quote_ident(%s) || '.big_n'), 2)", (warehouse.schema,)
    ) == [("the n",)]
    assert warehouse.query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'n_by_note'",
        (warehouse.schema,),
    ) == [("n_by_note_note",)]


def test_a_view_that_no_longer_compiles_fails_the_load_naming_it_and_changes_nothing(warehouse, singer):
    warehouse.load([singer.schema("s", NARROW), singer.record("s", {"id": 1, "n": 1, "note": "a"})])
    run(warehouse, "CREATE VIEW {schema}.doubled AS SELECT id, n * 2 AS twice FROM {schema}.s")
    with pytest.raises(SchemaEvolutionError) as failure:
        warehouse.load([singer.schema("s", WIDE), singer.record("s", {"id": 2, "n": "two", "note": "b"})])
    message = str(failure.value)
    assert message.startswith(
        f"Widening {warehouse.schema}.s: n (bigint → text) needs view {warehouse.schema}.doubled"
    )
    assert "operator does not exist: text * integer" in message
    assert message.endswith("Change or drop the view (and recreate it after the load), then rerun")
    assert warehouse.column_types("s")["n"] == "bigint"
    assert warehouse.query(
        sql.SQL("SELECT twice FROM {}").format(sql.Identifier(warehouse.schema, "doubled"))
    ) == [(2,)]
