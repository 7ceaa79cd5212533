"""The base of streams whose records carry custom fields: named columns, typed schema, flat values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.custom_fields import FieldInfo, flatten_custom_fields

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class CustomFieldStream(PipedriveStream):
    """A stream with custom fields of ``field_entity``; its schema is built by the tap at discovery."""

    field_entity: str
    standard_properties: dict[str, Any]
    v1_custom_values = False

    @classmethod
    def field_entities(cls) -> tuple[str, ...]:
        """The entity whose custom fields the records carry."""
        return (cls.field_entity,)

    @property
    def field_map(self) -> dict[str, FieldInfo]:
        """key → FieldInfo of the entity's fields."""
        return self._tap.custom_columns(self.field_entity)[0]  # type: ignore[attr-defined, no-any-return]

    @property
    def column_map(self) -> dict[str, str]:
        """key → column of the entity's custom fields (stable across renames)."""
        return self._tap.custom_columns(self.field_entity)[1]  # type: ignore[attr-defined, no-any-return]

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Standard shaping, then custom values flattened into their named columns."""
        row = super().post_process(row, context) or row
        if self.v1_custom_values:
            flat = flatten_custom_fields(row, self.field_map, self.column_map, v1_siblings=True)
            for key in [key for key in row if key.split("_", 1)[0] in self.column_map]:
                del row[key]
        else:
            values = row.pop("custom_fields", None) or {}
            flat = flatten_custom_fields(values, self.field_map, self.column_map)
        row.update(flat)
        return row
