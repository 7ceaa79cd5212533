"""Deals' field-change histories, kept per deal and served newest first by ``GET /v1/deals/{id}/changelog``.

A deal's history is made up the first time it is needed — when the changelog is asked for, or just before a
mutation changes the deal — from the deal as it is at that moment and a random source of its own (seed, deal
id), so a dataset of 100,000 deals costs nothing until its changelogs are read (``generators.deal_history``).
``mutate`` appends a change for every tracked field it changes (``log_changes``), at the mutation's instant.

Paging follows the spec: ``cursor`` + ``limit`` (default 100, at most 500), ``additional_data.next_cursor``
null on the last page. The cursor is base64 of ``id:<n>`` like the spec's sample (``aWQ6NTQ0``), ``n`` the
position of the next (older) entry, so a cursor stays valid while newer changes are added on top.
"""

from __future__ import annotations

import base64
import binascii
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipedrive_emulator.clock import Clock
from pipedrive_emulator.errors import ApiError, bad_request
from pipedrive_emulator.generators.context import GenContext
from pipedrive_emulator.generators.deal_history import (
    OWNER_KEY,
    Account,
    Step,
    account_of,
    base_history,
    step,
    v1_time,
)

if TYPE_CHECKING:
    from pipedrive_emulator.data import Dataset
    from pipedrive_emulator.routes import Request

TRACKED: tuple[tuple[str, str], ...] = (
    ("pipeline_id", "pipeline_id"),
    ("stage_id", "stage_id"),
    ("status", "status"),
    ("won_time", "won_time"),
    ("lost_time", "lost_time"),
    ("close_time", "close_time"),
    ("lost_reason", "lost_reason"),
    ("value", "value"),
    ("currency", "currency"),
    ("owner_id", OWNER_KEY),
    ("title", "title"),
    ("person_id", "person_id"),
    ("org_id", "org_id"),
    ("expected_close_date", "expected_close_date"),
    ("probability", "probability"),
    ("visible_to", "visible_to"),
    ("label_ids", "label"),
)
"""Deal properties whose changes the changelog records (record key → changelog ``field_key``), in the order
changes made at one instant are logged; custom fields follow, keyed by their hash."""


@dataclass(frozen=True)
class Change:
    """One entry of a deal's changelog: its position (1 = oldest) and what changed."""

    seq: int
    step: Step

    def as_api(self) -> dict[str, Any]:
        """The entry as the API lists it."""
        s = self.step
        return {
            "field_key": s.field_key,
            "old_value": s.old_value,
            "new_value": s.new_value,
            "actor_user_id": s.actor_user_id,
            "time": v1_time(s.epoch),
            "change_source": s.change_source,
            "change_source_user_agent": s.change_source_user_agent,
            "is_bulk_update_flag": s.is_bulk_update_flag,
        }


class DealChangelogs:
    """Every deal's changelog, oldest entry first; made up lazily (see the module docstring)."""

    def __init__(self) -> None:
        self._logs: dict[int, list[Change]] = {}
        self._account: Account | None = None

    def of(self, ds: Dataset, deal_id: int) -> list[Change]:
        """The changelog of a deal in ``ds`` (made up from its current state on first use).

        Raises:
            KeyError: No such deal.
        """
        log = self._logs.get(deal_id)
        if log is None:
            log = self.ensure(ds, ds.records["deals"][deal_id])
        return log

    def ensure(self, ds: Dataset, deal: dict[str, Any]) -> list[Change]:
        """The changelog of ``deal``, made up from the given state of it if the deal has none yet."""
        log = self._logs.get(deal["id"])
        if log is None:
            rng = random.Random(f"{ds.seed}:changelog:{deal['id']}")
            steps = base_history(deal, self.account(ds), rng)
            log = [Change(seq, s) for seq, s in enumerate(steps, start=1)]
            self._logs[deal["id"]] = log
        return log

    def append(self, deal_id: int, steps: list[Step]) -> None:
        """Add changes (already materialised deal; newest last)."""
        log = self._logs[deal_id]
        log.extend(Change(len(log) + offset, s) for offset, s in enumerate(steps, start=1))

    def account(self, ds: Dataset) -> Account:
        """Stages, pipelines and users of ``ds`` (read once; mutations change neither)."""
        if self._account is None:
            now = int(Clock.for_seed(ds.seed).now().timestamp())
            bulk = GenContext(rng=random.Random(0), now=now, deals=0).bulk_update_time
            self._account = account_of(ds.records, bulk)
        return self._account


def snapshot(ds: Dataset) -> dict[int, dict[str, Any]]:
    """Every deal as it is now (shallow copies, custom fields copied too), for ``log_changes``."""
    return {
        deal_id: {**deal, "custom_fields": dict(deal.get("custom_fields") or {})}
        for deal_id, deal in ds.records["deals"].items()
    }


def diff_steps(
    before: dict[str, Any], after: dict[str, Any], epoch: int, rng: random.Random, account: Account
) -> list[Step]:
    """The changelog entries for the tracked fields that differ between two states of a deal."""
    steps = [
        step(rng, account, epoch, key, before.get(name), after.get(name))
        for name, key in TRACKED
        if before.get(name) != after.get(name)
    ]
    old_custom, new_custom = before.get("custom_fields") or {}, after.get("custom_fields") or {}
    for code in sorted(set(old_custom) | set(new_custom)):
        if old_custom.get(code) != new_custom.get(code):
            steps.append(step(rng, account, epoch, code, old_custom.get(code), new_custom.get(code)))
    return steps


def log_changes(ds: Dataset, before: dict[int, dict[str, Any]], epoch: int) -> dict[int, int]:
    """Append to each deal changed since ``before`` the changes it went through, at ``epoch``.

    Returns:
        Deal id → number of entries added.
    """
    logs = ds.changelogs
    account = logs.account(ds)
    added: dict[int, int] = {}
    for deal_id, deal in ds.records["deals"].items():
        old = before.get(deal_id)
        if old is None or old == deal:
            continue
        logs.ensure(ds, old)
        steps = diff_steps(old, deal, epoch, random.Random(f"{ds.seed}:{epoch}:{deal_id}"), account)
        if steps:
            logs.append(deal_id, steps)
            added[deal_id] = len(steps)
    return added


# --------------------------------------------------------------------------------------------- serving


def encode_cursor(position: int) -> str:
    """The cursor of the page that starts at entry ``position`` (1 = oldest)."""
    return base64.urlsafe_b64encode(f"id:{position}".encode()).decode().rstrip("=")


def decode_cursor(text: str, size: int) -> int:
    """The position a cursor names; 400 unless it is one this changelog of ``size`` entries could issue."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        prefix, _, number = raw.partition(":")
        position = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request('Invalid value for "cursor".') from None
    if prefix != "id" or not 1 <= position <= size:
        raise bad_request('Invalid value for "cursor".')
    return position


def serve_changelog(ds: Dataset, request: Request) -> dict[str, Any]:
    """``GET /v1/deals/{id}/changelog``: one page, newest change first."""
    deal_id = int(request.path_params["id"])
    if deal_id not in ds.records["deals"]:
        raise ApiError(404, "Deal not found", "Object was not found.")
    log = ds.changelogs.of(ds, deal_id)
    end = len(log)
    if "cursor" in request.params:
        end = decode_cursor(request.params["cursor"], len(log))
    begin = max(0, end - request.params["limit"])
    page = [change.as_api() for change in reversed(log[begin:end])]
    return {
        "success": True,
        "data": page,
        "additional_data": {"next_cursor": encode_cursor(begin) if begin > 0 else None},
    }
