"""Two loaders writing one table at the same time, with different schemas: nothing lost, nothing corrupted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RECORDS = 6_000


def write_input(path: Path, extra: str, extra_type: str, offset: int) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "shared",
        "key_properties": ["id"],
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}, extra: {"type": extra_type}}},
    }
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(schema) + "\n")
        for i in range(RECORDS):
            value = i if extra_type == "integer" else f"v{i}"
            record = {"id": offset + i, extra: value}
            out.write(json.dumps({"type": "RECORD", "stream": "shared", "record": record}) + "\n")


def test_two_targets_on_one_table_both_land_completely(warehouse, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(warehouse.config(batch_size_rows=500, staging_threshold=100)), encoding="utf-8"
    )
    first, second = tmp_path / "a.singer", tmp_path / "b.singer"
    write_input(first, "n", "integer", 0)
    write_input(second, "n", "string", RECORDS // 2)  # half the keys overlap, and "n" widens to text
    executable = str(Path(sys.executable).parent / "target-pipeboard-postgres")
    processes = [
        subprocess.Popen(
            [executable, "--config", str(config), "--input", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (first, second)
    ]
    errors = [process.communicate(timeout=240)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    assert warehouse.column_types("shared")["n"] == "text"
    count, distinct, low, high = warehouse.query(
        f'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "{warehouse.schema}".shared'
    )[0]
    assert (count, distinct, low, high) == (RECORDS * 3 // 2, RECORDS * 3 // 2, 0, RECORDS * 3 // 2 - 1)
    only_first = warehouse.query(f'SELECT n FROM "{warehouse.schema}".shared WHERE id = 10')
    assert only_first == [("10",)]
    only_second = warehouse.query(f'SELECT n FROM "{warehouse.schema}".shared WHERE id = %s', (RECORDS + 10,))
    assert only_second == [(f"v{RECORDS // 2 + 10}",)]
