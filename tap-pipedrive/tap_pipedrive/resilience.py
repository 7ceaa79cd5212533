"""ApiGuard: every Pipedrive request goes through it — paced, budgeted, retried, circuit-broken, measured."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.exceptions import NameResolutionError, NewConnectionError

from tap_pipedrive.breaker import ApiBreaker
from tap_pipedrive.errors import (
    CircuitOpen,
    EndpointNotInPlan,
    PipedriveAPIError,
    PipedriveUnreachable,
    RetriesExhausted,
    TransientError,
)
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.pacing import BURST_WINDOW_SECONDS, BurstPacer, TokenBudget
from tap_pipedrive.retry import HintedBackoff, check_response, header_int, lower_headers

_TRANSPORT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class ResiliencePolicy:
    """How hard the tap tries, how fast it may go and how much it may spend.

    Attributes:
        max_retries: Retries after the first attempt of one request.
        request_timeout: Connect and read timeout of one attempt, seconds.
        breaker_fail_max: Consecutive failed attempts (any request) that open the circuit breaker.
        breaker_reset_seconds: How long the circuit stays open before one trial attempt.
        token_budget_share: Fraction of the company's daily token budget this run may spend, in (0, 1].
        burst_margin: Requests per burst window left unused below Pipedrive's limit.
        backoff_base_seconds: First retry backoff (doubles per retry, plus up to this much jitter).
        backoff_max_seconds: Cap of the backoff.
        max_server_wait_seconds: Cap of a wait the server asks for (``Retry-After``, ``x-ratelimit-reset``).
        burst_slack_seconds: Added to the 2-second burst window against clock and network skew.
    """

    max_retries: int = 8
    request_timeout: float = 60.0
    breaker_fail_max: int = 5
    breaker_reset_seconds: float = 60.0
    token_budget_share: float = 1.0
    burst_margin: int = 2
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    max_server_wait_seconds: float = 120.0
    burst_slack_seconds: float = 0.05

    def __post_init__(self) -> None:
        checks = {
            "max_retries": self.max_retries >= 0,
            "request_timeout": self.request_timeout > 0,
            "breaker_fail_max": self.breaker_fail_max >= 1,
            "breaker_reset_seconds": self.breaker_reset_seconds > 0,
            "token_budget_share": 0.0 < self.token_budget_share <= 1.0,
            "burst_margin": self.burst_margin >= 0,
            "backoff_base_seconds": self.backoff_base_seconds >= 0,
            "backoff_max_seconds": self.backoff_max_seconds >= self.backoff_base_seconds,
            "max_server_wait_seconds": self.max_server_wait_seconds >= 0,
            "burst_slack_seconds": self.burst_slack_seconds >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"Invalid resilience setting {name}={getattr(self, name)!r}")


def _never_reached_api(exc: requests.RequestException) -> bool:
    """True when the request failed before the API could see it (connect timeout or refused)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (``__cause__``/``__context__``, urllib3's ``reason``, ``args[0]``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            current.args[0] if current.args else None,
        ):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _connection_reason(exc: requests.RequestException) -> str:
    """What stopped a connection, in a few words: DNS, refused, TLS, reset."""
    chain = list(_causes(exc))
    if any(isinstance(e, NameResolutionError | socket.gaierror) for e in chain):
        return "DNS lookup failed"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "TLS certificate not trusted"
    if any(isinstance(e, ssl.SSLError | requests.exceptions.SSLError) for e in chain):
        return "TLS handshake failed"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset"
    return f"connection failed ({type(exc).__name__})"


