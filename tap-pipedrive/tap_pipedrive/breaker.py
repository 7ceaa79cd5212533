"""The circuit breaker in front of the Pipedrive API: counts consecutive failed attempts, fails fast."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pybreaker

from tap_pipedrive.errors import CircuitOpen, TransientError
from tap_pipedrive.metrics import TapMetrics


def _replay(failure: TransientError | None) -> None:
    """Hand an attempt's outcome to pybreaker: raise its failure, or return for a success."""
    if failure is not None:
        raise failure


class _StateListener(pybreaker.CircuitBreakerListener):
    """Mirrors breaker state changes into metrics and logs, and notes when the circuit opened."""

    def __init__(self, owner: ApiBreaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        """Record the transition (pybreaker calls this inside its lock)."""
        self._owner.on_state_change(new_state.name)


class ApiBreaker:
    """pybreaker around Pipedrive attempts, without holding its lock while a request is in flight.

    Each attempt's outcome is replayed into the breaker afterwards: a transient failure (5xx, timeout,
    connection error, bad body) counts; a usable answer or a non-retriable 4xx resets the count; a 429 is
    neutral (pacing and the retry policy handle it). ``fail_max`` consecutive failures open the circuit; after
    ``reset_seconds`` one trial attempt may go (half-open): success closes the circuit, failure opens it
    again.

    Args:
        fail_max: Consecutive failed attempts that open the circuit.
        reset_seconds: How long the circuit stays open before a trial attempt.
        metrics: Receives breaker state changes.
        logger: Where the opening is logged.
    """

    def __init__(
        self, fail_max: int, reset_seconds: float, metrics: TapMetrics, logger: logging.Logger
    ) -> None:
        self._metrics = metrics
        self._logger = logger
        self._lock = threading.Lock()
        self._opened_at: datetime | None = None
        self._open_reason = ""
        self._last_endpoint = ""
        self._last_failure = ""
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            exclude=[lambda exc: not isinstance(exc, TransientError)],
            listeners=[_StateListener(self)],
            name="pipedrive-api",
        )

    @property
    def failures_left(self) -> int:
        """Failed attempts still allowed before the circuit opens (1 while half-open, 0 while open)."""
        state = self._breaker.current_state
        if state == pybreaker.STATE_OPEN:
            return 0
        if state == pybreaker.STATE_HALF_OPEN:
            return 1
        return max(0, self._breaker.fail_max - self._breaker.fail_counter)

    @property
    def is_open(self) -> bool:
        """True while the circuit is open (calls fail fast)."""
        return self._breaker.current_state == pybreaker.STATE_OPEN

    def on_state_change(self, state: str) -> None:
        """Note an opening (for the fast-fail message) and update metrics."""
        with self._lock:
            if state == pybreaker.STATE_OPEN:
                self._opened_at = datetime.now(UTC)
                self._open_reason = (
                    f"Pipedrive API failing: {self._breaker.fail_counter} consecutive failed attempts on "
                    f"{self._last_endpoint} (last: {self._last_failure})"
                )
        self._metrics.breaker_state(state == pybreaker.STATE_OPEN)

    def check(self, endpoint: str) -> None:
        """Fail fast while the circuit is open and its reset timeout has not elapsed.

        Raises:
            CircuitOpen: The circuit is open.
        """
        with self._lock:
            opened_at, reason = self._opened_at, self._open_reason
        if not self.is_open or opened_at is None:
            return
        wait = opened_at + timedelta(seconds=self._breaker.reset_timeout) - datetime.now(UTC)
        if wait.total_seconds() > 0:
            raise CircuitOpen(
                f"{reason}; stopping instead of calling {endpoint} while the circuit is open "
                f"(a trial request is allowed in {wait.total_seconds():.0f} s)"
            )

    def record(self, endpoint: str, failure: TransientError | None) -> None:
        """Replay one attempt's outcome into the breaker.

        Args:
            endpoint: Path template of the attempt.
            failure: The attempt's transient failure, or None when the API answered usably.

        Raises:
            CircuitOpen: This failure opened the circuit.
        """
        with self._lock:
            self._last_endpoint = endpoint
            if failure is not None:
                self._last_failure = str(failure)
        try:
            self._breaker.call(_replay, failure)
        except pybreaker.CircuitBreakerError as exc:
            with self._lock:
                reason = self._open_reason
            self._logger.warning("%s; circuit breaker opened", reason)
            raise CircuitOpen(f"{reason}; stopping the sync instead of hammering a failing API") from exc
        except TransientError:
            return
