"""Organisation and targets: roles and their assignments, permission sets and theirs, legacy teams, goals and
their results, lead sources (organization relationships: ``streams_org_relationships.py``).

All of them are small and FULL_TABLE: every run reads them whole under a new table version and ends with
ACTIVATE_VERSION, so whatever Pipedrive no longer lists is marked deleted by the target. Token cost of a run
(token-costs.csv): roles 20; permission sets 20; their assignments nothing when the users stream read every
user in the run (a user's ``role_id`` and ``access[].permission_set_id`` say them), else 10 per role, 20 per
set; legacy teams 20; goals 6 x 20 (one request per assignee type and ``is_active``: without such a filter
Pipedrive returns only the token user's goals); goal results 20 per goal that changed, or that is running and
was last read ``goal_results_refresh_hours`` ago (the others are carried over from state); lead sources 2.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.client import PipedriveStream, rfc3339
from tap_pipedrive.per_parent import ParentRecords, check_parents_readable, iterate_at

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

TEAM_DELETED = deletions.DeletionSignal(flag="deleted_flag", deleted_at=None)
"""Legacy teams: ``deleted_flag`` 1 (a number) marks a deleted team; teams carry no update time."""

_TRUE = (True, 1, "1", "true")


def _as_int(value: Any) -> int | None:
    """v1 counts arrive as strings ("3")."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class ParentStream(PipedriveStream):
    """A stream whose records other streams read per parent: they are kept for them (``per_parent``)."""

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The records, each kept for the child streams; the read is trusted only once it finished."""
        registry = ParentRecords.of(self._tap)
        registry.start(self.name)
        for record in super().read_records(context):
            registry.add(self.name, record)
            yield record
        registry.finish(self.name)


class PerParentStream(PipedriveStream):
    """A FULL_TABLE stream read one request (or more pages) per record of ``parent_stream``."""

    parent_stream: str
    parent_endpoint: api_facts.Endpoint
    parent_key = "id"

    def parents(self) -> list[dict[str, Any]]:
        """The parent stream's records of this run, else (not selected, stopped early) listed here."""
        known = ParentRecords.of(self._tap).read_whole(self.parent_stream)
        if known is not None:
            return known
        check_parents_readable(self, self.parent_endpoint)
        return list(self.client.iterate(self.parent_endpoint))

    def from_users(self, parents: list[dict[str, Any]], users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records as the users list states them (no request), for streams that can say."""
        raise NotImplementedError

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Every parent's records, shaped like any other stream's: from the users the run read whole when the
        stream can derive them (no request at all), else one request (or more pages) per parent."""
        parents = self.parents()
        users = ParentRecords.of(self._tap).read_whole("users")
        if users is not None:
            for raw in self.from_users(parents, users):
                record = self.post_process(raw, context)
                if record is not None:
                    yield record
            return
        for parent in parents:
            path = self.endpoint.path.replace("{id}", str(parent[self.parent_key]))
            for raw in iterate_at(self.client, self.endpoint, path):
                record = self.post_process(self.shape(raw, parent), context)
                if record is not None:
                    yield record

    def shape(self, raw: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
        """One raw record in the stream's shape (default: as given)."""
        return raw


class RolesStream(ParentStream):
    """Roles (visibility/permission hierarchy)."""

    name = "roles"
    endpoint = api_facts.ROLES
    primary_keys = ("id",)
    standard_properties = schemas.properties(
        "id:int parent_role_id:int name:str active_flag:bool assignment_count:int sub_role_count:int "
        "level:int"
    )
    deletion = deletions.INACTIVE
    timestamp_properties = ()

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Counts as numbers."""
        for name in ("assignment_count", "sub_role_count"):
            row[name] = _as_int(row.get(name))
        return super().post_process(row, context)


class RoleAssignmentsStream(PerParentStream):
    """Users assigned to each role: from the users the run read (free), else 10 tokens per role."""

    name = "role_assignments"
    endpoint = api_facts.ROLE_ASSIGNMENTS
    parent_stream = "roles"
    parent_endpoint = api_facts.ROLES
    primary_keys = ("role_id", "user_id")
    standard_properties = schemas.properties(
        "role_id:int user_id:int parent_role_id:int name:str active_flag:bool type:str"
    )
    timestamp_properties = ()

    def shape(self, raw: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
        """The role id from the parent when the answer leaves it out."""
        raw.setdefault("role_id", parent["id"])
        return raw

    def from_users(self, parents: list[dict[str, Any]], users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each user's ``role_id`` (deleted users hold no role)."""
        roles = {role["id"]: role for role in parents}
        return [
            {
                "role_id": user["role_id"],
                "user_id": user["id"],
                "parent_role_id": roles[user["role_id"]].get("parent_role_id"),
                "name": user.get("name"),
                "active_flag": user.get("active_flag"),
                "type": None,
            }
            for user in users
            if not user.get("is_deleted") and user.get("role_id") in roles
        ]


class PermissionSetsStream(ParentStream):
    """Permission sets (the token's user must be an admin: else skipped as refused)."""

    name = "permission_sets"
    endpoint = api_facts.PERMISSION_SETS
    primary_keys = ("id",)
    standard_properties = schemas.properties(
        "id:str name:str description:str app:str type:str assignment_count:int"
    )
    timestamp_properties = ()


class PermissionSetAssignmentsStream(PerParentStream):
    """Users each permission set is assigned to: from the users the run read, else 20 tokens a set."""

    name = "permission_set_assignments"
    endpoint = api_facts.PERMISSION_SET_ASSIGNMENTS
    parent_stream = "permission_sets"
    parent_endpoint = api_facts.PERMISSION_SETS
    primary_keys = ("permission_set_id", "user_id")
    standard_properties = schemas.properties("permission_set_id:str user_id:int name:str")
    timestamp_properties = ()

    def shape(self, raw: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
        """The set id from the parent when the answer leaves it out."""
        raw.setdefault("permission_set_id", parent["id"])
        return raw

    def from_users(self, parents: list[dict[str, Any]], users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each user's ``access[].permission_set_id`` (one per app; deleted users hold none)."""
        names = {pset["id"]: pset.get("name") for pset in parents}
        return [
            {
                "permission_set_id": access["permission_set_id"],
                "user_id": user["id"],
                "name": names[access["permission_set_id"]],
            }
            for user in users
            if not user.get("is_deleted")
            for access in user.get("access") or ()
            if isinstance(access, dict) and access.get("permission_set_id") in names
        ]


class LegacyTeamsStream(PipedriveStream):
    """Legacy teams with their member user ids (``users``), in one request (deprecated v1 endpoint)."""

    name = "legacy_teams"
    endpoint = api_facts.LEGACY_TEAMS
    primary_keys = ("id",)
    standard_properties = schemas.properties(
        "id:int name:str description:str manager_id:int users:ints active_flag:bool deleted_flag:bool "
        "add_time:dt created_by_user_id:int"
    )
    deletion = TEAM_DELETED
    timestamp_properties = ("add_time",)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """0/1 flags as booleans (the deletion mark reads them first)."""
        row = super().post_process(row, context) or row
        for name in ("active_flag", "deleted_flag"):
            row[name] = row.get(name) in _TRUE if row.get(name) is not None else None
        return row


GOAL_PROPERTIES = schemas.properties(
    "id:str owner_id:int title:str type_name:str type_params:obj pipeline_ids:ints activity_type_ids:ints "
    "stage_id:int assignee_id:int assignee_type:str interval:str duration_start:date duration_end:date "
    "expected_outcome_target:num expected_outcome_tracking_metric:str expected_outcome_currency_id:int "
    "is_active:bool report_ids:strs"
)


def flatten_goal(goal: dict[str, Any]) -> dict[str, Any]:
    """A v1 goal's nested type, assignee, duration and expected outcome as columns."""
    kind = goal.get("type") or {}
    params = kind.get("params") or {}
    assignee = goal.get("assignee") or {}
    duration = goal.get("duration") or {}
    outcome = goal.get("expected_outcome") or {}

    def ids(value: Any) -> list[int] | None:
        return [int(v) for v in value] if isinstance(value, list) else None

    return {
        "id": goal.get("id"),
        "owner_id": goal.get("owner_id"),
        "title": goal.get("title"),
        "type_name": kind.get("name"),
        "type_params": params or None,
        "pipeline_ids": ids(params.get("pipeline_id")),
        "activity_type_ids": ids(params.get("activity_type_id")),
        "stage_id": params.get("stage_id"),
        "assignee_id": assignee.get("id"),
        "assignee_type": assignee.get("type"),
        "interval": goal.get("interval"),
        "duration_start": duration.get("start"),
        "duration_end": duration.get("end"),
        "expected_outcome_target": outcome.get("target"),
        "expected_outcome_tracking_metric": outcome.get("tracking_metric"),
        "expected_outcome_currency_id": outcome.get("currency_id"),
        "is_active": goal.get("is_active"),
        "report_ids": [str(r) for r in goal.get("report_ids") or ()] or None,
    }


class GoalsStream(PipedriveStream):
    """Everyone's goals, active and inactive (6 requests: each assignee type x ``is_active``)."""

    name = "goals"
    endpoint = api_facts.GOALS
    primary_keys = ("id",)
    standard_properties = GOAL_PROPERTIES
    timestamp_properties = ()

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Each goal once; the raw goals are kept for goal_results."""
        registry = ParentRecords.of(self._tap)
        registry.start(self.name)
        seen: set[str] = set()
        for active in ("true", "false"):
            for assignee_type in api_facts.GOAL_ASSIGNEE_TYPES:
                params = {"is_active": active, "assignee.type": assignee_type}
                body = self.client.get(self.client.base_url, self.endpoint, params)
                for goal in ((body.get("data") or {}).get("goals")) or ():
                    if goal.get("id") in seen:
                        continue
                    seen.add(goal["id"])
                    registry.add(self.name, goal)
                    record = self.post_process(flatten_goal(goal), context)
                    if record is not None:
                        yield record
        registry.finish(self.name)


REFRESH_SETTING = "goal_results_refresh_hours"
DEFAULT_REFRESH_HOURS = 6
"""A running goal's progress is read again at most every 6 hours by default (0: every run)."""

RESULTS_KEY = "results"
"""Key, in goal_results' state, of the last result read per goal: ``{goal_id: record + fingerprint}`` (numbers
kept as text: a STATE passes through targets that parse JSON numbers as decimals)."""


def _number(value: Any) -> int | float | None:
    """A number kept as text in state, back as a number."""
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def goal_fingerprint(goal: dict[str, Any]) -> str:
    """A short hash of a goal's definition: a changed goal is read again."""
    text = json.dumps(goal, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GoalResultsStream(PipedriveStream):
    """Each goal's progress over its duration up to today (``/v1/goals/{id}/results``, 20 tokens a goal).

    A goal is read when it runs today (its duration covers today) and its last read is
    ``goal_results_refresh_hours`` old, when it changed or when it was never read;
    the results of the others are re-emitted from state, so every run is complete (ACTIVATE_VERSION marks the
    results of deleted goals).
    """

    name = "goal_results"
    endpoint = api_facts.GOAL_RESULTS
    primary_keys = ("goal_id",)
    standard_properties = schemas.properties(
        "goal_id:str period_start:date period_end:date progress:num expected_outcome_target:num "
        "expected_outcome_tracking_metric:str progress_ratio:num is_active:bool read_at:dt"
    )
    timestamp_properties = ()

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Fresh results of running or changed goals, kept ones of the rest."""
        goals = ParentRecords.of(self._tap).read_whole("goals")
        if goals is None:
            check_parents_readable(self, api_facts.GOALS)
            goals = list(self._list_goals())
        kept: dict[str, Any] = self.stream_state.get(RESULTS_KEY) or {}
        today = self.client.started_at.date()
        fresh: dict[str, Any] = {}
        read = 0
        for goal in goals:
            result = self._result(goal, kept.get(goal["id"]), today)
            if result is None:
                continue
            read += int(result["read_at"] == rfc3339(self.client.started_at))
            fresh[goal["id"]] = result
        self.stream_state[RESULTS_KEY] = fresh
        self.logger.info("goal_results: %d goals read, %d carried over from state", read, len(fresh) - read)
        for stored in fresh.values():
            record = {key: value for key, value in stored.items() if key != "fingerprint"}
            record["progress"] = progress = _number(stored["progress"])
            record["expected_outcome_target"] = target = _number(stored["expected_outcome_target"])
            record["progress_ratio"] = progress / target if progress is not None and target else None
            processed = self.post_process(record, context)
            if processed is not None:
                yield processed

    def _stale(self, kept: dict[str, Any]) -> bool:
        """Whether a running goal's kept result is older than ``goal_results_refresh_hours``."""
        hours = float(self.config.get(REFRESH_SETTING, DEFAULT_REFRESH_HOURS))
        try:
            read_at = datetime.fromisoformat(str(kept.get("read_at")).replace("Z", "+00:00"))
        except ValueError:
            return True
        return self.client.started_at - read_at >= timedelta(hours=hours)

    def _list_goals(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for active in ("true", "false"):
            for assignee_type in api_facts.GOAL_ASSIGNEE_TYPES:
                params = {"is_active": active, "assignee.type": assignee_type}
                body = self.client.get(self.client.base_url, api_facts.GOALS, params)
                for goal in ((body.get("data") or {}).get("goals")) or ():
                    if goal.get("id") not in seen:
                        seen.add(goal["id"])
                        yield goal

    def _result(
        self, goal: dict[str, Any], kept: dict[str, Any] | None, today: date
    ) -> dict[str, Any] | None:
        duration = goal.get("duration") or {}
        try:
            start = date.fromisoformat(str(duration.get("start")))
        except ValueError:
            return None
        end_text = duration.get("end")
        end = min(date.fromisoformat(end_text), today) if end_text else today
        if start > end:
            return None  # a goal that has not started: nothing to read yet
        fingerprint = goal_fingerprint(goal)
        running = goal.get("is_active") and end == today
        if kept and kept.get("fingerprint") == fingerprint and not (running and self._stale(kept)):
            return kept
        path = self.endpoint.path.replace("{id}", str(goal["id"]))
        params = {"period.start": start.isoformat(), "period.end": end.isoformat()}
        body = self.client.get(self.client.base_url, self.endpoint, params, path=path)
        data = body.get("data") or {}
        outcome = goal.get("expected_outcome") or {}
        target, progress = outcome.get("target"), data.get("progress")
        return {
            "goal_id": goal["id"],
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "progress": str(progress) if progress is not None else None,
            "expected_outcome_target": str(target) if target is not None else None,
            "expected_outcome_tracking_metric": outcome.get("tracking_metric"),
            "is_active": goal.get("is_active"),
            "read_at": rfc3339(self.client.started_at),
            "fingerprint": fingerprint,
        }


class LeadSourcesStream(PipedriveStream):
    """Lead sources (a fixed list; 2 tokens)."""

    name = "lead_sources"
    endpoint = api_facts.LEAD_SOURCES
    primary_keys = ("name",)
    standard_properties = schemas.properties("name:str")
    timestamp_properties = ()