def host_of(url: str) -> str:
    """``host:port`` of a URL (the port its scheme implies when none is given); never user info or query."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return f"{parts.hostname}:{port}" if parts.hostname else url.split("?", 1)[0]


def _transport_failure(exc: requests.RequestException, url: str, timeout: float) -> TransientError:
    """Describe a transport error by host and path, without the query string (not ours to log).

    Raises:
        PipedriveUnreachable: The server's TLS certificate is not trusted (retrying cannot help).
    """
    host, path = host_of(url), urlsplit(url).path
    if isinstance(exc, requests.Timeout):
        what = f"no answer within {timeout:g} s"
        return TransientError(
            "timeout",
            f"No answer from {host} within {timeout:g} s on {path} ({type(exc).__name__})",
            unreached=(host, what),
        )
    reason = _connection_reason(exc)
    if reason == "TLS certificate not trusted":
        raise PipedriveUnreachable(
            f"Could not reach Pipedrive at {host}: {reason} — check `api_url` "
            "(https://<company>.pipedrive.com) and any proxy in between (REQUESTS_CA_BUNDLE names a "
            "corporate CA)"
        ) from None
    return TransientError(
        "connection_error", f"Could not connect to {host} on {path}: {reason}", unreached=(host, reason)
    )


class ApiGuard:
    """Sends Pipedrive requests under the resilience policy; one per tap run, shared by streams; thread-safe.

    Args:
        policy: Retry, breaker, pacing and budget settings.
        metrics: Where requests, retries, rate limits and breaker state are recorded.
        logger: The tap's logger (never given the token).
    """

    def __init__(self, policy: ResiliencePolicy, metrics: TapMetrics, logger: logging.Logger) -> None:
        self.policy = policy
        self._metrics = metrics
        self._logger = logger
        self._pacer = BurstPacer(
            margin=policy.burst_margin, window=BURST_WINDOW_SECONDS, slack=policy.burst_slack_seconds
        )
        self._budget = TokenBudget(policy.token_budget_share)
        self._breaker = ApiBreaker(policy.breaker_fail_max, policy.breaker_reset_seconds, metrics, logger)
        self._wait = HintedBackoff(
            policy.backoff_base_seconds, policy.backoff_max_seconds, policy.max_server_wait_seconds
        )
        self._lock = threading.Lock()
        self._announced: set[str] = set()
        self.answered = 0
        """Usable answers so far (2xx with ``success: true``)."""
        self.reached = False
        """Whether any request of this run got an HTTP answer (of any status)."""
        self._last_failure: TransientError | None = None

    @property
    def tokens_spent(self) -> int:
        """Tokens this run has spent so far (an upper bound of what Pipedrive charged)."""
        return self._budget.spent

    @property
    def pacer(self) -> BurstPacer:
        """The burst pacer (its learned limit is useful in logs and tests)."""
        return self._pacer

    @property
    def budget(self) -> TokenBudget:
        """This run's token budget."""
        return self._budget

    def send(
        self,
        session: requests.Session,
        request: requests.PreparedRequest,
        *,
        endpoint: str,
        token_cost: int,
    ) -> requests.Response:
        """Send ``request`` until Pipedrive answers it usably.

        Args:
            session: The tap's HTTP session.
            request: The prepared request (token in the ``x-api-token`` header, never in the URL).
            endpoint: Path template for metrics and messages, e.g. ``/api/v2/deals``.
            token_cost: Tokens Pipedrive charges for this operation.

        Returns:
            A 2xx response whose body is a JSON envelope with ``success: true``.

        Raises:
            PipedriveAPIError: A non-retriable 4xx.
            EndpointNotInPlan: 402, 403 or 404.
            BudgetExhausted: This run's token share, or the company's daily budget, is spent.
            CircuitOpen: Too many consecutive failures; the run must stop.
            RetriesExhausted: Still failing after ``max_retries`` retries.
        """
        path = urlsplit(request.url or "").path or endpoint
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            before_sleep=lambda state: self._before_sleep(state, endpoint),
        )
        try:
            return retrying(self._attempt, session, request, endpoint, path, token_cost)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            attempts = exc.last_attempt.attempt_number
            self._raise_if_never_reached(last, f"{attempts} attempts on {path}")
            raise RetriesExhausted(
                f"Pipedrive request to {path} still failing after {attempts} attempts "
                f"(max_retries={self.policy.max_retries}); last error: {last}"
            ) from last
        except CircuitOpen:
            failures = self.policy.breaker_fail_max
            self._raise_if_never_reached(
                self._last_failure, f"{failures} failed attempts in a row, then the circuit breaker stopped"
            )
            raise

    def _raise_if_never_reached(self, failure: BaseException | None, attempts: str) -> None:
        """Say "could not reach Pipedrive at <host>" when no request of this run has had an answer.

        Raises:
            PipedriveUnreachable: Every attempt so far failed before an answer (DNS, refused, TLS, timeout).
        """
        if self.reached or not isinstance(failure, TransientError) or failure.unreached is None:
            return
        host, what = failure.unreached
        raise PipedriveUnreachable(
            f"Could not reach Pipedrive at {host} ({what}; {attempts}) — check `api_url` / `company_domain` "
            "and this machine's network or proxy settings"
        ) from None

    def _attempt(
        self,
        session: requests.Session,
        request: requests.PreparedRequest,
        endpoint: str,
        path: str,
        token_cost: int,
    ) -> requests.Response:
        self._breaker.check(endpoint)
        self._budget.reserve(token_cost)
        self._pacer.acquire()
        settings = session.merge_environment_settings(request.url, {}, None, None, None)
        started = time.perf_counter()
        failure: TransientError | None = None
        charged = token_cost
        try:
            response = session.send(request, timeout=self.policy.request_timeout, **settings)
        except _TRANSPORT_ERRORS as exc:
            failure = _transport_failure(exc, request.url or path, self.policy.request_timeout)
            charged = 0 if _never_reached_api(exc) else token_cost
        seconds = time.perf_counter() - started
        if failure is not None:  # handled outside the except block: the requests error (URL) is not chained
            self._last_failure = failure
            self._budget.refund(token_cost - charged)
            self._metrics.record_request(endpoint, failure.reason, seconds, charged)
            self._breaker.record(endpoint, failure)
            raise failure
        self.reached = True
        headers = lower_headers(response.headers)
        self._observe(headers, endpoint)
        self._metrics.record_request(endpoint, response.status_code, seconds, token_cost)
        try:
            check_response(response.status_code, headers, response.content, path)
        except TransientError as transient:
            if transient.reason != "rate_limited":  # a 429 is neutral: the API is up, pacing handles it
                self._breaker.record(endpoint, transient)
            raise
        except (PipedriveAPIError, EndpointNotInPlan):
            self._breaker.record(endpoint, None)
            raise
        self._breaker.record(endpoint, None)
        with self._lock:
            self.answered += 1
        return response

    def _observe(self, headers: dict[str, str], endpoint: str) -> None:
        """Feed an answer's rate-limit headers to the pacer, the budget and the gauges."""
        self._pacer.observe(headers)
        self._budget.observe(headers)
        self._metrics.set_ratelimit(
            header_int(headers, "x-ratelimit-remaining"),
            header_int(headers, "x-daily-ratelimit-token-remaining"),
            header_int(headers, "x-daily-ratelimit-token-limit"),
        )
        if self._pacer.limit is not None:
            self._announce_once(
                "pacing",
                "Pacing Pipedrive requests to %d per %.2f s (burst limit %d, margin %d)",
                max(1, self._pacer.limit - self.policy.burst_margin),
                BURST_WINDOW_SECONDS + self.policy.burst_slack_seconds,
                self._pacer.limit,
                self.policy.burst_margin,
            )
        if self._budget.allowance is not None:
            self._announce_once(
                "budget",
                "This run may spend %d Pipedrive tokens (token_budget_share %g of the daily %d)",
                self._budget.allowance,
                self.policy.token_budget_share,
                self._budget.daily_limit,
            )
        elif self.policy.token_budget_share < 1.0:
            self._announce_once(
                "no-budget-headers",
                "Pipedrive sent no daily token budget headers on %s; token_budget_share %g cannot be "
                "enforced until it does",
                endpoint,
                self.policy.token_budget_share,
                level=logging.WARNING,
            )

    def _announce_once(self, key: str, message: str, *args: object, level: int = logging.INFO) -> None:
        with self._lock:
            if key in self._announced:
                return
            self._announced.add(key)
        self._logger.log(level, message, *args)

    def _before_sleep(self, state: RetryCallState, endpoint: str) -> None:
        """Count and log a retry before the policy sleeps."""
        outcome = state.outcome
        failure = outcome.exception() if outcome is not None else None
        reason = failure.reason if isinstance(failure, TransientError) else "error"
        self._metrics.record_retry(endpoint, reason)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        self._logger.warning(
            "Retrying %s in %.2f s (attempt %d of %d): %s",
            endpoint,
            wait,
            state.attempt_number + 1,
            self.last_attempt(state.attempt_number),
            failure,
        )

    def last_attempt(self, attempts_made: int) -> int:
        """The attempt of this request the run gives up after, if all fail: the retries' or the breaker's.

        Args:
            attempts_made: Attempts of this request so far (all failed).

        Returns:
            ``max_retries + 1``, or fewer when the breaker opens first (a 429 does not count towards it).
        """
        return min(self.policy.max_retries + 1, attempts_made + self._breaker.failures_left)
