"""``overwrite``: a run loads into a shadow table, which replaces the table in one transaction at the end.

Readers see the old table until the swap commits, then the new one — never an empty or half-loaded table,
also when the run fails or is stopped half-way (the shadow table is then left behind and dropped by the next
run). The shadow is made ``LIKE`` the table (columns, defaults, constraints, indexes, comments); at the swap
the table's owner, grants (column grants too), comment, storage options, triggers and row-level security
policies move to it, its indexes get the old names back, and views reading the table are recreated on it
(see :mod:`~target_pipeboard_postgres.views`). A table in a publication is not swapped (the run fails,
naming it): dropping it would silently take it out of logical replication.

A session-level advisory lock marks a shadow table in use, so that two runs never overwrite one table at
once and the clean-up of leftovers never drops the shadow of a run still going.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2.errors
from psycopg2 import sql

from target_pipeboard_postgres import sql as q
from target_pipeboard_postgres.connector import Connector, pg_identifier
from target_pipeboard_postgres.errors import PipeboardError, one_line
from target_pipeboard_postgres.views import dependent_views, drop_views, grant_statement, recreate_views

LOGGER = logging.getLogger(__name__)

SHADOW_PREFIX = "_pipeboard_new_"

_LEFTOVERS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind = 'r' AND starts_with(c.relname, %s) ORDER BY 1
"""
_TABLE = """
SELECT c.oid, pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'), coalesce(c.reloptions, '{}'),
       c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""
_GRANTS = """
SELECT '', CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type,
       a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s AND a.grantee <> c.relowner
UNION ALL
SELECT att.attname, CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type,
       a.is_grantable
