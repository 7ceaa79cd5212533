"""Mutations that move deals through their pipeline between runs: stage moves, wins and losses.

``mutations.mutate`` calls these after its own changes and logs every deal change in the changelog. Each picks
distinct open, editable deals (not deleted, not archived) that this mutation has not touched yet, from a
random source of its own, so adding these kinds left the older ones exactly as they were.
"""

from __future__ import annotations

import random
from typing import Any

from .data import Dataset
from .generators.context import format_date, format_v2

LOST_REASONS = ("Price", "Went with competitor", "No budget", "Timing")


def _open_deals(ds: Dataset, touched: set[int]) -> list[int]:
    return sorted(
        deal_id
        for deal_id, deal in ds.records["deals"].items()
        if deal["status"] == "open" and not deal.get("is_archived") and deal_id not in touched
    )


def _pick(rng: random.Random, pool: list[int], count: int) -> list[int]:
    return sorted(rng.sample(pool, min(count, len(pool))))


def move_stages(ds: Dataset, rng: random.Random, count: int, touched: set[int], now: int) -> list[int]:
    """Move ``count`` open deals to another stage of their pipeline (usually the next one)."""
    live: dict[int, list[int]] = {}
    for stage in sorted(ds.records["stages"].values(), key=lambda s: (s["order_nr"], s["id"])):
        if not stage.get("is_deleted"):
            live.setdefault(stage["pipeline_id"], []).append(stage["id"])
    pool = [
        d for d in _open_deals(ds, touched) if len(live.get(ds.records["deals"][d]["pipeline_id"], ())) > 1
    ]
    chosen = _pick(rng, pool, count)
    stamp = format_v2(now)
    for deal_id in chosen:
        deal = ds.records["deals"][deal_id]
        stages = live[deal["pipeline_id"]]
        here = stages.index(deal["stage_id"]) if deal["stage_id"] in stages else 0
        following = stages[here + 1] if here + 1 < len(stages) and rng.random() < 0.85 else None
        if following is None:
            following = rng.choice([s for s in stages if s != deal["stage_id"]])
        deal.update({"stage_id": following, "stage_change_time": stamp, "update_time": stamp})
    touched.update(chosen)
    return chosen


def close_deals(
    ds: Dataset, rng: random.Random, count: int, status: str, touched: set[int], now: int
) -> list[int]:
    """Mark ``count`` open deals ``won`` or ``lost`` now."""
    chosen = _pick(rng, _open_deals(ds, touched), count)
    stamp, day = format_v2(now), format_date(now)
    for deal_id in chosen:
        deal: dict[str, Any] = ds.records["deals"][deal_id]
        deal.update({"status": status, "close_time": stamp, "local_close_date": day, "update_time": stamp})
        deal.update({f"{status}_time": stamp, f"local_{status}_date": day})
        if status == "lost":
            deal["lost_reason"] = rng.choice(LOST_REASONS)
    touched.update(chosen)
    return chosen
