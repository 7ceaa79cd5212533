"""The transform's Prometheus metrics: one registry per process, pushed to a Pushgateway when one is set."""

from __future__ import annotations

import logging
import os
import socket

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, push_to_gateway

JOB = "pipeboard-transform"
LOGGER = logging.getLogger(__name__)


class TransformMetrics:
    """The metrics of one transform run (catalogued in ``docs/metrics.md``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.duration = Gauge(
            "pipeboard_transform_duration_seconds",
            "Wall time of building each model in the last run.",
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

    def push(self, gateway_url: str | None) -> None:
        """Push the registry to ``gateway_url`` (grouped by job and instance); a failed push only warns."""
        if not gateway_url:
            return
        instance = os.environ.get("PIPEBOARD_METRICS_INSTANCE") or socket.gethostname()
        try:
            push_to_gateway(gateway_url, job=JOB, registry=self.registry, grouping_key={"instance": instance})
        except OSError as exc:
            LOGGER.warning("Could not push metrics to the Pushgateway at %s: %s", gateway_url, exc)
