"""Endpoints a company cannot use: what its plan does not include, what its user may not see (402/403).

Data-driven, so a new stream's endpoint is gated by adding a line: ``PLAN_GATES`` names, per plan, the path
templates it leaves out and the status Pipedrive answers; ``Gates.set_extra`` adds gates for one account (a
permission the API token's user lacks, a feature switched off, a trial that ended) on top of the plan's.
Paths are written as served, ``/api/v2/deals/installments`` or ``/api/v1/callLogs``; a template such as
``/api/v2/deals/{id}/products`` gates every id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from pipedrive_emulator.errors import error_envelope

PAYMENT_REQUIRED = 402
FORBIDDEN = 403

POST_SALE_PATHS = (
    "/api/v2/projects",
    "/api/v2/projects/archived",
    "/api/v2/projectFields",
    "/api/v2/tasks",
    "/api/v2/boards",
    "/api/v2/phases",
)
"""Projects (Pipedrive's Projects: Premium and Ultimate; a paid add-on below, left out by the emulator)."""
LEGACY_TEAMS_PATHS = ("/api/v1/legacyTeams",)
"""Teams: Premium and Ultimate."""

PLAN_GATES: dict[str, dict[str, int]] = {
    "lite": {
        # v2.yaml GET /deals/installments: "Only available in Growth and above plans."
        "/api/v2/deals/installments": FORBIDDEN,
        **dict.fromkeys(POST_SALE_PATHS + LEGACY_TEAMS_PATHS, FORBIDDEN),
    },
    "growth": {**dict.fromkeys(POST_SALE_PATHS + LEGACY_TEAMS_PATHS, FORBIDDEN)},
    "premium": {},
    "ultimate": {},
}
"""Plan → path template → HTTP status of the answer, for endpoints the plan does not include."""

MESSAGES = {
    PAYMENT_REQUIRED: "Payment required: the company account is not open or its subscription does not cover "
    "this feature.",
    FORBIDDEN: "You do not have permissions to do this.",
}
"""The envelope's ``error`` per status (403: the v1 spec's example text; 402: REFERENCE.md §2's meaning)."""


def canonical_path(path: str) -> str:
    """``/v1/x`` and ``/api/v1/x/`` both become ``/api/v1/x`` (the form gates are written in)."""
    path = path.rstrip("/") or "/"
    if path.startswith("/v1/"):
        return "/api" + path
    return path


def _matcher(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(canonical_path(template)))
    return re.compile(f"^{pattern}$")


def _check(gates: Mapping[str, int]) -> dict[str, int]:
    checked = {}
    for path, status in gates.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"gate path must start with '/', got {path!r}")
        if status not in MESSAGES:
            raise ValueError(f"gate status for {path} must be 402 or 403, got {status!r}")
        checked[canonical_path(path)] = int(status)
    return checked


class Gates:
    """The gates in force: the plan's (``PLAN_GATES``) plus the account's own; thread-safe.

    Args:
        plan: The emulated plan.
        extra: Path template → 402/403 on top of the plan's gates.
    """

    def __init__(self, plan: str, extra: Mapping[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = plan
        self._extra = _check(extra or {})

    def set_plan(self, plan: str) -> None:
        """Follow a plan change."""
        with self._lock:
            self._plan = plan

    def set_extra(self, extra: Mapping[str, int]) -> None:
        """Replace the account's own gates (an empty mapping removes them).

        Raises:
            ValueError: A path that does not start with ``/`` or a status other than 402/403.
        """
        checked = _check(extra)
        with self._lock:
            self._extra = checked

    def in_force(self) -> dict[str, int]:
        """Every gate now: path template → status."""
        with self._lock:
            return {**PLAN_GATES.get(self._plan, {}), **self._extra}

    def status(self, path: str) -> int | None:
        """The status a request for ``path`` is refused with, or None when the company may use it."""
        wanted = canonical_path(path)
        for template, status in self.in_force().items():
            if _matcher(template).match(wanted):
                return status
        return None


def refusal(status: int) -> dict[str, Any]:
    """The error envelope Pipedrive sends with a 402 or 403."""
    return error_envelope(MESSAGES[status])
