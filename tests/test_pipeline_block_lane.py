"""tap-pipedrive's real output loads the same through the target's block lane and encoder as line by line."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.target import TargetPipeboardPostgres

BIN = Path(sys.executable).parent
# Values that differ between any two runs: when a row was received, batched, sequenced, mapped or logged.
VARYING = {
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sequence",
    "_sdc_sync_started_at",
    "created_at",
    "started_at",
    "finished_at",
}

pytestmark = pytest.mark.slow


def _tap_output(make_emulator, tmp_path: Path) -> bytes:
    emulator = make_emulator(deals=400, seed=5, rate_limits=False)
    config = tmp_path / "tap.json"
    config.write_text(
        json.dumps({"api_token": emulator.token, "api_url": emulator.base_url}), encoding="utf-8"
    )
    done = subprocess.run(
        [str(BIN / "tap-pipedrive"), "--config", str(config)], capture_output=True, timeout=300, check=True
    )
    return done.stdout


def _load(database_url: str, schema: str, data: io.IOBase, **settings) -> tuple[TargetPipeboardPostgres, str]:
    target = TargetPipeboardPostgres(
        config={"database_url": database_url, "default_target_schema": schema, **settings}
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(data)
    return target, out.getvalue()


def _contents(database_url: str, schema: str) -> dict[str, list[tuple]]:
    tables: dict[str, list[tuple]] = {}
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        for (table,) in cur.fetchall():
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            )
            columns = sorted(name for (name,) in cur.fetchall() if name not in VARYING)
            cur.execute(
                sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
                    sql.Identifier(schema, table),
                )
            )
            tables[table] = sorted(cur.fetchall(), key=repr)
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    conn.close()
    return tables


def test_tap_output_loads_the_same_through_the_block_lane_and_an_encoder_process(
    make_emulator, database_url, tmp_path, monkeypatch
):
    data = _tap_output(make_emulator, tmp_path)
    assert data.count(b'"type":"SCHEMA"') + data.count(b'"type": "SCHEMA"') > 15  # many streams, interleaved

    line_by_line, line_states = _load(
        database_url, "lane_lines", io.StringIO(data.decode()), encoder_processes=0
    )
    expected = _contents(database_url, "lane_lines")

    # Small blocks and an encoder process from the first byte: schemas change the readers many times.
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 16 << 10)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    blocks, block_states = _load(database_url, "lane_blocks", io.BytesIO(data), encoder_processes=1)
    got = _contents(database_url, "lane_blocks")

    lane = blocks.block_lane_used
    assert line_by_line.block_lane_used is None
    assert lane is not None
    assert lane.encoded_elsewhere > 20
    assert lane.encoded_here > 0
    assert lane.epoch > 10
    assert blocks.fast_lane_records == line_by_line.fast_lane_records > 3000
    assert block_states == line_states
    assert json.loads(block_states.splitlines()[-1])["bookmarks"]
    assert set(got) == set(expected)
    assert len(expected["deals"]) == 400
    for table, rows in expected.items():
        assert got[table] == rows, table
