"""Composed statements, rendered against a real connection with as_string()."""

from __future__ import annotations

import psycopg2
import pytest
from target_pipeboard_postgres import sql as q


@pytest.fixture
def conn(database_url):
    connection = psycopg2.connect(database_url)
    yield connection
    connection.close()


def test_merge_quotes_every_identifier_and_updates_only_non_key_columns(conn):
    statement = q.merge_from_staging('s"x', "deals", "stg", ["id", 'na"me', "select"], ["id"]).as_string(conn)
    assert (
        'INSERT INTO "s""x"."deals" ("id", "na""me", "select") SELECT "id", "na""me", "select" FROM "stg"'
        in (statement)
    )
    assert (
        'ON CONFLICT ("id") DO UPDATE SET "na""me" = EXCLUDED."na""me", "select" = EXCLUDED."select"'
        in statement
    )
    assert '"id" = EXCLUDED' not in statement
    assert "RETURNING (xmax = 0)" in statement


def test_merge_without_key_is_a_plain_append(conn):
    statement = q.merge_from_staging("s", "t", "stg", ["a"], []).as_string(conn)
    assert "ON CONFLICT" not in statement


def test_merge_with_only_key_columns_does_nothing_on_conflict(conn):
    statement = q.merge_from_staging("s", "t", "stg", ["id"], ["id"]).as_string(conn)
    assert 'ON CONFLICT ("id") DO NOTHING' in statement


def test_create_table_with_types_and_primary_key(conn):
    statement = q.create_table("pipedrive", "a table", [("id", "bigint"), ("when", "timestamptz")], ["id"])
    assert statement.as_string(conn) == (
        'CREATE TABLE IF NOT EXISTS "pipedrive"."a table" '
        '("id" bigint, "when" timestamptz, PRIMARY KEY ("id"))'
    )


def test_widen_casts_or_wraps_in_to_jsonb(conn):
    assert q.widen_column("s", "t", "v", "numeric").as_string(conn) == (
        'ALTER TABLE "s"."t" ALTER COLUMN "v" TYPE numeric USING "v"::numeric'
    )
    assert q.widen_column("s", "t", "v", "jsonb").as_string(conn) == (
        'ALTER TABLE "s"."t" ALTER COLUMN "v" TYPE jsonb USING to_jsonb("v")'
    )


def test_staging_copies_the_target_column_types(conn):
    assert q.create_staging("stg", "s", "t", ["a", "b c"]).as_string(conn) == (
        'CREATE TEMPORARY TABLE "stg" ON COMMIT DROP AS SELECT "a", "b c" FROM "s"."t" WITH NO DATA'
    )
    assert q.copy_into("stg", ["a", "b c"]).as_string(conn) == 'COPY "stg" ("a", "b c") FROM STDIN'


def test_retire_versions_soft_or_hard(conn):
    soft = q.retire_versions("s", "t", hard_delete=False).as_string(conn)
    assert soft.startswith('UPDATE "s"."t" SET "_sdc_deleted_at" = now()')
    hard = q.retire_versions("s", "t", hard_delete=True).as_string(conn)
    assert hard == 'DELETE FROM "s"."t" WHERE ("_sdc_table_version" IS NULL OR "_sdc_table_version" < %s)'


def test_hard_delete_by_key_casts_the_keys_to_the_column_types(conn):
    statement = q.delete_soft_deleted_keys("s", 't"x', [("id", "bigint"), ("a b", "text")]).as_string(conn)
    assert statement == (
        'DELETE FROM "s"."t""x" AS t USING (VALUES %s) AS d ("k0", "k1") '
        'WHERE t."id" = d."k0"::bigint AND t."a b" = d."k1"::text AND t."_sdc_deleted_at" IS NOT NULL'
    )
    with pytest.raises(KeyError):
        q.delete_soft_deleted_keys("s", "t", [("id", "bigint; DROP TABLE x")])
