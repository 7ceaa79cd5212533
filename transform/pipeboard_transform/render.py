"""Turning a model's SQL text into a composed statement: placeholders become identifiers or relations."""

from __future__ import annotations

from collections.abc import Callable

from psycopg2 import sql

from pipeboard_transform.models import REFERENCE


def render(text: str, resolve: Callable[[str, str], sql.Composable]) -> sql.Composed:
    """Compose ``text``, each ``{{ source('x') }}`` / ``{{ ref('x') }}`` replaced by ``resolve(kind, x)``.

    The text between placeholders is passed through verbatim (it is the model's own trusted SQL).
    """
    parts: list[sql.Composable] = []
    position = 0
    for found in REFERENCE.finditer(text):
        parts.append(sql.SQL(text[position : found.start()]))
        parts.append(resolve(found.group(1), found.group(2)))
        position = found.end()
    parts.append(sql.SQL(text[position:]))
    return sql.Composed(parts)
