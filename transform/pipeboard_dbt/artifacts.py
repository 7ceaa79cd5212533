"""What a dbt run left in its target folder (run_results.json, sources.json, manifest.json), as plain data."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FRESHNESS_SEVERITY = {"pass": 0, "warn": 1, "error": 2, "runtime error": 3}
"""A source's freshness status as the number pipeboard_transform_source_freshness_status reports."""


@dataclass
class BuildSummary:
    """One ``dbt build`` (or run/test/seed) as its run_results.json tells it.

    Attributes:
        durations: Model or seed name → seconds its build took.
        rows: Model or seed name → rows its main statement wrote (CTAS row count).
        tests: Data-test status (pass, warn, fail, error, skipped) → how many.
        failed: Whether any node errored, failed or was skipped because of that.
    """

    durations: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    tests: Counter[str] = field(default_factory=Counter)
    failed: bool = False


@dataclass(frozen=True)
class SourceFreshness:
    """One loaded table's freshness as ``dbt source freshness`` measured it."""

    table: str
    status: str
    age_seconds: float | None

    @property
    def severity(self) -> int:
        """0 pass, 1 warn, 2 error, 3 the check itself failed."""
        return FRESHNESS_SEVERITY.get(self.status, 3)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON artifact, or None when dbt did not write it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def summarize_run_results(document: dict[str, Any]) -> BuildSummary:
    """Durations, row counts and test outcomes from a run_results.json document."""
    summary = BuildSummary()
    for result in document.get("results", []):
        kind, _, rest = result["unique_id"].partition(".")
        name = rest.split(".", 1)[-1]
        status = result.get("status")
        if status in ("error", "fail", "skipped", "runtime error"):
            summary.failed = True
        if kind == "test":
            summary.tests[status] += 1
        elif kind in ("model", "seed", "snapshot") and status == "success":
            summary.durations[name] = float(result.get("execution_time") or 0.0)
            rows = (result.get("adapter_response") or {}).get("rows_affected")
            if isinstance(rows, int) and rows >= 0:
                summary.rows[name] = rows
    return summary


def summarize_sources(document: dict[str, Any]) -> list[SourceFreshness]:
    """Each checked table's status and age from a sources.json document."""
    found = []
    for result in document.get("results", []):
        table = result["unique_id"].rsplit(".", 1)[-1]
        age = result.get("max_loaded_at_time_ago_in_s")
        found.append(SourceFreshness(table, result.get("status", "runtime error"), age))
    return sorted(found, key=lambda item: item.table)


def freshness_sources(manifest: dict[str, Any], existing_tables: set[str]) -> list[str]:
    """Selectors (``source:pipedrive.deals``) of the sources with a freshness rule whose table exists."""
    selected = []
    for source in manifest.get("sources", {}).values():
        freshness = source.get("freshness") or {}
        rules = (freshness.get("warn_after") or {}, freshness.get("error_after") or {})
        has_rule = any(rule.get("count") for rule in rules)
        if has_rule and source.get("identifier") in existing_tables:
            selected.append(f"source:{source['source_name']}.{source['name']}")
    return sorted(selected)
