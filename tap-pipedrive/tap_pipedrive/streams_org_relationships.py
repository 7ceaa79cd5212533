"""organization_relationships: parent/related links between organizations, read per organization.

Pipedrive lists relationships only per organization (``GET /v1/organizationRelationships?org_id=``, 20
tokens each; no list of all of them, no ``updated_since``). So the stream follows the organizations stream
(``children.ChildStream``): each organization it emits (every one in a first sync or a reconciliation pass,
the changed ones after that) becomes pending and its relationships are read — a first sync of N organizations
costs N x 20 tokens (10,000 deals ≈ 2,500 organizations ≈ 50,000 tokens), an increment 20 per changed
organization. That is why it is opt-in: the tap setting ``organization_relationships`` (default false).

A relationship is listed under both organizations; the run emits it once. Whether adding or removing one moves
the organizations' ``update_time`` is UNVERIFIED: a relationship between organizations that did not change is
found by the next reconciliation pass of organizations, which reads every organization — after it the stream
sends ACTIVATE_VERSION, so relationships no longer in Pipedrive are marked deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.children import ChildStream, add_pending

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.versions import CompleteRead

SETTING = "organization_relationships"
"""Tap setting (boolean, default false) that turns the per-organization reads on."""


def _org_id(value: Any) -> Any:
    """``rel_owner_org_id`` / ``rel_linked_org_id`` are organization objects whose id is ``value``."""
    return value.get("value") if isinstance(value, dict) else value


class OrganizationRelationshipsStream(ChildStream):
    """Relationships of the organizations the run emits (20 tokens per organization; opt-in)."""

    name = "organization_relationships"
    endpoint = api_facts.ORGANIZATION_RELATIONSHIPS
    parent_stream = "organizations"
    parent_batch_size = 20
    primary_keys = ("id",)
    standard_properties = schemas.properties(
        "id:int type:str rel_owner_org_id:int rel_linked_org_id:int rel_owner_org_name:str "
        "rel_linked_org_name:str add_time:dt update_time:dt active_flag:bool"
    )
    deletion = deletions.INACTIVE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._emitted: set[Any] = set()
        self._announced = False

    @property
    def enabled(self) -> bool:
        """The setting allows the per-organization reads."""
        return bool(self.config.get(SETTING, False))

    def note_parent(self, record: Mapping[str, Any]) -> None:
        """A live organization becomes pending (only when the setting is on)."""
        if self.enabled and not record.get("is_deleted"):
            add_pending(self.stream_state, [record["id"]])

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """Each organization's relationships, each relationship once per run."""
        for org_id in parent_ids:
            body = self.client.get(self.client.base_url, self.endpoint, {"org_id": org_id})
            for raw in body.get("data") or ():
                if raw.get("id") in self._emitted:
                    continue
                self._emitted.add(raw.get("id"))
                yield self._shape(raw)

    @staticmethod
    def _shape(raw: dict[str, Any]) -> dict[str, Any]:
        owner, linked = raw.get("rel_owner_org_id"), raw.get("rel_linked_org_id")
        active = raw.get("active_flag")
        return {
            "id": raw.get("id"),
            "type": raw.get("type"),
            "rel_owner_org_id": _org_id(owner),
            "rel_linked_org_id": _org_id(linked),
            "rel_owner_org_name": owner.get("name") if isinstance(owner, dict) else None,
            "rel_linked_org_name": linked.get("name") if isinstance(linked, dict) else None,
            "add_time": raw.get("add_time"),
            "update_time": raw.get("update_time"),
            "active_flag": active in (True, 1, "1", "true") if active is not None else None,
        }

    def _begin_read(self, context: Context | None) -> CompleteRead | None:
        """Records carry the run's table version; the read is complete when organizations' was."""
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        self._stream_version = reads.version if reads.activate else None
        return None

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The pending organizations' relationships; ACTIVATE_VERSION after a whole read of organizations."""
        if not self.enabled:
            if not self._announced:
                self._announced = True
                self.logger.info(
                    "organization_relationships: off (20 tokens per organization); set %s: true to read them",
                    SETTING,
                )
            return
        yield from self.read_pending()
        if self._stopped or self.stream_state.get("pending_parent_ids"):
            return
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        orgs = reads.read_of("organizations")
        if not reads.activate or orgs is None or not orgs.from_start or not orgs.done:
            return
        if orgs.finished != orgs.partitions:
            return
        self._write_activate_version_message(reads.version)
        self.logger.info(
            "organization_relationships: every organization's relationships read; ACTIVATE_VERSION %d sent",
            reads.version,
        )
