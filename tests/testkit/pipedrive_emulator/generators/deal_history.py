"""A deal's past, made up to end exactly in its present: the field changes its changelog lists.

Given a deal as it is now, ``base_history`` invents how it got there: the stages it went through (the last
``stage_id`` change lands on the deal's stage at its ``stage_change_time``; a deal without one never moved),
the status change that closed it (at ``won_time``/``lost_time``; deleted deals at ``update_time``), and a few
value, owner, title and expected-close-date edits whose last new value is the current one. Every change falls
within (``add_time``, ``update_time``]: creating a deal is not a change, so a deal never updated after its
creation second has none. Values are text as the v1 changelog gives them; times are v1 ``YYYY-MM-DD
HH:MM:SS`` (UTC).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .context import DAY, format_date, format_v1, format_v2

SOURCES = (("app", 70), ("mobile", 10), ("api", 15), ("automation", 5))
"""``change_source`` values and their weights (the spec names 'app', 'mobile', 'api', etc.)."""

USER_AGENTS = {
    "app": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36",
    "mobile": "Pipedrive/10.4.1 (iPhone; iOS 17.4)",
    "api": "pipedrive-client-python/2.3",
    "automation": None,
}

OWNER_KEY = "user_id"
"""The changelog names the deal owner by its v1 field key (v2 records call it ``owner_id``)."""

_MOVES = ((1, 45), (2, 30), (3, 17), (4, 8))
"""How many stage changes a deal that moved went through, and how often."""


@dataclass(frozen=True)
class Step:
    """One field change, before it gets its place (sequence number) in the deal's changelog."""

    epoch: int
    field_key: str
    old_value: str | None
    new_value: str | None
    actor_user_id: int
    change_source: str | None
    change_source_user_agent: str | None
    is_bulk_update_flag: bool


@dataclass(frozen=True)
class Account:
    """What a deal's history may refer to: pipelines' live stages in order, stage → pipeline, active users."""

    pipeline_stages: dict[int, list[int]]
    stage_pipeline: dict[int, int]
    users: list[int]
    bulk_update_time: int


