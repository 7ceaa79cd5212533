"""The emulator's admin HTTP endpoints under ``/_emulator/`` (no auth; the server listens on loopback only).

``POST mutate`` (JSON body = ``Emulator.mutate`` kwargs), ``GET requests`` (the request log),
``POST requests/clear``, ``POST faults`` (``{"profile": "flaky"|"slow"|"down"|null, "rate"?, "slow_delay_s"?,
"kinds"?, "max_consecutive"?}``), ``GET plan`` / ``POST plan`` (``{"plan"?, "seats"?, "rate_limits"?,
"spend_daily_tokens"?, "reset_daily"?, "gates"?: {path: 402|403}}``), ``GET deleted`` / ``POST deleted``
(``{"list_deleted"?, "purge_after_days"?}``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pipedrive_emulator.faults import FaultProfile, resolve_profile

if TYPE_CHECKING:
    from pipedrive_emulator.server import Emulator


def handle_admin(emulator: Emulator, method: str, name: str, raw_body: bytes) -> tuple[int, dict[str, Any]]:
    """Serve one admin request.

    Args:
        emulator: The running emulator.
        method: ``GET`` or ``POST``.
        name: The path after ``/_emulator/``.
        raw_body: The request body (JSON object for POSTs, may be empty).

    Returns:
        (HTTP status, JSON body).
    """
    try:
        body = json.loads(raw_body) if raw_body.strip() else {}
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        handler = _ADMIN.get((method, name.rstrip("/")))
        if handler is None:
            return 404, {"success": False, "error": f"No admin endpoint {method} /_emulator/{name}"}
        return 200, {"success": True, "data": handler(emulator, body)}
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"success": False, "error": str(exc)}


def _mutate(emulator: Emulator, body: dict[str, Any]) -> Any:
    return emulator.mutate(**body)


def _requests(emulator: Emulator, body: dict[str, Any]) -> Any:
    return [record.to_json() for record in emulator.request_log]


def _clear_requests(emulator: Emulator, body: dict[str, Any]) -> Any:
    emulator.clear_log()
    return None


def _faults(emulator: Emulator, body: dict[str, Any]) -> Any:
    name = body.get("profile")
    options = {key: body[key] for key in ("rate", "slow_delay_s", "max_consecutive") if key in body}
    if "kinds" in body:
        options["kinds"] = tuple(body["kinds"])
    profile = FaultProfile(name, **options) if name is not None and options else resolve_profile(name)
    emulator.set_faults(profile)
    return {"profile": name}


def _plan(emulator: Emulator, body: dict[str, Any]) -> Any:
    limiter = emulator.limiter
    if "plan" in body or "seats" in body:
        emulator.set_plan(body.get("plan", limiter.plan), body.get("seats"))
    if "rate_limits" in body:
        emulator.set_rate_limits(bool(body["rate_limits"]))
    if body.get("reset_daily"):
        emulator.reset_daily_budget()
    if "spend_daily_tokens" in body:
        emulator.spend_daily_tokens(int(body["spend_daily_tokens"]))
    if "gates" in body:
        if not isinstance(body["gates"], dict):
            raise TypeError("gates must be a JSON object of path -> 402|403")
        emulator.set_gates(body["gates"])
    return {
        "plan": limiter.plan,
        "seats": limiter.seats,
        "rate_limits": limiter.enforce,
        "burst_limit": limiter.burst_limit,
        "daily_limit": limiter.daily_limit,
        "daily_used": limiter.daily_used,
        "gates": emulator.gates.in_force(),
    }


def _deleted(emulator: Emulator, body: dict[str, Any]) -> Any:
    emulator.set_deleted_behaviour(
        list_deleted=body.get("list_deleted"), purge_after_days=body.get("purge_after_days")
    )
    dataset = emulator.dataset
    return {"list_deleted": dataset.list_deleted, "purge_after_days": dataset.purge_after_days}


_ADMIN = {
    ("POST", "mutate"): _mutate,
    ("GET", "requests"): _requests,
    ("POST", "requests/clear"): _clear_requests,
    ("POST", "faults"): _faults,
    ("GET", "plan"): _plan,
    ("POST", "plan"): _plan,
    ("GET", "deleted"): _deleted,
    ("POST", "deleted"): _deleted,
}
