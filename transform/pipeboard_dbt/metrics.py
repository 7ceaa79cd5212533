"""The transform's Prometheus metrics (catalogued in docs/metrics.md), filled from dbt's artifacts."""

from __future__ import annotations

import logging
import os
import socket
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, push_to_gateway

from pipeboard_dbt.artifacts import BuildSummary, SourceFreshness

JOB = "pipeboard-transform"
ROW_COUNT_MODEL = "main_bi"
PUSH_TIMEOUT_SECONDS = 10
LOGGER = logging.getLogger(__name__)


class TransformMetrics:
    """The metrics of one pipeboard-dbt run."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.duration = Gauge(
            "pipeboard_transform_duration_seconds",
            "Wall time of building each model in the last run (from run_results.json).",
            ["model"],
            registry=self.registry,
        )
        self.main_bi_rows = Gauge(
            "pipeboard_transform_main_bi_rows",
            "Rows in main_bi after the last successful build.",
            registry=self.registry,
        )
        self.runs = Counter(
            "pipeboard_transform_runs",
            "Finished transform runs, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "pipeboard_transform_last_success_timestamp_seconds",
            "Unix time at which the last successful transform finished.",
            registry=self.registry,
        )
        self.data_tests = Gauge(
            "pipeboard_transform_data_tests",
            "Data tests of the last build, by status (pass, warn, fail, error, skipped).",
            ["status"],
            registry=self.registry,
        )
        self.source_age = Gauge(
            "pipeboard_transform_source_age_seconds",
            "Seconds since the loader last wrote a row of each table (dbt source freshness).",
            ["table"],
            registry=self.registry,
        )
        self.source_status = Gauge(
            "pipeboard_transform_source_freshness_status",
            "Freshness of each loaded table: 0 pass, 1 warn, 2 error, 3 the check failed.",
            ["table"],
            registry=self.registry,
        )

    def record_build(self, summary: BuildSummary | None, succeeded: bool) -> None:
        """Record a build's outcome, model durations, main_bi row count and test results."""
        if summary is not None:
            for model, seconds in summary.durations.items():
                self.duration.labels(model=model).set(seconds)
            for status, count in summary.tests.items():
                self.data_tests.labels(status=status).set(count)
            if succeeded and ROW_COUNT_MODEL in summary.rows:
                self.main_bi_rows.set(summary.rows[ROW_COUNT_MODEL])
        self.runs.labels(outcome="success" if succeeded else "failure").inc()
        if succeeded:
            self.last_success.set(time.time())

    def record_freshness(self, results: list[SourceFreshness]) -> None:
        """Record each table's freshness status and age."""
        for result in results:
            self.source_status.labels(table=result.table).set(result.severity)
            if result.age_seconds is not None:
                self.source_age.labels(table=result.table).set(result.age_seconds)

    def push(self, gateway_url: str | None) -> None:
        """Push to ``gateway_url`` grouped by job and instance; a failed or slow push only warns."""
        if not gateway_url:
            return
        instance = os.environ.get("PIPEBOARD_METRICS_INSTANCE") or socket.gethostname()
        try:
            push_to_gateway(
                gateway_url,
                job=JOB,
                registry=self.registry,
                grouping_key={"instance": instance},
                timeout=PUSH_TIMEOUT_SECONDS,
            )
        except OSError as exc:
            LOGGER.warning("Could not push metrics to the Pushgateway at %s: %s", gateway_url, exc)
