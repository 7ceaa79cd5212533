"""The base client: settings checks, auth header only, endpoints outside the plan skipped."""

from __future__ import annotations

import logging

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_pipedrive import api_facts, schemas
from tap_pipedrive.api_facts import Endpoint
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.tap import STREAM_TYPES, TapPipedrive


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        pytest.param("page_size", 501, id="page-size-too-big"),
        pytest.param("page_size", 0, id="page-size-zero"),
        pytest.param("token_budget_share", 1.5, id="budget-share"),
        pytest.param("request_timeout", -1, id="timeout"),
        pytest.param("api_url", "ftp://x", id="api-url"),
    ],
)
def test_invalid_setting_raises_naming_it(setting: str, value: object) -> None:
    config = {"api_token": "0" * 40, "api_url": "http://127.0.0.1:9", setting: value}
    with pytest.raises(ConfigValidationError, match=setting):
        TapPipedrive(config=config)


def test_token_travels_only_in_the_header_and_never_in_output(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=20, seed=2, rate_limits=False)
    out = run_tap(tap_config(emulator))
    assert emulator.request_log
    assert all("api_token" not in record.params for record in emulator.request_log)
    assert emulator.token not in str(out.messages)


class _TemplatesStream(PipedriveStream):
    """A stream on an endpoint the emulator does not serve (answers 404, like a plan without it)."""

    name = "project_templates"
    endpoint = Endpoint("/api/v1/projectTemplates", "v1", api_facts.SINGLE, 20)
    primary_keys = ("id",)
    standard_properties = schemas.properties("id:str title:str")


class _TapWithTemplates(TapPipedrive):
    def discover_streams(self) -> list[PipedriveStream]:
        streams = [t(tap=self, schema=self.schema_of(t)) for t in (STREAM_TYPES[0], _TemplatesStream)]
        return [*streams, STREAM_TYPES[1](tap=self, schema=self.schema_of(STREAM_TYPES[1]))]


def test_endpoint_outside_the_plan_is_logged_once_and_skipped(make_emulator, tap_config, caplog) -> None:
    emulator = make_emulator(deals=20, seed=2, rate_limits=False)
    tap = _TapWithTemplates(config=tap_config(emulator))
    with caplog.at_level(logging.WARNING):
        tap.sync_all()
    skipped = [r for r in caplog.records if "Skipping stream project_templates" in r.getMessage()]
    assert len(skipped) == 1
    assert [r.path for r in emulator.request_log if r.status == 404] == ["/api/v1/projectTemplates"]
    assert any(r.path.endswith("/pipelines") and r.status == 200 for r in emulator.request_log)
