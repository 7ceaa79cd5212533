"""Where deals have been: stage visits rebuilt from the changelogs, and the movement statistics endpoint.

``stage_visits`` is the ground truth a deal-history model must reproduce. One visit per stage a deal entered:

* the first stage is the ``old_value`` of the deal's first ``stage_id`` change (the current stage when there
  is none), entered at ``add_time``; each ``stage_id`` change closes the visit (``left_by`` = ``stage``,
  ``next_stage_id`` = its ``new_value``) and opens the next one at the change's time;
* the last visit closes at the first ``status`` change to ``won``/``lost``/``deleted`` made while the deal was
  in that stage (``left_by`` = that status); a deal created closed (no status change: an import) closes at
  its ``won_time``/``lost_time`` (deleted: ``update_time``); a deal still open stays (``exited_at`` None).

``movement_statistics`` (``GET /v1/pipelines/{id}/movement_statistics``) answers for one pipeline and a
period of whole UTC days [``start_date``, ``end_date``], counting only deals owned by ``user_id`` (the token's
user when omitted) and never deleted ones. What Pipedrive computes exactly is not documented; the emulator's
reading of the spec:

* ``movements_between_stages.count``: ``stage_id`` changes into a stage of the pipeline within the period;
* ``new_deals``: deals of the pipeline added within the period; ``won_deals``/``lost_deals``: deals of the
  pipeline won/lost within it; ``deals_left_open``: deals of the pipeline added before the period's end and
  not won or lost by then ("of the pipeline" = its current ``pipeline_id``);
* ``average_age_in_days``: over the visits to the pipeline's stages that ended by a move to another stage
  within the period, the mean of (exit - entry) in days per stage (``by_stages``) and over all of them
  (``across_all_stages``), rounded half up to whole days.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipedrive_emulator.errors import ApiError, bad_request
from pipedrive_emulator.generators.deal_history import epoch_of

if TYPE_CHECKING:
    from pipedrive_emulator.data import Dataset
    from pipedrive_emulator.routes import Request

CLOSING = ("won", "lost", "deleted")
DAY_SECONDS = 86_400


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def deal_visits(ds: Dataset, deal_id: int) -> list[dict[str, Any]]:
    """The stage visits of one deal, in order (see the module docstring)."""
    deal = ds.records["deals"][deal_id]
    log = ds.changelogs.of(ds, deal_id)
    stage_pipeline = ds.changelogs.account(ds).stage_pipeline
    moves = [c.step for c in log if c.step.field_key == "stage_id"]
    current = int(moves[0].old_value) if moves and moves[0].old_value else deal["stage_id"]
    entered = epoch_of(deal["add_time"]) or 0
    visits: list[dict[str, Any]] = []

    def visit(stage: int, start: int, end: int | None, left_by: str | None, following: int | None) -> None:
        visits.append(
            {
                "deal_id": deal_id,
                "pipeline_id": stage_pipeline.get(stage),
                "stage_id": stage,
                "entered_at": _at(start),
                "exited_at": _at(end) if end is not None else None,
                "left_by": left_by,
                "next_stage_id": following,
            }
        )

    for move in moves:
        following = int(move.new_value) if move.new_value else None
        visit(current, entered, move.epoch, "stage", following)
        if following is None:
            return visits
        current, entered = following, move.epoch
    closing = next(
        (
            c.step
            for c in log
            if c.step.field_key == "status" and c.step.new_value in CLOSING and c.step.epoch >= entered
        ),
        None,
    )
    if closing is not None:
        visit(current, entered, closing.epoch, closing.new_value, None)
    elif deal["status"] in CLOSING and not any(c.step.field_key == "status" for c in log):
        closed = deal.get({"won": "won_time", "lost": "lost_time"}.get(deal["status"], "update_time"))
        visit(current, entered, max(entered, epoch_of(closed) or entered), deal["status"], None)
    else:
        visit(current, entered, None, None, None)
    return visits


def stage_visits(ds: Dataset, deal_id: int | None = None) -> list[dict[str, Any]]:
    """Stage visits of one deal, or of every deal ordered by deal id then entry."""
    ids = [deal_id] if deal_id is not None else sorted(ds.records["deals"])
    return [v for one in ids for v in deal_visits(ds, one)]


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _summary(deals: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, float] = defaultdict(float)
    for deal in deals:
        values[deal["currency"]] += float(deal["value"] or 0)
    amounts = {code: int(v) if float(v).is_integer() else round(v, 2) for code, v in sorted(values.items())}
    return {
        "count": len(deals),
        "deals_ids": sorted(d["id"] for d in deals),
        "values": amounts,
        "formatted_values": {code: f"{code} {amount:,}" for code, amount in amounts.items()},
    }


def movement_statistics(
    ds: Dataset, pipeline_id: int, start_date: date, end_date: date, user_id: int | None = None
) -> dict[str, Any]:
    """The ``data`` object of ``/v1/pipelines/{id}/movement_statistics`` (see the module docstring)."""
    owner = ds.company["me_user_id"] if user_id is None else user_id
    begin = int(datetime.combine(start_date, datetime.min.time(), UTC).timestamp())
    end = int(datetime.combine(end_date + timedelta(days=1), datetime.min.time(), UTC).timestamp())
    mine = [d for d in ds.records["deals"].values() if d["owner_id"] == owner and d["status"] != "deleted"]
    in_pipeline = [d for d in mine if d["pipeline_id"] == pipeline_id]

    def within(stamp: str | None) -> bool:
        moment = epoch_of(stamp)
        return moment is not None and begin <= moment < end

    def still_open(deal: dict[str, Any]) -> bool:
        added = epoch_of(deal["add_time"]) or 0
        closed = epoch_of(deal.get("won_time") or deal.get("lost_time"))
        return added < end and (closed is None or closed >= end)

    stage_pipeline = ds.changelogs.account(ds).stage_pipeline
    moves = 0
    ages: dict[int, list[float]] = defaultdict(list)
    for deal in mine:
        for change in ds.changelogs.of(ds, deal["id"]):
            s = change.step
            into = int(s.new_value) if s.field_key == "stage_id" and s.new_value else None
            if into is not None and begin <= s.epoch < end and stage_pipeline.get(into) == pipeline_id:
                moves += 1
        for v in deal_visits(ds, deal["id"]):
            left = v["exited_at"]
            moved_out = v["pipeline_id"] == pipeline_id and v["left_by"] == "stage" and left is not None
            if moved_out and begin <= left.timestamp() < end:
                ages[v["stage_id"]].append((left - v["entered_at"]).total_seconds() / DAY_SECONDS)
    every = [age for stage_ages in ages.values() for age in stage_ages]
    return {
        "movements_between_stages": {"count": moves},
        "new_deals": _summary([d for d in in_pipeline if within(d["add_time"])]),
        "deals_left_open": _summary([d for d in in_pipeline if still_open(d)]),
        "won_deals": _summary([d for d in in_pipeline if d["status"] == "won" and within(d.get("won_time"))]),
        "lost_deals": _summary(
            [d for d in in_pipeline if d["status"] == "lost" and within(d.get("lost_time"))]
        ),
        "average_age_in_days": {
            "across_all_stages": _half_up(sum(every) / len(every)) if every else 0,
            "by_stages": [
                {"stage_id": stage, "value": _half_up(sum(a) / len(a))} for stage, a in sorted(ages.items())
            ],
        },
    }


def serve_movement_statistics(ds: Dataset, request: Request) -> dict[str, Any]:
    """``GET /v1/pipelines/{id}/movement_statistics``."""
    pipeline_id = int(request.path_params["id"])
    pipeline = ds.records["pipelines"].get(pipeline_id)
    if pipeline is None or pipeline.get("is_deleted"):
        raise ApiError(404, "Pipeline not found", "Object was not found.")
    params = request.params
    if params["end_date"] < params["start_date"]:
        raise bad_request('"end_date" must not be before "start_date".')
    data = movement_statistics(
        ds, pipeline_id, params["start_date"], params["end_date"], params.get("user_id")
    )
    return {"success": True, "data": data}
