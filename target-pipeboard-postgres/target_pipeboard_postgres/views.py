"""Views users built on a loaded table: captured, dropped and recreated around a change they would block.

Postgres refuses to change the type of a column a view uses, and to drop a table a view reads. Around such a
change (a type widening, the swap of an ``overwrite``) every view that depends on the table — views of those
views included, and materialized views — is captured (definition, options, owner, grants, comments, the
indexes of a materialized view, triggers), dropped, and recreated after the change in the same transaction.
Readers see the views before or after, never without them. A view that no longer compiles after the change
(``text * 2`` once a column became text) fails the transaction with a message naming it.

Materialized views are recreated populated when they were (their query runs again inside the transaction,
as a ``REFRESH`` would) and keep their indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql

from target_pipeboard_postgres import sql as q
from target_pipeboard_postgres.errors import SchemaEvolutionError, one_line
from target_pipeboard_postgres.locks import LOCK_ERRORS

PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"}
)

# Every view depending on the table, directly or through other views; a view comes after all it reads.
_DEPENDENTS = """
WITH RECURSIVE target AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = %s
), dependents(oid, depth) AS (
    SELECT r.ev_class, 1 FROM target
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = target.oid
                    AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> target.oid
    UNION
    SELECT r.ev_class, dependents.depth + 1 FROM dependents
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = dependents.oid
                    AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> dependents.oid
)
SELECT c.oid, n.nspname, c.relname, c.relkind = 'm', pg_get_viewdef(c.oid), coalesce(c.reloptions, '{}'),
       pg_get_userbyid(c.relowner), c.relispopulated, obj_description(c.oid, 'pg_class')
FROM (SELECT oid, max(depth) AS depth FROM dependents GROUP BY oid) AS deps
JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY deps.depth, c.oid
"""
_GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s AND a.grantee <> c.relowner ORDER BY 1, 2
"""
_COLUMN_COMMENTS = """
SELECT a.attname, d.description FROM pg_description d
JOIN pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid
WHERE d.classoid = 'pg_class'::regclass AND d.objoid = %s AND d.objsubid > 0 ORDER BY a.attnum
"""
_INDEXES = "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s ORDER BY indexrelid"
_TRIGGERS = (
    "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal ORDER BY oid"
)


@dataclass(frozen=True)
class DependentView:
    """A view (or materialized view) as it must be recreated."""

    schema: str
    name: str
    materialized: bool
    definition: str
    options: tuple[str, ...]
    owner: str
    populated: bool
    comment: str | None
    grants: tuple[tuple[str, str, bool], ...]  # (grantee, '' for PUBLIC; privilege; with grant option)
    column_comments: tuple[tuple[str, str], ...]
    indexes: tuple[str, ...]
    triggers: tuple[str, ...]

    @property
    def label(self) -> str:
        """``materialized view bi.deal_totals`` / ``view bi.open_deals``."""
        return f"{self.kind.lower()} {self.schema}.{self.name}"

    @property
    def kind(self) -> str:
        """``VIEW`` or ``MATERIALIZED VIEW``."""
        return "MATERIALIZED VIEW" if self.materialized else "VIEW"

    @property
    def identifier(self) -> sql.Identifier:
        """The view's qualified name."""
        return sql.Identifier(self.schema, self.name)


def dependent_views(cur: Any, schema: str, table: str) -> list[DependentView]:
    """Every view that reads the table, directly or through other views, in an order to create them.

    Args:
        cur: A cursor.
        schema: The table's schema.
        table: The table.

    Returns:
        The views, each after the views it reads.
    """
    cur.execute(_DEPENDENTS, (schema, table))
    views = []
    for (
        oid,
        view_schema,
        name,
        materialized,
        definition,
        options,
        owner,
        populated,
        comment,
    ) in cur.fetchall():
        cur.execute(_GRANTS, (oid,))
        grants = tuple((grantee, privilege, grantable) for grantee, privilege, grantable in cur.fetchall())
        cur.execute(_COLUMN_COMMENTS, (oid,))
        column_comments = tuple(cur.fetchall())
        cur.execute(_INDEXES, (oid,))
        indexes = tuple(row[0] for row in cur.fetchall())
        cur.execute(_TRIGGERS, (oid,))
        triggers = tuple(row[0] for row in cur.fetchall())
        views.append(
            DependentView(
                schema=view_schema,
                name=name,
                materialized=materialized,
                definition=definition.strip().rstrip(";"),
                options=tuple(options),
                owner=owner,
                populated=populated,
                comment=comment,
                grants=grants,
                column_comments=column_comments,
                indexes=indexes,
                triggers=triggers,
            )
        )
    return views


