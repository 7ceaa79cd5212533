"""The sink's record validator: compiled checks first, the SDK's jsonschema validator for errors."""

from __future__ import annotations

from typing import Any

from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from target_pipeboard_postgres.validation import compile_schema


class FastValidator(BaseJSONSchemaValidator):
    """The SDK's jsonschema validator behind a compiled fast path."""

    def __init__(self, schema: dict[str, Any]) -> None:
        """Compile the schema (jsonschema's own validator is kept for errors and hard cases).

        Args:
            schema: The stream's JSON schema.
        """
        super().__init__(schema)
        self.slow = JSONSchemaValidator(schema)
        self.fast = (
            self.slow.validator.is_valid
            if "$ref" in repr(schema) or "$defs" in schema
            else compile_schema(schema, schema)
        )

    def validate(self, record: dict) -> None:
        """Raise the SDK's ``InvalidRecord`` when the record does not match the schema.

        Args:
            record: The record.
        """
        if not self.fast(record):
            self.slow.validate(record)
