"""Engagement streams: call logs, deal participants and mail threads (v1 only).

What Pipedrive limits: ``/v1/callLogs`` returns only the call logs assigned to the API token's own user, and
``/v1/mailbox/mailThreads`` only that user's mailbox (one folder a request); other users' calls and mail are
not readable with this token. Activity participants and attendees come with each activity (``activities``'s
``participants`` and ``attendees``); the transform lists them (``stg_pipedrive__activity_participants``,
``stg_pipedrive__activity_attendees``) at no request of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.child_versions import VersionedChildStream, per_parent
from tap_pipedrive.client import PipedriveStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

MAIL_FOLDERS = ("inbox", "sent", "archive", "drafts")
"""Every ``folder`` ``/v1/mailbox/mailThreads`` takes; a thread is listed in each folder it is in."""


class CallLogsStream(PipedriveStream):
    """The token's user's call logs (``/v1/callLogs``: no update time, no filter, 50 a page; FULL_TABLE).

    A call log cannot be edited through the API, only deleted (then it is gone): each run reads them whole
    and ACTIVATE_VERSION marks the deleted ones.
    """

    name = "call_logs"
    endpoint = api_facts.CALL_LOGS
    primary_keys = ("id",)
    standard_properties = schemas.CALL_LOGS
    timestamp_properties = ("start_time", "end_time")

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Duration (seconds, given as text) as a number."""
        duration = row.get("duration")
        row["duration"] = int(duration) if isinstance(duration, str) and duration.isdigit() else None
        return super().post_process(row, context)


class DealParticipantsStream(VersionedChildStream):
    """Participants of the deals (``/v1/deals/{id}/participants``, 10 tokens per deal; no list across deals).

    Read only for deals whose ``participants_count`` (asked for with the deals, at no extra cost) is not 0,
    when the deal changes; pending deals wait in state when the run's token share is spent, like the deal
    history. Participants removed are marked after a run that reads every deal.
    """

    name = "deal_participants"
    endpoint = api_facts.DEAL_PARTICIPANTS
    primary_keys = ("id",)
    standard_properties = schemas.DEAL_PARTICIPANTS
    deletion = deletions.INACTIVE
    parent_batch_size = 1
    """One request per parent: a run the token share stops never asks for a parent twice."""

    def wants_parent(self, record: Mapping[str, Any]) -> bool:
        """Deals Pipedrive says have participants (or does not say)."""
        return record.get("participants_count") != 0

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """Each deal's participants, every page."""
        return per_parent(self, self.endpoint, parent_ids)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """The participant flat: deal, person id and name, who added it."""
        person = row.get("person_id")
        added_by = row.get("added_by_user_id")
        related = row.get("related_item_data") or {}
        flat = {
            "id": row["id"],
            "deal_id": row.get("related_item_id") or related.get("deal_id"),
            "person_id": person.get("value") if isinstance(person, dict) else person,
            "person_name": person.get("name") if isinstance(person, dict) else None,
            "add_time": row.get("add_time"),
            "active_flag": row.get("active_flag"),
            "added_by_user_id": added_by.get("value") if isinstance(added_by, dict) else added_by,
        }
        return super().post_process(flat, context)


class MailThreadsStream(PipedriveStream):
    """The token's user's mail threads, folder by folder (``/v1/mailbox/mailThreads``; FULL_TABLE).

    The list has no update filter and is ordered by the latest message, so each run reads every folder; a
    thread deleted (``deleted_flag``) or no longer listed is marked deleted.
    """

    name = "mail_threads"
    endpoint = api_facts.MAIL_THREADS
    primary_keys = ("id",)
    standard_properties = schemas.MAIL_THREADS
    deletion = deletions.MAIL_DELETED
    timestamp_properties = (
        "add_time",
        "update_time",
        "first_message_timestamp",
        "last_message_timestamp",
        "last_message_sent_timestamp",
        "last_message_received_timestamp",
    )

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per folder."""
        return [{"folder": folder} for folder in MAIL_FOLDERS]

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """The folder of the partition."""
        params = super().get_url_params(context, next_page_token)
        params["folder"] = (context or {}).get("folder", MAIL_FOLDERS[0])
        return params

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """The 0/1 ``*_flag`` numbers as booleans; Pipedrive's ``version`` as ``thread_version``.

        A column named ``version`` breaks common Singer targets (MeltanoLabs' target-postgres cannot bind it),
        so the thread's version counter is renamed.
        """
        for key, value in list(row.items()):
            if key.endswith("_flag") and value in (0, 1):
                row[key] = bool(value)
        if "version" in row:
            row["thread_version"] = row.pop("version")
        return super().post_process(row, context)
