"""Model files: reading `models/*.sql`, their header settings and references, and their dependency order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

MATERIALIZATIONS = ("ephemeral", "table")
"""``ephemeral``: a temporary table living for the run; ``table``: built aside and swapped in atomically."""

REFERENCE = re.compile(r"\{\{\s*(source|ref)\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)\s*\}\}")
"""``{{ source('deals') }}`` names a loaded table; ``{{ ref('stg_pipedrive__deals') }}`` another model."""

_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ModelError(ValueError):
    """A model file is malformed, references something unknown, or the references form a cycle."""


@dataclass(frozen=True)
class Model:
    """One SQL model.

    Attributes:
        name: The file name without ``.sql``; also the name of what it builds.
        sql: The SELECT statement, with ``{{ source() }}`` / ``{{ ref() }}`` placeholders.
        materialized: One of ``MATERIALIZATIONS``.
        unique_key: Columns of the primary key given to a ``table`` model, empty for none.
        refs: Models this one reads.
        sources: Loaded tables this one reads.
    """

    name: str
    sql: str
    materialized: str
    unique_key: tuple[str, ...]
    refs: frozenset[str]
    sources: frozenset[str]


def parse_model(name: str, text: str) -> Model:
    """Read one model from its file text.

    The leading ``-- key: value`` comment lines set ``materialized`` (default ``ephemeral``) and
    ``unique_key`` (comma-separated columns). Other leading comments are free text.

    Raises:
        ModelError: The name or a header value is invalid.
    """
    if not _NAME.match(name):
        raise ModelError(f"model name {name!r} must be lower_snake_case")
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        found = _HEADER.match(line)
        if found:
            headers[found.group(1)] = found.group(2)
    materialized = headers.get("materialized", "ephemeral")
    if materialized not in MATERIALIZATIONS:
        raise ModelError(
            f"model {name}: materialized must be one of {MATERIALIZATIONS}, got {materialized!r}"
        )
    unique_key = tuple(part.strip() for part in headers.get("unique_key", "").split(",") if part.strip())
    if unique_key and materialized != "table":
        raise ModelError(f"model {name}: unique_key applies only to materialized: table")
    refs = {found.group(2) for found in REFERENCE.finditer(text) if found.group(1) == "ref"}
    sources = {found.group(2) for found in REFERENCE.finditer(text) if found.group(1) == "source"}
    body = text.strip().rstrip(";").strip()
    return Model(name, body, materialized, unique_key, frozenset(refs), frozenset(sources))


def load_models(folder: Path) -> list[Model]:
    """Every ``*.sql`` model in ``folder``, in an order where each model comes after the ones it references.

    Raises:
        ModelError: A model references an unknown model, or the references form a cycle.
    """
    models = {path.stem: parse_model(path.stem, path.read_text()) for path in sorted(folder.glob("*.sql"))}
    if not models:
        raise ModelError(f"no *.sql models in {folder}")
    graph: dict[str, set[str]] = {}
    for model in models.values():
        unknown = model.refs - models.keys()
        if unknown:
            raise ModelError(f"model {model.name} references unknown model(s) {sorted(unknown)}")
        graph[model.name] = set(model.refs)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ModelError(f"models reference each other in a cycle: {exc.args[1]}") from exc
    return [models[name] for name in order]
