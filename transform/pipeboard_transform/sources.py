"""Loaded source tables: what the models expect (`models/sources.yml`), what exists, and how each is read.

A source the loader never created (an unselected optional stream) reads as an empty relation with the declared
columns; a declared column the table lacks reads as typed NULLs. So models never depend on which streams ran.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from psycopg2 import sql
from psycopg2.extensions import connection

_TYPE = re.compile(r"^[a-z][a-z0-9 _]*(\(\d+(,\s*\d+)?\))?(\[\])?$")

COLUMNS_QUERY = """
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = %s
ORDER BY table_name, ordinal_position
"""


class SourceError(ValueError):
    """``sources.yml`` is malformed, or a required source table is missing."""


@dataclass(frozen=True)
class SourceSpec:
    """What the models expect of one loaded table.

    Attributes:
        name: The table (= stream) name.
        columns: Declared column → SQL type; present columns are cast to it, absent ones read as NULL of it.
        required: Fail the run when the table does not exist.
        keep_all_columns: Also pass through every undeclared column (e.g. the deals' custom-field columns).
        exclude_prefixes: Undeclared columns starting with one of these are not passed through.
        reserved: Names an undeclared column must not take (the models add columns by these names); such a
            column is passed through as ``custom_<name>``.
    """

    name: str
    columns: Mapping[str, str]
    required: bool = False
    keep_all_columns: bool = False
    exclude_prefixes: tuple[str, ...] = ()
    reserved: frozenset[str] = frozenset()


def load_sources(path: Path) -> dict[str, SourceSpec]:
    """Read ``sources.yml``: ``sources: {table: {columns: {name: type}, required?, keep_all_columns?, ...}}``.

    Raises:
        SourceError: The file is malformed or a column type is not a plain SQL type name.
    """
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("sources")
    if not isinstance(entries, dict) or not entries:
        raise SourceError(f"{path}: expected a non-empty 'sources' mapping")
    specs = {}
    for name, entry in entries.items():
        columns = (entry or {}).get("columns") or {}
        if not isinstance(columns, dict) or not columns:
            raise SourceError(f"{path}: source {name!r} declares no columns")
        for column, type_name in columns.items():
            if not isinstance(type_name, str) or not _TYPE.match(type_name):
                raise SourceError(f"{path}: source {name}.{column} has an invalid type {type_name!r}")
        specs[name] = SourceSpec(
            name=name,
            columns=dict(columns),
            required=bool(entry.get("required", False)),
            keep_all_columns=bool(entry.get("keep_all_columns", False)),
            exclude_prefixes=tuple(entry.get("exclude_prefixes") or ()),
            reserved=frozenset(entry.get("reserved") or ()),
        )
    return specs


def existing_columns(conn: connection, schema: str) -> dict[str, dict[str, str]]:
    """Table (or view) name → {column: information_schema data_type} in column order, for ``schema``."""
    found: dict[str, dict[str, str]] = {}
    with conn.cursor() as cur:
        cur.execute(COLUMNS_QUERY, (schema,))
        for table, column, data_type in cur.fetchall():
            found.setdefault(table, {})[column] = data_type
    return found


def _typed_null(column: str, type_name: str) -> sql.Composable:
    return sql.SQL("NULL::{} AS {}").format(sql.SQL(type_name), sql.Identifier(column))


def _cast(column: str, type_name: str, actual: str) -> sql.Composable:
    if type_name == "jsonb" and actual == "ARRAY":  # a loader that stores JSON arrays as jsonb[]
        return sql.SQL("to_jsonb(s.{}) AS {}").format(sql.Identifier(column), sql.Identifier(column))
    return sql.SQL("s.{}::{} AS {}").format(
        sql.Identifier(column), sql.SQL(type_name), sql.Identifier(column)
    )


def select_list(spec: SourceSpec, present: Mapping[str, str]) -> list[sql.Composable]:
    """The select list reading ``spec`` from a table with columns ``present`` (name → type; aliased ``s``)."""
    items: list[sql.Composable] = []
    if spec.keep_all_columns:
        for column in present:
            if column in spec.columns:
                items.append(_cast(column, spec.columns[column], present[column]))
            elif not column.startswith(spec.exclude_prefixes):
                alias = f"custom_{column}" if column in spec.reserved else column
                items.append(sql.SQL("s.{} AS {}").format(sql.Identifier(column), sql.Identifier(alias)))
        items.extend(_typed_null(c, t) for c, t in spec.columns.items() if c not in present)
        return items
    for column, type_name in spec.columns.items():
        if column in present:
            items.append(_cast(column, type_name, present[column]))
        else:
            items.append(_typed_null(column, type_name))
    return items


def render_source(spec: SourceSpec, schema: str, tables: Mapping[str, Mapping[str, str]]) -> sql.Composable:
    """A parenthesised relation reading ``spec`` from ``schema`` (empty and typed when the table is missing).

    Raises:
        SourceError: The table is missing and ``spec.required``.
    """
    present = tables.get(spec.name)
    if present is None:
        if spec.required:
            raise SourceError(
                f"required source table {schema}.{spec.name} does not exist: "
                f"has the {spec.name} stream been loaded?"
            )
        nulls = [_typed_null(c, t) for c, t in spec.columns.items()]
        return sql.SQL("(SELECT {} WHERE false)").format(sql.SQL(", ").join(nulls))
    return sql.SQL("(SELECT {} FROM {} AS s)").format(
        sql.SQL(", ").join(select_list(spec, present)), sql.Identifier(schema, spec.name)
    )
