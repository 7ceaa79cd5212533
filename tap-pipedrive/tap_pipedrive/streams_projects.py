"""Post-sale: projects (+ archived, custom fields flattened), project fields, tasks, boards and phases (v2).

None of these lists takes ``updated_since``, so each is read whole every run (FULL_TABLE) under a new table
version and ends with ACTIVATE_VERSION: a deleted project (``status: deleted``, left out of /projects unless
asked for) or a deleted task, board or phase is marked deleted by the target. Cost of a run (token-costs.csv):
projects 10 per 500 + archived projects 10 per 500, project fields 10, tasks 10 per 500, boards 10, phases 10
per board. Pipedrive's Projects is not in every plan: a refused endpoint skips its stream (logged once).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.api_facts import Endpoint
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.per_parent import ParentRecords, check_parents_readable
from tap_pipedrive.streams_custom import CustomFieldStream
from tap_pipedrive.streams_fields import _fields_stream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PROJECT_DELETED = deletions.DeletionSignal(status="deleted")
"""A project listed with ``status: deleted`` (only when asked for) is deleted; else it is not listed."""


class ProjectsStream(CustomFieldStream):
    """Projects, then archived projects (``is_archived``), custom fields flattened like deals'."""

    name = "projects"
    endpoint = api_facts.PROJECTS
    primary_keys = ("id",)
    field_entity = "project"
    standard_properties = schemas.properties(
        "id:int title:str description:str status:str board_id:int phase_id:int owner_id:int start_date:date "
        "end_date:date deal_ids:ints person_ids:ints org_ids:ints label_ids:ints health_status:int "
        "add_time:dt update_time:dt status_change_time:dt archive_time:dt is_archived:bool"
    )
    deletion = PROJECT_DELETED
    timestamp_properties = ("add_time", "update_time", "status_change_time", "archive_time")

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """Live projects, then archived ones."""
        return [{"is_archived": False}, {"is_archived": True}]

    def endpoint_for(self, context: Context | None) -> Endpoint:
        """The list endpoint of a partition."""
        return api_facts.PROJECTS_ARCHIVED if context and context.get("is_archived") else api_facts.PROJECTS

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """``is_archived`` from the partition (the record has only ``archive_time``)."""
        row["is_archived"] = bool(context and context.get("is_archived")) or bool(row.get("archive_time"))
        return super().post_process(row, context)


class TasksStream(PipedriveStream):
    """Project tasks (and subtasks: ``parent_task_id``)."""

    name = "tasks"
    endpoint = api_facts.TASKS
    primary_keys = ("id",)
    standard_properties = schemas.properties(
        "id:int title:str creator_id:int description:str project_id:int is_done:bool is_milestone:bool "
        "due_date:date start_date:date parent_task_id:int assignee_ids:ints priority:int add_time:dt "
        "update_time:dt marked_as_done_time:dt"
    )
    timestamp_properties = ("add_time", "update_time", "marked_as_done_time")


BOARD_PROPERTIES = "id:int name:str order_nr:int add_time:dt update_time:dt"


class BoardsStream(PipedriveStream):
    """Project boards (one request)."""

    name = "boards"
    endpoint = api_facts.BOARDS
    primary_keys = ("id",)
    standard_properties = schemas.properties(BOARD_PROPERTIES)

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The boards, kept for the phases stream."""
        registry = ParentRecords.of(self._tap)
        registry.start(self.name)
        for record in super().read_records(context):
            registry.add(self.name, record)
            yield record
        registry.finish(self.name)


class PhasesStream(PipedriveStream):
    """Phases of every board (``board_id`` is required: 10 tokens per board)."""

    name = "phases"
    endpoint = api_facts.PHASES
    primary_keys = ("id",)
    standard_properties = schemas.properties(BOARD_PROPERTIES + " board_id:int")

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Each board's phases."""
        boards = ParentRecords.of(self._tap).read_whole("boards")
        if boards is None:
            check_parents_readable(self, api_facts.BOARDS)
            boards = list(self.client.iterate(api_facts.BOARDS))
        for board in boards:
            for raw in self.client.iterate(self.endpoint, {"board_id": board["id"]}):
                record = self.post_process(raw, context)
                if record is not None:
                    yield record


ProjectFieldsStream = _fields_stream("project_fields", "project", "project")
"""Field metadata of projects (``/api/v2/projectFields``), with the column each custom field lands in."""
