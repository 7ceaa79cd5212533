"""The emulator's request log: what each API request asked for and how it was answered (never the token)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the emulator saw it.

    Attributes:
        method: HTTP method.
        path: URL path without the query string.
        params: Query parameters (repeated ones joined by commas), ``api_token`` removed.
        status: HTTP status sent; 0 when the connection was reset without an answer.
        token_cost: Tokens charged to the daily budget (0 when the request was refused before charging).
        duration_s: Seconds from receiving the request until its answer was ready (incl. ``slow`` stalls).
        at: Wall-clock receive time, seconds since the epoch.
        fault: The injected fault (``500``, ``502``, ``503``, ``reset``, ``truncated``, ``empty``, ``429``,
            ``slow``), or None for a faithful answer.
    """

    method: str
    path: str
    params: dict[str, str]
    status: int
    token_cost: int
    duration_s: float
    at: float
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only list of RequestRecords."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Add one record."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """Return a copy of every record so far, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
