"""Prometheus metrics of the target: its own registry, pushed to a Pushgateway when one is configured.

Pushes run on a thread of their own: a Pushgateway that is slow, down or silent never slows or stops a
load. The last push (at the end of the run) is waited for at most ``FINAL_PUSH_WAIT_SECONDS``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, push_to_gateway

from target_pipeboard_postgres.stopping import block_stop_signals

JOB = "target-pipeboard-postgres"
PUSH_INTERVAL_SECONDS = 15.0
PUSH_TIMEOUT_SECONDS = 10.0  # one push's HTTP timeout, on the pushing thread
FINAL_PUSH_WAIT_SECONDS = 5.0  # how long the end of a run waits for its last push

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
        self._lock = threading.Lock()
        self._wanted = threading.Event()  # a push is due
        self._pushed = threading.Condition(self._lock)
        self._pushes_done = 0
        self._pushes_asked = 0
        self._final = False
        self._failure_logged = False
        self._pusher: threading.Thread | None = None

    def _ask(self, *, final: bool = False) -> int:
        """Ask the pushing thread for a push; returns the number of the push asked for."""
        with self._lock:
            self._pushes_asked += 1
            self._final = self._final or final
            asked = self._pushes_asked
            if self._pusher is None:
                self._pusher = threading.Thread(
                    target=self._push_loop, name="pipeboard-metrics-push", daemon=True
                )
                self._pusher.start()
        self._wanted.set()
        return asked

    def _push_loop(self) -> None:
        block_stop_signals()
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with self._lock:
                asked, final = self._pushes_asked, self._final
            self.push()
            with self._pushed:
                self._pushes_done = asked
                self._pushed.notify_all()
            if final:
                return

    def push(self) -> None:
        """Push the registry now, on the calling thread (failures are logged once, never raised)."""
        if not self.pushgateway_url:
            return
        self._last_push = time.monotonic()
        try:
            push_to_gateway(
                self.pushgateway_url,
                job=JOB,
                registry=self.registry,
                grouping_key={"instance": socket.gethostname()},
                timeout=PUSH_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # a metrics outage must never fail a load
            with self._lock:
                first, self._failure_logged = not self._failure_logged, True
            if first:
                LOGGER.warning(
                    "Could not push metrics to the Pushgateway (%s); the load goes on, later push "
                    "failures of this run are not logged",
                    type(exc).__name__,
                )

    def push_periodically(self) -> None:
        """Have the pushing thread push when the last push is older than the interval (never waits)."""
        if self.pushgateway_url and time.monotonic() - self._last_push >= PUSH_INTERVAL_SECONDS:
            self._last_push = time.monotonic()
            self._ask()

    def finish(self, *, success: bool) -> None:
        """Count the run's outcome and push a last time, waiting at most ``FINAL_PUSH_WAIT_SECONDS``.

        Args:
            success: Whether the run ended without error.
        """
        self.runs.labels(outcome="success" if success else "failure").inc()
        if success:
            self.last_success.set_to_current_time()
        if not self.pushgateway_url:
            return
        asked = self._ask(final=True)
        with self._pushed:
            done = self._pushed.wait_for(lambda: self._pushes_done >= asked, timeout=FINAL_PUSH_WAIT_SECONDS)
        if not done:
            LOGGER.warning(
                "The Pushgateway did not take the run's last metrics within %d s; the run ends without them",
                FINAL_PUSH_WAIT_SECONDS,
            )
