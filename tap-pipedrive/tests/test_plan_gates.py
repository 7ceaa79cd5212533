"""Endpoints the plan or the token's permissions leave out (402/403): skipped, logged once, never fatal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TAP = Path(sys.executable).with_name("tap-pipedrive")

GATES = [
    ("/api/v2/productFields", 402, {"products", "product_fields"}),
    ("/api/v2/personFields", 403, {"persons", "person_fields"}),
    ("/api/v1/leadFields", 403, {"lead_fields"}),
    ("/api/v1/notes", 402, {"notes"}),
]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(("path", "status", "skipped"), GATES, ids=[f"{p}-{s}" for p, s, _ in GATES])
def test_a_refused_endpoint_skips_only_its_streams_at_discovery_and_sync_and_says_so_once(
    make_emulator: Any, tmp_path: Path, path: str, status: int, skipped: set[str]
) -> None:
    emulator = make_emulator(deals=40, seed=2, gates={path: status})
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_token": emulator.token, "api_url": emulator.base_url}))

    discovery = _run([str(TAP), "--config", str(config), "--discover"])
    assert discovery.returncode == 0, discovery.stderr[-2000:]
    catalog = json.loads(discovery.stdout)
    assert skipped <= {entry["tap_stream_id"] for entry in catalog["streams"]}
    (tmp_path / "catalog.json").write_text(discovery.stdout)

    sync = _run([str(TAP), "--config", str(config), "--catalog", str(tmp_path / "catalog.json")])

    assert sync.returncode == 0, sync.stderr[-2000:]
    lines = [json.loads(line) for line in sync.stdout.splitlines() if line.strip()]
    emitted = {m["stream"] for m in lines if m["type"] == "RECORD"}
    assert not emitted & skipped
    assert {"deals", "users", "deal_fields", "activities"} - skipped <= emitted
    warnings = [line for line in sync.stderr.splitlines() if "WARNING" in line and "Skipping" in line]
    assert len(warnings) == 1, warnings
    assert f"HTTP {status} on {path}" in warnings[0]
    assert emulator.token not in sync.stderr + discovery.stderr
    deals = {m["record"]["id"] for m in lines if m["type"] == "RECORD" and m["stream"] == "deals"}
    assert deals == {d["id"] for d in emulator.records("deals")}
