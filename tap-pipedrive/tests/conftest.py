"""Shared helpers for tap-pipedrive tests: run the tap for real against an emulator and collect its output."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from tap_pipedrive.pacing import BurstPacer
from tap_pipedrive.tap import TapPipedrive


@dataclass
class TapOutput:
    """The Singer messages one run wrote, indexed for assertions."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for message in self.messages:
            if message["type"] == "RECORD":
                self.records[message["stream"]].append(message["record"])
            elif message["type"] == "SCHEMA":
                self.schemas[message["stream"]] = message["schema"]
            elif message["type"] == "STATE":
                self.states.append(message["value"])

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE the run emitted."""
        return self.states[-1]

    def ids(self, stream: str) -> list[Any]:
        """Primary keys of a stream's records, in emission order."""
        key = "field_code" if stream.endswith("_fields") else "id"
        return [record[key] for record in self.records[stream]]


def parse_messages(text: str) -> TapOutput:
    """Parse the tap's stdout (one JSON message per line)."""
    return TapOutput([json.loads(line) for line in text.splitlines() if line.strip()])


def emulator_config(emulator: Any, **extra: Any) -> dict[str, Any]:
    """Tap config pointing at an emulator."""
    return {"api_token": emulator.token, "api_url": emulator.base_url, **extra}


@pytest.fixture
def tap_config() -> Callable[..., dict[str, Any]]:
    """Factory of tap configs pointing at an emulator."""
    return emulator_config


@pytest.fixture
def singer_output() -> Callable[[str], TapOutput]:
    """Parser of the tap's stdout text into a TapOutput."""
    return parse_messages


@pytest.fixture
def pacer_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the burst pacer imposes from now on, in seconds (what the pacer decided, not wall time)."""
    waits: list[float] = []
    acquire = BurstPacer.acquire

    def recording(pacer: BurstPacer) -> float:
        waited = acquire(pacer)
        waits.append(waited)
        return waited

    monkeypatch.setattr(BurstPacer, "acquire", recording)
    return waits


@pytest.fixture
def most_waits_at() -> Callable[[float, int, float, int], float]:
    """(rate share, limit, window s, requests) → the longest total wait that still lets that share through.

    A slower machine only shortens the pacer's waits (time spent elsewhere counts towards the window), so a
    pacer whose waits stay under this bound sends at least that share of the limit whatever the machine.
    """

    def bound(rate_share: float, limit: int, window: float, requests: int) -> float:
        return (requests - 1) / (rate_share * limit / window)

    return bound


@pytest.fixture
def run_tap() -> Callable[..., TapOutput]:
    """Run TapPipedrive.sync_all in-process against a config (and optional state); return its messages."""

    def run(
        config: dict[str, Any], state: dict[str, Any] | None = None, catalog: dict[str, Any] | None = None
    ) -> TapOutput:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            TapPipedrive(config=config, state=copy.deepcopy(state or {}), catalog=catalog).sync_all()
        return parse_messages(buffer.getvalue())

    return run
