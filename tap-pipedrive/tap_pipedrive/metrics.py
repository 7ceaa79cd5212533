"""The tap's Prometheus metrics (every ``pipeboard_tap_*`` of docs/metrics.md) and Pushgateway pushes."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    push_to_gateway,
)

JOB = "tap-pipedrive"
"""Pushgateway job name of the tap (docs/contracts.md)."""

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Request latency buckets, seconds: from loopback emulator answers to slow pages near the timeout."""

PUSH_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger(__name__)

_ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{24,})$"
)


def endpoint_label(path: str) -> str:
    """Turn a request path into a low-cardinality label: no query string, ids replaced by ``{id}``.

    >>> endpoint_label("/api/v2/deals/42/products?cursor=abc")
    '/api/v2/deals/{id}/products'
    """
    bare = path.split("?", 1)[0].split("#", 1)[0] or "/"
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in bare.split("/"))


def _host_of(url: str) -> str:
    """The host[:port] of a URL, without credentials, for log messages."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


class TapMetrics:
    """Every tap metric in its own CollectorRegistry (plus ProcessCollector), pushed to a Pushgateway if set.

    Pushes go to job ``tap-pipedrive`` grouped by ``instance``: periodically from a daemon thread, at the end
    and on failure (``finish``). A failed push is logged once per run and never raises.

    Args:
        pushgateway_url: Pushgateway address, or None to keep metrics local.
        instance: The ``instance`` grouping label; the hostname when None.
    """

    def __init__(self, pushgateway_url: str | None = None, instance: str | None = None) -> None:
        self.pushgateway_url = pushgateway_url or None
        self.instance = instance or socket.gethostname()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        registry = self.registry
        self.requests = Counter(
            "pipeboard_tap_requests_total",
            "HTTP requests sent to Pipedrive, by endpoint path template and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "pipeboard_tap_request_duration_seconds",
            "Wall time of each Pipedrive request, from send to body read.",
            ["endpoint"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.tokens_spent = Counter(
            "pipeboard_tap_tokens_spent_total",
            "Pipedrive API tokens charged (the documented token cost of each request that reached the API).",
            ["endpoint"],
            registry=registry,
        )
        self.ratelimit_remaining = Gauge(
            "pipeboard_tap_ratelimit_remaining",
            "Requests left in the current 2-second burst window (x-ratelimit-remaining of the last answer).",
            registry=registry,
        )
        self.daily_tokens_remaining = Gauge(
            "pipeboard_tap_daily_tokens_remaining",
            "Tokens left in the company's daily budget "
            "(x-daily-ratelimit-token-remaining of the last response).",
            registry=registry,
        )
        self.daily_tokens_limit = Gauge(
            "pipeboard_tap_daily_tokens_limit",
            "The company's whole daily token budget (x-daily-ratelimit-token-limit of the last response).",
            registry=registry,
        )
        self.rate_limited = Counter(
            "pipeboard_tap_rate_limited_total",
            "Responses with HTTP 429 (burst or daily budget).",
            ["endpoint"],
            registry=registry,
        )
        self.retries = Counter(
            "pipeboard_tap_retries_total",
            "Requests retried, by the reason the retry policy gave.",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.breaker_open = Gauge(
            "pipeboard_tap_circuit_breaker_open",
            "1 while the circuit breaker in front of the API is open, else 0.",
            registry=registry,
        )
        self.breaker_opens = Counter(
            "pipeboard_tap_circuit_breaker_opens_total",
            "Times the circuit breaker opened during the run.",
            registry=registry,
        )
        self.cache_requests = Counter(
            "pipeboard_tap_cache_requests_total",
            "Reference-data cache look-ups, by result (hit, miss, error).",
            ["result"],
            registry=registry,
        )
        self.records = Counter(
            "pipeboard_tap_records_total",
            "RECORD messages written to stdout, by stream.",
            ["stream"],
            registry=registry,
        )
        self.sync_duration = Gauge(
            "pipeboard_tap_sync_duration_seconds",
            "Wall time of the sync so far (final value at the end of the run).",
            registry=registry,
        )
        self.runs = Counter(
            "pipeboard_tap_runs_total",
            "Finished tap runs, by outcome (success, failure).",
            ["outcome"],
            registry=registry,
        )
        self.last_success = Gauge(
            "pipeboard_tap_last_success_timestamp_seconds",
            "Unix time at which the last successful sync finished.",
            registry=registry,
        )
        self.reconciliations = Counter(
            "pipeboard_tap_reconciliations_total",
            "Reconciliation passes (a complete re-read followed by ACTIVATE_VERSION), by stream and outcome "
            "(complete, incomplete).",
            ["stream", "outcome"],
            registry=registry,
        )
        self.deal_history_coverage = Gauge(
            "pipeboard_tap_deal_history_coverage_ratio",
            "Deals whose changes are all read over deals that need them (1 = complete), by deal_history.",
            ["mode"],
            registry=registry,
        )
        self.deal_history_deals = Gauge(
            "pipeboard_tap_deal_history_deals",
            "Deals whose change history is complete or still pending.",
            ["status"],
            registry=registry,
        )
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._is_open = False
        self._push_failed_logged = False
        self._stop = threading.Event()
        self._pusher: threading.Thread | None = None
        self._finished = False

    # ------------------------------------------------------------------------------------------ recording

    def record_request(self, endpoint: str, status: int | str, seconds: float, token_cost: int) -> None:
        """Count one attempt: its status (``timeout``/``connection_error`` when none), latency, token cost."""
        label = endpoint_label(endpoint)
        self.requests.labels(endpoint=label, status=str(status)).inc()
        self.request_duration.labels(endpoint=label).observe(max(0.0, seconds))
        if token_cost > 0:
            self.tokens_spent.labels(endpoint=label).inc(token_cost)
        if str(status) == "429":
            self.rate_limited.labels(endpoint=label).inc()

    def record_retry(self, endpoint: str, reason: str) -> None:
        """Count one retry and why it happened."""
        self.retries.labels(endpoint=endpoint_label(endpoint), reason=reason).inc()

    def record_records(self, stream: str, count: int = 1) -> None:
        """Count RECORD messages written for ``stream``."""
        self.records.labels(stream=stream).inc(count)

    def record_reconciliation(self, stream: str, outcome: str) -> None:
        """Count one reconciliation pass of ``stream``: ``complete`` or ``incomplete``."""
        if outcome not in ("complete", "incomplete"):
            raise ValueError(f"Unknown reconciliation outcome {outcome!r}; expected complete or incomplete")
        self.reconciliations.labels(stream=stream, outcome=outcome).inc()

    def set_ratelimit(
        self, remaining: int | None, daily_remaining: int | None, daily_limit: int | None = None
    ) -> None:
        """Set the burst-window and daily-budget gauges from the last answer (None leaves one unchanged)."""
        if remaining is not None:
            self.ratelimit_remaining.set(remaining)
        if daily_remaining is not None:
            self.daily_tokens_remaining.set(daily_remaining)
        if daily_limit is not None:
            self.daily_tokens_limit.set(daily_limit)

    def set_deal_history(self, mode: str, complete: int, pending: int) -> None:
        """Set the deal-history coverage gauges (the ratio is 1 when no deal needs a history)."""
        needing = complete + pending
        self.deal_history_coverage.labels(mode=mode).set(complete / needing if needing else 1.0)
        self.deal_history_deals.labels(status="complete").set(complete)
        self.deal_history_deals.labels(status="pending").set(pending)

    def cache_result(self, result: str) -> None:
        """Count one cache look-up: ``hit``, ``miss`` or ``error``."""
        if result not in ("hit", "miss", "error"):
            raise ValueError(f"Unknown cache result {result!r}; expected hit, miss or error")
        self.cache_requests.labels(result=result).inc()

    def breaker_state(self, is_open: bool) -> None:
        """Set the breaker gauge; an opening also counts in ``circuit_breaker_opens_total``."""
        with self._lock:
            opened = is_open and not self._is_open
            self._is_open = is_open
        self.breaker_open.set(1 if is_open else 0)
        if opened:
            self.breaker_opens.inc()

    # ------------------------------------------------------------------------------------------ pushing

    def push(self) -> bool:
        """Push the registry to the Pushgateway now; never raises.

        Returns:
            True when pushed, False without a Pushgateway or when the push failed (logged once per run).
        """
        if self.pushgateway_url is None:
            return False
        self.sync_duration.set(time.monotonic() - self._started)
        try:
            push_to_gateway(
                self.pushgateway_url,
                job=JOB,
                registry=self.registry,
                grouping_key={"instance": self.instance},
                timeout=PUSH_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # a metrics outage must never fail a sync
            with self._lock:
                first = not self._push_failed_logged
                self._push_failed_logged = True
            if first:
                logger.warning(
                    "Could not push metrics to the Pushgateway at %s (%s); the sync continues, "
                    "further push failures in this run are not logged",
                    _host_of(self.pushgateway_url),
                    type(exc).__name__,
                )
            return False
        return True

    def start_periodic_push(self, every_seconds: float = 30) -> None:
        """Push every ``every_seconds`` from a daemon thread until ``finish``; no-op without a Pushgateway."""
        if self.pushgateway_url is None or self._pusher is not None:
            return
        if every_seconds <= 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.push()

        self._pusher = threading.Thread(target=loop, name="tap-pipedrive-metrics-push", daemon=True)
        self._pusher.start()

    def finish(self, outcome: str) -> None:
        """Close the run: duration, ``runs_total``, last success time; stop the pusher; push. Never raises.

        Args:
            outcome: ``success`` or ``failure`` (anything else counts as ``failure``).
        """
        try:
            with self._lock:
                if self._finished:
                    return
                self._finished = True
            self._stop.set()
            outcome = outcome if outcome == "success" else "failure"
            self.sync_duration.set(time.monotonic() - self._started)
            self.runs.labels(outcome=outcome).inc()
            if outcome == "success":
                self.last_success.set(time.time())
            pusher = self._pusher
            if pusher is not None:
                pusher.join(timeout=PUSH_TIMEOUT_SECONDS + 1)
            self.push()
        except Exception:  # finishing metrics must never mask the run's own outcome
            logger.warning("Could not finalise the tap's metrics", exc_info=True)