def drop_views(cur: Any, views: Sequence[DependentView], change: str) -> None:
    """Drop the views, the ones read by others last — before the change locks the table.

    Each drop takes its view's lock first, as a reader does (view, then table): a reader of a view that
    waits for the table never holds a lock the change is waiting for.

    Args:
        cur: A cursor in the changing transaction.
        views: The dependent views, in creation order.
        change: What needs them gone, for messages.

    Raises:
        SchemaEvolutionError: A view cannot be dropped (not the target's to drop, something else uses it).
    """
    for view in reversed(views):
        statement = sql.SQL("DROP {} {}").format(sql.SQL(view.kind), view.identifier)
        _run(cur, statement, None, view, change, "drop it")


def recreate_views(cur: Any, views: Sequence[DependentView], change: str) -> None:
    """Create the views again as they were (definition, options, data, indexes, comments, grants, owner).

    Args:
        cur: A cursor in the changing transaction, after the change.
        views: The views, in creation order.
        change: What was changed, for messages.

    Raises:
        SchemaEvolutionError: A view does not compile after the change, or cannot be given back its owner.
    """
    cur.execute("SELECT current_user")
    current_user = cur.fetchone()[0]
    for view in views:
        options = (
            sql.SQL(" WITH ({})").format(sql.SQL(", ").join(sql.SQL(option) for option in view.options))
            if view.options
            else sql.SQL("")
        )
        create = sql.SQL("CREATE {} {}{} AS {}").format(
            sql.SQL(view.kind), view.identifier, options, sql.SQL(view.definition)
        )
        if view.materialized:
            create = sql.SQL("{} {}").format(
                create, sql.SQL("WITH DATA" if view.populated else "WITH NO DATA")
            )
        _run(cur, create, None, view, change, "recreate it")
        for statement in (*view.indexes, *view.triggers):
            _run(cur, sql.SQL(statement), None, view, change, "recreate its indexes and triggers")
        if view.comment is not None:
            comment = sql.SQL("COMMENT ON {} {} IS %s").format(sql.SQL(view.kind), view.identifier)
            _run(cur, comment, (view.comment,), view, change, "restore its comment")
        for column, text in view.column_comments:
            comment = sql.SQL("COMMENT ON COLUMN {} IS %s").format(
                sql.Identifier(view.schema, view.name, column)
            )
            _run(cur, comment, (text,), view, change, "restore its column comments")
        for grantee, privilege, grantable in view.grants:
            grant = grant_statement(view.identifier, privilege, grantee, grantable)
            if grant is not None:
                _run(cur, grant, None, view, change, "restore its grants")
        if view.owner != current_user:
            owner = sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(view.kind), view.identifier, sql.Identifier(view.owner)
            )
            _run(cur, owner, None, view, change, f"give it back to its owner {view.owner!r}")


def grant_statement(
    relation: sql.Composable, privilege: str, grantee: str, grantable: bool, column: str = ""
) -> sql.Composed | None:
    """``GRANT privilege [(column)] ON relation TO grantee`` as ``aclexplode`` lists it (None: not a privilege
    a table or view has).

    Args:
        relation: The table or view.
        privilege: E.g. ``SELECT``.
        grantee: A role, or ``''`` for PUBLIC.
        grantable: Whether WITH GRANT OPTION.
        column: A column, for a column privilege.

    Returns:
        The statement.
    """
    if privilege not in PRIVILEGES:
        return None
    return sql.SQL("GRANT {}{} ON {} TO {}{}").format(
        sql.SQL(privilege),
        sql.SQL(" ({})").format(sql.Identifier(column)) if column else sql.SQL(""),
        relation,
        sql.SQL("PUBLIC") if not grantee else sql.Identifier(grantee),
        sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL(""),
    )


def _run(
    cur: Any,
    statement: sql.Composable,
    params: tuple | None,
    view: DependentView,
    change: str,
    action: str,
) -> None:
    """One statement about a view; its failure (other than a lock wait) becomes a message naming the view."""
    try:
        q.execute(cur, statement, params)
    except LOCK_ERRORS:
        raise
    except psycopg2.Error as exc:
        raise SchemaEvolutionError(
            f"{change} needs {view.label} dropped and recreated, but the target could not {action}: "
            f"{one_line(exc)}. Change or drop the view (and recreate it after the load), then rerun"
        ) from exc