def text(value: Any) -> str | None:
    """A record value as the v1 changelog writes it: text, numbers without a spurious ``.0``, lists as
    comma lists, objects as JSON, v2 timestamps in v1 form."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value.endswith("Z"):
        return f"{value[:10]} {value[11:19]}"
    return str(value)


def epoch_of(stamp: str | None) -> int | None:
    """Epoch seconds of a v2 timestamp (None for None)."""
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def step(
    rng: random.Random, account: Account, epoch: int, key: str, old: Any, new: Any, bulk: bool = False
) -> Step:
    """One change by a random active user from a random source."""
    source = rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES])[0]
    agent = USER_AGENTS[source] if rng.random() < 0.9 else None
    return Step(epoch, key, text(old), text(new), rng.choice(account.users), source, agent, bulk)


def _stage_path(rng: random.Random, account: Account, current: int, moves: int) -> list[int]:
    """Stages visited, oldest first, ending at ``current``: mostly forward one stage at a time, sometimes
    skipping ahead or moving back, now and then starting in another pipeline."""
    pipeline = account.pipeline_stages[account.stage_pipeline[current]]
    path = [current]
    for _ in range(moves):
        here = pipeline.index(path[0]) if path[0] in pipeline else 0
        others = [s for s in pipeline if s != path[0]]
        if not others:
            break
        roll = rng.random()
        if roll < 0.75 and here > 0:
            before = pipeline[here - 1]
        elif roll < 0.95 and here > 1:
            before = rng.choice(pipeline[: here - 1])
        else:
            before = rng.choice(others)
        path.insert(0, before)
    foreign = [p for p in account.pipeline_stages if p != account.stage_pipeline[current]]
    if len(path) > 1 and foreign and rng.random() < 0.08:
        path[0] = rng.choice(account.pipeline_stages[rng.choice(foreign)])
    return path


def _times(rng: random.Random, low: int, high: int, count: int) -> list[int]:
    return sorted(rng.randint(low, high) for _ in range(count))


def base_history(deal: dict[str, Any], account: Account, rng: random.Random) -> list[Step]:
    """The changes that led to ``deal``'s current state, oldest first (ties keep the order they happen in).

    Args:
        deal: The deal as the v2 list gives it.
        account: Stages, pipelines and users the history may mention.
        rng: This deal's own random source.

    Returns:
        The steps in chronological order.
    """
    added, updated = epoch_of(deal["add_time"]), epoch_of(deal["update_time"])
    if added is None or updated is None or updated <= added:
        return []
    steps: list[Step] = []
    moved = epoch_of(deal.get("stage_change_time"))
    if moved is not None and moved > added and deal.get("stage_id") in account.stage_pipeline:
        count = rng.choices([m for m, _ in _MOVES], weights=[w for _, w in _MOVES])[0]
        path = _stage_path(rng, account, deal["stage_id"], count)
        times = [*_times(rng, added + 1, moved, len(path) - 2), moved] if len(path) > 1 else []
        for when, old, new in zip(times, path[:-1], path[1:], strict=True):
            old_pipeline, new_pipeline = account.stage_pipeline[old], account.stage_pipeline[new]
            if old_pipeline != new_pipeline:
                steps.append(step(rng, account, when, "pipeline_id", old_pipeline, new_pipeline))
            steps.append(step(rng, account, when, "stage_id", old, new))
    steps.extend(_status_steps(deal, account, rng, updated))
    steps.extend(_edits(deal, account, rng, added, updated))
    steps.sort(key=lambda s: s.epoch)
    return steps


def _status_steps(deal: dict[str, Any], account: Account, rng: random.Random, updated: int) -> list[Step]:
    status = deal.get("status")
    if status == "deleted":
        return [step(rng, account, updated, "status", "open", "deleted")]
    closed = epoch_of(deal.get("won_time") if status == "won" else deal.get("lost_time"))
    if status not in ("won", "lost") or closed is None or closed <= (epoch_of(deal["add_time"]) or 0):
        return []  # created closed (an import): no change to log
    stamp = f"{status}_time"
    out = [
        step(rng, account, closed, "status", "open", status),
        step(rng, account, closed, stamp, None, deal[stamp]),
        step(rng, account, closed, "close_time", None, deal.get("close_time")),
    ]
    if status == "lost" and deal.get("lost_reason"):
        out.append(step(rng, account, closed, "lost_reason", None, deal["lost_reason"]))
    return out


def _edits(
    deal: dict[str, Any], account: Account, rng: random.Random, added: int, updated: int
) -> list[Step]:
    """Value, owner, title and expected-close-date edits; each field's last new value is the current one."""
    out: list[Step] = []
    edits = rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
    olds = [rng.choice((0, rng.randint(100, 250_000))) for _ in range(edits)]
    news = [*olds[1:], deal.get("value")][:edits]
    for when, old, new in zip(_times(rng, added + 1, updated, edits), olds, news, strict=True):
        out.append(step(rng, account, when, "value", old, new))
    bulk = deal["update_time"] == format_v2(account.bulk_update_time)
    if (bulk or rng.random() < 0.15) and len(account.users) > 1:
        before = rng.choice([u for u in account.users if u != deal.get("owner_id")] or account.users)
        when = updated if bulk else rng.randint(added + 1, updated)
        out.append(step(rng, account, when, OWNER_KEY, before, deal.get("owner_id"), bulk=bulk))
    if rng.random() < 0.05:
        out.append(
            step(rng, account, rng.randint(added + 1, updated), "title", "New deal", deal.get("title"))
        )
    if rng.random() < 0.1:
        earlier = format_date(added + rng.randint(1, 90) * DAY)
        out.append(
            step(rng, account, rng.randint(added + 1, updated), "expected_close_date", earlier,
                 deal.get("expected_close_date"))
        )  # fmt: skip
    return out


def account_of(records: dict[str, dict], bulk_update_time: int) -> Account:
    """The Account view of a dataset's pipelines, stages and users."""
    live = sorted(
        (s for s in records["stages"].values() if not s.get("is_deleted")),
        key=lambda s: (s["pipeline_id"], s["order_nr"], s["id"]),
    )
    pipeline_stages: dict[int, list[int]] = {}
    for stage in live:
        pipeline_stages.setdefault(stage["pipeline_id"], []).append(stage["id"])
    users = sorted(u["id"] for u in records["users"].values() if u.get("active_flag"))
    return Account(
        pipeline_stages=pipeline_stages,
        stage_pipeline={s["id"]: s["pipeline_id"] for s in records["stages"].values()},
        users=users,
        bulk_update_time=bulk_update_time,
    )


def v1_time(epoch: int) -> str:
    """The changelog's timestamp form."""
    return format_v1(epoch)