FROM pg_attribute att, aclexplode(att.attacl) a
WHERE att.attrelid = %s AND att.attacl IS NOT NULL AND NOT att.attisdropped
ORDER BY 1, 2, 3
"""
_TRIGGERS = (
    "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal ORDER BY oid"
)
_POLICIES = """
SELECT policyname, permissive, roles::text[], cmd, qual, with_check FROM pg_policies
WHERE schemaname = %s AND tablename = %s ORDER BY policyname
"""
_PUBLICATIONS = """
SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = %s
"""
# Each index of the table: name, whether primary, and what makes two indexes the same (kind, columns,
# expressions, predicate) whatever their names and the table's.
_INDEXES = """
SELECT ci.relname, i.indisprimary,
       concat_ws('|', i.indisunique, am.amname,
                 array_to_string(array(SELECT pg_get_indexdef(i.indexrelid, k, true)
                                       FROM generate_series(1, i.indnatts) AS k), ','),
                 pg_get_expr(i.indpred, i.indrelid, true))
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_am am ON am.oid = ci.relam
JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = %s AND t.relname = %s ORDER BY ci.oid
"""


class OverwriteError(PipeboardError):
    """A table ``overwrite`` cannot replace (another run is at it, or it is published)."""


def shadow_name(table: str) -> str:
    """The shadow table of ``table`` (a Postgres name of at most 63 bytes, distinct per table).

    Args:
        table: The table's Postgres name.

    Returns:
        ``_pipeboard_new_<table>``, shortened like any long name.
    """
    return pg_identifier(SHADOW_PREFIX + table)


def _key(schema: str, shadow: str) -> str:
    return f"pipeboard-shadow:{schema}.{shadow}"


def _try_lock(cur: Any, key: str) -> bool:
    cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
    return bool(cur.fetchone()[0])


def _unlock(cur: Any, key: str) -> None:
    cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def start_shadow(connector: Connector, table: str, shadow: str) -> None:
    """Begin an overwrite (in the first batch's transaction): a fresh shadow table, marked in use.

    A shadow left by an interrupted run is dropped first. The shadow is made ``LIKE`` the table when it
    exists; otherwise the caller's ``ensure_table`` creates it.

    Args:
        connector: The DDL helper on the load connection (``session_locks`` tracks the marks held).
        table: The table to replace.
        shadow: Its shadow table's name.

    Raises:
        OverwriteError: Another run is overwriting the same table.
    """
    schema = connector.schema
    key = _key(schema, shadow)
    with connector.conn.cursor() as cur:
        if key not in connector.session_locks:
            if not _try_lock(cur, key):
                raise OverwriteError(
                    f"Table {schema}.{table}: another run is overwriting it (its shadow table {shadow} is in "
                    "use); let that run finish, then rerun"
                )
            connector.session_locks.add(key)
        connector.involved.append((schema, shadow))
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, shadow)))
        if connector.table_state(table).exists:
            cur.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    sql.Identifier(schema, shadow), sql.Identifier(schema, table)
                )
            )


def clean_leftover_shadows(connector: Connector) -> list[str]:
    """Drop shadow tables that no run is using (left by runs that failed or were stopped).

    Args:
        connector: The DDL helper on the load connection.

    Returns:
        The tables dropped.
    """
    schema = connector.schema
    dropped = []
    with connector.conn.cursor() as cur:
        cur.execute(_LEFTOVERS, (schema, SHADOW_PREFIX))
        for (shadow,) in cur.fetchall():
            key = _key(schema, shadow)
            if key in connector.session_locks or not _try_lock(cur, key):
                continue  # a run is loading it
            try:
                connector.involved.append((schema, shadow))
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, shadow)))
            finally:
                _unlock(cur, key)
            dropped.append(shadow)
    return dropped


def swap(connector: Connector, table: str, shadow: str) -> None:
    """Replace ``table`` by its shadow (in the caller's transaction), keeping what users added to the table.

    Args:
        connector: The DDL helper on the load connection.
        table: The table.
        shadow: Its shadow table, loaded.

    Raises:
        OverwriteError: The table is in a publication.
        SchemaEvolutionError: A view on the table cannot be recreated on the new one.
    """
    schema = connector.schema
    live, new = sql.Identifier(schema, table), sql.Identifier(schema, shadow)
    connector.lock(table)
    connector.involved.append((schema, shadow))
    change = f"Replacing {schema}.{table} (load_method overwrite)"
    with connector.conn.cursor() as cur:
        cur.execute(_TABLE, (schema, table))
        found = cur.fetchone()
        views, old_indexes, extras = [], [], None
        if found is not None:
            extras = _table_extras(cur, schema, table, found)
            views = dependent_views(cur, schema, table)
            connector.involved.extend((view.schema, view.name) for view in views)
            old_indexes = _indexes(cur, schema, table)
            drop_views(cur, views, change)
            try:
                cur.execute(sql.SQL("DROP TABLE {}").format(live))
            except psycopg2.errors.DependentObjectsStillExist as exc:
                raise OverwriteError(
                    f"{change}: other objects depend on the table ({one_line(exc)}); drop or change them "
                    "(e.g. a foreign key referencing it), or use load_method upsert, then rerun"
                ) from exc
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, sql.Identifier(table)))
        _rename_indexes(cur, schema, table, old_indexes)
        if extras is not None:
            _restore_extras(cur, live, extras)
        recreate_views(cur, views, change)
        key = _key(schema, shadow)
        if key in connector.session_locks:
            _unlock(cur, key)
            connector.session_locks.discard(key)


def _table_extras(cur: Any, schema: str, table: str, found: tuple) -> dict[str, Any]:
    """What a table carries that ``LIKE`` does not copy."""
    oid, owner, comment, options, row_security, force_row_security = found
    cur.execute(_PUBLICATIONS, (oid,))
    publications = [row[0] for row in cur.fetchall()]
    if publications:
        raise OverwriteError(
            f"Table {schema}.{table} is in publication {', '.join(publications)}: replacing it would take it "
            "out of logical replication; use load_method upsert for it, or remove it from the publication"
        )
    cur.execute(_GRANTS, (oid, oid))
    grants = cur.fetchall()
    cur.execute(_TRIGGERS, (oid,))
    triggers = [row[0] for row in cur.fetchall()]
    cur.execute(_POLICIES, (schema, table))
    policies = cur.fetchall()
    cur.execute("SELECT current_user")
    current_user = cur.fetchone()[0]
    return {
        "owner": owner if owner != current_user else None,
        "comment": comment,
        "options": list(options),
        "row_security": row_security,
        "force_row_security": force_row_security,
        "grants": grants,
        "triggers": triggers,
        "policies": policies,
    }


def _restore_extras(cur: Any, live: sql.Identifier, extras: dict[str, Any]) -> None:
    if extras["comment"] is not None:
        q.execute(cur, sql.SQL("COMMENT ON TABLE {} IS %s").format(live), (extras["comment"],))
    if extras["options"]:
        cur.execute(
            sql.SQL("ALTER TABLE {} SET ({})").format(
                live, sql.SQL(", ").join(sql.SQL(option) for option in extras["options"])
            )
        )
    for column, grantee, privilege, grantable in extras["grants"]:
        grant = grant_statement(live, privilege, grantee, grantable, column)
        if grant is not None:
            cur.execute(grant)
    for trigger in extras["triggers"]:
        cur.execute(sql.SQL(trigger))
    for name, permissive, roles, command, using, check in extras["policies"]:
        parts = [
            sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
                sql.Identifier(name),
                live,
                sql.SQL("PERMISSIVE" if permissive == "PERMISSIVE" else "RESTRICTIVE"),
                sql.SQL(command if command in ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE") else "ALL"),
                sql.SQL(", ").join(
                    sql.SQL("PUBLIC") if role == "public" else sql.Identifier(role) for role in roles
                ),
            )
        ]
        if using is not None:
            parts.append(sql.SQL("USING ({})").format(sql.SQL(using)))
        if check is not None:
            parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(check)))
        cur.execute(sql.SQL(" ").join(parts))
    if extras["row_security"]:
        cur.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(live))
    if extras["force_row_security"]:
        cur.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(live))
    if extras["owner"] is not None:
        cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(live, sql.Identifier(extras["owner"])))


def _indexes(cur: Any, schema: str, table: str) -> list[tuple[str, bool, str]]:
    cur.execute(_INDEXES, (schema, table))
    return [(name, primary, signature) for name, primary, signature in cur.fetchall()]


def _rename_indexes(cur: Any, schema: str, table: str, old: list[tuple[str, bool, str]]) -> None:
    """Give the new table's indexes the names the old table's had (matched by what they index)."""
    unused = list(old)
    old_primary = next((name for name, primary, _ in old if primary), None)  # named for a changed key
    for name, primary, signature in _indexes(cur, schema, table):
        match = next((entry for entry in unused if entry[2] == signature and entry[1] == primary), None)
        if match is not None:
            unused.remove(match)
            wanted = match[0]
        elif primary:
            free = next((entry for entry in unused if entry[0] == old_primary), None)
            if free is not None:
                unused.remove(free)
            wanted = free[0] if free is not None else pg_identifier(f"{table}_pkey")
        else:
            continue
        if wanted == name:
            continue
        cur.execute("SELECT to_regclass(%s) IS NULL", (sql.Identifier(schema, wanted).as_string(cur),))
        if cur.fetchone()[0]:
            cur.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(schema, name), sql.Identifier(wanted)
                )
            )
