"""Prometheus metrics of the target: its own registry, pushed to a Pushgateway when one is configured."""

from __future__ import annotations

import logging
import socket
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, push_to_gateway

JOB = "target-pipeboard-postgres"
PUSH_INTERVAL_SECONDS = 15.0

LOGGER = logging.getLogger(__name__)


class TargetMetrics:
    """The metric families of docs/contracts.md ("Metrics", target rows) and their pushing."""

    def __init__(self, pushgateway_url: str | None = None) -> None:
        """Create the registry and metric families.

        Args:
            pushgateway_url: Pushgateway address; None disables pushing.
        """
        self.pushgateway_url = pushgateway_url
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.rows_loaded = Counter(
            "pipeboard_target_rows_loaded",
            "Rows written per table and operation.",
            ["table", "operation"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "pipeboard_target_batch_rows",
            "Rows per committed batch.",
            ["table"],
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
            registry=self.registry,
        )
        self.batch_duration = Histogram(
            "pipeboard_target_batch_duration_seconds",
            "Seconds per batch, DDL to commit.",
            ["table"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "pipeboard_target_rejects", "Records quarantined.", ["table"], registry=self.registry
        )
        self.schema_changes = Counter(
            "pipeboard_target_schema_changes",
            "Table creations, added columns and widened columns.",
            ["table", "kind"],
            registry=self.registry,
        )
        self.runs = Counter(
            "pipeboard_target_runs", "Target runs by outcome.", ["outcome"], registry=self.registry
        )
        self.rows_retired = Counter(
            "pipeboard_target_rows_retired",
            "Rows ACTIVATE_VERSION marked deleted (or deleted, under hard_delete): no longer in the source.",
            ["table"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "pipeboard_target_last_success_timestamp_seconds",
            "Unix time of the last successful run.",
            registry=self.registry,
        )
        self._last_push = 0.0

    def push(self) -> None:
        """Push the registry now (failures are logged, never raised: metrics must not break a load)."""
        if not self.pushgateway_url:
            return
        self._last_push = time.monotonic()
        try:
            push_to_gateway(
                self.pushgateway_url,
                job=JOB,
                registry=self.registry,
                grouping_key={"instance": socket.gethostname()},
            )
        except OSError as exc:
            LOGGER.warning("Could not push metrics to the Pushgateway: %s", exc)

    def push_periodically(self) -> None:
        """Push when the last push is older than the interval."""
        if self.pushgateway_url and time.monotonic() - self._last_push >= PUSH_INTERVAL_SECONDS:
            self.push()

    def finish(self, *, success: bool) -> None:
        """Count the run's outcome and push a last time.

        Args:
            success: Whether the run ended without error.
        """
        self.runs.labels(outcome="success" if success else "failure").inc()
        if success:
            self.last_success.set_to_current_time()
        self.push()
