"""A target SIGKILLed mid-load never printed STATE ahead of committed rows; a rerun completes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

RECORDS = 60_000
STATE_EVERY = 1_000


def write_input(path: Path) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "big",
        "key_properties": ["id"],
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "value": {"type": "number"},
                "update_time": {"type": "string", "format": "date-time"},
                "custom": {"type": "object"},
            },
        },
    }
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(schema) + "\n")
        for i in range(RECORDS):
            record = {
                "id": i,
                "title": f"deal {i}",
                "value": i / 4,
                "update_time": "2024-01-01T00:00:00Z",
                "custom": {"n": i},
            }
            out.write(json.dumps({"type": "RECORD", "stream": "big", "record": record}) + "\n")
            if i % STATE_EVERY == STATE_EVERY - 1:
                out.write(
                    json.dumps({"type": "STATE", "value": {"bookmarks": {"big": {"last_id": i}}}}) + "\n"
                )


def start_target(config: Path, data: Path) -> subprocess.Popen:
    executable = Path(sys.executable).parent / "target-pipeboard-postgres"
    return subprocess.Popen(
        [str(executable), "--config", str(config), "--input", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_sigkill_mid_load_then_rerun_loads_exactly_and_state_never_ran_ahead(warehouse, tmp_path):
    data = tmp_path / "big.singer"
    write_input(data)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config(batch_size_rows=2_500)), encoding="utf-8")

    def committed_up_to(last_id: int) -> int:
        return warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".big WHERE id <= %s', (last_id,))[
            0
        ][0]

    process = start_target(config, data)
    printed: list[int] = []
    try:
        for line in process.stdout:
            last_id = json.loads(line)["bookmarks"]["big"]["last_id"]
            printed.append(last_id)
            # every row up to the bookmark must already be committed when the STATE line appears
            assert committed_up_to(last_id) == last_id + 1
            if len(printed) == 3:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(printed) == 3
    assert printed == sorted(printed)
    loaded_at_kill = warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".big')[0][0]
    assert committed_up_to(printed[-1]) == printed[-1] + 1
    assert loaded_at_kill < RECORDS, "the kill came after the load finished; the test did not test anything"

    rerun = start_target(config, data)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    assert json.loads(out.splitlines()[-1]) == {"bookmarks": {"big": {"last_id": RECORDS - 1}}}
    count, distinct, total = warehouse.query(
        f'SELECT count(*), count(DISTINCT id), sum(value) FROM "{warehouse.schema}".big'
    )[0]
    assert count == distinct == RECORDS
    assert total == sum(i / 4 for i in range(RECORDS))
