"""How a source table is read: declared columns cast, absent ones NULL, absent tables empty."""

from __future__ import annotations

import psycopg2
import pytest
from pipeboard_transform.settings import DEFAULT_MODELS_DIR
from pipeboard_transform.sources import SourceError, SourceSpec, load_sources, render_source

SPEC = SourceSpec(name="users", columns={"id": "bigint", "email": "text"})
WIDE = SourceSpec(
    name="deals",
    columns={"id": "bigint", "value": "numeric"},
    required=True,
    keep_all_columns=True,
    exclude_prefixes=("_sdc_",),
    reserved=frozenset({"owner_name"}),
)


@pytest.fixture(scope="module")
def conn(database_url):
    connection = psycopg2.connect(database_url)
    yield connection
    connection.close()


def test_declared_columns_are_cast_and_absent_ones_are_typed_nulls(conn):
    text = render_source(SPEC, "crm", {"users": {"id": "bigint", "name": "text"}}).as_string(conn)

    assert text == '(SELECT s."id"::bigint AS "id", NULL::text AS "email" FROM "crm"."users" AS s)'


def test_a_missing_optional_table_is_an_empty_typed_relation(conn):
    text = render_source(SPEC, "crm", {}).as_string(conn)

    assert text == '(SELECT NULL::bigint AS "id", NULL::text AS "email" WHERE false)'


def test_keep_all_columns_passes_undeclared_ones_through_except_metadata_and_reserved_names(conn):
    present = {"id": "text", "cf_tier": "text", "_sdc_batched_at": "timestamp", "owner_name": "text"}

    text = render_source(WIDE, "crm", {"deals": present}).as_string(conn)

    assert text == (
        '(SELECT s."id"::bigint AS "id", s."cf_tier" AS "cf_tier", s."owner_name" AS "custom_owner_name", '
        'NULL::numeric AS "value" FROM "crm"."deals" AS s)'
    )


def test_json_arrays_stored_as_postgres_arrays_are_read_as_jsonb(conn):
    spec = SourceSpec(name="persons", columns={"emails": "jsonb", "phones": "jsonb"})

    text = render_source(spec, "crm", {"persons": {"emails": "ARRAY", "phones": "text"}}).as_string(conn)

    assert text == (
        '(SELECT to_jsonb(s."emails") AS "emails", s."phones"::jsonb AS "phones" FROM "crm"."persons" AS s)'
    )


def test_a_missing_required_table_is_an_error():
    with pytest.raises(SourceError, match=r"crm\.deals"):
        render_source(WIDE, "crm", {})


def test_the_shipped_sources_file_requires_only_deals():
    specs = load_sources(DEFAULT_MODELS_DIR / "sources.yml")

    assert [name for name, spec in specs.items() if spec.required] == ["deals"]


def test_load_sources_rejects_a_type_that_is_not_a_type_name(tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text("sources:\n  users:\n    columns: {id: 'bigint; DROP TABLE x'}\n")

    with pytest.raises(SourceError, match="invalid type"):
        load_sources(path)
