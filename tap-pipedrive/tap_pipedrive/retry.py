"""Which Pipedrive answers are retried, and how long the retry policy waits before the next attempt."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base

from tap_pipedrive.errors import (
    BudgetExhausted,
    EndpointNotInPlan,
    PipedriveAPIError,
    TokenRejected,
    TransientError,
)

NOT_IN_PLAN_STATUSES = frozenset({402, 403, 404})
"""Statuses meaning "this company cannot use this endpoint" (plan, permission, feature not present)."""

DEFAULT_RATE_LIMIT_WAIT = 2.0
"""Seconds to wait after a 429 that names no reset time: Pipedrive's burst window."""


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers keyed by lower-case name (HTTP header names are case-insensitive)."""
    return {name.lower(): value for name, value in headers.items()}


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """Read an integer header from lower-cased ``headers``; None when absent or not a number."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except (ValueError, OverflowError):
        return None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After``: delta seconds or an HTTP date.

    Args:
        value: The header value, or None.
        now: Current Unix time (for HTTP dates); defaults to ``time.time()``.

    Returns:
        Seconds to wait (never negative), or None when absent or unparseable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def wait_hint(status: int, headers: Mapping[str, str]) -> float:
    """Seconds the server asks us to wait before retrying an answer with ``status``.

    ``Retry-After`` counts for every retriable status; ``x-ratelimit-reset`` only for a 429 (it is on every
    answer, but only a 429 means the window is full). A 429 naming neither waits one burst window.

    Args:
        status: HTTP status of the answer.
        headers: Its headers, keyed by lower-case name.
    """
    retry_after = retry_after_seconds(headers.get("retry-after")) or 0.0
    if status != 429:
        return retry_after
    reset = header_int(headers, "x-ratelimit-reset")
    if reset is None and not retry_after:
        return DEFAULT_RATE_LIMIT_WAIT
    return max(retry_after, float(reset or 0))


def _envelope_text(body: bytes) -> tuple[str | None, str | None]:
    """Pipedrive's ``error`` and ``error_info`` from an error body (None when absent or not JSON)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    error, info = payload.get("error"), payload.get("error_info")
    return (str(error) if error else None, str(info) if info else None)


def check_response(status: int, headers: Mapping[str, str], body: bytes, path: str) -> dict[str, Any]:
    """Classify one answer: return its parsed envelope when usable, else raise what it means.

    Args:
        status: HTTP status.
        headers: Response headers, keyed by lower-case name.
        body: Raw response body.
        path: URL path of the request, for messages (never the query string).

    Returns:
        The parsed JSON envelope of a 2xx answer whose ``success`` is true.

    Raises:
        BudgetExhausted: 429 with ``x-daily-ratelimit-token-remaining: 0`` (the daily budget is spent).
        TransientError: 429, 5xx, or a 2xx whose body is empty, not JSON, or not ``success: true``.
        EndpointNotInPlan: 402, 403, 404.
        TokenRejected: 401.
        PipedriveAPIError: Any other status.
    """
    if status == 429:
        if headers.get("x-daily-ratelimit-token-remaining", "").strip() == "0":
            raise BudgetExhausted(
                f"Pipedrive's daily API token budget is spent (HTTP 429 on {path}, daily tokens remaining "
                "0); stopping cleanly — the next run resumes from the last state after the daily reset"
            )
        raise TransientError("rate_limited", f"HTTP 429 (rate limited) on {path}", wait_hint(status, headers))
    if status >= 500:
        error, _ = _envelope_text(body)
        detail = f": {error}" if error else ""
        raise TransientError("server_error", f"HTTP {status} on {path}{detail}", wait_hint(status, headers))
    if not 200 <= status < 300:
        error, info = _envelope_text(body)
        if status in NOT_IN_PLAN_STATUSES:
            raise EndpointNotInPlan(status, path, error, info)
        if status == 401:
            raise TokenRejected(path, error, info)
        raise PipedriveAPIError(status, path, error, info)
    if not body.strip():
        raise TransientError("empty_body", f"HTTP {status} with an empty body on {path}")
    try:
        payload = json.loads(body)
    except ValueError:
        raise TransientError(
            "invalid_json",
            f"HTTP {status} with a truncated or invalid JSON body ({len(body)} bytes) on {path}",
        ) from None
    if not isinstance(payload, dict) or payload.get("success") is not True:
        error = payload.get("error") if isinstance(payload, dict) else None
        detail = f": {error}" if error else ""
        raise TransientError("unsuccessful", f"HTTP {status} without success: true on {path}{detail}")
    return payload


class HintedBackoff(wait_base):
    """Tenacity wait: exponential backoff with jitter, never shorter than the server's hint.

    Args:
        base: First backoff, seconds (also the jitter range).
        maximum: Cap of the backoff, seconds.
        max_hint: Cap of a server hint, seconds (an absurd ``Retry-After`` must not stall the run for hours).
    """

    def __init__(self, base: float, maximum: float, max_hint: float) -> None:
        self._backoff = wait_exponential_jitter(multiplier=base, max=maximum, jitter=base)
        self._max_hint = max_hint

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        backoff = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        hint = failure.wait_hint if isinstance(failure, TransientError) else 0.0
        return max(backoff, min(hint, self._max_hint))
