"""One transform run: every model built in dependency order inside one transaction, table models swapped in.

Ephemeral models become temporary tables dropped at commit. A ``table`` model is built as ``<name>__new``
(with its primary key), and at the end of the run the old table is dropped and the new one renamed into its
place, keeping the old table's grants. Everything commits at once, so a reader sees either the previous tables
or the new ones, never a half-built or missing table; a failed run changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from pipeboard_transform.models import Model, ModelError, load_models
from pipeboard_transform.render import render
from pipeboard_transform.settings import TransformSettings
from pipeboard_transform.sources import SourceSpec, existing_columns, load_sources, render_source

LOGGER = logging.getLogger(__name__)

SOURCES_FILE = "sources.yml"
BUILD_SUFFIX = "__new"
ROW_COUNT_MODEL = "main_bi"
"""The model whose row count the ``pipeboard_transform_main_bi_rows`` metric reports."""

LOCK_KEY = "pipeboard-transform:{}"
"""Advisory-lock key (per target schema) that keeps two runs from building the same tables at once."""

PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"}
)

GRANTS_QUERY = """
SELECT grantee.rolname, acl.privilege_type
FROM pg_class AS c
CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
LEFT JOIN pg_roles AS grantee ON grantee.oid = acl.grantee
WHERE c.oid = %s::regclass AND acl.grantee <> c.relowner
ORDER BY 1, 2
"""


@dataclass
class RunResult:
    """What a run built.

    Attributes:
        durations: Model name → seconds spent building it, in build order.
        row_counts: Table model name → rows in the swapped-in table.
        missing_sources: Optional source tables that did not exist and were read as empty.
    """

    durations: dict[str, float] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    missing_sources: list[str] = field(default_factory=list)


class Runner:
    """Builds the models of ``settings.models_dir`` in ``settings.target_schema``."""

    def __init__(self, settings: TransformSettings) -> None:
        self.settings = settings
        self.models = load_models(settings.models_dir)
        self.sources = load_sources(settings.models_dir / SOURCES_FILE)
        self._by_name = {model.name: model for model in self.models}
        for model in self.models:
            unknown = model.sources - self.sources.keys()
            if unknown:
                raise ModelError(
                    f"model {model.name} reads source(s) {sorted(unknown)} not in {SOURCES_FILE}"
                )

    def run(self) -> RunResult:
        """Build every model and swap the table models in, all in one transaction."""
        conn = psycopg2.connect(self.settings.database_url)
        try:
            with conn, conn.cursor() as cur:
                result = self._run(conn, cur)
        finally:
            conn.close()
        return result

    def _run(self, conn: connection, cur: cursor) -> RunResult:
        settings = self.settings
        cur.execute("SET LOCAL TIME ZONE 'UTC'")
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY.format(settings.target_schema),))
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.target_schema)))
        tables = existing_columns(conn, settings.source_schema)
        result = RunResult()
        result.missing_sources = sorted(
            name for name in self._used_sources() if name not in tables and not self.sources[name].required
        )
        for name in result.missing_sources:
            LOGGER.info(
                "Source table %s.%s does not exist; reading it as empty", settings.source_schema, name
            )
        for model in self.models:
            started = time.perf_counter()
            self._build(cur, model, tables)
            result.durations[model.name] = time.perf_counter() - started
            LOGGER.info(
                "Built %s (%s) in %.2fs", model.name, model.materialized, result.durations[model.name]
            )
        for model in self.models:
            if model.materialized == "table":
                result.row_counts[model.name] = self._swap(cur, model)
                LOGGER.info(
                    "Swapped in %s.%s: %d rows",
                    settings.target_schema,
                    model.name,
                    result.row_counts[model.name],
                )
        return result

    def _used_sources(self) -> set[str]:
        return {name for model in self.models for name in model.sources}

    def _relation(self, name: str) -> sql.Identifier:
        model = self._by_name[name]
        if model.materialized == "table":
            return sql.Identifier(self.settings.target_schema, name + BUILD_SUFFIX)
        return sql.Identifier("pg_temp", name)

    def _compose(self, model: Model, tables: dict[str, dict[str, str]]) -> sql.Composed:
        def resolve(kind: str, name: str) -> sql.Composable:
            if kind == "ref":
                return self._relation(name)
            spec: SourceSpec = self.sources[name]
            return render_source(spec, self.settings.source_schema, tables)

        return render(model.sql, resolve)

    def _build(self, cur: cursor, model: Model, tables: dict[str, dict[str, str]]) -> None:
        query = self._compose(model, tables)
        relation = self._relation(model.name)
        LOGGER.debug("Model %s:\n%s", model.name, query.as_string(cur))
        if model.materialized == "ephemeral":
            cur.execute(sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS ").format(relation) + query)
            cur.execute(sql.SQL("ANALYZE {}").format(relation))
            return
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(relation))
        cur.execute(sql.SQL("CREATE TABLE {} AS ").format(relation) + query)
        if model.unique_key:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                    relation,
                    sql.Identifier(model.name + BUILD_SUFFIX + "_pkey"),
                    sql.SQL(", ").join(map(sql.Identifier, model.unique_key)),
                )
            )

    def _swap(self, cur: cursor, model: Model) -> int:
        """Replace ``<schema>.<name>`` by the freshly built table; returns its row count."""
        schema = self.settings.target_schema
        built = sql.Identifier(schema, model.name + BUILD_SUFFIX)
        final = sql.Identifier(schema, model.name)
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(built))
        rows = cur.fetchone()[0]
        cur.execute("SELECT to_regclass(%s)", (final.as_string(cur),))
        grants: list[tuple[str, str]] = []
        if cur.fetchone()[0] is not None:
            cur.execute(GRANTS_QUERY, (final.as_string(cur),))
            grants = cur.fetchall()
            cur.execute(sql.SQL("DROP TABLE {}").format(final))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(built, sql.Identifier(model.name)))
        if model.unique_key:
            cur.execute(
                sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                    final,
                    sql.Identifier(model.name + BUILD_SUFFIX + "_pkey"),
                    sql.Identifier(model.name + "_pkey"),
                )
            )
        for role, privilege in grants:
            if privilege not in PRIVILEGES:
                raise ValueError(f"unexpected privilege {privilege!r} on {schema}.{model.name}")
            grantee = sql.Identifier(role) if role is not None else sql.SQL("PUBLIC")
            cur.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privilege), final, grantee))
        return rows
