"""Fixtures for the target's tests: replay Singer messages into the target and read tables back."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import singer_sdk
from pipeboard_testkit.processes import TargetProcess
from psycopg2 import sql
from target_pipeboard_postgres.blocklane import BlockLane
from target_pipeboard_postgres.target import TargetPipeboardPostgres

SDK_STREAMS = Path(singer_sdk.__file__).parent / "testing" / "target_test_streams"


@dataclass
class Run:
    """What one target run printed on stdout (STATE lines)."""

    states: list[dict] = field(default_factory=list)
    fast_lane_records: int = 0
    block_lane: BlockLane | None = None  # the lane that read the input (None: read as text, line by line)


@dataclass
class Warehouse:
    """A fresh schema in the session database, and helpers to load into it and read it back."""

    url: str
    schema: str

    def config(self, **settings: Any) -> dict[str, Any]:
        """Target settings pointing at this schema (plus overrides)."""
        return {"database_url": self.url, "default_target_schema": self.schema, **settings}

    def load(
        self,
        messages: list[dict] | str | Path,
        *,
        fast_lane: bool = True,
        text_input: bool = False,
        **settings: Any,
    ) -> Run:
        """Run the target in-process on Singer messages (a list, a .singer text, or a file path).

        The input is bytes, as standard input is when the target runs (the block lane reads it);
        ``text_input=True`` hands it over as text (read line by line). ``fast_lane=False`` sends every
        record through the SDK's own path (to compare the two).
        """
        if isinstance(messages, Path):
            text = messages.read_text(encoding="utf-8")
        elif isinstance(messages, str):
            text = messages
        else:
            text = "".join(json.dumps(message) + "\n" for message in messages)
        target = TargetPipeboardPostgres(config=self.config(**settings), validate_config=True)
        if not fast_lane:
            target.message_reader.fast_handler = None
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            target.listen(io.StringIO(text) if text_input else io.BytesIO(text.encode("utf-8")))
        return Run(
            states=[json.loads(line) for line in out.getvalue().splitlines() if line.strip()],
            fast_lane_records=target.fast_lane_records,
            block_lane=target.block_lane_used,
        )

    def query(self, statement: str | sql.Composable, params: tuple = ()) -> list[tuple]:
        """Rows of one query."""
        with psycopg2.connect(self.url) as conn, conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(statement, params or None)  # no parameters: a % in a name stays itself
            rows = cur.fetchall()
        conn.close()
        return rows

    def rows(self, table: str, columns: str | list[str] = "*", order: str | None = None) -> list[tuple]:
        """Rows of a table in this schema (columns by name), ordered by ``order`` (default: column 1)."""
        if columns == "*":
            selected: sql.Composable = sql.SQL("*")
        else:
            names = [columns] if isinstance(columns, str) else columns
            selected = sql.SQL(", ").join(sql.Identifier(c) for c in names)
        order_by = sql.Identifier(order) if order else sql.SQL("1")
        return self.query(
            sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                selected, sql.Identifier(self.schema, table), order_by
            )
        )

    def column_types(self, table: str) -> dict[str, str]:
        """column → data_type for a table in this schema."""
        return dict(
            self.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self.schema, table),
            )
        )

    def tables(self) -> set[str]:
        """Table names in this schema."""
        return {
            row[0]
            for row in self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self.schema,)
            )
        }


def schema_message(stream: str, properties: dict, key: list[str] | None = None) -> dict:
    """A SCHEMA message."""
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": key if key is not None else ["id"],
    }


def record_message(stream: str, record: dict, **extra: Any) -> dict:
    """A RECORD message."""
    return {"type": "RECORD", "stream": stream, "record": record, **extra}


def state_message(value: dict) -> dict:
    """A STATE message."""
    return {"type": "STATE", "value": value}


@pytest.fixture
def warehouse(database_url: str) -> Iterator[Warehouse]:
    """A fresh schema for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    yield Warehouse(url=database_url, schema=schema)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()


class Singer:
    """Builders for Singer messages, handed to tests by the ``singer`` fixture."""

    schema = staticmethod(schema_message)
    record = staticmethod(record_message)
    state = staticmethod(state_message)


@pytest.fixture
def singer() -> type[Singer]:
    """Singer message builders."""
    return Singer


@pytest.fixture
def spawn_target(tmp_path: Path) -> Iterator[Callable[..., TargetProcess]]:
    """Start target processes (killed after the test if still running)."""
    started: list[TargetProcess] = []

    def spawn(config: dict[str, Any], input_path: Path | None = None) -> TargetProcess:
        target = TargetProcess(config, tmp_path, input_path)
        started.append(target)
        return target

    yield spawn
    for target in started:
        target.kill()
