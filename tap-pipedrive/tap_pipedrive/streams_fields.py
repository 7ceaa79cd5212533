"""Field-metadata streams: for every field its key, current name, type, options and the column it lands in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.custom_fields import normalize_field

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class FieldsStream(PipedriveStream):
    """Base of ``<entity>_fields`` streams (FULL_TABLE, key ``field_code``)."""

    entity: str
    column_entity: str | None = None
    primary_keys = ("field_code",)
    standard_properties = schemas.FIELDS

    @classmethod
    def field_entities(cls) -> tuple[str, ...]:
        """The entity whose metadata it lists, and the one whose column names it shows."""
        return tuple(dict.fromkeys(e for e in (cls.entity, cls.column_entity) if e is not None))

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One record per field, v1 metadata mapped to the v2 names."""
        columns: dict[str, str] = {}
        if self.column_entity:
            columns = self._tap.custom_columns(self.column_entity)[1]  # type: ignore[attr-defined]
        for item in self.client.field_metadata(self.entity):
            field = normalize_field(item)
            options = [option for option in item.get("options") or () if isinstance(option, dict)]
            yield {
                "field_code": field.code,
                "field_name": field.name,
                "field_type": field.field_type,
                "column_name": columns.get(field.code, field.code) if field.is_custom else field.code,
                "is_custom_field": field.is_custom,
                "options": options or None,
                "subfields": item.get("subfields"),
                "description": item.get("description"),
                "is_optional_response_field": item.get("is_optional_response_field"),
            }


def _fields_stream(stream_name: str, entity: str, column_entity: str | None) -> type[FieldsStream]:
    attributes = {
        "name": stream_name,
        "entity": entity,
        "column_entity": column_entity,
        "endpoint": api_facts.FIELD_ENDPOINTS[entity],
        "__doc__": f"Field metadata of {entity}s.",
    }
    return type(f"{entity.title()}FieldsStream", (FieldsStream,), attributes)


DealFieldsStream = _fields_stream("deal_fields", "deal", "deal")
PersonFieldsStream = _fields_stream("person_fields", "person", "person")
OrganizationFieldsStream = _fields_stream("organization_fields", "organization", "organization")
ProductFieldsStream = _fields_stream("product_fields", "product", "product")
ActivityFieldsStream = _fields_stream("activity_fields", "activity", "activity")
LeadFieldsStream = _fields_stream("lead_fields", "lead", "deal")
NoteFieldsStream = _fields_stream("note_fields", "note", None)
