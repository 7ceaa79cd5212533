"""A STATE message's values come out as the numbers that went in, whatever their JSON type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2

SCHEMA = {
    "type": "SCHEMA",
    "stream": "goals",
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
    "key_properties": ["id"],
}
STATE_VALUE = {
    "bookmarks": {
        "goals": {
            "progress": 0.1,
            "ratio": 1.5,
            "tiny": 3.137002483426592e-07,
            "whole_float": 2.0,
            "count": 12,
            "big": 12345678901234567890,
            "nested": [{"share": 0.3333333333333333}, -0.0],
        }
    }
}


def test_a_state_with_floats_is_written_back_unchanged(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"database_url": database_url, "default_target_schema": "floats"}))
    lines = [SCHEMA, {"type": "RECORD", "stream": "goals", "record": {"id": 1}}]
    lines.append({"type": "STATE", "value": STATE_VALUE})
    result = subprocess.run(
        [Path(sys.executable).parent / "target-pipeboard-postgres", "--config", str(config)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert states[-1] == STATE_VALUE
    assert [type(v) for v in states[-1]["bookmarks"]["goals"].values()] == [
        type(v) for v in STATE_VALUE["bookmarks"]["goals"].values()
    ]
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM floats.goals")
        assert cur.fetchall() == [(1,)]
    conn.close()
